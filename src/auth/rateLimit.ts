import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { ErrorCode, SwitchyardError } from '../errors.js';

/**
 * The per-session mutation budget (50 per second by default, as in Cloudflare
 * Calls). rate-limiter-flexible counts: it is well kept, expires its keys
 * itself, and has a Redis store with the same interface. In a cluster the
 * budget is counted in Redis (one atomic Lua call per take), so it holds
 * whichever nodes a session's calls go through; while Redis is away each
 * node counts on its own (insuranceLimiter) rather than refusing every call.
 */
export class MutationRateLimiter {
  private readonly limiter: RateLimiterAbstract;

  constructor(
    readonly perSecond: number,
    cluster?: { redis: Redis; keyPrefix: string },
  ) {
    const local = new RateLimiterMemory({ points: perSecond, duration: 1 });
    this.limiter = cluster
      ? new RateLimiterRedis({ storeClient: cluster.redis, keyPrefix: cluster.keyPrefix, points: perSecond, duration: 1, insuranceLimiter: local })
      : local;
  }

  /** Spends one call of the budget under `key` (a session id), or refuses with RATE_LIMITED naming `what`. */
  async take(key: string, what: string): Promise<void> {
    try {
      await this.limiter.consume(key);
    } catch (error) {
      if (!(error instanceof RateLimiterRes)) throw error;
      throw new SwitchyardError(
        ErrorCode.RATE_LIMITED,
        `more than ${this.perSecond} ${what} in a second; retry in ${Math.max(1, error.msBeforeNext)} ms`,
      );
    }
  }
}
