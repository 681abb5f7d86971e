import type { types } from 'mediasoup';
import { consumerStats, producerStats, type StreamStats } from '../media/streamStats.js';

export type Direction = 'in' | 'out';

/** Running totals of RTP one way: into the SFU from publishers, out of it to subscribers. */
export interface RtpTotals {
  bytes: number;
  packets: number;
  packetsLost: number;
  nacks: number;
  keyFrameRequests: number;
}

const zero = (): RtpTotals => ({ bytes: 0, packets: 0, packetsLost: 0, nacks: 0, keyFrameRequests: 0 });

const totalsOf = (s: StreamStats): RtpTotals => ({
  bytes: s.bytes,
  packets: s.packets,
  packetsLost: s.packetsLost,
  nacks: s.nackCount,
  keyFrameRequests: s.pliCount + s.firCount,
});

/**
 * Counters of what every producer and consumer of the node carried, read
 * from mediasoup at each scrape: each stream adds what it carried since the
 * previous scrape. What a stream carried between the last scrape and its end
 * is not counted (mediasoup's stats end with the stream); at a 15 s scrape
 * interval that is at most 15 s per stream.
 */
export class MediaCounters {
  readonly totals: Record<Direction, RtpTotals> = { in: zero(), out: zero() };
  private lastSeen = new Map<string, RtpTotals>();

  /** Reads every stream's stats and adds what each carried since it was last read. */
  async refresh(streams: { producers: types.Producer[]; consumers: types.Consumer[] }): Promise<void> {
    const reads = [
      ...streams.producers.map(async (p) => ({ id: p.id, direction: 'in' as const, stats: await producerStats(p).catch(() => undefined) })),
      ...streams.consumers.map(async (c) => ({ id: c.id, direction: 'out' as const, stats: await consumerStats(c).catch(() => undefined) })),
    ];
    const seen = new Map<string, RtpTotals>();
    for (const { id, direction, stats } of await Promise.all(reads)) {
      if (!stats) continue; // Closed while being read.
      const now = totalsOf(stats);
      const before = this.lastSeen.get(id) ?? zero();
      const total = this.totals[direction];
      for (const key of Object.keys(now) as (keyof RtpTotals)[]) total[key] += Math.max(0, now[key] - before[key]);
      seen.set(id, now);
    }
    this.lastSeen = seen;
  }
}
