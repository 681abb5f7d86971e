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

  /** Spends one mutation of the session's budget, or refuses with RATE_LIMITED. */
  async take(sessionId: string): Promise<void> {
    try {
      await this.limiter.consume(sessionId);
    } catch (error) {
      if (!(error instanceof RateLimiterRes)) throw error;
      throw new SwitchyardError(
        ErrorCode.RATE_LIMITED,
        `session ${sessionId} made more than ${this.perSecond} mutations in a second; retry in ${Math.max(1, error.msBeforeNext)} ms`,
      );
    }
  }
}
