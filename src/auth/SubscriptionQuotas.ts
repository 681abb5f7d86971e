import { ErrorCode, SwitchyardError } from '../errors.js';
import type { Principal } from './principal.js';

export interface SubscriptionQuotaSettings {
  /** graphql-ws connections one client-token subject may hold open on this node. */
  maxConnectionsPerSubject: number;
  /** Subscriptions (graphql-ws and HTTP/SSE) one client-token subject may run on this node. */
  maxSubscriptionsPerSubject: number;
  /** graphql-ws connections one app (its backend and all its client tokens) may hold open on this node. */
  maxConnectionsPerApp: number;
  /** Subscriptions (graphql-ws and HTTP/SSE) one app may run on this node. */
  maxSubscriptionsPerApp: number;
}

type Kind = 'connection' | 'subscription';

/** What a refusal names (early: a WebSocket close reason is cut at 123 bytes): the setting an operator raises, and what the client can do. */
const LIMITS: Record<Kind, { subject: string; app: string; advice: string }> = {
  connection: {
    subject: 'MAX_CONNECTIONS_PER_SUBJECT',
    app: 'MAX_CONNECTIONS_PER_APP',
    advice: 'share one connection for all subscriptions, or close one first',
  },
  subscription: {
    subject: 'MAX_SUBSCRIPTIONS_PER_SUBJECT',
    app: 'MAX_SUBSCRIPTIONS_PER_APP',
    advice: 'complete some first',
  },
};

/**
 * Caps on what subscribers hold on this node, across connections: each
 * graphql-ws connection is a socket and its state, and every subscription
 * runs its filter on every event of its kind, so one token opening
 * connections or subscriptions in a loop would slow every other subscriber
 * down. MAX_SUBSCRIPTIONS_PER_CONNECTION alone bounds nothing once a client
 * opens more connections. A client token counts against its subject (the
 * token's `sub`, or the token itself without one, as for sessions) and its
 * app; an app backend (the app secret) against its app only, which also
 * bounds development mode's open app. Counts are this node's: each node
 * protects itself.
 */
export class SubscriptionQuotas {
  private readonly counts: Record<Kind, { bySubject: Map<string, number>; byApp: Map<string, number> }> = {
    connection: { bySubject: new Map(), byApp: new Map() },
    subscription: { bySubject: new Map(), byApp: new Map() },
  };

  constructor(readonly settings: SubscriptionQuotaSettings) {}

  /** Admits a graphql-ws connection, or refuses with LIMIT_EXCEEDED naming the limit. Call the returned release when it closes. */
  openConnection(principal: Principal): () => void {
    return this.take('connection', principal, this.settings.maxConnectionsPerSubject, this.settings.maxConnectionsPerApp);
  }

  /** Admits a subscription, or refuses with LIMIT_EXCEEDED naming the limit. Call the returned release when it ends. */
  startSubscription(principal: Principal): () => void {
    return this.take('subscription', principal, this.settings.maxSubscriptionsPerSubject, this.settings.maxSubscriptionsPerApp);
  }

  /** What is counted now, for tests and the curious. */
  held(kind: Kind, principal: Principal): { subject: number; app: number } {
    const { bySubject, byApp } = this.counts[kind];
    const subject = subjectKey(principal);
    return { subject: subject === null ? 0 : (bySubject.get(subject) ?? 0), app: byApp.get(principal.appId) ?? 0 };
  }

  private take(kind: Kind, principal: Principal, perSubject: number, perApp: number): () => void {
    const { bySubject, byApp } = this.counts[kind];
    const names = LIMITS[kind];
    const subject = subjectKey(principal);
    if (subject !== null && (bySubject.get(subject) ?? 0) >= perSubject) {
      throw limitExceeded(`this node's limit of ${perSubject} ${kind}s per token subject (${names.subject}) is reached; ${names.advice}`);
    }
    if ((byApp.get(principal.appId) ?? 0) >= perApp) {
      throw limitExceeded(`this node's limit of ${perApp} ${kind}s per app (${names.app}) is reached for app ${principal.appId}; ${names.advice}`);
    }
    if (subject !== null) add(bySubject, subject, 1);
    add(byApp, principal.appId, 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (subject !== null) add(bySubject, subject, -1);
      add(byApp, principal.appId, -1);
    };
  }
}

const limitExceeded = (message: string) => new SwitchyardError(ErrorCode.LIMIT_EXCEEDED, message);

/** A client token's subject within its app (sessions use the same owner); null for an app backend, counted per app only. */
function subjectKey(principal: Principal): string | null {
  return principal.kind === 'client' ? `${principal.appId}\u0000${principal.owner}` : null;
}

/** Adds to a count, forgetting keys that reach zero so that the maps hold only who holds something. */
function add(counts: Map<string, number>, key: string, delta: number): void {
  const next = (counts.get(key) ?? 0) + delta;
  if (next <= 0) counts.delete(key);
  else counts.set(key, next);
}
