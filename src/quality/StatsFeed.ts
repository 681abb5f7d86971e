import { EventStream, type Outbox } from '../events/EventStream.js';
import type { Session } from '../session/Session.js';
import { sharedSessionStats, type SessionStats } from './sessionStats.js';

export const MIN_STATS_INTERVAL_MS = 1000;
export const MAX_STATS_INTERVAL_MS = 60_000;

/**
 * The sessionStats subscription: a session's stats every `intervalMs`, read
 * when due (nothing is read for sessions nobody watches). A reader that has
 * not taken the previous reading gets no new one queued behind it: stats
 * are snapshots, and the newest is the one that matters. Ends when the
 * session closes.
 */
export class StatsFeed {
  private live = 0;

  /** Live stats subscriptions (the API's census). */
  get subscriberCount(): number {
    return this.live;
  }

  subscribe(session: Session, intervalMs: number, outbox?: Outbox): AsyncIterableIterator<SessionStats> {
    const stream = new EventStream<SessionStats>(outbox);
    this.live += 1;
    let reading = false;
    const tick = async () => {
      if (reading || stream.pending > 0) return;
      if (session.closed) {
        void stream.return();
        return;
      }
      reading = true;
      try {
        stream.push(await sharedSessionStats(session));
      } finally {
        reading = false;
      }
    };
    const timer = setInterval(() => void tick(), intervalMs);
    // Ends when the session does, not at the next tick (up to a minute later):
    // a session's transport closes with it.
    const end = () => void stream.return();
    session.transport.observer.once('close', end);
    void tick();
    stream.onClose(() => {
      clearInterval(timer);
      session.transport.observer.off('close', end);
      this.live -= 1;
    });
    return stream;
  }
}
