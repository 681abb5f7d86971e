import { Redis, type RedisOptions } from 'ioredis';
import type { RedisSentinelConfig } from '../config/redisSentinel.js';

/** What a client hears when Redis did not answer a call that needs it (ioredis's own words stay in the logs). */
export const REDIS_UNAVAILABLE = "the cluster's shared state (Redis) did not answer; retry shortly";

/** How long one Redis command may take before the call that needs it fails with UNAVAILABLE. */
export const REDIS_COMMAND_TIMEOUT_MS = 2000;

/** Where the cluster's Redis is: one URL (REDIS_URL), or the Sentinels that say which server is the primary now. */
export type RedisTarget = string | RedisSentinelConfig;

/** How long one question to a Sentinel may take: a stalled Sentinel is passed over for the next one, not waited on. */
const SENTINEL_COMMAND_TIMEOUT_MS = 500;

/**
 * A connection to the cluster's Redis, set up to fail fast: while Redis is
 * away (stopped, unreachable, stalled, failing over) a command fails at once
 * or after REDIS_COMMAND_TIMEOUT_MS instead of waiting in a queue, so an API
 * call that needs shared state answers UNAVAILABLE and the node's own
 * sessions and media go on. The connection keeps trying to come back by
 * itself (every second at most). ioredis: the maintained client with Lua
 * scripts, pipelines, blocking reads on duplicated connections (which keep
 * these options, Sentinels included), which rate-limiter-flexible's Redis
 * store also takes.
 */
export async function connectRedis(target: RedisTarget, onError: (error: Error) => void): Promise<Redis> {
  const options: RedisOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    retryStrategy: (attempt) => Math.min(attempt * 100, 1000),
    // A server that turned replica under us (a primary demoted by a failover,
    // a failover address that still points at the old one): reconnect, which
    // with Sentinels asks them for the primary again.
    reconnectOnError: (error) => error.message.startsWith('READONLY'),
  };
  const redis = typeof target === 'string' ? new Redis(target, options) : new Redis({ ...options, ...sentinelOptions(target) });
  redis.on('error', onError);
  await redis.connect();
  return redis;
}

/**
 * ioredis's own Sentinel support: each (re)connection asks the Sentinels, in
 * turn, for the primary's address, and checks that the server it reached is
 * a primary (role). A primary that dies drops the connection; the retries
 * (retryStrategy) then ask again until a Sentinel names the promoted replica.
 */
function sentinelOptions(config: RedisSentinelConfig): RedisOptions {
  return {
    sentinels: config.sentinels,
    name: config.masterName,
    role: 'master',
    ...(config.password ? { password: config.password } : {}),
    ...(config.sentinelPassword ? { sentinelPassword: config.sentinelPassword } : {}),
    sentinelCommandTimeout: SENTINEL_COMMAND_TIMEOUT_MS,
    // A Sentinel or server that does not answer the handshake (unreachable
    // host) is given up after this rather than ioredis's 10 s: the next
    // Sentinel is asked sooner.
    connectTimeout: SENTINEL_COMMAND_TIMEOUT_MS * 2,
    // Retries ask a Sentinel first (a cheap question), so they may come more
    // often than for one server: the connection follows a promotion within
    // 250 ms instead of up to a second (measured in cluster-sentinel.test.ts).
    retryStrategy: (attempt) => Math.min(attempt * 50, 250),
    // Every Sentinel unreachable: try them all again soon, as for a server.
    sentinelRetryStrategy: (attempt) => Math.min(attempt * 100, 1000),
    // Not ioredis's failoverDetector: in 6.0.0 its +switch-master handler
    // calls the connector's disconnect(), and when that lands while a
    // reconnection is asking a Sentinel (the primary died: the usual case)
    // the connection ends for good (status "end": every later command fails
    // with "Connection is closed"); seen in cluster-sentinel.test.ts. Without
    // it, a client still on a demoted primary moves when Sentinel demotes it
    // (Sentinel kills its clients then) or at its first READONLY reply.
    failoverDetector: false,
  };
}
