import { randomUUID } from 'node:crypto';
import { badRequest, sessionNotFound, trackNotFound } from '../errors.js';
import type { Logger } from '../logger.js';
import { ProducerPipes } from '../media/producerPipes.js';
import { createSessionTransport } from '../media/sessionTransport.js';
import type { WorkerPool } from '../media/workerPool.js';
import { parseDescription } from '../sdp/parse.js';
import type { RemoteDescription } from '../sdp/types.js';
import type { TrackKind } from '../tracks/PublishedTrack.js';
import type { PublishedTrack } from '../tracks/PublishedTrack.js';
import { publishTrackChanges } from './publishTrackChanges.js';
import { closeTracksWithOffer, forceCloseTracks } from './closeTracks.js';
import { TrackActivityMonitor, type TrackActivityOptions } from '../tracks/TrackActivityMonitor.js';
import { TrackRegistry } from '../tracks/TrackRegistry.js';
import { checkRemoteTracks, checkTrackCount, toPushRequests } from './limits.js';
import { DominantSpeakers } from '../speakers/DominantSpeakers.js';
import { Negotiator } from './Negotiator.js';
import { SessionLiveness } from './SessionLiveness.js';
import { SfuOffers, type RollbackOutcome } from './SfuOffers.js';
import { Puller } from './Puller.js';
import { Session, type SessionOwnership } from './Session.js';
import type { DescriptionInput, PullRequest, TracksOutcome } from './types.js';
import type { SessionEventBus, SessionEventType } from '../events/SessionEventBus.js';
import { LayerDemand } from '../media/layerDemand.js';
import { PublisherLayers } from './PublisherLayers.js';
import type { RemoteTrackSource } from '../cluster/RemoteTracks.js';
import type { TrackEventBus } from '../events/TrackEventBus.js';
import { DataChannels } from './DataChannels.js';
import { SessionEnding } from './SessionEnding.js';
import { SctpStreamIds } from '../media/sctpStreamIds.js';
import { ConnectionQualityWatch } from '../quality/connectionQuality.js';
import { DEFAULT_SESSION_BOUNDS, type SessionBounds } from './bounds.js';
import { StatsFeed } from '../quality/StatsFeed.js';
import { TrackMoves } from '../moves/TrackMoves.js';
import { newResumeSecret } from '../moves/resumeSecret.js';
import type { TrackView } from '../tracks/PublishedTrack.js';

export type { DescriptionInput, PullRequest, TracksOutcome } from './types.js';

/** How long a moved session's tracks wait to be published again, unless configured (SESSION_RESUME_GRACE_MS). */
export const DEFAULT_RESUME_GRACE_MS = 20_000;

/** What resumeSession carries over: the id, the secret's hash, and what the session published before. */
export interface ResumedSession {
  readonly id: string;
  readonly secretHash: string;
  readonly moved: readonly TrackView[];
}

export interface SessionServiceOptions {
  pool: WorkerPool;
  logger: Logger;
  maxSdpBytes: number;
  activity: TrackActivityOptions;
  /** How long a pull waits for the publishing session to connect before UNAVAILABLE. */
  mediaWaitMs: number;
  /** A session whose PeerConnection never connects within this long is closed. */
  idleTimeoutMs: number;
  /** mediasoup's ICE consent timeout, in seconds: no consent check for this long means the client is gone. */
  iceConsentTimeoutS: number;
  /** A session that lost ICE consent is closed unless an ICE restart reconnects it within this long. */
  reconnectGraceMs: number;
  /** Key-frame requests for one video track within this long cost its publisher one key frame. */
  keyFrameRequestDelayMs: number;
  /** A simulcast layer nobody watches for this long is reported out of demand (LAYERS_IN_DEMAND). */
  layerOffDelayMs: number;
  trackEvents: TrackEventBus;
  sessionEvents: SessionEventBus;
  /** In a cluster: tracks of other nodes, piped here when pulled. */
  remoteTracks?: RemoteTrackSource | undefined;
  /** In a cluster: new session ids start with this node's tag, so that any node finds the session's node without asking Redis. */
  newSessionId?: (() => string) | undefined;
  /** Data channels (published and subscribed) one session may hold. */
  maxDataChannelsPerSession: number;
  /** Largest data channel message (SCTP max-message-size). */
  dataMaxMessageBytes: number;
  /** What one session may hold: transceivers, pulls waiting for an answer, m-sections (bounds.ts). */
  bounds?: SessionBounds;
  /** How long a moved session's tracks wait to be published again (and their subscribers for them) before they end. */
  resumeGraceMs?: number;
}

/**
 * The session engine: one WebRtcTransport per session, the offer/answer
 * exchange over it, and the producers and consumers behind its m-sections.
 * Every mutation of a session runs on that session's queue, validates first
 * and changes state only when it succeeds, so a failed call leaves the
 * session exactly as it was.
 */
export class SessionService {
  readonly tracks = new TrackRegistry();
  /** SIGTERM: new sessions go to other nodes (createSession answers UNAVAILABLE, /healthz 503), live ones stay. */
  draining = false;
  private readonly sessions = new Map<string, Session>();
  readonly pipes = new ProducerPipes();
  /** Which simulcast layers of each published track the consumers of this node (and pipes to other nodes) prefer. */
  readonly layerDemand: LayerDemand;
  /** Which simulcast layers of each published track anyone watches, as the publisher is told. */
  readonly publisherLayers: PublisherLayers;
  private readonly pool: WorkerPool;
  private readonly logger: Logger;
  private readonly maxSdpBytes: number;
  private readonly activity: TrackActivityMonitor;
  readonly trackEvents: TrackEventBus;
  readonly sessionEvents: SessionEventBus;
  private readonly negotiator: Negotiator;
  private readonly puller: Puller;
  private readonly liveness: SessionLiveness;
  private readonly sfuOffers: SfuOffers;
  /** How each session's WebRtcTransport is made (createSessionTransport). */
  private readonly transportOptions: { iceConsentTimeoutS: number; maxMessageBytes: number };
  private readonly published: { flushed(): Promise<unknown> }[];
  /** Published and subscribed data channels (DataChannels): run them through withSession. */
  readonly data: DataChannels;
  private readonly ending: SessionEnding;
  /** The sessionStats subscriptions. */
  readonly stats = new StatsFeed();
  private readonly quality: ConnectionQualityWatch;
  private created = 0;
  private readonly newSessionId: () => string;
  /** Tracks of sessions that moved off a PeerConnection of this node, which their subscribers here wait for. */
  readonly trackMoves: TrackMoves;
  readonly resumeGraceMs: number;

  constructor(options: SessionServiceOptions) {
    this.pool = options.pool;
    this.newSessionId = options.newSessionId ?? randomUUID;
    this.trackMoves = new TrackMoves();
    this.resumeGraceMs = options.resumeGraceMs ?? DEFAULT_RESUME_GRACE_MS;
    this.trackMoves.follow(options.trackEvents);
    this.logger = options.logger;
    this.maxSdpBytes = options.maxSdpBytes;
    this.transportOptions = { iceConsentTimeoutS: options.iceConsentTimeoutS, maxMessageBytes: options.dataMaxMessageBytes };
    this.liveness = new SessionLiveness(
      { idleTimeoutMs: options.idleTimeoutMs, reconnectGraceMs: options.reconnectGraceMs, silenceMs: options.reconnectGraceMs + options.activity.inactiveAfterMs },
      { gone: (session, reason) => this.ending.closeGone(session, reason), lost: (session) => this.ending.connectionLost(session) },
    );
    const bounds = options.bounds ?? DEFAULT_SESSION_BOUNDS;
    this.sfuOffers = new SfuOffers((session, type, mid) => this.emit(session, type, mid ?? null), bounds);
    this.trackEvents = options.trackEvents;
    this.sessionEvents = options.sessionEvents;
    this.data = new DataChannels({
      media: this.tracks,
      pipes: this.pipes,
      streamIds: new SctpStreamIds(),
      sessionEvents: this.sessionEvents,
      logger: this.logger,
      maxPerSession: options.maxDataChannelsPerSession,
      remote: options.remoteTracks,
      sessionMoves: this.trackMoves,
      maxMessageBytes: options.dataMaxMessageBytes,
    });
    this.ending = new SessionEnding({ sessions: this.sessions, tracks: this.tracks, data: this.data, logger: this.logger, closed: (session) => this.emit(session, 'CLOSED') });
    this.ending.liveness = this.liveness;
    this.published = [publishTrackChanges(this.tracks, this.trackEvents, this.logger), publishTrackChanges(this.data.registry, this.trackEvents, this.logger)];
    this.negotiator = new Negotiator(
      this.tracks,
      (t) => this.ending.stopTransceiverMedia(t),
      (session, mid) => this.emit(session, 'TRACK_ENDED', mid),
      options.keyFrameRequestDelayMs,
      (session, request, offered, results, index) => this.puller.consumeOffered(session, request, offered, results, index),
      bounds,
    );
    this.quality = new ConnectionQualityWatch(this.tracks, (session, quality) =>
      this.sessionEvents.publish({ type: 'QUALITY_CHANGED', session, mid: null, quality, at: new Date() }),
    );
    this.layerDemand = new LayerDemand(options.layerOffDelayMs);
    this.publisherLayers = new PublisherLayers(this.layerDemand, this.tracks, (id) => this.sessions.get(id), (session, mid, rids) =>
      this.emit(session, 'LAYERS_IN_DEMAND', mid, rids),
    );
    const speakers = new DominantSpeakers((session, mid, speaker) => this.sessionEvents.publish({ type: 'DOMINANT_SPEAKER_CHANGED', session, mid, speaker, at: new Date() }), this.logger);
    this.sessionEvents.watchAll((event) => event.type === 'CLOSED' && speakers.forget(event.session.id));
    this.puller = new Puller(
      { tracks: this.tracks, pipes: this.pipes, offers: this.sfuOffers, demand: this.layerDemand, mediaWaitMs: options.mediaWaitMs, remote: options.remoteTracks, dataChannels: this.data.registry, bounds, speakers, sessionMoves: this.trackMoves },
      (id) => this.sessions.get(id),
      (session, mid) => this.emit(session, 'TRACK_ENDED', mid),
      (session, mid) =>
        void session.queue
          .run(() => this.puller.follow(session, mid))
          .catch((error: unknown) => session.log.warn({ err: error, mid }, 'could not follow a pulled track onto its new source')),
    );
    this.pool.on('workerDied', (worker) => this.ending.onWorkerDied(worker));
    this.activity = new TrackActivityMonitor(this.tracks, options.activity, this.logger);
    this.activity.start();
  }

  get(id: string): Session | undefined {
    return this.sessions.get(id);
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** The live sessions of this node (metrics). */
  list(): Session[] {
    return [...this.sessions.values()];
  }

  /** Sessions created and ended on this node since it started (metrics). */
  get totals(): { created: number; closed: number } {
    return { created: this.created, closed: this.ending.closedCount };
  }

  /** Ids of the live sessions of this node. */
  sessionIds(): string[] {
    return [...this.sessions.keys()];
  }

  /** Live sessions whose ownership matches (of one app, of one client-token subject), for quotas. */
  count(matches: (ownership: SessionOwnership) => boolean): number {
    return [...this.sessions.values()].filter((session) => matches(session.ownership)).length;
  }

  /** Creates a session on the least-loaded worker; answers the client's offer when it brings one. */
  async createSession(input: {
    ownership: SessionOwnership;
    description?: DescriptionInput | null;
    correlationId?: string | null;
    /** false: no ICE consent timeout; SessionLiveness watches the session's media instead. */
    iceConsentChecks?: boolean;
    /** resumeSession: the session's id and secret stay, and what it published before waits to be published again (MOVED). */
    resume?: ResumedSession;
  }): Promise<{
    session: Session;
    description: DescriptionInput | null;
    /** Only for a new session: the secret that resumes it (the engine keeps its hash). */
    resumeSecret: string | null;
  }> {
    const offer = input.description ? this.parse(input.description, 'offer') : undefined;
    if (input.correlationId != null && input.correlationId.length > 256) throw badRequest('correlationId is longer than 256 characters');
    const worker = this.pool.pick();
    const consent = input.iceConsentChecks ?? true;
    const transport = await createSessionTransport(worker, { enableTcp: this.pool.rtcTcp, ...this.transportOptions, ...(consent ? {} : { iceConsentTimeoutS: 0 }) });
    const session = new Session(input.resume?.id ?? this.newSessionId(), input.correlationId ?? null, worker, transport, input.ownership);
    const secret = input.resume ? null : newResumeSecret();
    session.resumeSecretHash = input.resume?.secretHash ?? secret?.hash ?? '';
    for (const view of input.resume?.moved ?? []) session.movedNames.set(view.name, view);
    session.log = this.logger.child({ app: input.ownership.appId, session: session.id, correlationId: session.correlationId });
    session.iceConsentChecks = consent;
    session.onConnectionStateChange = () => {
      this.emit(session, 'CONNECTION_STATE_CHANGED');
      this.liveness.watch(session);
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
    this.created += 1;
    this.sessionEvents.created(session);
    transport.observer.once('close', () => this.ending.forget(session));
    this.liveness.watch(session);
    this.quality.watch(session);
    if (input.resume) this.endUnclaimedAfterGrace(session);
    session.log.info({ worker: worker.index, owner: input.ownership.owner ?? undefined, resumed: input.resume ? true : undefined }, input.resume ? 'session resumed' : 'session created');
    return { session, description: answer, resumeSecret: secret?.secret ?? null };
  }

  /** Throws as createSession would for this offer (INVALID_SDP, BAD_REQUEST): a move checks it before it releases anything. */
  checkOffer(description: DescriptionInput | null): void {
    if (description) this.parse(description, 'offer');
  }

  /**
   * The session moves to another PeerConnection (resumeSession): it leaves
   * this engine without ending (SessionEnding.release); its subscribers here
   * wait for its tracks. Returns the views of what it published. Undefined
   * when the session is not here.
   */
  async release(sessionId: string, moveTo: string | null = null): Promise<TrackView[] | undefined> {
    const session = this.sessions.get(sessionId);
    if (!session || session.closed) return undefined;
    return session.queue.run(async () => {
      if (session.closed) return undefined;
      const views = this.ending.release(session, (view) => this.trackMoves.expect(view.sessionId, view.name, this.resumeGraceMs));
      this.sessionEvents.publish({ type: 'MOVED', session, mid: null, moveTo, at: new Date() });
      return views;
    });
  }

  /** A resumed session's names not published again within the grace end: UNPUBLISHED, as if closed then. */
  private endUnclaimedAfterGrace(session: Session): void {
    const timer = setTimeout(() => {
      for (const view of session.movedNames.values()) {
        session.log.info({ track: view.name }, 'a track of the moved session was not published again within the resume grace: unpublished');
        void this.trackEvents.publish('UNPUBLISHED', { ...view, status: 'INACTIVE' }).catch(() => undefined);
      }
      session.movedNames.clear();
    }, this.resumeGraceMs);
    timer.unref();
  }

  /**
   * Publishes tracks: from the client's offer (answered at once), or, without
   * an offer, by offering the client new m-sections of the given kinds to send
   * on (the tracks are published when its answer arrives through renegotiate).
   */
  pushTracks(input: {
    sessionId: string;
    description?: DescriptionInput | null;
    tracks?: { mid?: string | null; trackName: string; kind?: TrackKind | null; tags?: string[] | null }[] | null;
    autoDiscover?: boolean | null;
  }): Promise<TracksOutcome> {
    const session = this.require(input.sessionId);
    const requested = input.tracks ?? [];
    const push = toPushRequests(requested);
    if (!input.description) {
      if (input.autoDiscover) throw badRequest('autoDiscover needs the client\'s offer');
      if (requested.length === 0) throw badRequest('pushTracks needs tracks');
      const kinds = requested.map((t) => {
        if (!t.kind || t.kind === 'data') throw badRequest(`track ${t.trackName} needs a kind when there is no offer`);
        return t.kind;
      });
      return session.queue.run(async () => {
        this.ensureOpen(session);
        return this.sfuOffers.offerToReceive(session, push, kinds);
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

  /**
   * Pulls other sessions' tracks into new transceivers and returns the SFU's
   * offer; or, with the client's offer, into the receiving m-sections it
   * names by mid, and returns the SFU's answer (WHEP players pull this way).
   */
  pullTracks(input: { sessionId: string; tracks: PullRequest[]; description?: DescriptionInput | null }): Promise<TracksOutcome> {
    checkRemoteTracks('pullTracks', input.tracks);
    if (!input.description) return this.withSession(input.sessionId, (session) => this.puller.pull(session, input.tracks));
    const offer = this.parse(input.description, 'offer');
    return this.withSession(input.sessionId, async (session) => {
      const { answer, results } = await this.negotiator.applyClientOffer(session, offer, { push: [], close: [], autoDiscover: false, pull: input.tracks });
      return { session, description: answer, requiresImmediateRenegotiation: false, tracks: results.items };
    });
  }

  /**
   * Changes what pulled transceivers carry: another simulcast preference for
   * the same source (no renegotiation), or another source track (a new
   * consumer on the same mid; the SFU offers the new stream).
   */
  updateTracks(input: { sessionId: string; tracks: PullRequest[] }): Promise<TracksOutcome> {
    checkRemoteTracks('updateTracks', input.tracks);
    return this.withSession(input.sessionId, (session) => this.puller.update(session, input.tracks));
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
      if (!offer) return forceCloseTracks(session, input.mids, (t) => this.ending.stopTransceiverMedia(t));
      return closeTracksWithOffer(session, input.mids, (close) => this.negotiator.applyClientOffer(session, offer, { push: [], close, autoDiscover: false }));
    });
  }

  /** Offers a data m-section to a session that has none (SfuOffers.offerDataSection); the client answers with renegotiate. */
  establishDataChannels(sessionId: string): Promise<TracksOutcome> {
    return this.withSession(sessionId, async (session) => this.sfuOffers.offerDataSection(session));
  }

  /** Withdraws the SFU's pending offer, for a client that could not apply it (SfuOffers.rollback). */
  rollbackOffer(sessionId: string): Promise<RollbackOutcome> {
    return this.withSession(sessionId, async (session) => this.sfuOffers.rollback(session));
  }

  /** The publisher says a track is muted or not; subscribers see it at once in the track's state and events. */
  setTrackMuted(input: { sessionId: string; trackName: string; muted: boolean }): Promise<PublishedTrack> {
    return this.withSession(input.sessionId, async (session) => {
      const track = session.transceivers.find((t) => t.pushed?.name === input.trackName)?.pushed;
      if (!track) throw trackNotFound(session.id, input.trackName);
      this.tracks.setMuted(track, input.muted);
      return track;
    });
  }

  /** Runs `work` on an open session's queue: for the session's parts outside this class (data channels). */
  withSession<T>(sessionId: string, work: (session: Session) => Promise<T>): Promise<T> {
    const session = this.require(sessionId);
    return session.queue.run(async () => {
      this.ensureOpen(session);
      return work(session);
    });
  }

  /** Frees everything the session holds; sessions that pulled from it see those transceivers go inactive. */
  async closeSession(sessionId: string, reason = 'closeSession'): Promise<void> {
    const session = this.require(sessionId);
    await session.queue.run(async () => {
      if (session.closed) return;
      session.closeReason ??= reason;
      session.transport.close();
      this.ending.forget(session);
    });
  }

  async close(): Promise<void> {
    this.activity.stop();
    this.trackMoves.close();
    this.layerDemand.close();
    for (const session of [...this.sessions.values()]) {
      session.closeReason ??= 'the node stopped';
      session.transport.close();
      this.ending.forget(session);
    }
    // The other nodes hear that this node's tracks are gone.
    await Promise.all(this.published.map((p) => p.flushed()));
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

  private emit(session: Session, type: SessionEventType, mid: string | null = null, layersInDemand: string[] | null = null): void {
    this.sessionEvents.publish({ type, session, mid, layersInDemand, at: new Date() });
  }

}
