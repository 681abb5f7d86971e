import type { TrackView } from '../tracks/PublishedTrack.js';
import { matchesAny } from './grant.js';
import type { Principal } from './principal.js';

/** What a caller gets for one object: use it, be refused (FORBIDDEN), or not know it exists. */
export type Verdict = 'allowed' | 'forbidden' | 'hidden';

export interface OwnedSession {
  readonly id: string;
  readonly ownership: { readonly appId: string; readonly owner: string | null };
}

/**
 * The access rules of one caller, as pure decisions. Another app's objects are
 * always 'hidden', so that the API answers for them exactly as for ids that
 * do not exist; within its app, an app backend may do anything and a client
 * token what its grant says.
 */
export class AccessPolicy {
  constructor(
    readonly principal: Principal,
    private readonly sessionById: (id: string) => OwnedSession | undefined,
  ) {}

  get appId(): string {
    return this.principal.appId;
  }

  /** Recorded on the sessions this caller creates. */
  get owner(): string | null {
    return this.principal.kind === 'client' ? this.principal.owner : null;
  }

  createSession(): Verdict {
    return this.principal.kind === 'app' || this.principal.grant.createSession ? 'allowed' : 'forbidden';
  }

  session(session: OwnedSession): Verdict {
    const p = this.principal;
    if (session.ownership.appId !== p.appId) return 'hidden';
    if (p.kind === 'app') return 'allowed';
    if (session.ownership.owner === p.owner || p.grant.sessions.includes(session.id)) return 'allowed';
    return 'forbidden';
  }

  /** TURN credentials go to whoever may connect a PeerConnection: an app backend, or a token that may create, publish, pull or act on a session. */
  iceServers(): Verdict {
    const p = this.principal;
    if (p.kind === 'app') return 'allowed';
    const g = p.grant;
    return g.createSession || g.publish !== null || g.pull !== null || g.sessions.length > 0 ? 'allowed' : 'forbidden';
  }

  /** Who asked, as a TURN server's logs show it: the app, and the token's subject. */
  get identity(): string {
    const p = this.principal;
    return p.kind === 'app' ? p.appId : `${p.appId}/${p.owner}`;
  }

  /** Why this caller may not publish a track of this name and tags; null when it may. */
  publishRefusal(name: string, tags: readonly string[], what: 'track' | 'data channel' = 'track'): string | null {
    const p = this.principal;
    if (p.kind === 'app') return null;
    const grant = p.grant.publish;
    if (!grant) return 'this token may not publish';
    if (!matchesAny(grant.names, name)) return `this token may not publish a ${what} named ${name}`;
    const stray = tags.find((tag) => !matchesAny(grant.tags, tag));
    if (stray !== undefined) return `this token may not publish with tag ${stray}`;
    return null;
  }

  /** autoDiscover lets the SFU pick track names, so a client needs a grant for any name. */
  mayAutoDiscover(): boolean {
    const p = this.principal;
    return p.kind === 'app' || (p.grant.publish?.names.includes('*') ?? false);
  }

  /** Pulling a track, and seeing it in queries and events, follow the same rule. */
  track(track: TrackView): Verdict {
    const p = this.principal;
    if (track.appId !== p.appId) return 'hidden';
    if (p.kind === 'app') return 'allowed';
    // The publishing session: this node's, or, for a track of another node, as the track's view records it.
    const publisher = this.sessionById(track.sessionId) ?? { id: track.sessionId, ownership: { appId: track.appId, owner: track.owner } };
    if (this.session(publisher) === 'allowed') return 'allowed';
    const grant = p.grant.pull;
    if (grant && (grant.sessions.includes(track.sessionId) || track.tags.some((tag) => matchesAny(grant.tags, tag)))) {
      return 'allowed';
    }
    return 'forbidden';
  }
}
