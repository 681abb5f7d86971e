import type { types } from 'mediasoup';

/**
 * Gets a subscriber back onto the layers it prefers after its downlink lost
 * packets.
 *
 * mediasoup 3.32's own bandwidth estimation leaves a transport on the low
 * simulcast layer for good once loss has limited it: while loss-limited its
 * loss-based controller grows only to 1.5x the acknowledged bitrate and caps
 * probes at 1.5x its estimate, and a subscriber held on the low layer never
 * sends more, so nothing is acknowledged that would raise it (measured in
 * test/e2e/bandwidth-estimation.test.ts: 60 s on the low layer after the
 * limit was gone, where mediasoup 3.18.1 with libwebrtc's estimator was back
 * on the top layer in 7 s). A delay-only limit recovers by itself.
 *
 * So when a consumer of this transport has received a lower spatial layer
 * than it prefers for `holdMs`, the transport's minimum outgoing bitrate is
 * raised above the estimate for `probeMs`: the higher layer is sent, real
 * media is acknowledged (or lost, if the link is still narrow), and the
 * minimum goes back to mediasoup's floor. Probes that do not help back off
 * (doubling up to `maxBackoffMs`), so a subscriber on a narrow link loses a
 * few packets a minute at most, as libwebrtc's own probing costs.
 */
export interface DownlinkProbeOptions {
  /** How often the consumers are looked at. */
  checkMs: number;
  /** How long a consumer must be below its preferred spatial layer before a probe. */
  holdMs: number;
  /** How long the minimum stays raised. */
  probeMs: number;
  /** The wait after a probe that did not help; doubles each time, reset once no consumer is held down. */
  firstBackoffMs: number;
  maxBackoffMs: number;
}

export const DEFAULT_DOWNLINK_PROBE: DownlinkProbeOptions = {
  checkMs: 1000,
  holdMs: 5000,
  probeMs: 3000,
  firstBackoffMs: 10_000,
  maxBackoffMs: 60_000,
};

/** The raised minimum: twice the estimate, at least 300 kbit/s more, at most 5 Mbit/s (a 1080p layer). */
export function probeTarget(estimate: number): number {
  return Math.min(Math.max(2 * estimate, estimate + 300_000), 5_000_000);
}

export class DownlinkProbe {
  private readonly consumers = new Set<types.Consumer>();
  private readonly timer: NodeJS.Timeout;
  private heldDownSince: number | undefined;
  private nextProbeAt = 0;
  private backoffMs: number;
  private probing = false;
  /** Probes made so far (for tests and logs). */
  probes = 0;

  constructor(
    private readonly transport: types.WebRtcTransport,
    private readonly options: DownlinkProbeOptions = DEFAULT_DOWNLINK_PROBE,
  ) {
    this.backoffMs = options.firstBackoffMs;
    transport.observer.on('newconsumer', (consumer) => {
      if (consumer.type !== 'simulcast' && consumer.type !== 'svc') return;
      this.consumers.add(consumer);
      consumer.observer.once('close', () => this.consumers.delete(consumer));
    });
    this.timer = setInterval(() => void this.check(), options.checkMs);
    this.timer.unref();
    transport.observer.once('close', () => clearInterval(this.timer));
  }

  /** A consumer that receives some layer, but a lower spatial one than it prefers (paused ones wait for their publisher). */
  private heldDown(): boolean {
    for (const consumer of this.consumers) {
      if (consumer.closed || consumer.paused || consumer.producerPaused) continue;
      const preferred = consumer.preferredLayers?.spatialLayer;
      const current = consumer.currentLayers?.spatialLayer;
      if (preferred !== undefined && current !== undefined && current < preferred) return true;
    }
    return false;
  }

  private async check(): Promise<void> {
    if (this.probing || this.transport.closed) return;
    const now = Date.now();
    if (!this.heldDown()) {
      this.heldDownSince = undefined;
      this.backoffMs = this.options.firstBackoffMs;
      return;
    }
    this.heldDownSince ??= now;
    if (now - this.heldDownSince < this.options.holdMs || now < this.nextProbeAt) return;
    this.probing = true;
    try {
      const [stats] = await this.transport.getStats();
      const estimate = stats?.availableOutgoingBitrate;
      if (estimate === undefined) return;
      this.probes += 1;
      await this.transport.setMinOutgoingBitrate(probeTarget(estimate));
      await new Promise((resolve) => setTimeout(resolve, this.options.probeMs).unref());
      // 0 is mediasoup's floor again (no minimum was set when the transport was made).
      if (!this.transport.closed) await this.transport.setMinOutgoingBitrate(0);
    } catch {
      // The transport closed under the probe: nothing to restore.
    } finally {
      this.probing = false;
      this.nextProbeAt = Date.now() + this.backoffMs;
      this.backoffMs = Math.min(2 * this.backoffMs, this.options.maxBackoffMs);
    }
  }
}
