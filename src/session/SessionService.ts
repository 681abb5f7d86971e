import { randomUUID } from 'node:crypto';
import type { types } from 'mediasoup';
import { badRequest, ErrorCode, negotiationConflict, sessionNotFound, SwitchyardError } from '../errors.js';
import type { Logger } from '../logger.js';
import { ProducerPipes } from '../media/producerPipes.js';
import { SimulcastPolicy, type SimulcastPreference } from '../media/simulcastPolicy.js';
import type { MediaWorker, WorkerPool } from '../media/workerPool.js';
import { parseDescription } from '../sdp/parse.js';
import {
  clientCapabilities,
  codecMatches,
  consumerCapabilities,
  fromMediasoupCodec,
  mapProducer,
  mergeCapabilities,
  receiveOffer,
  type ProducerMapping,
} from '../sdp/rtpMapping.js';
import type { Direction, MediaKind, RemoteDescription, RemoteSection } from '../sdp/types.js';
import type { LocalSection } from '../sdp/write.js';
import type { PublishedTrack } from '../tracks/PublishedTrack.js';
import { TrackActivityMonitor, type TrackActivityOptions } from '../tracks/TrackActivityMonitor.js';
import { TrackRegistry, type TrackFilter } from '../tracks/TrackRegistry.js';
import { transition } from './negotiation.js';
import { planClientOffer, type OfferIntents, type PushRequest, type SectionPlan } from './offerPlan.js';
import { Session, type Transceiver } from './Session.js';
import { TrackResults, type TrackResult } from './trackResults.js';
import { validateTags, validateTrackName, MAX_TRACKS_PER_CALL } from './limits.js';

export interface DescriptionInput {
  type: 'offer' | 'answer';
  sdp: string;
}

export interface PullRequest {
  sessionId: string;
  trackName: string;
  mid?: string | null;
  simulcast?: SimulcastPreference | null;
}

export interface TracksOutcome {
  session: Session;
  /** The SFU's answer to the client's offer, or its own offer. */
  description: DescriptionInput | null;
  requiresImmediateRenegotiation: boolean;
  tracks: TrackResult[];
}

export interface SessionServiceOptions {
  pool: WorkerPool;
  logger: Logger;
  maxSdpBytes: number;
  activity: TrackActivityOptions;
  /** How long a pull waits for the publishing session to connect before UNAVAILABLE. */
  mediaWaitMs: number;
}

const SCTP_STREAMS = { OS: 1024, MIS: 1024 };
/**
 * Where a session's downlink bandwidth estimate starts (mediasoup's default is
 * 600 kbit/s): enough for a 720p layer, so a subscriber that prefers the top
 * simulcast layer gets it without a long ramp-up; congestion control lowers it.
 */
const INITIAL_OUTGOING_BITRATE = 1_500_000;

/**
 * The session engine: one WebRtcTransport per session, the offer/answer
 * exchange over it, and the producers and consumers behind its m-sections.
 * Every mutation of a session runs on that session's queue, validates first
 * and changes state only when it succeeds, so a failed call leaves the
 * session exactly as it was.
 */
export class SessionService {
  readonly tracks = new TrackRegistry();
  private readonly sessions = new Map<string, Session>();
  readonly pipes = new ProducerPipes();
  private readonly pool: WorkerPool;
  private readonly logger: Logger;
  private readonly maxSdpBytes: number;
  private readonly activity: TrackActivityMonitor;
  private readonly mediaWaitMs: number;

  constructor(options: SessionServiceOptions) {
    this.pool = options.pool;
    this.logger = options.logger;
    this.maxSdpBytes = options.maxSdpBytes;
    this.mediaWaitMs = options.mediaWaitMs;
    this.pool.on('workerDied', (worker) => this.onWorkerDied(worker));
    this.activity = new TrackActivityMonitor(this.tracks, options.activity, this.logger, (track) => this.abandon(track));
    this.activity.start();
  }

  get(id: string): Session | undefined {
    return this.sessions.get(id);
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  listTracks(filter?: TrackFilter): PublishedTrack[] {
    return this.tracks.list(filter);
  }

  /** Creates a session on the least-loaded worker; answers the client's offer when it brings one. */
  async createSession(input: { description?: DescriptionInput | null; correlationId?: string | null }): Promise<{
    session: Session;
    description: DescriptionInput | null;
  }> {
    const offer = input.description ? this.parse(input.description, 'offer') : undefined;
    if (input.correlationId != null && input.correlationId.length > 256) throw badRequest('correlationId is longer than 256 characters');
    const worker = this.pool.pick();
    const transport = await worker.router.createWebRtcTransport({
      webRtcServer: worker.webRtcServer,
      enableUdp: true,
      enableTcp: true,
      preferUdp: true,
      enableSctp: true,
      numSctpStreams: SCTP_STREAMS,
      initialAvailableOutgoingBitrate: INITIAL_OUTGOING_BITRATE,
    });
    const session = new Session(randomUUID(), input.correlationId ?? null, worker, transport);
    worker.load += 1;
    let answer: DescriptionInput | null = null;
    if (offer) {
      try {
        answer = (await this.applyClientOffer(session, offer, { push: [], close: [], autoDiscover: false })).answer;
      } catch (error) {
        transport.close();
        worker.load -= 1;
        throw error;
      }
    }
    this.sessions.set(session.id, session);
    transport.observer.once('close', () => this.forget(session));
    this.logger.info({ session: session.id, worker: worker.index }, 'session created');
    return { session, description: answer };
  }

  /**
   * Publishes tracks: from the client's offer (answered at once), or, without
   * an offer, by offering the client new m-sections of the given kinds to send
   * on (the tracks are published when its answer arrives through renegotiate).
   */
  pushTracks(input: {
    sessionId: string;
    description?: DescriptionInput | null;
    tracks?: { mid?: string | null; trackName: string; kind?: MediaKind | null; tags?: string[] | null }[] | null;
    autoDiscover?: boolean | null;
  }): Promise<TracksOutcome> {
    const session = this.require(input.sessionId);
    const requested = input.tracks ?? [];
    if (requested.length > MAX_TRACKS_PER_CALL) {
      throw new SwitchyardError(ErrorCode.LIMIT_EXCEEDED, `at most ${MAX_TRACKS_PER_CALL} tracks per call`);
    }
    const push: PushRequest[] = requested.map((t) => {
      validateTrackName(t.trackName);
      const request: PushRequest = { trackName: t.trackName, tags: validateTags(t.tags ?? []) };
      if (t.mid != null) request.mid = t.mid;
      return request;
    });
    if (!input.description) {
      if (input.autoDiscover) throw badRequest('autoDiscover needs the client\'s offer');
      if (requested.length === 0) throw badRequest('pushTracks needs tracks');
      const kinds = requested.map((t) => {
        if (!t.kind) throw badRequest(`track ${t.trackName} needs a kind when there is no offer`);
        return t.kind;
      });
      return session.queue.run(async () => {
        this.ensureOpen(session);
        return this.offerToReceive(session, push, kinds);
      });
    }
    const offer = this.parse(input.description, 'offer');
    if (push.length === 0 && !input.autoDiscover) throw badRequest('pushTracks needs tracks or autoDiscover: true');
    return session.queue.run(async () => {
      this.ensureOpen(session);
      const { answer, results } = await this.applyClientOffer(session, offer, {
        push,
        close: [],
        autoDiscover: Boolean(input.autoDiscover),
      });
      return { session, description: answer, requiresImmediateRenegotiation: false, tracks: results.items };
    });
  }

  /** Pulls other sessions' tracks into new transceivers; returns the SFU's offer. */
  pullTracks(input: { sessionId: string; tracks: PullRequest[] }): Promise<TracksOutcome> {
    const session = this.require(input.sessionId);
    if (input.tracks.length === 0) throw badRequest('pullTracks needs at least one track');
    if (input.tracks.length > MAX_TRACKS_PER_CALL) {
      throw new SwitchyardError(ErrorCode.LIMIT_EXCEEDED, `at most ${MAX_TRACKS_PER_CALL} tracks per call`);
    }
    for (const t of input.tracks) validateTrackName(t.trackName);
    return session.queue.run(async () => {
      this.ensureOpen(session);
      const results = new TrackResults();
      const added: Transceiver[] = [];
      const takenMids: string[] = [];
      try {
        for (const request of input.tracks) {
          const index = results.add({ mid: null, sessionId: request.sessionId, trackName: request.trackName });
          const reuse = request.mid != null ? this.reusableTransceiver(session, request, results, index, takenMids) : undefined;
          if (request.mid != null && !reuse) continue;
          const transceiver = await this.consume(session, { ...request, mid: null }, results, index, takenMids, reuse?.section.mid);
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
      for (const transceiver of added) {
        // A reused transceiver keeps its place in the m-line order.
        const at = session.transceivers.findIndex((t) => t.section.mid === transceiver.section.mid);
        if (at >= 0) session.transceivers[at] = transceiver;
        else session.transceivers.push(transceiver);
      }
      session.negotiation = transition(session.negotiation, 'sfu-offer');
      const sdp = session.describe(session.localSetup(false));
      return {
        session,
        description: { type: 'offer', sdp },
        requiresImmediateRenegotiation: true,
        tracks: results.items,
      };
    });
  }

  /**
   * Changes what pulled transceivers carry: another simulcast preference for
   * the same source (no renegotiation), or another source track (a new
   * consumer on the same mid; the SFU offers the new stream).
   */
  updateTracks(input: { sessionId: string; tracks: PullRequest[] }): Promise<TracksOutcome> {
    const session = this.require(input.sessionId);
    if (input.tracks.length === 0) throw badRequest('updateTracks needs at least one track');
    if (input.tracks.length > MAX_TRACKS_PER_CALL) {
      throw new SwitchyardError(ErrorCode.LIMIT_EXCEEDED, `at most ${MAX_TRACKS_PER_CALL} tracks per call`);
    }
    for (const t of input.tracks) validateTrackName(t.trackName);
    return session.queue.run(async () => {
      this.ensureOpen(session);
      const results = new TrackResults();
      let retargeted = false;
      for (const request of input.tracks) {
        const index = results.add({ mid: request.mid ?? null, sessionId: request.sessionId, trackName: request.trackName });
        retargeted = (await this.updateOne(session, request, results, index)) || retargeted;
      }
      if (!retargeted) {
        return { session, description: null, requiresImmediateRenegotiation: false, tracks: results.items };
      }
      session.negotiation = transition(session.negotiation, 'sfu-offer');
      const sdp = session.describe(session.localSetup(false));
      return { session, description: { type: 'offer', sdp }, requiresImmediateRenegotiation: true, tracks: results.items };
    });
  }

  /**
   * The transceiver a pull names by mid, when it can take the track: same
   * kind, negotiated, carrying nothing now (idle, or its pulled source ended).
   */
  private reusableTransceiver(
    session: Session,
    request: PullRequest,
    results: TrackResults,
    index: number,
    takenMids: string[],
  ): Transceiver | undefined {
    const mid = request.mid as string;
    if (mid.startsWith('#')) {
      results.fail(index, ErrorCode.BAD_REQUEST, 'pulling into the transceiver of a local track (#trackName) is not supported yet; pull into a new transceiver or name an idle mid');
      return undefined;
    }
    const transceiver = session.transceivers.find((t) => t.section.mid === mid);
    const source = this.tracks.get(request.sessionId, request.trackName);
    let problem: string | undefined;
    if (!transceiver) problem = `this session has no transceiver with mid ${mid}`;
    else if (transceiver.section.rejected || transceiver.section.kind === 'application') problem = `mid ${mid} cannot carry media`;
    else if (transceiver.pending || transceiver.pendingPush) problem = `mid ${mid} is waiting for an answer`;
    else if (transceiver.pushed || (transceiver.pulled && !transceiver.pulled.ended)) problem = `mid ${mid} already carries a track`;
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
    const source = this.tracks.get(request.sessionId, request.trackName);
    if (!source) {
      results.fail(index, ErrorCode.TRACK_NOT_FOUND, `track ${request.trackName} of session ${request.sessionId} is not published`);
      return false;
    }
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
      transceiver.section = { ...transceiver.section, direction: 'inactive', outgoing: undefined };
      return true;
    }
    transceiver.section = replacement.section;
    transceiver.pulled = replacement.pulled;
    transceiver.pending = true;
    return true;
  }

  /** The client's answer to the SFU's pending offer, or a new offer of the client's own. */
  renegotiate(input: { sessionId: string; description: DescriptionInput }): Promise<{
    session: Session;
    description: DescriptionInput | null;
  }> {
    const session = this.require(input.sessionId);
    const description = this.parse(input.description, input.description.type);
    return session.queue.run(async () => {
      this.ensureOpen(session);
      if (description.type === 'offer') {
        const { answer } = await this.applyClientOffer(session, description, { push: [], close: [], autoDiscover: false });
        return { session, description: answer };
      }
      await this.applyClientAnswer(session, description);
      return { session, description: null };
    });
  }

  /** Stops tracks: with the client's offer (transceivers stopped), or at once with force. */
  closeTracks(input: {
    sessionId: string;
    mids: string[];
    description?: DescriptionInput | null;
    force?: boolean | null;
  }): Promise<TracksOutcome> {
    const session = this.require(input.sessionId);
    if (input.mids.length === 0) throw badRequest('closeTracks needs at least one mid');
    if (input.mids.length > MAX_TRACKS_PER_CALL) {
      throw new SwitchyardError(ErrorCode.LIMIT_EXCEEDED, `at most ${MAX_TRACKS_PER_CALL} tracks per call`);
    }
    const offer = input.description ? this.parse(input.description, 'offer') : undefined;
    if (!offer && !input.force) throw badRequest('closeTracks needs the client\'s offer or force: true');
    return session.queue.run(async () => {
      this.ensureOpen(session);
      if (!offer) return this.forceClose(session, input.mids);
      const known = new Set(session.transceivers.filter((t) => t.pushed || t.pulled).map((t) => t.section.mid));
      const { answer, results } = await this.applyClientOffer(session, offer, {
        push: [],
        close: input.mids.filter((mid) => known.has(mid)),
        autoDiscover: false,
      });
      for (const mid of input.mids) {
        const index = results.add({ mid, sessionId: session.id, trackName: null });
        if (!known.has(mid)) results.fail(index, ErrorCode.TRACK_NOT_FOUND, `no track on mid ${mid}`);
      }
      return { session, description: answer, requiresImmediateRenegotiation: false, tracks: results.items };
    });
  }

  /** Frees everything the session holds; sessions that pulled from it see those transceivers go inactive. */
  async closeSession(sessionId: string): Promise<void> {
    const session = this.require(sessionId);
    await session.queue.run(async () => {
      if (session.closed) return;
      session.transport.close();
      this.forget(session);
    });
  }

  async close(): Promise<void> {
    this.activity.stop();
    for (const session of [...this.sessions.values()]) {
      session.transport.close();
      this.forget(session);
    }
  }

  // ---------------------------------------------------------------------------

  private require(id: string): Session {
    if (typeof id !== 'string' || id.length > 64) throw sessionNotFound(String(id).slice(0, 64));
    const session = this.sessions.get(id);
    if (!session || session.closed) throw sessionNotFound(id);
    return session;
  }

  private ensureOpen(session: Session): void {
    if (session.closed) throw sessionNotFound(session.id);
  }

  private parse(input: DescriptionInput, expected: 'offer' | 'answer'): RemoteDescription {
    if (input.type !== expected) throw badRequest(`expected an ${expected.toUpperCase()}, got ${input.type.toUpperCase()}`);
    return parseDescription(expected, input.sdp, this.maxSdpBytes);
  }

  private forget(session: Session): void {
    if (session.closed) return;
    session.closed = true;
    this.sessions.delete(session.id);
    session.worker.load -= 1;
    for (const t of session.transceivers) {
      if (t.pushed) this.unpublish(t.pushed);
    }
    this.logger.info({ session: session.id }, 'session closed');
  }

  private onWorkerDied(worker: MediaWorker): void {
    for (const session of [...this.sessions.values()]) {
      if (session.worker === worker) {
        this.logger.warn({ session: session.id, worker: worker.index }, 'closing session: its worker died');
        this.forget(session);
      }
    }
  }

  private unpublish(track: PublishedTrack): void {
    track.status = 'INACTIVE';
    this.tracks.unpublish(track);
    track.producer.close();
  }

  /** DTLS: the first description that carries the client's identity sets up the transport. */
  private async connectTransport(session: Session, description: RemoteDescription): Promise<void> {
    if (session.localDtlsRole || !description.transport) return;
    const { fingerprint, setup } = description.transport;
    // Roles are complementary. When the client offers actpass the SFU answers
    // active (RFC 5763 section 5), so only a client that chose active is the DTLS client.
    const remoteRole = setup === 'active' ? 'client' : 'server';
    await session.transport.connect({
      dtlsParameters: {
        role: remoteRole,
        fingerprints: [{ algorithm: fingerprint.algorithm as types.FingerprintAlgorithm, value: fingerprint.value }],
      },
    });
    session.remoteFingerprint = fingerprint;
    session.localDtlsRole = remoteRole === 'client' ? 'server' : 'client';
  }

  private async applyClientOffer(
    session: Session,
    offer: RemoteDescription,
    intents: OfferIntents,
  ): Promise<{ answer: DescriptionInput; results: TrackResults }> {
    const nextState = transition(session.negotiation, 'client-offer');
    const plan = planClientOffer(session, offer, intents);
    const setup = session.localSetup(true, offer.transport?.setup);
    const created: PublishedTrack[] = [];
    const next: Transceiver[] = [];
    const toClose: Transceiver[] = [];
    try {
      await this.connectTransport(session, offer);
      for (const sectionPlan of plan.sections) {
        next.push(await this.answerSection(session, sectionPlan, plan.results, created, toClose));
      }
    } catch (error) {
      for (const track of created) track.producer.close();
      throw error;
    }

    // Commit: nothing below can fail half-way.
    for (const t of toClose) this.stopTransceiverMedia(t);
    for (const track of created) this.tracks.publish(track);
    session.transceivers = next;
    session.negotiation = nextState;
    session.clientCapabilities = mergeCapabilities(session.clientCapabilities, clientCapabilities(offer));
    const sdp = session.describe(setup);
    return { answer: { type: 'answer', sdp }, results: plan.results };
  }

  private async answerSection(
    session: Session,
    { offered, action }: SectionPlan,
    results: TrackResults,
    created: PublishedTrack[],
    toClose: Transceiver[],
  ): Promise<Transceiver> {
    switch (action.type) {
      case 'keep': {
        const { transceiver } = action;
        const section = { ...transceiver.section, direction: keptDirection(transceiver, offered) };
        return { ...transceiver, section };
      }
      case 'close':
        toClose.push(action.transceiver);
        return { section: { ...action.transceiver.section, direction: 'inactive', rejected: action.reject, outgoing: undefined } };
      case 'idle':
        return { section: idleSection(offered, session.router.rtpCapabilities, action.reject) };
      case 'data':
        return {
          section: {
            mid: offered.mid,
            kind: 'application',
            direction: 'sendrecv',
            rejected: false,
            codecs: [],
            headerExtensions: [],
            sctp: {
              port: session.transport.sctpParameters?.port ?? 5000,
              maxMessageSize: session.transport.sctpParameters?.maxMessageSize ?? 262144,
            },
          },
        };
      case 'produce': {
        const mapping = mapProducer(offered, session.router.rtpCapabilities);
        if (!mapping) {
          results.fail(action.resultIndex, ErrorCode.INVALID_SDP, `m-section ${offered.mid} offers no codec the SFU routes`);
          return { section: idleSection(offered, session.router.rtpCapabilities, true) };
        }
        let producer: types.Producer;
        try {
          producer = await session.transport.produce({
            kind: mapping.kind,
            rtpParameters: mapping.rtpParameters,
            appData: { sessionId: session.id, trackName: action.trackName },
          });
        } catch (error) {
          results.fail(action.resultIndex, ErrorCode.INVALID_SDP, `m-section ${offered.mid}: ${(error as Error).message}`);
          return { section: idleSection(offered, session.router.rtpCapabilities, true) };
        }
        const track = this.newTrack(session, action.trackName, action.tags, mapping, producer);
        created.push(track);
        const section: LocalSection = {
          mid: offered.mid,
          kind: mapping.kind,
          direction: 'recvonly',
          rejected: false,
          codecs: mapping.codecs,
          headerExtensions: mapping.headerExtensions,
        };
        if (mapping.rids.length > 0) section.receiveRids = mapping.rids;
        return { section, pushed: track };
      }
    }
  }

  /** The SFU's offer of new m-sections for the client to send the requested tracks on. */
  private offerToReceive(session: Session, push: PushRequest[], kinds: MediaKind[]): TracksOutcome {
    const results = new TrackResults();
    const names = session.publishedNames();
    const added: Transceiver[] = [];
    push.forEach((request, i) => {
      const kind = kinds[i] as MediaKind;
      const index = results.add({ mid: null, sessionId: session.id, trackName: request.trackName });
      if (names.has(request.trackName)) {
        results.fail(index, ErrorCode.BAD_REQUEST, `this session already publishes a track named ${request.trackName}`);
        return;
      }
      names.add(request.trackName);
      const mid = session.nextMid(added.map((t) => t.section.mid));
      const { codecs, headerExtensions } = receiveOffer(kind, session.router.rtpCapabilities, session.clientCapabilities);
      added.push({
        section: { mid, kind, direction: 'recvonly', rejected: false, codecs, headerExtensions },
        pending: true,
        pendingPush: { trackName: request.trackName, tags: request.tags },
      });
      results.setMid(index, mid);
    });
    if (added.length === 0 && session.negotiation === 'stable') {
      return { session, description: null, requiresImmediateRenegotiation: false, tracks: results.items };
    }
    session.transceivers.push(...added);
    session.negotiation = transition(session.negotiation, 'sfu-offer');
    const sdp = session.describe(session.localSetup(false));
    return { session, description: { type: 'offer', sdp }, requiresImmediateRenegotiation: true, tracks: results.items };
  }

  private async applyClientAnswer(session: Session, answer: RemoteDescription): Promise<void> {
    const nextState = transition(session.negotiation, 'client-answer');
    const current = session.transceivers;
    if (answer.sections.length !== current.length || answer.sections.some((s, i) => s.mid !== current[i]?.section.mid)) {
      throw negotiationConflict('the answer does not match the SFU\'s latest offer (m-sections differ); answer the latest offer');
    }
    await this.connectTransport(session, answer);

    const published = await this.publishAnswered(session, current, answer);
    const resumed: types.Consumer[] = [];
    session.transceivers = current.map((transceiver, index) => {
      const answered = answer.sections[index] as RemoteSection;
      if (!transceiver.pending) return transceiver;
      if (transceiver.pendingPush) return published.get(transceiver) ?? idleAfterAnswer(transceiver);
      if (answered.rejected || !transceiver.pulled) {
        transceiver.pulled?.consumer.close();
        return { section: { ...transceiver.section, rejected: true, direction: 'inactive', outgoing: undefined } };
      }
      resumed.push(transceiver.pulled.consumer);
      return { ...transceiver, pending: false };
    });
    session.negotiation = nextState;
    session.clientCapabilities = mergeCapabilities(session.clientCapabilities, clientCapabilities(answer));
    for (const consumer of resumed) {
      await consumer.resume();
      await consumer.requestKeyFrame().catch(() => undefined);
    }
  }

  /**
   * Produces what the client now sends on m-sections the SFU offered for
   * publishing. A section the client did not take up stays unpublished.
   */
  private async publishAnswered(
    session: Session,
    current: Transceiver[],
    answer: RemoteDescription,
  ): Promise<Map<Transceiver, Transceiver>> {
    const published = new Map<Transceiver, Transceiver>();
    for (const [index, transceiver] of current.entries()) {
      const request = transceiver.pendingPush;
      const answered = answer.sections[index];
      if (!transceiver.pending || !request || !answered) continue;
      const sends = !answered.rejected && (answered.direction === 'sendonly' || answered.direction === 'sendrecv');
      const mapping = sends ? mapProducer(answered, session.router.rtpCapabilities) : undefined;
      if (!mapping) {
        this.logger.info({ session: session.id, mid: answered.mid }, 'the client did not send on an m-section offered for publishing');
        continue;
      }
      try {
        const producer = await session.transport.produce({
          kind: mapping.kind,
          rtpParameters: mapping.rtpParameters,
          appData: { sessionId: session.id, trackName: request.trackName },
        });
        const track = this.newTrack(session, request.trackName, request.tags, mapping, producer);
        this.tracks.publish(track);
        published.set(transceiver, {
          section: { ...transceiver.section, codecs: mapping.codecs, headerExtensions: mapping.headerExtensions },
          pushed: track,
        });
      } catch (error) {
        this.logger.warn({ session: session.id, mid: answered.mid, err: error }, 'could not publish what the client sends');
      }
    }
    return published;
  }

  private async consume(
    session: Session,
    request: PullRequest,
    results: TrackResults,
    index: number,
    takenMids: string[],
    reuseMid?: string,
  ): Promise<Transceiver | undefined> {
    const source = this.tracks.get(request.sessionId, request.trackName);
    if (!source) {
      results.fail(index, ErrorCode.TRACK_NOT_FOUND, `track ${request.trackName} of session ${request.sessionId} is not published`);
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
    const publisher = this.sessions.get(source.sessionId);
    if (publisher && !(await publisher.whenConnected(this.mediaWaitMs))) {
      results.fail(
        index,
        ErrorCode.UNAVAILABLE,
        `the session publishing ${request.trackName} did not connect within ${this.mediaWaitMs} ms`,
      );
      return undefined;
    }
    const capabilities = consumerCapabilities(session.router.rtpCapabilities, session.clientCapabilities);
    const producerId = await this.pipes.availableOn(source.producer, source.router, session.router);
    if (!session.router.canConsume({ producerId, rtpCapabilities: capabilities })) {
      results.fail(index, ErrorCode.BAD_REQUEST, `this client cannot receive the codec of ${request.trackName}`);
      return undefined;
    }
    const mid = reuseMid ?? session.nextMid(takenMids);
    const consumer = await session.transport.consume({
      producerId,
      rtpCapabilities: capabilities,
      paused: true,
      mid,
      ...(rids.length > 0 ? { preferredLayers: { spatialLayer: SimulcastPolicy.layerOf(rids, preferredRid) } } : {}),
      appData: { sourceSessionId: source.sessionId, trackName: source.name },
    });
    const simulcast = rids.length > 0 ? new SimulcastPolicy(consumer, source.producer, rids, request.simulcast ?? {}) : undefined;
    results.setMid(index, mid);
    const { rtpParameters } = consumer;
    const encoding = rtpParameters.encodings?.[0];
    if (!encoding?.ssrc) {
      consumer.close();
      throw new Error('consumer has no SSRC');
    }
    const transceiver: Transceiver = {
      section: {
        mid,
        kind: source.kind,
        direction: 'sendonly',
        rejected: false,
        codecs: rtpParameters.codecs.map(fromMediasoupCodec),
        headerExtensions: (rtpParameters.headerExtensions ?? []).map((ext) => ({ uri: ext.uri, id: ext.id })),
        outgoing: {
          ssrc: encoding.ssrc,
          ...(encoding.rtx?.ssrc ? { rtxSsrc: encoding.rtx.ssrc } : {}),
          cname: rtpParameters.rtcp?.cname ?? `switchyard-${source.sessionId}`,
          streamId: source.sessionId,
          trackId: source.name,
        },
      },
      pulled: simulcast ? { source, consumer, ended: false, simulcast } : { source, consumer, ended: false },
      pending: true,
    };
    consumer.on('producerclose', () => this.onSourceEnded(session, consumer));
    return transceiver;
  }

  /** A pulled source went away: its transceiver stays, inactive. */
  private onSourceEnded(session: Session, consumer: types.Consumer): void {
    const transceiver = session.transceivers.find((t) => t.pulled?.consumer === consumer);
    if (!transceiver?.pulled) return;
    transceiver.pulled.ended = true;
    transceiver.section = { ...transceiver.section, direction: 'inactive' };
  }

  private newTrack(
    session: Session,
    name: string,
    tags: string[],
    mapping: ProducerMapping,
    producer: types.Producer,
  ): PublishedTrack {
    return {
      sessionId: session.id,
      name,
      kind: mapping.kind,
      tags,
      simulcastRids: mapping.rids,
      publishedAt: new Date(),
      producer,
      router: session.router,
      status: 'WAITING',
    };
  }

  /** A published track that stayed without media too long: unpublished, its m-section left inactive. */
  private abandon(track: PublishedTrack): void {
    const session = this.sessions.get(track.sessionId);
    if (!session) {
      this.unpublish(track);
      return;
    }
    void session.queue.run(async () => {
      const transceiver = session.transceivers.find((t) => t.pushed === track);
      if (!transceiver) return;
      this.stopTransceiverMedia(transceiver);
      transceiver.pushed = undefined;
      transceiver.section = { ...transceiver.section, direction: 'inactive' };
    });
  }

  private forceClose(session: Session, mids: string[]): TracksOutcome {
    const results = new TrackResults();
    for (const mid of mids) {
      const index = results.add({ mid, sessionId: session.id, trackName: null });
      const transceiver = session.transceivers.find((t) => t.section.mid === mid);
      if (!transceiver || !(transceiver.pushed || transceiver.pulled)) {
        results.fail(index, ErrorCode.TRACK_NOT_FOUND, `no track on mid ${mid}`);
        continue;
      }
      this.stopTransceiverMedia(transceiver);
      transceiver.pushed = undefined;
      transceiver.pulled = undefined;
      transceiver.section = { ...transceiver.section, direction: 'inactive', outgoing: undefined };
    }
    return { session, description: null, requiresImmediateRenegotiation: false, tracks: results.items };
  }

  private stopTransceiverMedia(transceiver: Transceiver): void {
    if (transceiver.pushed) this.unpublish(transceiver.pushed);
    if (transceiver.pulled) transceiver.pulled.consumer.close();
  }
}

/** The SFU's direction for an m-section it keeps, given what the client now offers. */
function keptDirection(transceiver: Transceiver, offered: RemoteSection): Direction {
  if (offered.rejected) return 'inactive';
  const clientSends = offered.direction === 'sendonly' || offered.direction === 'sendrecv';
  const clientReceives = offered.direction === 'recvonly' || offered.direction === 'sendrecv';
  if (transceiver.pushed) return clientSends ? 'recvonly' : 'inactive';
  if (transceiver.pulled && !transceiver.pulled.ended) return clientReceives ? 'sendonly' : 'inactive';
  return transceiver.section.kind === 'application' ? 'sendrecv' : 'inactive';
}

/** An m-section the SFU offered for publishing that the client did not send on. */
function idleAfterAnswer(transceiver: Transceiver): Transceiver {
  return { section: { ...transceiver.section, direction: 'inactive' } };
}

/** An m-section that carries nothing: answered inactive with a codec the client offered. */
function idleSection(offered: RemoteSection, router: types.RtpCapabilities, rejected: boolean): LocalSection {
  const kind = offered.kind;
  const routable = offered.codecs.filter((codec) => router.codecs?.some((cap) => cap.kind === kind && codecMatches(codec, cap)));
  const codecs = (routable.length > 0 ? routable : offered.codecs).slice(0, 1).map((c) => ({ ...c, rtcpFeedback: [] }));
  return { mid: offered.mid, kind, direction: 'inactive', rejected, codecs, headerExtensions: [] };
}
