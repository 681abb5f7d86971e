import { randomUUID } from 'node:crypto';
import { badRequest, ErrorCode, sessionNotFound } from '../errors.js';
import type { Logger } from '../logger.js';
import { ProducerPipes } from '../media/producerPipes.js';
import type { MediaWorker, WorkerPool } from '../media/workerPool.js';
import { parseDescription } from '../sdp/parse.js';
import { receiveOffer } from '../sdp/rtpMapping.js';
import type { MediaKind, RemoteDescription } from '../sdp/types.js';
import type { PublishedTrack } from '../tracks/PublishedTrack.js';
import { TrackActivityMonitor, type TrackActivityOptions } from '../tracks/TrackActivityMonitor.js';
import { TrackRegistry, type TrackFilter } from '../tracks/TrackRegistry.js';
import { checkRemoteTracks, checkTrackCount, validateTags, validateTrackName } from './limits.js';
import { transition } from './negotiation.js';
import { Negotiator } from './Negotiator.js';
import type { PushRequest } from './offerPlan.js';
import { IdleSessions } from './IdleSessions.js';
import { Puller } from './Puller.js';
import { Session, type SessionOwnership, type Transceiver } from './Session.js';
import { TrackResults } from './trackResults.js';
import type { DescriptionInput, PullRequest, TracksOutcome } from './types.js';
import type { SessionEventBus, SessionEventType } from '../events/SessionEventBus.js';
import type { TrackEventBus, TrackView } from '../events/TrackEventBus.js';

export type { DescriptionInput, PullRequest, TracksOutcome } from './types.js';

export interface SessionServiceOptions {
  pool: WorkerPool;
  logger: Logger;
  maxSdpBytes: number;
  activity: TrackActivityOptions;
  /** How long a pull waits for the publishing session to connect before UNAVAILABLE. */
  mediaWaitMs: number;
  /** A session whose PeerConnection is not connected for this long is closed (never connected, or lost). */
  idleTimeoutMs: number;
  trackEvents: TrackEventBus;
  sessionEvents: SessionEventBus;
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
  readonly trackEvents: TrackEventBus;
  readonly sessionEvents: SessionEventBus;
  private readonly negotiator: Negotiator;
  private readonly puller: Puller;
  private readonly idle: IdleSessions;

  constructor(options: SessionServiceOptions) {
    this.pool = options.pool;
    this.logger = options.logger;
    this.maxSdpBytes = options.maxSdpBytes;
    this.idle = new IdleSessions(options.idleTimeoutMs, (session) => this.closeIdle(session));
    this.trackEvents = options.trackEvents;
    this.sessionEvents = options.sessionEvents;
    this.tracks.on('change', (type, track) => this.trackEvents.publish(type, viewOf(track)));
    this.negotiator = new Negotiator(this.tracks, this.logger, (t) => this.stopTransceiverMedia(t));
    this.puller = new Puller(this.tracks, this.pipes, (id) => this.sessions.get(id), options.mediaWaitMs, (session, mid) =>
      this.emit(session, 'TRACK_ENDED', mid),
    );
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

  /** Live sessions of one owner (a client-token subject) in one app. */
  countOwnedBy(appId: string, owner: string): number {
    let count = 0;
    for (const session of this.sessions.values()) {
      if (session.ownership.appId === appId && session.ownership.owner === owner) count += 1;
    }
    return count;
  }

  listTracks(filter?: TrackFilter): PublishedTrack[] {
    return this.tracks.list(filter);
  }

  /** Creates a session on the least-loaded worker; answers the client's offer when it brings one. */
  async createSession(input: {
    ownership: SessionOwnership;
    description?: DescriptionInput | null;
    correlationId?: string | null;
  }): Promise<{
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
    const session = new Session(randomUUID(), input.correlationId ?? null, worker, transport, input.ownership);
    session.onConnectionStateChange = () => {
      this.emit(session, 'CONNECTION_STATE_CHANGED');
      this.idle.watch(session);
    };
    worker.load += 1;
    let answer: DescriptionInput | null = null;
    if (offer) {
      try {
        answer = (await this.negotiator.applyClientOffer(session, offer, { push: [], close: [], autoDiscover: false })).answer;
      } catch (error) {
        transport.close();
        worker.load -= 1;
        throw error;
      }
    }
    this.sessions.set(session.id, session);
    transport.observer.once('close', () => this.forget(session));
    this.idle.watch(session);
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
    checkTrackCount(requested.length);
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
      const { answer, results } = await this.negotiator.applyClientOffer(session, offer, {
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
    checkRemoteTracks('pullTracks', input.tracks);
    return session.queue.run(async () => {
      this.ensureOpen(session);
      const results = new TrackResults();
      const added: Transceiver[] = [];
      const takenMids: string[] = [];
      try {
        for (const request of input.tracks) {
          const index = results.add({ mid: null, sessionId: request.sessionId, trackName: request.trackName });
          const reuse = request.mid != null ? this.puller.reusableTransceiver(session, request, results, index, takenMids) : undefined;
          if (request.mid != null && !reuse) continue;
          const transceiver = await this.puller.consume(session, { ...request, mid: null }, results, index, takenMids, reuse?.section.mid);
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
      const sdp = this.offer(session);
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
    checkRemoteTracks('updateTracks', input.tracks);
    return session.queue.run(async () => {
      this.ensureOpen(session);
      const results = new TrackResults();
      let retargeted = false;
      for (const request of input.tracks) {
        const index = results.add({ mid: request.mid ?? null, sessionId: request.sessionId, trackName: request.trackName });
        retargeted = (await this.puller.updateOne(session, request, results, index)) || retargeted;
      }
      if (!retargeted) {
        return { session, description: null, requiresImmediateRenegotiation: false, tracks: results.items };
      }
      const sdp = this.offer(session);
      return { session, description: { type: 'offer', sdp }, requiresImmediateRenegotiation: true, tracks: results.items };
    });
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
        const { answer } = await this.negotiator.applyClientOffer(session, description, { push: [], close: [], autoDiscover: false });
        return { session, description: answer };
      }
      await this.negotiator.applyClientAnswer(session, description);
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
    checkTrackCount(input.mids.length);
    const offer = input.description ? this.parse(input.description, 'offer') : undefined;
    if (!offer && !input.force) throw badRequest('closeTracks needs the client\'s offer or force: true');
    return session.queue.run(async () => {
      this.ensureOpen(session);
      if (!offer) return this.forceClose(session, input.mids);
      const known = new Set(session.transceivers.filter((t) => t.pushed || t.pulled).map((t) => t.section.mid));
      const { answer, results } = await this.negotiator.applyClientOffer(session, offer, {
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

  /** A session that stayed unconnected for the idle timeout (IdleSessions) is closed on its queue. */
  private closeIdle(session: Session): void {
    void session.queue.run(async () => {
      if (session.closed || session.connectionState === 'CONNECTED') return;
      this.logger.info({ session: session.id, state: session.connectionState }, 'closing a session that stayed unconnected');
      session.transport.close();
      this.forget(session);
    });
  }

  private forget(session: Session): void {
    if (session.closed) return;
    this.idle.forget(session);
    session.closed = true;
    this.sessions.delete(session.id);
    this.emit(session, 'CLOSED');
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
    this.tracks.unpublish(track);
    track.producer.close();
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
    const sdp = this.offer(session);
    return { session, description: { type: 'offer', sdp }, requiresImmediateRenegotiation: true, tracks: results.items };
  }

  /** Moves the session to have-local-offer with a new SFU offer, and says so on its event stream. */
  private offer(session: Session): string {
    session.negotiation = transition(session.negotiation, 'sfu-offer');
    const sdp = session.describe(session.localSetup(false));
    session.pendingOffer = sdp;
    this.emit(session, 'RENEGOTIATION_NEEDED');
    return sdp;
  }

  private emit(session: Session, type: SessionEventType, mid: string | null = null): void {
    this.sessionEvents.publish({ type, session, mid, at: new Date() });
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

/** What an event says about a track: its state at that moment, not a live object. */
function viewOf(track: PublishedTrack): TrackView {
  return {
    appId: track.appId,
    sessionId: track.sessionId,
    name: track.name,
    kind: track.kind,
    status: track.status,
    tags: [...track.tags],
    simulcastRids: [...track.simulcastRids],
    publishedAt: track.publishedAt,
  };
}
