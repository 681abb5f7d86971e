import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parseAppList, parseAppsFile, type AppConfig } from './apps.js';
import { ConfigError, flag, integer, ip, parseUrl, type Env } from './parse.js';
import { DEFAULT_SESSION_BOUNDS, type SessionBounds } from '../session/bounds.js';
import { metricsConfig, turnConfig, type MetricsConfig, type TurnConfig } from './operations.js';
import { webhookConfig, type WebhookConfig } from '../webhooks/config.js';
import { adapterConfig, type AdapterConfig } from '../adapters/config.js';
import { recordingConfig, type RecordingConfig } from '../recording/config.js';
import { topologyConfig, type TopologyConfig } from './topology.js';
import { redisSentinelConfig, type RedisSentinelConfig } from './redisSentinel.js';
import { DEVELOPMENT_APP } from '../auth/principal.js';

export { ConfigError } from './parse.js';

/** Everything Switchyard reads from its environment, validated once at start. */
export interface Config {
  /** HTTP port of the GraphQL API, GraphiQL, graphql-ws and /healthz. */
  port: number;
  /** Address the HTTP server binds to: 127.0.0.1 in development, 0.0.0.0 in production, unless HOST says. */
  host: string;
  /** Number of mediasoup workers (one per CPU core by default). */
  workers: number;
  /** First RTC port: worker i listens on rtcPort + i, UDP and TCP. */
  rtcPort: number;
  /** Address the WebRtcServers bind to. */
  rtcListenIp: string;
  /** Address put in ICE candidates; defaults to rtcListenIp. */
  rtcAnnouncedIp: string | undefined;
  /** Offer ICE over TCP as well as UDP (for clients behind UDP-blocking firewalls). */
  rtcTcp: boolean;
  logLevel: string;
  /** Largest SDP accepted, in bytes. */
  maxSdpBytes: number;
  /** A published track with no media for this long turns INACTIVE. */
  trackInactiveAfterMs: number;
  /** How long an operation that needs media waits for a PeerConnection to connect. */
  mediaWaitMs: number;
  /** A session whose PeerConnection never connects within this long is closed. */
  sessionIdleTimeoutMs: number;
  /** No ICE consent check from the client for this long (seconds) means it is gone (mediasoup's iceConsentTimeout). */
  iceConsentTimeoutS: number;
  /** A session that lost ICE consent is closed unless an ICE restart reconnects it within this long. */
  reconnectGraceMs: number;
  /** Key-frame requests for a video track within this long cost its publisher one key frame (mediasoup's keyFrameRequestDelay). */
  keyFrameRequestDelayMs: number;
  /** A simulcast layer nobody watches for this long is reported out of demand, so the publisher can stop sending it. */
  layerOffDelayMs: number;
  /** Data channels (published and subscribed) one session may hold at once. */
  maxDataChannelsPerSession: number;
  /** What one session may hold: media transceivers in use, pulls waiting for an answer, m-sections (session/bounds.ts). */
  sessionBounds: SessionBounds;
  /** Items in any one list argument of an operation (ids, mids, tracks, filters). */
  maxListItems: number;
  /** Largest data channel message, in bytes: the SCTP max-message-size the SFU announces and enforces. */
  dataMaxMessageBytes: number;
  /** Track events kept for replay (trackEvents with after). */
  eventRetentionCount: number;
  eventRetentionMs: number;
  /** production refuses to start without apps and turns GraphiQL and introspection off by default. */
  mode: 'development' | 'production';
  /** The tenants and their secrets; empty means development's one open app. */
  apps: AppConfig[];
  /** Serve GraphiQL at GET /graphql. */
  graphiql: boolean;
  /** Answer introspection queries (__schema, __type). */
  introspection: boolean;
  /** Mutations per second one session may make before RATE_LIMITED. */
  mutationsPerSecond: number;
  /** Operations one graphql-ws connection may have running at once. */
  maxSubscriptionsPerConnection: number;
  /** WebSocket pings: a socket that has not answered the previous one within this long is cut. */
  wsPingIntervalMs: number;
  /** graphql-ws connections one client-token subject may hold open on this node. */
  maxConnectionsPerSubject: number;
  /** Subscriptions (graphql-ws and HTTP/SSE) one client-token subject may run on this node. */
  maxSubscriptionsPerSubject: number;
  /** graphql-ws connections one app (backend and client tokens together) may hold open on this node. */
  maxConnectionsPerApp: number;
  /** Subscriptions (graphql-ws and HTTP/SSE) one app may run on this node. */
  maxSubscriptionsPerApp: number;
  /** Events one connection's subscriptions may have waiting for a client that does not read; past it the connection is closed. */
  maxQueuedEventsPerConnection: number;
  /** Largest HTTP request body or WebSocket message, in bytes. */
  maxRequestBytes: number;
  /** Live sessions one client-token subject may hold at once. */
  maxSessionsPerSubject: number;
  /** Live sessions this node holds at most. */
  maxSessionsPerNode: number;
  /** Live sessions one app holds at most. */
  maxSessionsPerApp: number;
  /** Sessions one app may create per second. */
  sessionCreationsPerAppPerSecond: number;
  /** Serve the room demo at /demo/. */
  demo: boolean;
  /** Origins whose pages may use the API and load the SDK (CORS, WebSocket Origin); ['*'] is any, [] none. */
  corsOrigins: string[];
  /** The cluster's Redis (redis:// or rediss://); undefined runs this node alone, embedded. */
  redisUrl: string | undefined;
  /** The cluster's Redis found through Sentinel (REDIS_SENTINELS, REDIS_SENTINEL_MASTER): the other way into cluster mode; never set with redisUrl. */
  redisSentinel: RedisSentinelConfig | undefined;
  /** Names the cluster in Redis keys, so that several clusters can share one Redis. */
  clusterName: string;
  /** Authenticates calls between the nodes of a cluster. */
  clusterSecret: string;
  /** Where the other nodes reach this node's API; derived from HOST and PORT when unset. */
  clusterAdvertiseUrl: string | undefined;
  /** Where clients reach this node itself (PUBLIC_URL): MOVE_REQUESTED names it. Unset: clients resume through the URL they use (a load balancer). */
  publicUrl: string | undefined;
  /** Address other nodes send piped media to (defaults to RTC_ANNOUNCED_IP, then RTC_LISTEN_IP). */
  pipeAnnouncedIp: string | undefined;
  /** SIGTERM: how long the node waits for its sessions to move or end before it closes them. */
  drainTimeoutMs: number;
  /** How long a moved session's tracks (and a dead node's sessions) stay resumable before they end (SESSION_RESUME_GRACE_MS). */
  sessionResumeGraceMs: number;
  /** Region, relay fan-out and pipe grace of this node in a cluster (NODE_REGION, REGION_ORDER, RELAY_FANOUT, PIPE_IDLE_GRACE_MS). */
  topology: TopologyConfig;
  /** TURN relays to hand out credentials for (query iceServers); undefined: none configured. */
  turn: TurnConfig | undefined;
  /** Prometheus /metrics. */
  metrics: MetricsConfig;
  /** Where each app's events are posted, and how (WEBHOOK_*, APPS_FILE webhooks; docs/webhooks.md). */
  webhooks: WebhookConfig;
  /** WebSocket adapters: which endpoints, timeouts, buffers and limits (ADAPTER_*, MAX_ADAPTERS_*; docs/adapters.md). */
  adapters: AdapterConfig;
  /** Recordings: where files go and how many at once (RECORDINGS_*, MAX_RECORDINGS_*; docs/recording.md). */
  recordings: RecordingConfig;
}

function redisUrl(env: Env): string | undefined {
  const raw = env.REDIS_URL?.trim();
  if (!raw) return undefined;
  const url = parseUrl(raw);
  if (!url || (url.protocol !== 'redis:' && url.protocol !== 'rediss:') || !url.hostname) {
    throw new ConfigError(`REDIS_URL must be a redis:// or rediss:// URL such as redis://10.0.0.5:6379, got "${raw}"`);
  }
  return raw;
}

function mode(env: Env): Config['mode'] {
  const raw = env.SWITCHYARD_MODE;
  if (raw === undefined || raw === '') return env.NODE_ENV === 'production' ? 'production' : 'development';
  if (raw !== 'production' && raw !== 'development') {
    throw new ConfigError(`SWITCHYARD_MODE must be production or development, got "${raw}"`);
  }
  return raw;
}

/** Apps from APPS_FILE (JSON) and APPS (id:secret,...), together; an id may appear once. */
function apps(env: Env): AppConfig[] {
  const found: AppConfig[] = [];
  try {
    if (env.APPS_FILE) found.push(...parseAppsFile(readFileSync(env.APPS_FILE, 'utf8')));
    if (env.APPS) found.push(...parseAppList(env.APPS));
  } catch (error) {
    const where = error instanceof Error && 'code' in error ? `cannot read APPS_FILE ${env.APPS_FILE}` : 'invalid app configuration';
    throw new ConfigError(`${where}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const seen = new Set<string>();
  for (const app of found) {
    if (seen.has(app.id)) throw new ConfigError(`app ${app.id} is configured twice`);
    seen.add(app.id);
  }
  return found;
}

/**
 * CORS_ORIGINS: `*` or comma-separated origins (scheme, host, optional port;
 * no path). Unset: any origin in development, none in production.
 */
function corsOrigins(env: Env, runMode: Config['mode']): string[] {
  const raw = env.CORS_ORIGINS?.trim();
  if (raw === undefined || raw === '') return runMode === 'development' ? ['*'] : [];
  const origins: string[] = [];
  for (const entry of raw.split(',').map((s) => s.trim())) {
    if (entry === '*') return ['*'];
    const url = parseUrl(entry);
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.origin !== entry.toLowerCase()) {
      const hint = url && /^https?:$/.test(url.protocol) ? ` (did you mean ${url.origin}?)` : '';
      throw new ConfigError(
        `CORS_ORIGINS must be * or comma-separated origins such as https://app.example.com (scheme, host, optional port; no path), got "${entry}"${hint}`,
      );
    }
    origins.push(url.origin);
  }
  return origins;
}

function clusterName(env: Env): string {
  const raw = env.CLUSTER_NAME ?? 'default';
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(raw)) throw new ConfigError(`CLUSTER_NAME must be 1 to 64 letters, digits, - or _, got "${raw}"`);
  return raw;
}

/** Development clusters on one machine may share this; production must set CLUSTER_SECRET (calls between nodes carry it). */
export const DEVELOPMENT_CLUSTER_SECRET = 'switchyard-development-cluster-secret-not-for-production';

function clusterSecret(env: Env, runMode: Config['mode']): string {
  const raw = env.CLUSTER_SECRET ?? '';
  if (raw === '') {
    // The development secret is public: a cluster that guards anything (production, or apps configured) needs its own.
    if ((env.REDIS_URL || env.REDIS_SENTINELS) && (runMode === 'production' || env.APPS || env.APPS_FILE)) {
      throw new ConfigError('cluster mode (REDIS_URL or REDIS_SENTINELS) with apps or in production needs CLUSTER_SECRET: 32 or more characters, the same on every node');
    }
    return DEVELOPMENT_CLUSTER_SECRET;
  }
  if (raw.length < 32) throw new ConfigError('CLUSTER_SECRET must be at least 32 characters');
  return raw;
}

/** PUBLIC_URL: where clients reach this node's own API (a draining node sends its sessions to another node's). */
function publicUrl(env: Env): string | undefined {
  const raw = env.PUBLIC_URL?.trim();
  if (!raw) return undefined;
  const url = parseUrl(raw);
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.pathname !== '/') {
    throw new ConfigError(`PUBLIC_URL must be the http(s) origin clients reach this node's API at, such as https://sfu-a.example.com, got "${raw}"`);
  }
  return url.origin;
}

function advertiseUrl(env: Env): string | undefined {
  const raw = env.CLUSTER_ADVERTISE_URL?.trim();
  if (!raw) return undefined;
  const url = parseUrl(raw);
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.pathname !== '/') {
    throw new ConfigError(`CLUSTER_ADVERTISE_URL must be the http(s) origin other nodes reach this node's API at, such as http://10.0.0.7:4000, got "${raw}"`);
  }
  return url.origin;
}

const LOG_LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/**
 * Reads the configuration. Defaults are safe for a laptop: RTC listens and
 * announces on 127.0.0.1, so nothing is reachable from the network until an
 * operator sets RTC_LISTEN_IP / RTC_ANNOUNCED_IP.
 */
export function loadConfig(env: Env = process.env): Config {
  const workers = integer(env, 'WORKERS', availableParallelism(), 1, 256);
  const rtcPort = integer(env, 'RTC_PORT', 40000, 1024, 65535);
  if (rtcPort + workers - 1 > 65535) {
    throw new ConfigError(`RTC_PORT ${rtcPort} leaves no room for ${workers} workers below 65536`);
  }
  const logLevel = env.LOG_LEVEL ?? 'info';
  if (!LOG_LEVELS.has(logLevel)) throw new ConfigError(`LOG_LEVEL must be one of ${[...LOG_LEVELS].join(', ')}`);
  const runMode = mode(env);
  const appList = apps(env);
  if (runMode === 'production' && appList.length === 0) {
    throw new ConfigError('production mode needs at least one app: set APPS or APPS_FILE (see docs/security.md)');
  }
  const maxSdpBytes = integer(env, 'MAX_SDP_BYTES', 64 * 1024, 1024, 1024 * 1024);
  const maxRequestBytes = integer(env, 'MAX_REQUEST_BYTES', 256 * 1024, 4096, 16 * 1024 * 1024);
  if (maxRequestBytes < maxSdpBytes + 4096) {
    throw new ConfigError(`MAX_REQUEST_BYTES (${maxRequestBytes}) must leave room for an SDP of MAX_SDP_BYTES (${maxSdpBytes}) and its query`);
  }
  // Development mode is open to anyone who reaches it: by default only this machine does.
  const host = env.HOST || (runMode === 'development' ? '127.0.0.1' : '0.0.0.0');
  return {
    port: integer(env, 'PORT', 4000, 0, 65535),
    host,
    workers,
    rtcPort,
    rtcListenIp: ip(env, 'RTC_LISTEN_IP', '127.0.0.1') as string,
    rtcAnnouncedIp: ip(env, 'RTC_ANNOUNCED_IP', undefined),
    rtcTcp: flag(env, 'RTC_TCP', true),
    logLevel,
    maxSdpBytes,
    trackInactiveAfterMs: integer(env, 'TRACK_INACTIVE_AFTER_MS', 5_000, 100, 3_600_000),
    mediaWaitMs: integer(env, 'MEDIA_WAIT_MS', 5_000, 0, 60_000),
    sessionIdleTimeoutMs: integer(env, 'SESSION_IDLE_TIMEOUT_MS', 60_000, 1_000, 86_400_000),
    // Browsers send a consent check every 5 s on average (RFC 7675), so fewer than 6 s would close live sessions.
    iceConsentTimeoutS: integer(env, 'ICE_CONSENT_TIMEOUT_S', 10, 6, 300),
    reconnectGraceMs: integer(env, 'RECONNECT_GRACE_MS', 10_000, 0, 600_000),
    // One key frame a second at most: a late joiner waits at most that long for its first picture, and a subscriber
    // whose decoder keeps failing cannot make the publisher send more (each key frame is a burst of bandwidth).
    keyFrameRequestDelayMs: integer(env, 'KEY_FRAME_REQUEST_DELAY_MS', 1_000, 0, 60_000),
    layerOffDelayMs: integer(env, 'LAYER_OFF_DELAY_MS', 2_000, 0, 600_000),
    maxDataChannelsPerSession: integer(env, 'MAX_DATA_CHANNELS_PER_SESSION', 64, 1, 512),
    sessionBounds: {
      maxTransceivers: integer(env, 'MAX_TRANSCEIVERS_PER_SESSION', DEFAULT_SESSION_BOUNDS.maxTransceivers, 1, 4096),
      maxPendingPulls: integer(env, 'MAX_PENDING_PULLS_PER_SESSION', DEFAULT_SESSION_BOUNDS.maxPendingPulls, 1, 4096),
      maxSections: integer(env, 'MAX_SECTIONS_PER_SESSION', DEFAULT_SESSION_BOUNDS.maxSections, 1, 16_384),
    },
    // One call names at most 64 tracks (as Cloudflare's API): no list argument needs more.
    maxListItems: integer(env, 'MAX_LIST_ITEMS', 64, 1, 10_000),
    dataMaxMessageBytes: integer(env, 'DATA_MAX_MESSAGE_BYTES', 65_536, 1_024, 262_144),
    eventRetentionCount: integer(env, 'EVENT_RETENTION_COUNT', 10_000, 1, 10_000_000),
    eventRetentionMs: integer(env, 'EVENT_RETENTION_MS', 600_000, 1_000, 86_400_000),
    mode: runMode,
    apps: appList,
    graphiql: flag(env, 'GRAPHIQL', runMode === 'development'),
    introspection: flag(env, 'INTROSPECTION', runMode === 'development'),
    mutationsPerSecond: integer(env, 'RATE_LIMIT_MUTATIONS_PER_SECOND', 50, 1, 100_000),
    maxSubscriptionsPerConnection: integer(env, 'MAX_SUBSCRIPTIONS_PER_CONNECTION', 100, 1, 100_000),
    // A vanished client's socket is cut within 30-60 s, instead of holding its connection slot until TCP gives up.
    wsPingIntervalMs: integer(env, 'WS_PING_INTERVAL_MS', 30_000, 1_000, 3_600_000),
    // A subject may hold 16 sessions (MAX_SESSIONS_PER_SUBJECT) and a page drives its sessions over one connection (the SDK's):
    // 16 connections is a page per session, or tabs plus connections a lost network left behind until TCP gives up on them.
    maxConnectionsPerSubject: integer(env, 'MAX_CONNECTIONS_PER_SUBJECT', 16, 1, 100_000),
    // sessionEvents and sessionStats for each of 16 sessions is 32, plus trackEvents per room or filter: 200 leaves room,
    // and bounds the filters one subject adds to every track event's fan-out.
    maxSubscriptionsPerSubject: integer(env, 'MAX_SUBSCRIPTIONS_PER_SUBJECT', 200, 1, 1_000_000),
    // Five per session an app may hold (MAX_SESSIONS_PER_APP 1,000): its session clients, lobby watchers and backends.
    maxConnectionsPerApp: integer(env, 'MAX_CONNECTIONS_PER_APP', 5_000, 1, 1_000_000),
    // Four per connection at that cap: 20,000 subscribers' filters take ~1.6 ms per track event (measured, 2-core machine).
    maxSubscriptionsPerApp: integer(env, 'MAX_SUBSCRIPTIONS_PER_APP', 20_000, 1, 10_000_000),
    maxQueuedEventsPerConnection: integer(env, 'MAX_QUEUED_EVENTS_PER_CONNECTION', 5000, 10, 1_000_000),
    maxRequestBytes,
    maxSessionsPerSubject: integer(env, 'MAX_SESSIONS_PER_SUBJECT', 16, 1, 100_000),
    // 250 per worker: a 2-core machine holds 500 idle sessions in ~8 MB of worker memory, and forwards for far fewer busy ones.
    maxSessionsPerNode: integer(env, 'MAX_SESSIONS_PER_NODE', 250 * workers, 1, 1_000_000),
    maxSessionsPerApp: integer(env, 'MAX_SESSIONS_PER_APP', 1000, 1, 1_000_000),
    sessionCreationsPerAppPerSecond: integer(env, 'SESSION_CREATIONS_PER_APP_PER_SECOND', 50, 1, 100_000),
    demo: flag(env, 'DEMO', runMode === 'development'),
    corsOrigins: corsOrigins(env, runMode),
    redisUrl: redisUrl(env),
    redisSentinel: redisSentinelConfig(env),
    clusterName: clusterName(env),
    clusterSecret: clusterSecret(env, runMode),
    clusterAdvertiseUrl: advertiseUrl(env),
    publicUrl: publicUrl(env),
    pipeAnnouncedIp: ip(env, 'PIPE_ANNOUNCED_IP', undefined),
    drainTimeoutMs: integer(env, 'DRAIN_TIMEOUT_MS', 30_000, 0, 86_400_000),
    sessionResumeGraceMs: integer(env, 'SESSION_RESUME_GRACE_MS', 20_000, 0, 600_000),
    topology: topologyConfig(env),
    turn: turnConfig(env),
    metrics: metricsConfig(env, runMode, host),
    webhooks: webhookConfig(env, runMode, appList, DEVELOPMENT_APP.id),
    adapters: adapterConfig(env, runMode),
    recordings: recordingConfig(env, appList),
  };
}
