import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { ErrorCode, SwitchyardError } from '../errors.js';

/**
 * The per-session mutation budget (50 per second by default, as in Cloudflare
 * Calls). rate-limiter-flexible counts: it is well kept, expires its keys
 * itself, and has a Redis store with the same interface for when the budget
 * has to hold across nodes.
 */
export class MutationRateLimiter {
  private readonly limiter: RateLimiterMemory;

  constructor(readonly perSecond: number) {
    this.limiter = new RateLimiterMemory({ points: perSecond, duration: 1 });
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
