import { Redis } from 'ioredis';

/** What a client hears when Redis did not answer a call that needs it (ioredis's own words stay in the logs). */
export const REDIS_UNAVAILABLE = "the cluster's shared state (Redis) did not answer; retry shortly";

/** How long one Redis command may take before the call that needs it fails with UNAVAILABLE. */
export const REDIS_COMMAND_TIMEOUT_MS = 2000;

/**
 * A connection to the cluster's Redis, set up to fail fast: while Redis is
 * away (stopped, unreachable, stalled) a command fails at once or after
 * REDIS_COMMAND_TIMEOUT_MS instead of waiting in a queue, so an API call that
 * needs shared state answers UNAVAILABLE and the node's own sessions and
 * media go on. The connection keeps trying to come back by itself (every
 * second at most). ioredis: the maintained client with Lua scripts,
 * pipelines and blocking reads on duplicated connections, which
 * rate-limiter-flexible's Redis store also takes.
 */
export async function connectRedis(url: string, onError: (error: Error) => void): Promise<Redis> {
  const redis = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    retryStrategy: (attempt) => Math.min(attempt * 100, 1000),
  });
  redis.on('error', onError);
  await redis.connect();
  return redis;
}
