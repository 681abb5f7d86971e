import type { Server } from 'node:http';
import { getOperationAST, GraphQLError, type DocumentNode, type ExecutionArgs } from 'graphql';
import type { YogaServerInstance } from 'graphql-yoga';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer, type WebSocket } from 'ws';
import { connectionCredential, type Authenticator, type Principal } from '../auth/principal.js';
import type { SubscriptionQuotas } from '../auth/SubscriptionQuotas.js';
import { INTERNAL_HEADER } from '../cluster/internalCalls.js';
import { ErrorCode, SwitchyardError } from '../errors.js';
import type { ApiContext, ServerContext } from './context.js';
import type { CorsPolicy } from './cors.js';
import { asContractError } from './errors.js';
import { Outbox } from '../events/EventStream.js';

/** graphql-ws close code for refused credentials (4400-4499 are the application's; 4401 mirrors HTTP 401). Clients do not retry it. */
export const CLOSE_UNAUTHENTICATED = 4401;
/**
 * Close code when the token a connection opened with expires. graphql-ws
 * clients treat it as retryable: they reconnect, asking connectionParams
 * (a function) for a fresh token, and subscribe again.
 */
export const CLOSE_TOKEN_EXPIRED = 4498;
/**
 * Close code for a connection that stopped reading while more than
 * MAX_QUEUED_EVENTS_PER_CONNECTION events waited for it (Outbox).
 * graphql-ws clients retry it: they reconnect and subscribe again, resuming
 * trackEvents after their last cursor.
 */
export const CLOSE_SLOW_CONSUMER = 4413;
/**
 * Close code for a connection refused because its token's subject or its app
 * holds as many connections as it may on this node (MAX_CONNECTIONS_PER_SUBJECT,
 * MAX_CONNECTIONS_PER_APP); 4429 mirrors HTTP 429. graphql-ws clients do not
 * retry it (it is also graphql-ws's own code for a repeated connection_init):
 * a client that opens connections in a loop stops, instead of hammering.
 */
export const CLOSE_TOO_MANY_CONNECTIONS = 4429;

type Yoga = YogaServerInstance<ServerContext, ApiContext>;

export interface WebSocketOptions {
  http: Server;
  yoga: Yoga;
  authenticator: Authenticator;
  settings: { maxSubscriptionsPerConnection: number; maxRequestBytes: number; maxQueuedEventsPerConnection: number; wsPingIntervalMs: number };
  /** Caps on connections per token subject and per app on this node. */
  quotas: SubscriptionQuotas;
  /** In a cluster: whether an upgrade carries the cluster secret (another node forwarding a subscription). */
  isInternal?: (token: string | undefined) => boolean;
  /** Browsers send Origin on upgrades: pages of other origins than CORS_ORIGINS allows are refused (403). */
  cors: CorsPolicy;
}

/**
 * graphql-ws on the GraphQL path, running every operation through yoga's
 * plugins (limits, error codes) with the principal the connection
 * authenticated as. Every refusal is an error message with a contract code;
 * only credentials (4401) and the connection caps per subject and app (4429)
 * close the socket.
 */
export function attachGraphQLWebSocket({ http, yoga, authenticator, settings, quotas, isInternal, cors }: WebSocketOptions): {
  /** Connections whose graphql-ws state is still held (until every subscription of a closed one has stopped). */
  readonly connectionCount: number;
  close(): Promise<void>;
} {
  type Enveloped = ReturnType<typeof yoga.getEnveloped>;
  const wss = new WebSocketServer({
    server: http,
    path: yoga.graphqlEndpoint,
    maxPayload: settings.maxRequestBytes,
    // WebSockets are not subject to CORS: the browser sends Origin and the server decides.
    verifyClient: ({ req }, done) => (cors.allowsUpgrade(req) ? done(true) : done(false, 403, 'Origin not allowed (CORS_ORIGINS)')),
  });
  const live = new Set<object>();
  const stopKeepalive = keepalive(wss, settings.wsPingIntervalMs);
  const server = useServer<Record<string, unknown> | undefined, { principal?: Principal; authorization?: string; outbox?: Outbox; internal?: boolean }>(
    {
      // Credentials are checked once per connection, from connectionParams
      // (browsers cannot set headers on a WebSocket) or the upgrade request.
      onConnect: async (ctx) => {
        live.add(ctx);
        const limit = settings.maxQueuedEventsPerConnection;
        ctx.extra.outbox = new Outbox(limit, (outbox) => {
          // Its streams stop now: nothing more queues while the socket closes.
          outbox.closeAll();
          closeStalled(ctx.extra.socket, `LIMIT_EXCEEDED: stopped reading with over ${limit} events waiting; reconnect, resume after your last cursor`);
        });
        try {
          const principal = await authenticator.authenticateConnection(ctx.connectionParams, ctx.extra.request.headers.authorization);
          // Another node's forwarded subscription counts where its client is connected, not here.
          ctx.extra.internal = isInternal?.(headerValue(ctx.extra.request.headers[INTERNAL_HEADER])) ?? false;
          if (!ctx.extra.internal) holdConnectionSlot(ctx.extra.socket, quotas.openConnection(principal));
          ctx.extra.principal = principal;
          // Passed on as it came when a call is forwarded to the node that holds its session.
          ctx.extra.authorization = connectionCredential(ctx.connectionParams, ctx.extra.request.headers.authorization);
          if (principal.kind === 'client') closeWhenExpired(ctx.extra.socket, principal.expiresAt);
          return true;
        } catch (error) {
          if (!(error instanceof SwitchyardError)) throw error;
          const code = error.code === ErrorCode.LIMIT_EXCEEDED ? CLOSE_TOO_MANY_CONNECTIONS : CLOSE_UNAUTHENTICATED;
          // A close reason is at most 123 bytes; the limit's setting is named before the advice.
          ctx.extra.socket.close(code, `${error.code}: ${error.message}`.slice(0, 120));
          return false;
        }
      },
      // Runs once graphql-ws has stopped every subscription of the closed connection.
      onClose: (ctx) => {
        live.delete(ctx);
      },
      // onSubscribe passes yoga's enveloped execute/subscribe through rootValue.
      execute: (args: ExecutionArgs) => (args.rootValue as Enveloped).execute(args),
      subscribe: (args: ExecutionArgs) => (args.rootValue as Enveloped).subscribe(args),
      onSubscribe: async (ctx, id, payload) => {
        const running = Object.keys(ctx.subscriptions).filter((other) => other !== id).length;
        if (running >= settings.maxSubscriptionsPerConnection) {
          const message = `this connection already runs ${running} operations (at most ${settings.maxSubscriptionsPerConnection}); open another connection or complete some`;
          return [new GraphQLError(message, { extensions: { code: ErrorCode.LIMIT_EXCEEDED } })];
        }
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params: payload,
          principal: ctx.extra.principal,
          ...(ctx.extra.authorization ? { authorization: ctx.extra.authorization } : {}),
          outbox: ctx.extra.outbox,
          ...(ctx.extra.internal ? { internalConnection: true } : {}),
        });
        let document: DocumentNode;
        try {
          document = parse(payload.query);
        } catch (error) {
          // Over HTTP yoga answers a syntax error itself; here it must become an error message, not a closed socket.
          return [asContractError(error)];
        }
        if (!getOperationAST(document, payload.operationName)) {
          // graphql-ws would answer this itself, without a contract code.
          const name = payload.operationName ? `no operation named ${payload.operationName}` : 'several operations and no operationName';
          return [new GraphQLError(`Unable to identify operation: ${name}`, { extensions: { code: ErrorCode.BAD_REQUEST } })];
        }
        const errors = validate(schema, document);
        if (errors.length) return errors;
        return {
          schema,
          operationName: payload.operationName,
          document,
          variableValues: payload.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe },
        };
      },
    },
    wss,
  );
  return {
    get connectionCount() {
      return live.size;
    },
    close: async () => {
      stopKeepalive();
      await server.dispose();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

/**
 * WebSocket pings from the server: a client whose network vanished (a laptop
 * closed, a mobile handover) sends no TCP reset, and without pings its socket
 * would hold its place in the connection caps per subject and app until TCP
 * gives up, minutes later. Browsers and graphql-ws clients answer pings by
 * themselves (RFC 6455 pong), so a live client never notices. Every socket is
 * pinged each interval (WS_PING_INTERVAL_MS); one that has not answered the
 * previous ping by then is cut.
 */
function keepalive(wss: WebSocketServer, intervalMs: number): () => void {
  const answered = new WeakMap<WebSocket, boolean>();
  wss.on('connection', (socket) => {
    answered.set(socket, true);
    socket.on('pong', () => answered.set(socket, true));
  });
  const timer = setInterval(() => {
    for (const socket of wss.clients) {
      if (answered.get(socket) === false) {
        socket.terminate();
        continue;
      }
      answered.set(socket, false);
      socket.ping();
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** How long a stalled client gets to take the close frame before its TCP connection is cut. */
const STALLED_CLOSE_GRACE_MS = 2000;

/**
 * Closes a connection that stopped reading with CLOSE_SLOW_CONSUMER. Its
 * client reads the close frame only once it reads again, so the WebSocket
 * closing handshake (which ws waits 30 s for) is cut short after a grace
 * period: graphql-ws then releases the connection's state at once.
 */
function closeStalled(socket: WebSocket, reason: string): void {
  socket.close(CLOSE_SLOW_CONSUMER, reason.slice(0, 120));
  const timer = setTimeout(() => socket.terminate(), STALLED_CLOSE_GRACE_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

/**
 * Keeps a connection's place in its subject's and app's counts until its
 * socket closes (however it closes), then gives it back. A socket that closed
 * while the credentials were being checked gives it back at once.
 */
function holdConnectionSlot(socket: WebSocket, release: () => void): void {
  if (socket.readyState === socket.CLOSED) release();
  else socket.once('close', release);
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The longest delay setTimeout keeps: a longer one overflows and fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A connection keeps the rights of the token it opened with only while that
 * token is valid: at `expiresAt` (its exp, or 24 hours after it was issued,
 * whichever comes first: principal.ts) it is closed (4498), and the client
 * reconnects with a fresh token (graphql-ws connectionParams may be a
 * function for that). The timer is re-armed in steps setTimeout can wait, so
 * that a far deadline never overflows into an immediate close.
 */
export function closeWhenExpired(socket: WebSocket, expiresAt: number): void {
  const reason = 'UNAUTHENTICATED: the token has expired; reconnect with a fresh one';
  let timer: ReturnType<typeof setTimeout>;
  const arm = () => {
    const wait = Math.min(Math.max(0, expiresAt - Date.now()), MAX_TIMER_MS);
    timer = setTimeout(() => (Date.now() >= expiresAt ? socket.close(CLOSE_TOKEN_EXPIRED, reason) : arm()), wait);
  };
  arm();
  socket.once('close', () => clearTimeout(timer));
}
