import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { ErrorCode, SwitchyardError } from '../errors.js';
import { nodeFull } from '../placement/refusals.js';

export interface SessionQuotaSettings {
  /** Live sessions this node holds at most, whoever asks. */
  maxSessionsPerNode: number;
  /** Live sessions one app holds at most. */
  maxSessionsPerApp: number;
  /** Sessions one app may create per second. */
  sessionCreationsPerAppPerSecond: number;
}

/** How many live sessions there are, as the session engine counts them. */
export interface SessionCounts {
  total(): number;
  inApp(appId: string): number;
}

const limitExceeded = (message: string) => new SwitchyardError(ErrorCode.LIMIT_EXCEEDED, message);

/**
 * Caps on sessions that hold whoever the caller is (an app backend, a client
 * token, or anyone in development mode): each idle session is a transport in
 * a worker (about 29 KB of worker memory, measured by bench:quality) and a
 * file of state here, so an unbounded createSession loop would fill the
 * machine. Creations still under way count, so a burst
 * of concurrent calls cannot slip past a cap together.
 */
export class SessionQuotas {
  private readonly creations: RateLimiterMemory;
  private pendingTotal = 0;
  private readonly pendingByApp = new Map<string, number>();

  constructor(
    readonly settings: SessionQuotaSettings,
    private readonly counts: SessionCounts,
  ) {
    this.creations = new RateLimiterMemory({ points: settings.sessionCreationsPerAppPerSecond, duration: 1 });
  }

  /** Refuses (placeably: another node may take it) when this node holds its maximum of sessions. */
  checkRoom(): void {
    if (this.counts.total() + this.pendingTotal >= this.settings.maxSessionsPerNode) throw nodeFull(this.settings.maxSessionsPerNode);
  }

  /**
   * Admits one session creation for `appId`, or refuses with LIMIT_EXCEEDED
   * naming the limit. Call the returned release once the creation ended
   * (created or failed).
   */
  async reserve(appId: string): Promise<() => void> {
    const { maxSessionsPerApp, sessionCreationsPerAppPerSecond } = this.settings;
    this.checkRoom();
    const pending = this.pendingByApp.get(appId) ?? 0;
    if (this.counts.inApp(appId) + pending >= maxSessionsPerApp) {
      throw limitExceeded(`app ${appId} holds its maximum of ${maxSessionsPerApp} sessions (MAX_SESSIONS_PER_APP); close some first`);
    }
    // Counted before the first await: concurrent calls see each other.
    this.pendingTotal += 1;
    this.pendingByApp.set(appId, pending + 1);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.pendingTotal -= 1;
      const left = (this.pendingByApp.get(appId) ?? 1) - 1;
      if (left === 0) this.pendingByApp.delete(appId);
      else this.pendingByApp.set(appId, left);
    };
    try {
      await this.creations.consume(appId);
    } catch (error) {
      release();
      if (!(error instanceof RateLimiterRes)) throw error;
      throw limitExceeded(
        `app ${appId} creates more than ${sessionCreationsPerAppPerSecond} sessions a second (SESSION_CREATIONS_PER_APP_PER_SECOND); retry in ${Math.max(1, error.msBeforeNext)} ms`,
      );
    }
    return release;
  }
}
