import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { INTERNAL_HEADER } from '../cluster/internalCalls.js';
import { ErrorCode, SwitchyardError, unavailable } from '../errors.js';
import { EventStream, type Outbox } from '../events/EventStream.js';
import type { Logger } from '../logger.js';

/** How often a forwarded subscription checks that the owner is still alive. */
const OWNER_CHECK_MS = 3000;

/**
 * A subscription about a session of another node, served by that node: one
 * graphql-ws connection there per forwarded subscription, with the caller's
 * credentials, whose results come back here as they are (the caller's
 * selection, resolved by the owner). The connection closes when the caller's
 * subscription ends, either way.
 */
export function forwardSubscription<T>(options: {
  ownerUrl: string;
  query: string;
  variables: Record<string, unknown>;
  authorization: string | null;
  /**
   * The cluster secret, sent on the upgrade: the owner then knows the
   * connection is a forwarded subscription, already counted against its
   * caller's quotas here (MAX_CONNECTIONS_PER_SUBJECT would otherwise count
   * one connection per forwarded subscription).
   */
  internalToken?: string;
  /** The caller's connection cap on queued events. */
  outbox?: Outbox | undefined;
  /**
   * Whether the owner still counts as alive (its heartbeat): a node that lost
   * power or its network never closes the WebSocket, so this is checked every
   * few seconds and the stream fails when it no longer holds.
   */
  stillThere: () => Promise<boolean>;
  /** Wraps one result's data as the event the field resolves. */
  toEvent: (data: Record<string, unknown>) => T;
  /**
   * Snapshots (sessionStats): a result that arrives while the caller has not
   * taken the previous one is dropped, as the owner's own stream does, rather
   * than queued until the caller's outbox cap closes its connection.
   */
  snapshots?: boolean;
  /** Where the connection's raw failure goes (it can name the owner's internal address; the caller hears a stable message). */
  logger?: Logger | undefined;
}): EventStream<T> {
  const stream = new EventStream<T>(options.outbox);
  const watch = setInterval(() => {
    options
      .stillThere()
      .then((alive) => {
        if (!alive) stream.fail(unavailable('the node that held this session is gone; the session ended with it'));
      })
      .catch(() => undefined);
  }, OWNER_CHECK_MS);
  watch.unref();
  const client: Client = createClient({
    url: `${options.ownerUrl.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: options.internalToken ? withHeaders({ [INTERNAL_HEADER]: options.internalToken }) : WebSocket,
    connectionParams: options.authorization ? { authorization: options.authorization } : {},
    lazy: true,
    retryAttempts: 0,
  });
  const stop = client.subscribe<Record<string, unknown>>(
    { query: options.query, variables: options.variables },
    {
      next: (result) => {
        const error = result.errors?.[0];
        if (error) {
          const code = error.extensions?.code;
          stream.fail(new SwitchyardError(typeof code === 'string' && code in ErrorCode ? (code as ErrorCode) : ErrorCode.INTERNAL, error.message));
        } else if (result.data && !(options.snapshots && stream.pending > 0)) {
          stream.push(options.toEvent(result.data));
        }
      },
      error: (error) => {
        options.logger?.warn({ owner: options.ownerUrl, reason: describe(error) }, 'a forwarded subscription lost its connection to the session\'s node');
        stream.fail(unavailable('the node that holds this session stopped answering; subscribe again'));
      },
      complete: () => void stream.return(),
    },
  );
  stream.onClose(() => {
    clearInterval(watch);
    stop();
    void client.dispose();
  });
  return stream;
}

/** A WebSocket class that sends these headers on its upgrade request (graphql-ws constructs it with url and protocol only). */
function withHeaders(headers: Record<string, string>): unknown {
  return class extends WebSocket {
    constructor(address: string | URL, protocols?: string | string[]) {
      super(address, protocols, { headers });
    }
  };
}

/** What went wrong with the connection, for the log: an Error, ws's ErrorEvent (a message, no Error) or a CloseEvent (a code). */
function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (error && typeof error === 'object' && 'message' in error) return String((error as { message: unknown }).message);
  if (error && typeof error === 'object' && 'code' in error) return `connection closed with ${(error as { code: number }).code}`;
  return String(error);
}
