import type { types } from 'mediasoup';
import type { NodeLoad } from '../cluster/NodeRegistry.js';
import type { MediaWorker } from '../media/workerPool.js';

/** What the meter reads: the workers, the sessions' transports, and any other transport that sends media (pipes to other nodes). */
export interface LoadSources {
  workers: () => readonly MediaWorker[];
  sessions: () => number;
  consumers: () => number;
  transports: () => Iterable<types.Transport>;
}

/**
 * This node's load, sampled once a heartbeat: what it announces to the
 * cluster (placement chooses by it) and shows in /metrics. Worker CPU comes
 * from getResourceUsage (user + system time between two samples over the
 * wall time between them); the bitrate from each transport's sendBitrate,
 * mediasoup's own estimate over its last second.
 */
export class NodeLoadMeter {
  private cpuSeen = new Map<number, { cpuMs: number; at: number }>();
  private last: NodeLoad = { sessions: 0, consumers: 0, workerCpu: 0, outgoingBitrate: 0 };
  private timer: NodeJS.Timeout | undefined;
  private sampling = false;

  constructor(private readonly sources: LoadSources) {}

  /** The latest sample, with session and consumer counts as they are now. */
  get load(): NodeLoad {
    return { ...this.last, sessions: this.sources.sessions(), consumers: this.sources.consumers() };
  }

  start(everyMs: number): void {
    this.timer = setInterval(() => void this.sample(), everyMs);
    this.timer.unref();
    void this.sample();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One sample (exposed for tests and benchmarks). */
  async sample(): Promise<NodeLoad> {
    if (this.sampling) return this.load;
    this.sampling = true;
    try {
      const [workerCpu, outgoingBitrate] = await Promise.all([this.workerCpu(), this.outgoingBitrate()]);
      this.last = { sessions: this.sources.sessions(), consumers: this.sources.consumers(), workerCpu, outgoingBitrate };
      return this.last;
    } finally {
      this.sampling = false;
    }
  }

  private async workerCpu(): Promise<number> {
    const now = Date.now();
    const seen = new Map<number, { cpuMs: number; at: number }>();
    const shares = await Promise.all(
      this.sources.workers().map(async ({ worker }) => {
        if (worker.closed) return undefined;
        const usage = await worker.getResourceUsage().catch(() => undefined);
        if (!usage) return undefined;
        const cpuMs = usage.ru_utime + usage.ru_stime;
        seen.set(worker.pid, { cpuMs, at: now });
        const before = this.cpuSeen.get(worker.pid);
        if (!before || now <= before.at) return undefined;
        return Math.max(0, Math.min(1, (cpuMs - before.cpuMs) / (now - before.at)));
      }),
    );
    this.cpuSeen = seen;
    const known = shares.filter((share): share is number => share !== undefined);
    return known.length === 0 ? 0 : Math.round((known.reduce((a, b) => a + b, 0) / known.length) * 1000) / 1000;
  }

  private async outgoingBitrate(): Promise<number> {
    const reads = [...this.sources.transports()]
      .filter((transport) => !transport.closed)
      .map(async (transport) => {
        const stats = (await transport.getStats().catch(() => [])) as { sendBitrate?: number }[];
        return stats[0]?.sendBitrate ?? 0;
      });
    return (await Promise.all(reads)).reduce((a, b) => a + b, 0);
  }
}
