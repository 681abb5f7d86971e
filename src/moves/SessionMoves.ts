import { ErrorCode, SwitchyardError, sessionNotFound } from '../errors.js';
import type { Cluster } from '../cluster/Cluster.js';
import { callNode } from '../cluster/internalCalls.js';
import type { Logger } from '../logger.js';
import type { DescriptionInput, ResumedSession, SessionService } from '../session/SessionService.js';
import type { Session, SessionOwnership } from '../session/Session.js';
import type { TrackView } from '../tracks/PublishedTrack.js';
import { resumeSecretMatches } from './resumeSecret.js';

/** What a move needs of the cluster: where sessions live, and what the log says a session publishes. */
export interface MoveCluster {
  readonly cluster: Cluster;
  /** The published tracks and data channels of a session, from the cluster's directory (RedisTrackEventBus). */
  tracksOfSession(sessionId: string): Promise<TrackView[]>;
}

export interface ResumeInput {
  sessionId: string;
  resumeSecret: string;
  description: DescriptionInput | null;
  /** Whether the caller may hold a session of this ownership (same app; a client token: same subject). */
  mayHold: (ownership: SessionOwnership) => boolean;
}

export interface ResumeOutcome {
  session: Session;
  description: DescriptionInput | null;
  /** The public URL of the node that holds the session now (PUBLIC_URL): the client's calls go there from now on. */
  nodeUrl: string | null;
  /** Names the session published before the move: publish them again (same names) to keep their subscribers. */
  movedTrackNames: string[];
}

/**
 * Moves sessions between PeerConnections and nodes (resumeSession): the
 * session keeps its id, its secret and the names of what it published; its
 * old PeerConnection is released (SessionService.release) on whichever node
 * held it, or, when that node died, its tracks are taken over from the
 * cluster's directory, where they stayed published through the grace.
 * Secrets are checked against their hash here (the session's, or the
 * directory's for a session of another node), before anything changes.
 */
export class SessionMoves {
  /** This node's public URL (PUBLIC_URL), told to the clients whose sessions move here. */
  publicUrl: string | null = null;

  constructor(
    private readonly sessions: SessionService,
    private readonly logger: Logger,
    private readonly shared?: MoveCluster,
  ) {}

  async resume(input: ResumeInput): Promise<ResumeOutcome> {
    if (typeof input.sessionId !== 'string' || input.sessionId.length > 64) throw sessionNotFound(String(input.sessionId).slice(0, 64));
    // A bad offer is refused before the old PeerConnection is released: the session stays as it was.
    this.sessions.checkOffer(input.description);
    const local = this.sessions.get(input.sessionId);
    if (local && !local.closed) return this.resumeHere(local, input);
    if (!this.shared) throw sessionNotFound(input.sessionId);
    return this.resumeFromCluster(this.shared, input);
  }

  /** The session lives on this node: a new PeerConnection here, the old one released. */
  private async resumeHere(old: Session, input: ResumeInput): Promise<ResumeOutcome> {
    this.check(input, old.ownership, old.resumeSecretHash);
    const resume = { id: old.id, secretHash: old.resumeSecretHash, ownership: old.ownership, correlationId: old.correlationId, iceConsentChecks: old.iceConsentChecks };
    const moved = (await this.sessions.release(old.id)) ?? [];
    return this.open(input, resume, moved);
  }

  /** The session lives on another node (draining, or gone): it moves here, its old node told to release it if it still answers. */
  private async resumeFromCluster({ cluster, tracksOfSession }: MoveCluster, input: ResumeInput): Promise<ResumeOutcome> {
    const entry = await cluster.directory.get(input.sessionId);
    if (!entry) throw sessionNotFound(input.sessionId);
    const ownership = { appId: entry.appId, owner: entry.owner };
    this.check(input, ownership, entry.secretHash);
    let moved: TrackView[] | undefined;
    const holder = entry.nodeId === cluster.nodeId ? undefined : await cluster.nodes.node(entry.nodeId);
    if (holder) {
      try {
        const released = (await callNode(cluster, holder.url, 'release', { sessionId: input.sessionId, moveTo: this.publicUrl })) as unknown as { views: TrackView[] | null };
        moved = released.views?.map((v) => ({ ...v, publishedAt: new Date(v.publishedAt) }));
      } catch (error) {
        // A node that does not answer is taken for dead: what the session published is in the directory, kept through the grace.
        this.logger.warn({ err: error, session: input.sessionId, node: entry.nodeId }, 'the node that held a resumed session did not release it; taking it over from the directory');
      }
    }
    moved ??= await tracksOfSession(input.sessionId);
    // Trees of the old source are not the new one's: every carrier attaches again, from this node.
    await Promise.all(moved.map((view) => cluster.carriers.forget(view.sessionId, view.name).catch(() => undefined)));
    const outcome = await this.open(input, { id: input.sessionId, secretHash: entry.secretHash, ownership, correlationId: entry.correlationId, iceConsentChecks: true }, moved);
    try {
      await cluster.directory.move(input.sessionId, entry.nodeId, cluster.nodeId);
    } catch (error) {
      // Another resume took it first (or it closed): this copy goes quietly. Closing it would end the session's
      // directory entry and tracks, which are the winner's now.
      await this.sessions.release(input.sessionId).catch(() => undefined);
      throw error;
    }
    this.logger.info({ session: input.sessionId, from: entry.nodeId, tracks: moved.map((v) => v.name) }, 'a session moved to this node');
    return outcome;
  }

  private async open(
    input: ResumeInput,
    was: { id: string; secretHash: string; ownership: SessionOwnership; correlationId: string | null; iceConsentChecks: boolean },
    moved: TrackView[],
  ): Promise<ResumeOutcome> {
    const resume: ResumedSession = { id: was.id, secretHash: was.secretHash, moved };
    const { session, description } = await this.sessions.createSession({
      ownership: was.ownership,
      description: input.description,
      correlationId: was.correlationId,
      iceConsentChecks: was.iceConsentChecks,
      resume,
    });
    return { session, description, nodeUrl: this.publicUrl, movedTrackNames: moved.map((v) => v.name) };
  }

  /** Only the session's holder resumes it: the secret, and a caller allowed to hold the session. The same answer for both refusals. */
  private check(input: ResumeInput, ownership: SessionOwnership, secretHash: string): void {
    if (!resumeSecretMatches(input.resumeSecret, secretHash) || !input.mayHold(ownership)) {
      throw new SwitchyardError(ErrorCode.FORBIDDEN, `the resume secret of session ${input.sessionId} does not match, or this caller may not hold it`);
    }
  }
}
