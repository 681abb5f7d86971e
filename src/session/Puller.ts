import type { types } from 'mediasoup';
import type { RemoteSource, RemoteTrackSource } from '../cluster/RemoteTracks.js';
import { ErrorCode, SwitchyardError, trackNotFound } from '../errors.js';
import type { LayerDemand } from '../media/layerDemand.js';
import type { ProducerPipes } from '../media/producerPipes.js';
import { SimulcastPolicy } from '../media/simulcastPolicy.js';
import { consumerCapabilities } from '../sdp/rtpMapping.js';
import { sendingSection } from '../sdp/write.js';
import { answerableConsumer, offeredCapabilities } from './offeredPulls.js';
import type { TrackRegistry } from '../tracks/TrackRegistry.js';
import type { PulledSource, Session, Transceiver } from './Session.js';
import { TrackResults } from './trackResults.js';
import { bidirectionalSection } from './bidirectional.js';
import type { PullRequest, TrackRefusal, TracksOutcome } from './types.js';
import type { SfuOffers } from './SfuOffers.js';
import type { PublishedTrack } from '../tracks/PublishedTrack.js';
import type { PublishedDataChannel } from '../tracks/PublishedDataChannel.js';
import type { MediaKind, RemoteSection } from '../sdp/types.js';
import { checkSessionBounds, DEFAULT_SESSION_BOUNDS, type SessionBounds } from './bounds.js';
import { PulledMoves } from './PulledMoves.js';
import type { DominantSpeakers } from '../speakers/DominantSpeakers.js';

const notMediaTrack = (name: string): TrackRefusal => ({
  code: ErrorCode.BAD_REQUEST,
  message: `${name} is a data channel, not a media track: subscribe to it with subscribeDataChannels`,
});

/**
 * The pulling side of sessions: consumers for published tracks (piped from
 * other workers when needed), the transceivers that carry them, simulcast
 * preferences and retargeting (updateTracks).
 */
export interface PullerParts {
  tracks: TrackRegistry;
  pipes: ProducerPipes;
  offers: SfuOffers;
  /** Where each subscriber's preferred simulcast layer counts towards what its publisher sends. */
  demand: LayerDemand;
  /** In a cluster: tracks of other nodes, piped here when pulled. */
  remote?: RemoteTrackSource | undefined;
  /** How long a pull waits for the publishing session to connect. */
  mediaWaitMs: number;
  /** This node's published data channels: a name there is not a media track. */
  dataChannels?: TrackRegistry<PublishedDataChannel>;
  /** What one session may hold (transceivers, pulls waiting for an answer, m-sections). */
  bounds?: SessionBounds;
  /** Who speaks among the audio tracks each session pulls. */
  speakers?: DominantSpeakers;
  /** Tracks of sessions that moved away from their PeerConnection: their pulls wait for them (TrackMoves). */
  sessionMoves?: { moving(sessionId: string, trackName: string): Promise<boolean> | undefined };
}

export class Puller {
  private readonly tracks: TrackRegistry;
  private readonly pipes: ProducerPipes;
  private readonly offers: SfuOffers;
  private readonly demand: LayerDemand;
  private readonly mediaWaitMs: number;
  private readonly remote: RemoteTrackSource | undefined;
  private readonly dataChannels: TrackRegistry<PublishedDataChannel> | undefined;
  private readonly bounds: SessionBounds;
  private readonly moves: PulledMoves;
  private readonly speakers: DominantSpeakers | undefined;

  constructor(
    parts: PullerParts,
    private readonly sessionById: (id: string) => Session | undefined,
    /** A pulled source went away: the session's transceiver on `mid` is now inactive. */
    onTrackEnded: (session: Session, mid: string) => void,
    /** A pulled track came back on a new producer: follow() it on the session's queue. */
    onSourceMoved: (session: Session, mid: string) => void = () => undefined,
  ) {
    ({ tracks: this.tracks, pipes: this.pipes, offers: this.offers, demand: this.demand, mediaWaitMs: this.mediaWaitMs, remote: this.remote, dataChannels: this.dataChannels } = parts);
    this.moves = new PulledMoves({
      remote: this.remote,
      sessionMoves: parts.sessionMoves,
      offers: this.offers,
      consumeOn: (session, request, mid) => {
        const probe = new TrackResults();
        return this.consume(session, request, probe, probe.add({ mid: null, sessionId: null, trackName: null }), [], mid);
      },
      onTrackEnded,
      onSourceMoved,
    });
    this.bounds = parts.bounds ?? DEFAULT_SESSION_BOUNDS;
    this.speakers = parts.speakers;
  }

  /** pullTracks on the session's queue: a consumer and m-section per track, then the SFU's offer. */
  async pull(session: Session, requests: PullRequest[]): Promise<TracksOutcome> {
    // Consumers are created at once (paused until the answer): the bounds hold before any is.
    const newSections = requests.filter((r) => r.mid == null).length + (session.transceivers.length === 0 ? 1 : 0);
    checkSessionBounds(session, this.bounds, { transceivers: requests.length, pendingPulls: requests.length, sections: newSections });
    const results = new TrackResults();
    const added: Transceiver[] = [];
    const hadSections = session.transceivers.length > 0;
    // A first offer starts with the data section, on mid 0 (SfuOffers.startWithData).
    const takenMids: string[] = hadSections ? [] : ['0'];
    try {
      for (const request of requests) {
        const index = results.add({ mid: null, sessionId: request.sessionId, trackName: request.trackName });
        const reuse = request.mid != null ? this.reusableTransceiver(session, request, results, index, takenMids) : undefined;
        if (request.mid != null && !reuse) continue;
        const consumed = await this.consume(session, { ...request, mid: null }, results, index, takenMids, reuse?.section.mid);
        const transceiver = consumed && reuse?.pushed ? this.bothWays(reuse, consumed, results, index) : consumed;
        if (transceiver) {
          added.push(transceiver);
          takenMids.push(transceiver.section.mid);
        }
      }
    } catch (error) {
      for (const t of added) t.pulled?.consumer.close();
      throw error;
    }
    if (added.length === 0 && session.negotiation === 'stable') {
      return { session, description: null, requiresImmediateRenegotiation: false, tracks: results.items };
    }
    if (!hadSections && added.length > 0) this.offers.startWithData(session);
    for (const transceiver of added) {
      // A reused transceiver keeps its place in the m-line order (and its pushed track, "#name").
      const at = session.transceivers.findIndex((t) => t.section.mid === transceiver.section.mid);
      if (at >= 0) session.transceivers[at] = transceiver;
      else session.transceivers.push({ ...transceiver, addedByPendingOffer: true });
    }
    const sdp = this.offers.offer(session);
    return { session, description: { type: 'offer', sdp }, requiresImmediateRenegotiation: true, tracks: results.items };
  }

  /** updateTracks on the session's queue: the SFU offers only when a mid got another source. */
  async update(session: Session, requests: PullRequest[]): Promise<TracksOutcome> {
    // A retarget offers a new stream on its mid: it waits for the answer like a pull.
    checkSessionBounds(session, this.bounds, { transceivers: 0, pendingPulls: requests.length, sections: 0 });
    const results = new TrackResults();
    let retargeted = false;
    for (const request of requests) {
      const index = results.add({ mid: request.mid ?? null, sessionId: request.sessionId, trackName: request.trackName });
      retargeted = (await this.updateOne(session, request, results, index)) || retargeted;
    }
    if (!retargeted) {
      return { session, description: null, requiresImmediateRenegotiation: false, tracks: results.items };
    }
    const sdp = this.offers.offer(session);
    return { session, description: { type: 'offer', sdp }, requiresImmediateRenegotiation: true, tracks: results.items };
  }

  /**
   * The published track a request names, if the caller may pull it. A track the
   * caller must not know of is refused exactly as one that is not published.
   */
  private source(request: PullRequest): { track: PublishedTrack; refusal?: undefined } | { track?: undefined; refusal: TrackRefusal } {
    const track = this.tracks.get(request.sessionId, request.trackName);
    const refusal = track ? request.allow?.(track) : null;
    if (track && !refusal) return { track };
    const channel = track ? undefined : this.dataChannels?.get(request.sessionId, request.trackName);
    if (channel) return { refusal: request.allow?.(channel) ?? notMediaTrack(request.trackName) };
    // The access layer refuses hidden tracks with this same error (trackNotFound), so the answers cannot differ.
    const missing = trackNotFound(request.sessionId, request.trackName);
    return { refusal: refusal ?? { code: missing.code, message: missing.message } };
  }

  /**
   * Where a pulled track comes from: a producer of this node (piped onto the
   * session's router when it lives on another worker), or, in a cluster, a
   * pipe from the node that publishes it. `origin` is the producer whose
   * per-layer scores the subscriber's simulcast policy follows.
   */
  private async findSource(
    session: Session,
    request: PullRequest,
  ): Promise<{ view: PulledSource; producerId: string; origin: types.Producer; remote?: boolean } | { refusal: TrackRefusal }> {
    const local = this.source(request);
    if (local.track) {
      const producerId = await this.pipes.availableOn(local.track.producer, local.track.router, session.router);
      return { view: local.track, producerId, origin: local.track.producer };
    }
    if (!this.remote || local.refusal.code !== ErrorCode.TRACK_NOT_FOUND) return { refusal: local.refusal };
    let remote: RemoteSource | TrackRefusal | null;
    try {
      // The caller's access is checked on the track's view before any pipe is opened.
      remote = await this.remote.find(request.sessionId, request.trackName, session.router, (view) => request.allow?.(view) ?? (view.kind === 'data' ? notMediaTrack(request.trackName) : null));
    } catch (error) {
      if (!(error instanceof SwitchyardError)) throw error;
      return { refusal: { code: error.code, message: error.message } };
    }
    if (!remote) return { refusal: local.refusal };
    if ('code' in remote) return { refusal: remote };
    return { view: remote.view, producerId: remote.producerId, origin: remote.producer, remote: true };
  }

  /**
   * The transceiver a pull names by mid, when it can take the track: same
   * kind, negotiated, carrying nothing now (idle, or its pulled source ended).
   */
  reusableTransceiver(
    session: Session,
    request: PullRequest,
    results: TrackResults,
    index: number,
    takenMids: string[],
  ): Transceiver | undefined {
    // "#name": the transceiver of this session's own track `name`, which then carries media both ways.
    const local = (request.mid as string).startsWith('#') ? (request.mid as string).slice(1) : undefined;
    const transceiver = local === undefined ? session.transceivers.find((t) => t.section.mid === request.mid) : session.transceivers.find((t) => t.pushed?.name === local);
    const mid = transceiver?.section.mid ?? (request.mid as string);
    const source = this.source(request).track;
    let problem: string | undefined;
    if (!transceiver) problem = local === undefined ? `this session has no transceiver with mid ${mid}` : `this session publishes no track named ${local}`;
    else if (transceiver.section.rejected || transceiver.section.kind === 'application') problem = `mid ${mid} cannot carry media`;
    else if (transceiver.pending || transceiver.pendingPush) problem = `mid ${mid} is waiting for an answer`;
    else if ((local === undefined && transceiver.pushed) || (transceiver.pulled && !transceiver.pulled.ended)) problem = `mid ${mid} already carries a track`;
    else if (takenMids.includes(mid)) problem = `mid ${mid} is named twice`;
    else if (source && source.kind !== transceiver.section.kind) problem = `mid ${mid} carries ${transceiver.section.kind}, ${request.trackName} is ${source.kind}`;
    if (problem) {
      results.fail(index, ErrorCode.BAD_REQUEST, problem);
      return undefined;
    }
    return transceiver;
  }

  /** Applies one updateTracks entry; true when the transceiver got a new stream to offer. */
  private async updateOne(session: Session, request: PullRequest, results: TrackResults, index: number): Promise<boolean> {
    const transceiver = request.mid == null ? undefined : session.transceivers.find((t) => t.section.mid === request.mid);
    const pulled = transceiver?.pulled;
    if (!transceiver || !pulled || transceiver.section.rejected) {
      results.fail(index, ErrorCode.BAD_REQUEST, request.mid == null ? 'updateTracks needs the mid of a pulled transceiver' : `mid ${request.mid} carries no pulled track`);
      return false;
    }
    const sameSource = pulled.source.sessionId === request.sessionId && pulled.source.name === request.trackName && !pulled.ended;
    if (sameSource) {
      if (request.simulcast) {
        if (!pulled.simulcast) {
          results.fail(index, ErrorCode.BAD_REQUEST, `${request.trackName} is not simulcast`);
          return false;
        }
        const rid = request.simulcast.preferredRid;
        if (rid != null && !pulled.simulcast.rids.includes(rid)) {
          results.fail(index, ErrorCode.BAD_REQUEST, `${request.trackName} has no simulcast layer ${rid}`);
          return false;
        }
        await pulled.simulcast.update(request.simulcast);
      }
      return false;
    }
    // Checked before the old consumer goes: a refused retarget leaves the transceiver as it was.
    const found = await this.findSource(session, request);
    if ('refusal' in found) {
      results.fail(index, found.refusal.code, found.refusal.message);
      return false;
    }
    const source = found.view;
    if (source.kind !== transceiver.section.kind) {
      results.fail(index, ErrorCode.BAD_REQUEST, `mid ${request.mid} carries ${transceiver.section.kind}, ${request.trackName} is ${source.kind}`);
      return false;
    }
    // The mid moves to the new consumer: the old one goes first.
    pulled.consumer.close();
    const probe = new TrackResults();
    const replacement = await this.consume(session, { ...request, mid: null }, probe, probe.add({ mid: null, sessionId: null, trackName: null }), [], transceiver.section.mid);
    if (!replacement) {
      const error = probe.items[0]?.error;
      results.fail(index, error?.code ?? ErrorCode.INTERNAL, error?.message ?? 'could not pull the new source');
      transceiver.pulled = { ...pulled, ended: true };
      transceiver.section = { ...transceiver.section, direction: transceiver.pushed ? 'recvonly' : 'inactive', outgoing: undefined };
      return true;
    }
    transceiver.section = (transceiver.pushed && bidirectionalSection(transceiver.section, replacement.section)) || replacement.section;
    transceiver.pulled = replacement.pulled;
    transceiver.pending = true;
    return true;
  }

  /**
   * A pull answered in the client's offer (pullTracks with an offer): the
   * consumer sends on the m-section the client offered to receive on (when
   * that offer fits what mediasoup writes: offeredPulls.ts), negotiated once
   * the answer is sent.
   */
  async consumeOffered(session: Session, request: PullRequest, offered: RemoteSection, results: TrackResults, index: number): Promise<Transceiver | undefined> {
    const transceiver = await this.consume(session, { ...request, mid: null }, results, index, [], undefined, offered);
    return transceiver && { ...transceiver, pending: false };
  }

  async consume(
    session: Session,
    request: PullRequest,
    results: TrackResults,
    index: number,
    takenMids: string[],
    reuseMid?: string,
    /** The client's m-section to answer, for a pull with the client's offer. */
    offered?: RemoteSection,
  ): Promise<Transceiver | undefined> {
    const found = await this.findSource(session, request);
    if ('refusal' in found) {
      results.fail(index, found.refusal.code, found.refusal.message);
      return undefined;
    }
    const { view: source, producerId, origin, remote } = found;
    const reused = offered ?? (reuseMid === undefined ? undefined : session.transceivers.find((t) => t.section.mid === reuseMid)?.section);
    if (reused && reused.kind !== source.kind) {
      results.fail(index, ErrorCode.BAD_REQUEST, `mid ${reused.mid} carries ${reused.kind}, ${request.trackName} is ${source.kind}`);
      return undefined;
    }
    const rids = source.simulcastRids;
    const preferredRid = request.simulcast?.preferredRid;
    if (preferredRid != null && !rids.includes(preferredRid)) {
      results.fail(
        index,
        ErrorCode.BAD_REQUEST,
        rids.length === 0
          ? `${request.trackName} is not simulcast`
          : `${request.trackName} has no simulcast layer ${preferredRid} (it has ${rids.join(', ')})`,
      );
      return undefined;
    }
    // A track is published when its offer is answered; its media flows once the
    // publisher's PeerConnection is up. Give that a moment rather than fail.
    const publisher = this.sessionById(source.sessionId);
    if (publisher && !(await publisher.whenConnected(this.mediaWaitMs))) {
      results.fail(
        index,
        ErrorCode.UNAVAILABLE,
        `the session publishing ${request.trackName} did not connect within ${this.mediaWaitMs} ms`,
      );
      return undefined;
    }
    const fitting = offered ? offeredCapabilities(offered, session.router.rtpCapabilities) : { capabilities: consumerCapabilities(session.router.rtpCapabilities, session.clientCapabilities) };
    if ('problem' in fitting) {
      results.fail(index, ErrorCode.BAD_REQUEST, fitting.problem);
      return undefined;
    }
    const { capabilities } = fitting;
    if (!session.router.canConsume({ producerId, rtpCapabilities: capabilities })) {
      results.fail(index, ErrorCode.BAD_REQUEST, `this client cannot receive the codec of ${request.trackName}`);
      return undefined;
    }
    const mid = offered?.mid ?? reuseMid ?? session.nextMid(takenMids);
    const consume = (enableRtx?: boolean) =>
      session.transport.consume({
        producerId,
        rtpCapabilities: capabilities,
        paused: true,
        mid,
        ...(enableRtx === false ? { enableRtx } : {}),
        ...(rids.length > 0 ? { preferredLayers: { spatialLayer: SimulcastPolicy.layerOf(rids, preferredRid) } } : {}),
        appData: { sourceSessionId: source.sessionId, trackName: source.name },
      });
    const made = offered ? await answerableConsumer(consume, offered, request.trackName) : { consumer: await consume() };
    if ('problem' in made) {
      results.fail(index, ErrorCode.BAD_REQUEST, made.problem);
      return undefined;
    }
    const { consumer } = made;
    // A consumer of another node's track keeps that track's inbound pipe open.
    if (remote) this.remote?.hold(source.sessionId, source.name, consumer);
    this.speakers?.add(session, consumer);
    const simulcast = rids.length > 0 ? new SimulcastPolicy(consumer, origin, rids, request.simulcast ?? {}, this.demand) : undefined;
    results.setMid(index, mid);
    const section = sendingSection(consumer.rtpParameters, {
      mid,
      // findSource refuses data channels.
      kind: source.kind as MediaKind,
      cname: `switchyard-${source.sessionId}`,
      streamId: source.sessionId,
      trackId: msidTrackId(mid, source.name),
    });
    if (!section) {
      consumer.close();
      throw new Error('consumer has no SSRC');
    }
    const transceiver: Transceiver = {
      section,
      pulled: simulcast ? { source, consumer, ended: false, simulcast } : { source, consumer, ended: false },
      pending: true,
    };
    consumer.on('producerclose', () => this.moves.sourceEnded(session, consumer, source));
    return transceiver;
  }

  /** On the session's queue: the pull on `mid` follows its track onto its new producer (PulledMoves.follow). */
  follow(session: Session, mid: string): Promise<void> {
    return this.moves.follow(session, mid);
  }

  /** The pulled track joins the pushed one on its transceiver ("#name"); undefined, with the result's error, when their codecs clash. */
  private bothWays(pushing: Transceiver, pulling: Transceiver, results: TrackResults, index: number): Transceiver | undefined {
    const section = bidirectionalSection(pushing.section, pulling.section);
    if (!section || !pushing.pushed) {
      pulling.pulled?.consumer.close();
      results.fail(index, ErrorCode.BAD_REQUEST, `mid ${pushing.section.mid} uses the payload type of the pulled codec for another codec`);
      return undefined;
    }
    return { ...pulling, section, pushed: pushing.pushed };
  }
}

/** RFC 4566 token characters, which a=msid's parts are made of (RFC 8830). */
const NOT_TOKEN_CHAR = /[^!#$%&'*+\-.0-9A-Z^_`a-z{|}~]/g;

/**
 * The a=msid track id of a pulled track: unique within the session because it
 * starts with the mid (Chromium refuses an offer where two m-sections carry
 * the same msid, as when one source is pulled twice), then the source's name
 * for people reading SDP. The stream id stays the publisher's session id, so
 * an app can group one publisher's tracks. At most 64 token characters.
 */
export function msidTrackId(mid: string, trackName: string): string {
  return `${mid}-${trackName.replace(NOT_TOKEN_CHAR, '_')}`.slice(0, 64);
}
