import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { blockFieldSuggestionsPlugin } from '@escape.tech/graphql-armor-block-field-suggestions';
import { useDisableIntrospection } from '@graphql-yoga/plugin-disable-introspection';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import { createYoga } from 'graphql-yoga';
import { AccessPolicy } from '../auth/access.js';
import { GuardedSessions } from '../auth/GuardedSessions.js';
import type { Authenticator, Principal } from '../auth/principal.js';
import type { MutationRateLimiter } from '../auth/rateLimit.js';
import type { SessionQuotas } from '../auth/SessionQuotas.js';
import { SubscriptionQuotas, type SubscriptionQuotaSettings } from '../auth/SubscriptionQuotas.js';
import { ErrorCode } from '../errors.js';
import { Outbox, slowConsumer } from '../events/EventStream.js';
import type { Logger } from '../logger.js';
import type { SessionService } from '../session/SessionService.js';
import type { IceServerIssuer } from '../turn/iceServers.js';
import { useApiMetrics, type ApiObserver } from '../metrics/apiMetrics.js';
import { armorPlugins } from './armor.js';
import { createClientFiles } from './clientFiles.js';
import { corsPolicy } from './cors.js';
import type { ApiContext, ServerContext } from './context.js';
import { GuardedAdapters } from '../adapters/websocket/GuardedAdapters.js';
import type { WebSocketAdapters } from '../adapters/websocket/WebSocketAdapters.js';
import { GuardedRecordings } from '../recording/GuardedRecordings.js';
import type { Recordings } from '../recording/Recordings.js';
import { createErrorMasker, useContractErrorCodes } from './errors.js';
import { useListItemLimit } from './listLimits.js';
import { ADAPTER_HEADER, isAdapterCall } from './http/inProcessGraphQL.js';
import { enableForwarding } from './forwarding.js';
import { INTERNAL_HEADER, internalEndpoint, type InternalHandler } from '../cluster/internalCalls.js';
import type { Cluster } from '../cluster/Cluster.js';
import type { SessionMoves } from '../moves/SessionMoves.js';
import { buildSchema } from './schema/index.js';
import { attachGraphQLWebSocket } from './websocket.js';
import { useSubscriptionQuotas } from './subscriptionQuotas.js';
import { inProcessGraphQL } from './http/inProcessGraphQL.js';
import { whipWhepRoutes } from './whip/routes.js';
import { cloudflareRoutes } from './cloudflare/routes.js';

export const GRAPHQL_PATH = '/graphql';

const GRAPHIQL_DEFAULT_QUERY = `# Switchyard: a WebRTC SFU whose signaling is this GraphQL API.
# The book icon on the left opens the schema's documentation.
#
# A session is one RTCPeerConnection: createSession, then pushTracks with the
# client's offer, pullTracks (the SFU offers) and renegotiate with the answer.
#
# With apps configured, open the Headers tab below and send
#   {"Authorization": "Bearer <app secret or client token>"}
#
# Published tracks, filtered by tag:
query Tracks {
  tracks(filter: { tags: ["room:lobby"] }) {
    sessionId
    name
    kind
    status
    tags
  }
}
`;

/** What the API enforces, from the configuration. */
export interface ApiSettings extends SubscriptionQuotaSettings {
  graphiql: boolean;
  introspection: boolean;
  maxSubscriptionsPerConnection: number;
  /** WebSocket pings (WS_PING_INTERVAL_MS). */
  wsPingIntervalMs: number;
  maxQueuedEventsPerConnection: number;
  maxRequestBytes: number;
  maxSessionsPerSubject: number;
  /** Serve the room demo at /demo/. */
  demo: boolean;
  /** Origins whose pages may call the API and load the SDK: ['*'] any, [] none (CORS_ORIGINS). */
  corsOrigins: readonly string[];
  /** Largest SDP a client may send (MAX_SDP_BYTES): the WHIP and WHEP bodies. */
  maxSdpBytes: number;
  /** Items in any one list argument (MAX_LIST_ITEMS). */
  maxListItems: number;
}

export interface ApiServerOptions {
  sessions: SessionService;
  authenticator: Authenticator;
  rateLimiter: MutationRateLimiter;
  /** Caps on live sessions per node and app, and on creations per app. */
  quotas: SessionQuotas;
  settings: ApiSettings;
  logger: Logger;
  /** /healthz answers 200 while this holds. */
  healthy: () => boolean;
  /** In a cluster: routing of calls to the node that holds their session. */
  cluster?: Cluster;
  /** The node's WebSocket adapters (Cloudflare's media transport adapters). */
  adapters: WebSocketAdapters;
  /** The node's recordings. */
  recordings: Recordings;
  /** Moves sessions between PeerConnections and nodes (resumeSession). */
  moves?: SessionMoves;
  /** In a cluster: what other nodes may call under /internal/ (with the cluster secret). */
  internal?: Record<string, InternalHandler>;
  /** TURN credentials (query iceServers). */
  iceServers: IceServerIssuer;
  /** Times every query and mutation (switchyard_api_request_duration_seconds). */
  apiObserver?: ApiObserver;
  /** GET /metrics on this server (undefined: not here, or on a port of its own). */
  metricsRoute?: (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;
}

/** What the API holds for its clients now: leaks show here first. */
export interface ApiCensus {
  /** graphql-ws connections whose state is held. */
  connections: number;
  /** Live subscription streams (track and session events, WebSocket and HTTP). */
  subscriptions: number;
}

export interface ApiServer {
  readonly http: Server;
  census(): ApiCensus;
  listen(port: number, host: string): Promise<AddressInfo>;
  close(): Promise<void>;
}

/**
 * The HTTP face of the SFU: GraphQL over POST and GET at /graphql (GraphiQL
 * for browsers), graphql-ws subscriptions on the same path (websocket.ts),
 * /healthz, and the built SDK and demo (clientFiles.ts).
 */
export function createApiServer(options: ApiServerOptions): ApiServer {
  const { logger, sessions, authenticator, rateLimiter, quotas, settings } = options;
  /** The caller's view of the sessions: from the HTTP request's credentials, or those its WebSocket connected with. */
  const contextFor = async (initial: {
    request?: Request;
    principal?: Principal;
    authorization?: string;
    outbox?: Outbox;
    params?: { variables?: Record<string, unknown> | null };
  }): Promise<ApiContext> => {
    const authorization = initial.authorization ?? initial.request?.headers.get('authorization') ?? null;
    const principal = initial.principal ?? (await authenticator.authenticate(authorization ?? undefined));
    const access = new AccessPolicy(principal, (id) => sessions.get(id));
    // A WebSocket brings its connection's outbox; an HTTP (SSE) subscription gets its own, which ends it when full.
    const limit = settings.maxQueuedEventsPerConnection;
    const outbox = initial.outbox ?? new Outbox(limit, (full) => full.failAll(slowConsumer(limit)));
    const { cluster } = options;
    return {
      sessions,
      iceServers: options.iceServers,
      adapters: new GuardedAdapters(options.adapters, access, outbox),
      recordings: new GuardedRecordings(options.recordings, access, outbox),
      guard: new GuardedSessions(sessions, access, {
        limiter: rateLimiter,
        quotas,
        maxSessionsPerSubject: settings.maxSessionsPerSubject,
        outbox,
        cluster,
        moves: options.moves,
        adapterCall: isAdapterCall(initial.request?.headers.get(ADAPTER_HEADER)),
      }),
      ...(cluster
        ? {
            forwarding: {
              cluster,
              authorization,
              internal: cluster.isInternal(initial.request?.headers.get(INTERNAL_HEADER)),
              variables: initial.params?.variables ?? {},
              outbox,
            },
          }
        : {}),
    };
  };
  const cors = corsPolicy(settings.corsOrigins);
  // Connections and subscriptions per token subject and per app, on this node (WebSocket and HTTP alike).
  const subscriptionQuotas = new SubscriptionQuotas(settings);
  const yoga = createYoga<ServerContext, ApiContext>({
    schema: options.cluster ? enableForwarding(buildSchema()) : buildSchema(),
    graphqlEndpoint: GRAPHQL_PATH,
    // Pages of the allowed origins only (yoga's default would allow every origin).
    cors: (request) => cors.yoga(request),
    context: contextFor,
    graphiql: settings.graphiql && { title: 'Switchyard', subscriptionsProtocol: 'WS', defaultQuery: GRAPHIQL_DEFAULT_QUERY },
    // The self-contained GraphiQL: yoga's default page loads its scripts from a CDN.
    renderGraphiQL,
    landingPage: false,
    maskedErrors: { maskError: createErrorMasker(logger) },
    plugins: [
      ...armorPlugins(),
      useListItemLimit(settings.maxListItems),
      // Without introspection, "did you mean" hints would still spell the schema out.
      ...(settings.introspection ? [] : [useDisableIntrospection(), blockFieldSuggestionsPlugin()]),
      useContractErrorCodes(),
      useSubscriptionQuotas(subscriptionQuotas),
      ...(options.apiObserver ? [useApiMetrics(options.apiObserver)] : []),
    ],
    // yoga logs every error a client caused at error level; the masker logs
    // the unexpected ones itself, so yoga's own lines are debug output.
    logging: {
      debug: (...args) => logger.debug({ yoga: args }),
      info: (...args) => logger.debug({ yoga: args }),
      warn: (...args) => logger.warn({ yoga: args }),
      error: (...args) => logger.debug({ yoga: args }),
    },
  });

  const clientFiles = createClientFiles({ demo: settings.demo, cors });
  // The HTTP protocols are adapters that run GraphQL operations with the caller's credentials.
  const execute = inProcessGraphQL(yoga, GRAPHQL_PATH);
  const whipWhep = whipWhepRoutes({ execute, cors, maxSdpBytes: settings.maxSdpBytes });
  const cloudflare = cloudflareRoutes({ execute, authenticator, cors, maxRequestBytes: settings.maxRequestBytes });
  const internal = internalEndpoint(options.cluster, options.internal ?? {});
  /**
   * The HTTP protocols' routes, guarded: an unexpected error (a client gone
   * mid-body, a bug) is logged and answered 500, never left to end the
   * process as an unhandled rejection.
   */
  const routeProtocols = async (req: IncomingMessage, res: ServerResponse, routes: ((req: IncomingMessage, res: ServerResponse) => Promise<boolean>)[]) => {
    try {
      for (const route of routes) if (await route(req, res)) return true;
      return false;
    } catch (error) {
      logger.error({ err: error, url: req.url }, 'unexpected error in an HTTP protocol route');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ code: ErrorCode.INTERNAL, message: 'internal error' }));
      return true;
    }
  };
  const http = createServer(async (req, res) => {
    const protocolRoute = (...routes: ((req: IncomingMessage, res: ServerResponse) => Promise<boolean>)[]) => routeProtocols(req, res, routes);
    if (await internal(req, res)) return;
    if (options.metricsRoute && (await options.metricsRoute(req, res))) return;
    if (req.url === '/healthz' || req.url?.startsWith('/healthz?')) {
      // 503 tells a load balancer to send no new clients here: a worker is down, or the node drains (SIGTERM).
      const status = sessions.draining ? 'draining' : options.healthy() ? 'ok' : 'unavailable';
      res.writeHead(status === 'ok' ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status }));
      return;
    }
    if (!req.url?.startsWith(GRAPHQL_PATH) && (await clientFiles(req, res))) return;
    if (await protocolRoute(whipWhep, cloudflare)) return;
    const refusal = bodyRefusal(req, settings.maxRequestBytes);
    if (refusal) {
      res.writeHead(refusal.status, { 'content-type': 'application/json', connection: 'close' });
      res.end(JSON.stringify({ errors: [{ message: refusal.message, extensions: { code: ErrorCode.LIMIT_EXCEEDED } }] }));
      req.resume();
      return;
    }
    void yoga.handle(req, res);
  });

  const webSockets = attachGraphQLWebSocket({
    http,
    yoga,
    authenticator,
    settings,
    quotas: subscriptionQuotas,
    ...(options.cluster ? { isInternal: options.cluster.isInternal.bind(options.cluster) } : {}),
    cors,
  });

  return {
    http,
    census: () => ({
      connections: webSockets.connectionCount,
      subscriptions: sessions.trackEvents.subscriberCount + sessions.sessionEvents.subscriberCount + sessions.stats.subscriberCount,
    }),
    listen: (port, host) =>
      new Promise((resolve, reject) => {
        http.once('error', reject);
        http.listen(port, host, () => {
          http.off('error', reject);
          resolve(http.address() as AddressInfo);
        });
      }),
    close: async () => {
      await webSockets.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

/**
 * Refuses a request body larger than the limit before reading it. Bodies of
 * unknown length (chunked) are refused too: browsers and GraphQL clients send
 * Content-Length, and counting a stream would mean buffering it here.
 */
function bodyRefusal(req: IncomingMessage, maxBytes: number): { status: number; message: string } | undefined {
  if (req.method !== 'POST') return undefined;
  const length = req.headers['content-length'];
  if (length === undefined) return { status: 411, message: 'send the request with a Content-Length header' };
  if (!/^\d+$/.test(length) || Number(length) > maxBytes) {
    return { status: 413, message: `the request body is larger than ${maxBytes} bytes` };
  }
  return undefined;
}
