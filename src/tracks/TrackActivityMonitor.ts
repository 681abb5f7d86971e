import type { Logger } from '../logger.js';
import type { PublishedTrack, TrackStatus } from './PublishedTrack.js';
import type { TrackRegistry } from './TrackRegistry.js';

export interface TrackActivityOptions {
  /** ACTIVE turns INACTIVE after this long without media. */
  inactiveAfterMs: number;
}

interface Activity {
  bytes: number;
  /** When media last arrived; the publish time until it first does. */
  lastMediaAt: number;
}

/**
 * Watches published tracks for media: WAITING until the first bytes arrive,
 * ACTIVE while they keep arriving, INACTIVE after a quiet period, ACTIVE again
 * when media returns. Silence never unpublishes a track: a muted sender
 * (replaceTrack(null)) must get its subscribers back when it unmutes, so a
 * track lives as long as its transceiver and session. It reads the producers'
 * byte counters (mediasoup getStats) once per poll instead of listening to
 * every packet.
 */
export class TrackActivityMonitor {
  private readonly activity = new WeakMap<PublishedTrack, Activity>();
  private timer: NodeJS.Timeout | undefined;
  private polling = false;

  constructor(
    private readonly registry: TrackRegistry,
    private readonly options: TrackActivityOptions,
    private readonly logger: Logger,
  ) {}

  get pollIntervalMs(): number {
    return Math.max(50, Math.min(1000, Math.floor(this.options.inactiveAfterMs / 4)));
  }

  start(): void {
    this.timer ??= setInterval(() => void this.poll(), this.pollIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One pass over every published track; exposed for tests. */
  async poll(now = Date.now()): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      await Promise.all(this.registry.list().map((track) => this.check(track, now)));
    } finally {
      this.polling = false;
    }
  }

  private async check(track: PublishedTrack, now: number): Promise<void> {
    if (track.producer.closed) return;
    let bytes: number;
    try {
      const stats = await track.producer.getStats();
      bytes = stats.reduce((sum, stream) => sum + stream.byteCount, 0);
    } catch (error) {
      if (!track.producer.closed) this.logger.debug({ err: error, track: track.name }, 'producer stats unavailable');
      return;
    }
    const seen = this.activity.get(track) ?? { bytes: 0, lastMediaAt: track.publishedAt.getTime() };
    this.activity.set(track, seen);
    if (bytes > seen.bytes) {
      seen.bytes = bytes;
      seen.lastMediaAt = now;
      this.setStatus(track, 'ACTIVE');
      return;
    }
    const quiet = now - seen.lastMediaAt;
    if (quiet >= this.options.inactiveAfterMs && track.status === 'ACTIVE') {
      this.setStatus(track, 'INACTIVE');
    }
  }

  private setStatus(track: PublishedTrack, status: TrackStatus): void {
    this.registry.setStatus(track, status);
  }
}
