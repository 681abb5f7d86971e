import type { Outbox } from '../events/EventStream.js';
import type { TrackEvent } from '../events/TrackEventBus.js';
import type { SessionEvent } from '../events/SessionEventBus.js';
import { ErrorCode, SwitchyardError, sessionNotFound, trackNotFound } from '../errors.js';
import type { Session } from '../session/Session.js';
import type { DescriptionInput, PullRequest, SessionService, TracksOutcome } from '../session/SessionService.js';
import type { SourceCheck } from '../session/types.js';
import type { TrackKind, TrackView } from '../tracks/PublishedTrack.js';
import type { LocalDataChannelRequest, RemoteDataChannelRequest } from '../session/dataChannelRequests.js';
import type { DataChannelsOutcome } from '../session/DataChannels.js';
import { matchesFilter, type TrackFilter } from '../tracks/TrackRegistry.js';
import type { Cluster } from '../cluster/Cluster.js';
import { nodeDraining } from '../placement/refusals.js';
import type { SessionStats } from '../quality/sessionStats.js';
import type { AccessPolicy } from './access.js';
import type { ResumeOutcome, SessionMoves } from '../moves/SessionMoves.js';
import type { MutationRateLimiter } from './rateLimit.js';
import type { SessionQuotas } from './SessionQuotas.js';

export const forbidden = (message: string) => new SwitchyardError(ErrorCode.FORBIDDEN, message);

type LocalTrack = { mid?: string | null; trackName: string; kind?: TrackKind | null; tags?: string[] | null };

/**
 * The session engine as one caller may use it: every operation checks the
 * caller's access first, then the session's mutation budget, and only then
 * reaches the SessionService. Refusals change nothing.
 */
export class GuardedSessions {
  private readonly limiter: MutationRateLimiter;
  private readonly quotas: SessionQuotas;
  private readonly maxSessionsPerSubject: number;
  private readonly outbox: Outbox | undefined;
  private readonly cluster: Cluster | undefined;
  private readonly adapterCall: boolean;
  private readonly moves: SessionMoves | undefined;

  constructor(
    private readonly sessions: SessionService,
    readonly access: AccessPolicy,
    limits: {
      limiter: MutationRateLimiter;
      quotas: SessionQuotas;
      /** Live sessions one client-token subject may hold at once. */
      maxSessionsPerSubject: number;
      /** The caller's connection: what its subscriptions may have queued. */
      outbox?: Outbox | undefined;
      /** In a cluster: where sessions are recorded, and the per-subject cap counted across nodes. */
      cluster?: Cluster | undefined;
      /** The call comes from a protocol adapter of this process (WHIP), not from a client directly. */
      adapterCall?: boolean;
      /** Moves sessions between PeerConnections and nodes (resumeSession). */
      moves?: SessionMoves | undefined;
    },
  ) {
    this.moves = limits.moves;
    this.adapterCall = limits.adapterCall ?? false;
    this.cluster = limits.cluster;
    this.limiter = limits.limiter;
    this.quotas = limits.quotas;
    this.maxSessionsPerSubject = limits.maxSessionsPerSubject;
    this.outbox = limits.outbox;
  }

  // Queries -------------------------------------------------------------------

  /** A session this caller may read; null when it does not exist for this caller. */
  session(id: string): Session | null {
    const session = this.sessions.get(id);
    if (!session) return null;
    const verdict = this.access.session(session);
    if (verdict === 'hidden') return null;
    if (verdict === 'forbidden') throw forbidden(`this token may not read session ${id}`);
    return session;
  }

  /** A published track (on any node of the cluster), if this caller may see it. */
  async track(sessionId: string, name: string): Promise<TrackView | null> {
    const track = await this.sessions.trackEvents.track(sessionId, name);
    if (!track) return null;
    const verdict = this.access.track(track);
    if (verdict === 'hidden') return null;
    if (verdict === 'forbidden') throw forbidden(`this token may not see track ${name} of session ${sessionId}`);
    return track;
  }

  /** Published tracks (of the whole cluster) that match and that this caller may see, with the event cursor they are current up to. */
  async trackSnapshot(filter: TrackFilter): Promise<{ cursor: string; tracks: TrackView[] }> {
    const { cursor, tracks } = await this.sessions.trackEvents.snapshot();
    return { cursor, tracks: tracks.filter((track) => matchesFilter(filter, track) && this.access.track(track) === 'allowed') };
  }

  // Subscriptions ---------------------------------------------------------------

  trackEventCursor(): Promise<string> {
    return this.sessions.trackEvents.cursor();
  }

  /** The track event stream, without the events this caller may not see. */
  trackEvents(after: string | null, wanted: (track: TrackView) => boolean): Promise<AsyncIterableIterator<TrackEvent>> {
    // A cursor resumes within the caller's app: the only events it may see, and the history kept for it.
    return this.sessions.trackEvents.subscribe(
      after === null ? null : { cursor: after, appId: this.access.appId },
      (event) => this.access.track(event.track) === 'allowed' && wanted(event.track),
      this.outbox,
    );
  }

  sessionEvents(sessionId: string): AsyncIterableIterator<SessionEvent> {
    this.require(sessionId);
    return this.sessions.sessionEvents.subscribe(sessionId, this.outbox);
  }

  /** The sessionStats subscription: the caller must be able to act on the session, as for sessionEvents. */
  sessionStats(sessionId: string, intervalMs: number): AsyncIterableIterator<SessionStats> {
    return this.sessions.stats.subscribe(this.require(sessionId), intervalMs, this.outbox);
  }

  // Mutations -----------------------------------------------------------------

  async createSession(input: { description?: DescriptionInput | null; correlationId?: string | null; iceConsentChecks?: boolean }) {
    if (this.access.createSession() !== 'allowed') throw forbidden('this token may not create sessions');
    if (this.sessions.draining) throw nodeDraining();
    // Before any budget is spent: a full node's call is placed on another node, which spends it there.
    this.quotas.checkRoom();
    const { appId, owner } = this.access;
    // Without consent checks only the session's media says the client is there: WHIP ingest (whose GStreamer
    // clients send no checks) and app backends may ask for it; a browser's token may not.
    if (input.iceConsentChecks === false && owner !== null && !this.adapterCall) {
      throw forbidden('iceConsentChecks: false is for WHIP ingest and app backends (the app secret); a client token\'s session answers ICE consent checks');
    }
    if (owner !== null) {
      // A leaked token must not be able to fill the node: a budget for creating, a cap on holding.
      await this.takeCreationBudget(appId, owner);
      if (this.sessions.count((o) => o.appId === appId && o.owner === owner) >= this.maxSessionsPerSubject) {
        throw new SwitchyardError(
          ErrorCode.LIMIT_EXCEEDED,
          `this subject already holds ${this.maxSessionsPerSubject} sessions (MAX_SESSIONS_PER_SUBJECT); close one first`,
        );
      }
    }
    const release = await this.quotas.reserve(appId);
    try {
      const created = await this.sessions.createSession({ ...input, ownership: { appId, owner } });
      if (this.cluster) await this.recordInCluster(created.session, owner);
      return created;
    } finally {
      release();
    }
  }

  /**
   * Resumes a session on a new PeerConnection of this node (SessionMoves):
   * its holder's secret, a caller that may create sessions and hold this
   * one, and room here (a full or draining node places it elsewhere).
   */
  async resumeSession(input: { sessionId: string; resumeSecret: string; description: DescriptionInput | null }): Promise<ResumeOutcome> {
    if (this.access.createSession() !== 'allowed') throw forbidden('this token may not create sessions, so it may not resume one either');
    if (!this.moves) throw new SwitchyardError(ErrorCode.UNAVAILABLE, 'this server does not move sessions');
    if (this.sessions.draining) throw nodeDraining();
    this.quotas.checkRoom();
    const { appId, owner } = this.access;
    if (owner !== null) await this.takeCreationBudget(appId, owner);
    const release = await this.quotas.reserve(appId);
    try {
      return await this.moves.resume({ ...input, mayHold: (ownership) => this.access.session({ id: input.sessionId, ownership }) === 'allowed' });
    } finally {
      release();
    }
  }

  /** One PeerConnection more for this subject (a new session, or a resumed one): one budget for both. */
  private takeCreationBudget(appId: string, owner: string): Promise<void> {
    return this.limiter.take(`create:${appId}:${owner}`, 'session creations by this subject');
  }

  /** Records a new session in the cluster's directory; a subject over its cap anywhere in the cluster gets none. */
  private async recordInCluster(session: Session, owner: string | null): Promise<void> {
    try {
      await this.cluster!.registerSession(
        session.id,
        { appId: session.ownership.appId, owner, secretHash: session.resumeSecretHash, correlationId: session.correlationId },
        owner === null ? undefined : this.maxSessionsPerSubject,
      );
    } catch (error) {
      await this.sessions.closeSession(session.id, 'the cluster refused to record it').catch(() => undefined);
      throw error;
    }
  }

  async pushTracks(input: {
    sessionId: string;
    description?: DescriptionInput | null;
    tracks?: LocalTrack[] | null;
    autoDiscover?: boolean | null;
  }): Promise<TracksOutcome> {
    await this.mutating(input.sessionId);
    for (const track of input.tracks ?? []) {
      const refusal = this.access.publishRefusal(track.trackName, track.tags ?? []);
      if (refusal) throw forbidden(refusal);
    }
    if (input.autoDiscover && !this.access.mayAutoDiscover()) {
      throw forbidden('autoDiscover lets the SFU name tracks: this token needs publish.names ["*"]');
    }
    return this.sessions.pushTracks(input);
  }

  async pullTracks(input: { sessionId: string; tracks: PullRequest[]; description?: DescriptionInput | null }): Promise<TracksOutcome> {
    await this.mutating(input.sessionId);
    return this.sessions.pullTracks({ ...input, tracks: input.tracks.map(this.checked) });
  }

  async updateTracks(input: { sessionId: string; tracks: PullRequest[] }): Promise<TracksOutcome> {
    await this.mutating(input.sessionId);
    return this.sessions.updateTracks({ ...input, tracks: input.tracks.map(this.checked) });
  }

  async renegotiate(input: { sessionId: string; description: DescriptionInput }) {
    await this.mutating(input.sessionId);
    return this.sessions.renegotiate(input);
  }

  async closeTracks(input: { sessionId: string; mids: string[]; description?: DescriptionInput | null; force?: boolean | null }) {
    await this.mutating(input.sessionId);
    return this.sessions.closeTracks(input);
  }

  async establishDataChannels(sessionId: string): Promise<TracksOutcome> {
    await this.mutating(sessionId);
    return this.sessions.establishDataChannels(sessionId);
  }

  async rollbackOffer(sessionId: string) {
    await this.mutating(sessionId);
    return this.sessions.rollbackOffer(sessionId);
  }

  async setTrackMuted(input: { sessionId: string; trackName: string; muted: boolean }): Promise<TrackView> {
    await this.mutating(input.sessionId);
    return this.sessions.setTrackMuted(input);
  }

  async publishDataChannels(input: { sessionId: string; dataChannels: LocalDataChannelRequest[] }): Promise<DataChannelsOutcome> {
    await this.mutating(input.sessionId);
    for (const channel of input.dataChannels) {
      const refusal = this.access.publishRefusal(channel.name, channel.tags ?? [], 'data channel');
      if (refusal) throw forbidden(refusal);
    }
    return this.sessions.withSession(input.sessionId, (session) => this.sessions.data.publish(session, input.dataChannels));
  }

  async subscribeDataChannels(input: { sessionId: string; dataChannels: RemoteDataChannelRequest[] }): Promise<DataChannelsOutcome> {
    await this.mutating(input.sessionId);
    const requests = input.dataChannels.map((request) => ({ ...request, allow: this.sourceCheck }));
    return this.sessions.withSession(input.sessionId, (session) => this.sessions.data.subscribe(session, requests));
  }

  async closeDataChannels(input: { sessionId: string; ids: number[] }): Promise<DataChannelsOutcome> {
    await this.mutating(input.sessionId);
    return this.sessions.withSession(input.sessionId, (session) => this.sessions.data.close(session, input.ids));
  }

  async closeSession(sessionId: string): Promise<void> {
    await this.mutating(sessionId);
    await this.sessions.closeSession(sessionId);
  }

  // ---------------------------------------------------------------------------

  private require(sessionId: string): Session {
    const session = typeof sessionId === 'string' ? this.sessions.get(sessionId) : undefined;
    const verdict = session ? this.access.session(session) : 'hidden';
    if (!session || verdict === 'hidden') throw sessionNotFound(String(sessionId).slice(0, 64));
    if (verdict === 'forbidden') throw forbidden(`this token may not act on session ${sessionId}`);
    return session;
  }

  /** Access, then the session's mutation budget: refused calls by strangers never spend it. */
  private async mutating(sessionId: string): Promise<void> {
    this.require(sessionId);
    await this.limiter.takeLocal(sessionId, `mutations of session ${sessionId}`);
  }

  /** Attaches the caller's rule for source tracks to a pull request. */
  private readonly checked = (request: PullRequest): PullRequest => ({ ...request, allow: this.sourceCheck });

  private readonly sourceCheck: SourceCheck = (track) => {
    const verdict = this.access.track(track);
    if (verdict === 'allowed') return null;
    if (verdict === 'forbidden') {
      return { code: ErrorCode.FORBIDDEN, message: `this token may not pull track ${track.name} of session ${track.sessionId}` };
    }
    const error = trackNotFound(track.sessionId, track.name);
    return { code: error.code, message: error.message };
  };
}
