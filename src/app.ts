import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Authenticator, DEVELOPMENT_APP } from './auth/principal.js';
import { MutationRateLimiter } from './auth/rateLimit.js';
import { SessionQuotas } from './auth/SessionQuotas.js';
import { createApiServer, type ApiServer } from './api/server.js';
import type { Config } from './config/config.js';
import { openSharedState, type SharedState } from './cluster/sharedState.js';
import { PipeServer, type PipeRequest } from './cluster/PipeServer.js';
import { RemoteTracks } from './cluster/RemoteTracks.js';
import type { RedisTrackEventBus } from './cluster/RedisTrackEventBus.js';
import { SessionMoves } from './moves/SessionMoves.js';
import { askSessionsToMove } from './moves/drainMoves.js';
import { joinCluster } from './cluster/membership.js';
import { HEARTBEAT_MS } from './cluster/NodeRegistry.js';
import { NodeLoadMeter } from './placement/NodeLoadMeter.js';
import { SessionEventBus } from './events/SessionEventBus.js';
import { badRequest } from './errors.js';
import { createLogger, type Logger } from './logger.js';
import { WorkerPool } from './media/workerPool.js';
import { SessionService } from './session/SessionService.js';
import { IceServerIssuer } from './turn/iceServers.js';
import { createMetricsService, type MetricsService } from './metrics/setup.js';
import { startWebhooks } from './webhooks/WebhookSource.js';
import { WebSocketAdapters } from './adapters/websocket/WebSocketAdapters.js';
import { Recordings } from './recording/Recordings.js';
import { parseSnapshot, RECORDING_STATE_CALL, tellSessionNodes } from './recording/sessionNodeMirror.js';
import { recordingFinished } from './webhooks/events.js';
import { LocalStore } from './recording/storage/LocalStore.js';
import { S3Store } from './recording/storage/S3Store.js';

/** How long a stopping node gives its recordings to finish and be stored (what is left stays in the spool for the next start). */
const RECORDINGS_STOP_MS = 5_000;
import type { WebhookDelivery } from './webhooks/WebhookDelivery.js';

export interface Switchyard {
  readonly config: Config;
  readonly logger: Logger;
  readonly pool: WorkerPool;
  readonly sessions: SessionService;
  /** What this node shares with the others (in memory when it runs alone). */
  readonly shared: SharedState;
  /** In a cluster: media between nodes, this node's pulling side (remote) and owning side (server). */
  readonly pipes: { remote: RemoteTracks; server: PipeServer } | undefined;
  readonly api: ApiServer;
  /** Prometheus metrics (METRICS…); `url` is set when they have a port of their own. */
  readonly metrics: MetricsService & { url: string | undefined };
  /** This node's webhook queue: what its sessions post to their apps' endpoints (docs/webhooks.md). */
  readonly webhooks: WebhookDelivery;
  /** This node's recordings (docs/recording.md). */
  readonly recordings: Recordings;
  /** Where the HTTP API listens, once started. */
  readonly address: AddressInfo;
  /** http://host:port of the API, for clients and tests. */
  readonly url: string;
  stop(): Promise<void>;
  /**
   * Stops taking new sessions, waits until the live ones have ended or
   * `timeoutMs` has passed, then stops (closing what is left).
   */
  drain(timeoutMs: number): Promise<void>;
}

/**
 * Starts a whole SFU node: the mediasoup workers, the session engine and the
 * HTTP/WebSocket API. Stops everything it started when a step fails.
 */
export async function startSwitchyard(config: Config, logger: Logger = createLogger(config.logLevel)): Promise<Switchyard> {
  const pool = new WorkerPool({
    workers: config.workers,
    rtcPort: config.rtcPort,
    rtcListenIp: config.rtcListenIp,
    rtcAnnouncedIp: config.rtcAnnouncedIp,
    rtcTcp: config.rtcTcp,
    logger,
  });
  let shared: SharedState;
  try {
    await pool.start();
    shared = await openSharedState(config, logger);
  } catch (error) {
    await pool.close();
    throw error;
  }
  // Media between nodes: pipes listen where the workers' media does, and are announced at PIPE_ANNOUNCED_IP.
  const pipeAddress = { ip: config.rtcListenIp, announcedAddress: config.pipeAnnouncedIp ?? config.rtcAnnouncedIp };
  if (shared.cluster) shared.cluster.topology = { region: config.topology.region, regionOrder: config.topology.regionOrder };
  const remoteTracks = shared.cluster
    ? new RemoteTracks({
        cluster: shared.cluster,
        address: pipeAddress,
        logger,
        carriers: shared.cluster.carriers,
        anyRouter: () => pool.pick().router,
        pipeIdleGraceMs: config.topology.pipeIdleGraceMs,
      })
    : undefined;
  const sessions = new SessionService({
    pool,
    logger,
    maxSdpBytes: config.maxSdpBytes,
    activity: { inactiveAfterMs: config.trackInactiveAfterMs },
    mediaWaitMs: config.mediaWaitMs,
    idleTimeoutMs: config.sessionIdleTimeoutMs,
    iceConsentTimeoutS: config.iceConsentTimeoutS,
    reconnectGraceMs: config.reconnectGraceMs,
    keyFrameRequestDelayMs: config.keyFrameRequestDelayMs,
    layerOffDelayMs: config.layerOffDelayMs,
    maxDataChannelsPerSession: config.maxDataChannelsPerSession,
    bounds: config.sessionBounds,
    dataMaxMessageBytes: config.dataMaxMessageBytes,
    trackEvents: shared.trackEvents,
    resumeGraceMs: config.sessionResumeGraceMs,
    remoteTracks,
    ...(shared.cluster ? { newSessionId: shared.cluster.newSessionId } : {}),
    sessionEvents: new SessionEventBus(),
  });
  // Watches the sessions from before the first one exists: every session's events, from its creation on.
  const webhooks = startWebhooks(config.webhooks, config.apps, sessions, logger);
  const pipeServer = shared.cluster ? new PipeServer(sessions.tracks, sessions.data.registry, sessions.layerDemand, pipeAddress, logger, shared.cluster.nodes) : undefined;
  remoteTracks?.useEngine(sessions.layerDemand, sessions.pipes);
  if (pipeServer && remoteTracks && shared.cluster) {
    pipeServer.relay = {
      carrying: (sessionId, trackName, attach, fromNode) => remoteTracks.carrying(sessionId, trackName, attach, fromNode),
      fedNodeLeft: (producerId) => remoteTracks.fedNodeLeft(producerId),
      moving: (sessionId, trackName) => remoteTracks.isMoving(sessionId, trackName),
      cluster: shared.cluster,
      fanout: config.topology.relayFanout,
    };
    remoteTracks.feeds = (producerId) => pipeServer.feeds(producerId);
    remoteTracks.fedNodes = (producerId) => pipeServer.links().filter((l) => l.producerId === producerId).map((l) => l.toNode);
  }
  const adapters = new WebSocketAdapters({ config: config.adapters, pool, tracks: sessions.tracks, newId: shared.cluster?.newSessionId ?? randomUUID, logger });
  const s3 = config.recordings.s3 ? new S3Store(config.recordings.s3) : undefined;
  const recordings = new Recordings({
    config: config.recordings,
    tracks: sessions.tracks,
    stores: { local: new LocalStore(config.recordings.dir), s3 },
    appStorage: (appId) => config.apps.find((app) => app.id === appId)?.recordingStorage,
    remote: remoteTracks
      ? { tracks: remoteTracks, tracksOfSession: (id) => (shared.trackEvents as RedisTrackEventBus).tracksOfSession(id), router: () => pool.pick().router }
      : undefined,
    newId: shared.cluster?.newSessionId ?? randomUUID,
    logger,
  });
  recordings.on('state', (recording) => {
    // A recording of this node's session that runs on another node: that node sends its webhook.
    if (!recording.finished || recording.elsewhere) return;
    try {
      if (webhooks.wants(recording.appId, 'recording.finished')) webhooks.send(recordingFinished(recording));
    } catch (error) {
      logger.error({ err: error, recording: recording.id }, 'could not queue a webhook event');
    }
  });
  if (shared.cluster) tellSessionNodes(recordings, shared.cluster, (sessionId) => sessions.get(sessionId) !== undefined, logger);
  // Recordings a stop cut short (the node died) are finished and stored now; in the background, as they may be long.
  void recordings.recover().then((recovered) => {
    if (recovered.length > 0) logger.warn({ recordings: recovered.map((r) => r.id) }, 'finished recordings left by a node that stopped while recording');
  });
  let census: ApiServer['census'] = () => ({ connections: 0, subscriptions: 0 });
  const loadMeter = new NodeLoadMeter({
    workers: () => pool.workers,
    sessions: () => sessions.sessionCount,
    consumers: () => sessions.list().reduce((n, s) => n + s.transceivers.filter((t) => t.pulled && !t.pulled.ended).length, 0),
    transports: () => sessions.list().map((s) => s.transport),
  });
  loadMeter.start(HEARTBEAT_MS);
  const { watch, redis } = shared;
  const metrics = createMetricsService(
    config.metrics,
    {
      workers: () => pool.workers,
      sessions,
      api: () => census(),
      webhooks: () => webhooks.stats(),
      adapters: () => adapters.open,
      recordings: () => recordings.active.length,
      ...(pipeServer && remoteTracks && watch && redis
        ? {
            cluster: {
              pipesOut: () => pipeServer.size,
              pipesIn: () => remoteTracks.size,
              peers: () => watch.peers,
              redisReady: () => redis.status === 'ready',
              links: () => [
                ...remoteTracks.links().map((l) => ({ direction: 'in' as const, peer: l.parentId })),
                ...pipeServer.links().map((l) => ({ direction: 'out' as const, peer: l.toNode })),
              ],
            },
          }
        : {}),
      load: () => loadMeter.load,
      capacity: { maxSessions: config.maxSessionsPerNode, region: config.topology.region },
    },
    logger,
  );
  const authenticator = new Authenticator(config.apps);
  if (authenticator.open) {
    logger.warn(
      { mode: config.mode, app: DEVELOPMENT_APP.id },
      'DEVELOPMENT MODE: no apps are configured, so anyone who reaches this server can create, read and close sessions without credentials. Configure APPS or APPS_FILE before exposing it (docs/security.md).',
    );
  }
  const moves = new SessionMoves(
    sessions,
    logger,
    shared.cluster ? { cluster: shared.cluster, tracksOfSession: (id) => (shared.trackEvents as RedisTrackEventBus).tracksOfSession(id) } : undefined,
  );
  const api = createApiServer({
    sessions,
    adapters,
    recordings,
    authenticator,
    rateLimiter: new MutationRateLimiter(
      config.mutationsPerSecond,
      shared.redis ? { redis: shared.redis, keyPrefix: `switchyard:${config.clusterName}:rate` } : undefined,
    ),
    quotas: new SessionQuotas(config, { total: () => sessions.sessionCount, inApp: (appId) => sessions.count((o) => o.appId === appId) }),
    settings: config,
    logger,
    healthy: () => pool.healthy,
    iceServers: new IceServerIssuer(config.turn),
    ...(metrics.metrics ? { apiObserver: metrics.metrics } : {}),
    ...(metrics.apiRoute ? { metricsRoute: metrics.apiRoute } : {}),
    moves,
    ...(shared.cluster && pipeServer && remoteTracks ? { cluster: shared.cluster, internal: internalCalls(pipeServer, remoteTracks, sessions, recordings) } : {}),
  });
  census = () => api.census();
  let address: AddressInfo;
  let metricsUrl: string | undefined;
  try {
    address = await api.listen(config.port, config.host);
    metricsUrl = await metrics.listen();
  } catch (error) {
    await api.close();
    adapters.closeAll();
    await recordings.stopAll(0);
    s3?.close();
    await sessions.close();
    await webhooks.close(0);
    await shared.close();
    await pool.close();
    throw error;
  }
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${address.port}`;
  const { cluster } = shared;
  // Development mode (one machine, no apps) names its advertised URL when PUBLIC_URL is unset: a production node's may be private.
  const publicUrl = config.publicUrl ?? (config.mode === 'development' ? (config.clusterAdvertiseUrl ?? url) : undefined);
  moves.publicUrl = publicUrl ?? null;
  let leaveCluster = () => undefined as void;
  if (cluster && shared.watch && pipeServer && remoteTracks) {
    const capacity = { maxSessions: config.maxSessionsPerNode, workers: config.workers };
    const status = () => ({ region: config.topology.region, draining: sessions.draining, load: loadMeter.load, capacity, ...(publicUrl ? { publicUrl } : {}) });
    leaveCluster = await joinCluster({ shared, cluster, watch: shared.watch, sessions, pipeServer, remoteTracks, url: config.clusterAdvertiseUrl ?? url, status, logger });
  }
  logger.info(
    {
      api: `${url}/graphql`,
      ...(config.graphiql ? { graphiql: `${url}/graphql` } : {}),
      ...(config.demo ? { demo: `${url}/demo/` } : {}),
      health: `${url}/healthz`,
      metrics: !config.metrics.enabled ? 'off' : (metricsUrl ?? `${url}/metrics${config.metrics.token ? ' (bearer token)' : ''}`),
      listen: `${address.address}:${address.port}`,
      workers: config.workers,
      rtcPort: config.rtcPort,
      mode: config.mode,
      apps: config.apps.map((a) => a.id),
      corsOrigins: config.corsOrigins,
      cluster: cluster ? { name: config.clusterName, node: cluster.nodeId, advertised: config.clusterAdvertiseUrl ?? url } : 'embedded',
    },
    startedMessage(url, config),
  );

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      loadMeter.stop();
      leaveCluster();
      await metrics.close();
      await api.close();
      remoteTracks?.close();
      adapters.closeAll();
      // Recordings finish their files and store them before the sessions go (their tracks would end them anyway).
      await recordings.stopAll(RECORDINGS_STOP_MS);
      s3?.close();
      await sessions.close();
      // The sessions' last events (closed by the stop) are queued now: they get WEBHOOK_SHUTDOWN_FLUSH_MS while the rest stops.
      const flushed = webhooks.close(config.webhooks.shutdownFlushMs);
      await shared.close();
      await pool.close();
      await flushed;
    })());
  return {
    config,
    logger,
    pool,
    sessions,
    shared,
    pipes: remoteTracks && pipeServer ? { remote: remoteTracks, server: pipeServer } : undefined,
    api,
    metrics: { ...metrics, url: metricsUrl },
    webhooks,
    recordings,
    address,
    url,
    stop,
    async drain(timeoutMs) {
      sessions.draining = true;
      const deadline = Date.now() + timeoutMs;
      logger.info({ sessions: sessions.sessionCount, timeoutMs }, 'draining: taking no new sessions, waiting for the live ones to move or end');
      if (shared.cluster) {
        // The others learn at once that this node drains: they route its sessions by the directory and resume them themselves.
        await shared.cluster.nodes.beatNow();
        askSessionsToMove(sessions, shared.cluster, logger);
      }
      while (sessions.sessionCount > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200));
      if (sessions.sessionCount > 0) logger.warn({ sessions: sessions.sessionCount }, 'drain deadline reached: closing the sessions left');
      await stop();
    },
  };
}

/** The one line that says the node is up and where to go: the API, and GraphiQL and the demo when they are on. */
export function startedMessage(url: string, config: Pick<Config, 'graphiql' | 'demo'>): string {
  const parts = [`API at ${url}/graphql`];
  if (config.graphiql) parts.push(`GraphiQL at ${url}/graphql (in a browser)`);
  if (config.demo) parts.push(`room demo at ${url}/demo/`);
  return `Switchyard is up: ${parts.join(', ')}`;
}

/** The calls other nodes of the cluster make to this one (under /internal/, with the cluster secret). */
function internalCalls(pipes: PipeServer, remote: RemoteTracks, sessions: SessionService, recordings: Recordings) {
  return {
    /** A recording of a session of this node, running on the node that told it (sessionNodeMirror). */
    [RECORDING_STATE_CALL]: async (body: Record<string, unknown>) => {
      recordings.mirror(parseSnapshot(body));
      return {};
    },
    /** A node where a session of this one resumes: the session leaves this node without ending (SessionService.release). */
    release: async (body: Record<string, unknown>) => {
      const { sessionId, moveTo } = body;
      if (typeof sessionId !== 'string') throw badRequest('release needs sessionId');
      return { views: (await sessions.release(sessionId, typeof moveTo === 'string' ? moveTo : null)) ?? null };
    },
    upstreamLost: async (body: Record<string, unknown>) => {
      const { sessionId, trackName, fromNode } = body;
      if (typeof sessionId !== 'string' || typeof trackName !== 'string' || typeof fromNode !== 'string') throw badRequest('upstreamLost needs sessionId, trackName and fromNode');
      return remote.upstreamLost(sessionId, trackName, fromNode);
    },
    pipe: (body: Record<string, unknown>) => pipes.open(body as unknown as PipeRequest),
    pipeData: (body: Record<string, unknown>) => pipes.openData(body as unknown as PipeRequest),
    track: async (body: Record<string, unknown>) => pipes.view(body),
    unpipe: async (body: Record<string, unknown>) => pipes.unpipe(body),
    demand: async (body: Record<string, unknown>) => pipes.setDemand(body as { producerId: string; fromNode: string; layer: number }),
  };
}
