import type { Redis } from 'ioredis';
import type { Config } from '../config/config.js';
import { InMemoryTrackEventBus, type TrackEventBus } from '../events/TrackEventBus.js';
import type { Logger } from '../logger.js';
import { Cluster } from './Cluster.js';
import { NodeWatch } from './NodeWatch.js';
import { connectRedis } from './redis.js';
import { RedisTrackEventBus } from './RedisTrackEventBus.js';

/**
 * What nodes share: one node alone keeps it in memory (the embedded default,
 * no Redis); with REDIS_URL (or REDIS_SENTINELS) it lives in Redis, where
 * every node of the cluster reads and writes it.
 */
export interface SharedState {
  /** 'embedded' (one node, in memory) or 'cluster' (Redis). */
  readonly mode: 'embedded' | 'cluster';
  /** The published tracks of every node and their events. */
  readonly trackEvents: TrackEventBus;
  /** The cluster's Redis connection; undefined when embedded. */
  readonly redis: Redis | undefined;
  /** This node as a cluster member (heartbeat, session directory, secret); undefined when embedded. */
  readonly cluster: Cluster | undefined;
  /** Notices nodes that die; undefined when embedded. */
  readonly watch: NodeWatch | undefined;
  /** Called when the connection to Redis is back after it was lost (cluster mode). */
  onReconnect?: (() => void) | undefined;
  close(): Promise<void>;
}

/** Redis keys of Switchyard start with this (several clusters may share one Redis with other prefixes). */
const KEY_PREFIX = 'switchyard:';

export async function openSharedState(config: Config, logger: Logger): Promise<SharedState> {
  const retention = { maxEvents: config.eventRetentionCount, maxAgeMs: config.eventRetentionMs };
  // Either way into cluster mode; config refuses both at once.
  const target = config.redisUrl ?? config.redisSentinel;
  if (!target) {
    const trackEvents = new InMemoryTrackEventBus(retention);
    return { mode: 'embedded', trackEvents, redis: undefined, cluster: undefined, watch: undefined, close: () => trackEvents.close() };
  }
  const log = logger.child({ component: 'redis' });
  let down = false;
  /** Set when this node closes the connection itself: that close is no outage. */
  let closing = false;
  const lost = (error: Error | undefined) => {
    // One line per outage, not one per reconnection attempt.
    if (!down) log.error({ err: error }, 'lost the connection to Redis: calls that need the cluster answer UNAVAILABLE until it is back');
    down = true;
  };
  const redis = await connectRedis(target, lost);
  // A connection that closed counts as an outage even when no error came with
  // it: after a Sentinel failover the client may reach the new primary at its
  // first try (the old one demoted, its clients killed), and the writes that
  // the old primary took but never replicated still need repairing (onReconnect).
  redis.on('close', () => {
    if (!closing) lost(undefined);
  });
  redis.on('ready', () => {
    if (!down) return;
    down = false;
    log.info('the connection to Redis is back');
    state?.onReconnect?.();
  });
  let state: SharedState | undefined;
  try {
    const prefix = `${KEY_PREFIX}${config.clusterName}:`;
    const cluster = new Cluster(redis, prefix, config.clusterSecret, logger);
    const trackEvents = await RedisTrackEventBus.open(redis, {
      retention,
      prefix,
      onReadError: (error) => log.debug({ err: error }, 'reading the track event log failed; retrying'),
    });
    const watch = new NodeWatch(redis, prefix, cluster.nodes, cluster.directory, trackEvents, logger, cluster.carriers, config.sessionResumeGraceMs);
    state = {
      mode: 'cluster',
      trackEvents,
      redis,
      cluster,
      watch,
      async close() {
        watch.stop();
        await cluster.nodes.leave();
        closing = true;
        await trackEvents.close();
        redis.disconnect();
      },
    };
    return state;
  } catch (error) {
    closing = true;
    redis.disconnect();
    throw error;
  }
}
