import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { ErrorCode, SwitchyardError } from '../errors.js';

/**
 * The per-session mutation budget (50 per second by default, as in Cloudflare
 * Calls). rate-limiter-flexible counts: it is well kept, expires its keys
 * itself, and has a Redis store with the same interface. A session's budget
 * is counted in memory by the node that holds it (takeLocal); budgets that
 * many nodes spend (a subject's session creations) are counted in Redis in
 * a cluster (one atomic Lua call per take); while Redis is away each node
 * counts those on its own (insuranceLimiter) rather than refusing every call.
 */
export class MutationRateLimiter {
  private readonly limiter: RateLimiterAbstract;
  /** Budgets kept on this node alone: a session's, which only its owner spends (every call about it is forwarded there). */
  private readonly local: RateLimiterMemory;

  constructor(
    readonly perSecond: number,
    cluster?: { redis: Redis; keyPrefix: string },
  ) {
    const local = new RateLimiterMemory({ points: perSecond, duration: 1 });
    this.local = new RateLimiterMemory({ points: perSecond, duration: 1 });
    this.limiter = cluster
      ? new RateLimiterRedis({ storeClient: cluster.redis, keyPrefix: cluster.keyPrefix, points: perSecond, duration: 1, insuranceLimiter: local })
      : local;
  }

  /** Spends one call of the cluster-wide budget under `key` (a subject's creations), or refuses with RATE_LIMITED naming `what`. */
  take(key: string, what: string): Promise<void> {
    return this.spend(this.limiter, key, what);
  }

  /**
   * The same for a budget only this node spends: a session's mutations run
   * on the node that holds it (calls through other nodes are forwarded
   * there), so counting them here holds across the cluster and costs no
   * round trip to Redis on the session's hot path.
   */
  takeLocal(key: string, what: string): Promise<void> {
    return this.spend(this.local, key, what);
  }

  private async spend(limiter: RateLimiterAbstract, key: string, what: string): Promise<void> {
    try {
      await limiter.consume(key);
    } catch (error) {
      if (!(error instanceof RateLimiterRes)) throw error;
      throw new SwitchyardError(
        ErrorCode.RATE_LIMITED,
        `more than ${this.perSecond} ${what} in a second; retry in ${Math.max(1, error.msBeforeNext)} ms`,
      );
    }
  }
}
