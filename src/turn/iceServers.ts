import { createHmac } from 'node:crypto';
import type { TurnConfig } from '../config/operations.js';

/** One entry of RTCConfiguration.iceServers. */
export interface IceServer {
  urls: string[];
  username?: string;
  credential?: string;
}

/** What a client gives its RTCPeerConnection, and until when the TURN credentials in it work. */
export interface IceServerGrant {
  iceServers: IceServer[];
  /** null when there are no credentials (no TURN configured, or STUN only). */
  expiresAt: Date | null;
}

/**
 * The password coturn expects for a TURN REST API username (its
 * `use-auth-secret` mode): base64 of HMAC-SHA1 over the username, keyed with
 * the shared secret. coturn accepts it until the expiry (seconds since the
 * epoch) written before the username's first ':'.
 */
export function turnPassword(secret: string, username: string): string {
  return createHmac('sha1', secret).update(username).digest('base64');
}

/** coturn shows the username in its logs: keep who asked readable, and free of the ':' that ends the expiry. */
function usernameLabel(identity: string): string {
  return identity.replace(/[^A-Za-z0-9_.@/-]/g, '_').slice(0, 96);
}

/**
 * Hands out short-lived TURN credentials. Nothing is stored: coturn checks
 * the credential with the secret it shares with Switchyard, and refuses it
 * after its expiry (for new allocations, and for the refreshes and
 * permissions of running ones: a relay lives at most as long as its credential).
 */
export class IceServerIssuer {
  constructor(
    private readonly turn: TurnConfig | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  get configured(): boolean {
    return this.turn !== undefined;
  }

  /** The longest lifetime a caller may ask for, in seconds (0 without TURN). */
  get maxTtlS(): number {
    return this.turn?.maxTtlS ?? 0;
  }

  /**
   * Credentials for `identity` (the app and who in it asked, shown in
   * coturn's logs) valid for `ttlS` seconds, or the configured default.
   * The caller checks the ttl against maxTtlS first.
   */
  issue(identity: string, ttlS?: number | null): IceServerGrant {
    const turn = this.turn;
    if (!turn) return { iceServers: [], expiresAt: null };
    const stun = turn.urls.filter((url) => url.startsWith('stun'));
    const relays = turn.urls.filter((url) => url.startsWith('turn'));
    const iceServers: IceServer[] = stun.length > 0 ? [{ urls: stun }] : [];
    if (relays.length === 0) return { iceServers, expiresAt: null };
    const expiry = Math.floor(this.now() / 1000) + (ttlS ?? turn.defaultTtlS);
    const username = `${expiry}:${usernameLabel(identity)}`;
    iceServers.push({ urls: relays, username, credential: turnPassword(turn.secret, username) });
    return { iceServers, expiresAt: new Date(expiry * 1000) };
  }
}
