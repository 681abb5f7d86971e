import type { types } from 'mediasoup';
import type { LayerDemand } from './layerDemand.js';

export type SimulcastFallback = 'AUTO' | 'LEAST_BANDWIDTH' | 'NONE';

export interface SimulcastPreference {
  /** RID of the layer the subscriber wants; the highest when absent. */
  preferredRid?: string | null;
  fallback?: SimulcastFallback | null;
}

/**
 * Keeps one subscriber's consumer on the simulcast layer it prefers, and
 * decides what it gets when that layer stops arriving:
 * AUTO lets mediasoup pick the best layer still arriving, LEAST_BANDWIDTH
 * drops to the lowest one, NONE pauses until the preferred layer returns.
 * Layers are the publisher's encodings in the order it lists its RIDs, lowest
 * resolution first (as browsers list `sendEncodings` and mediasoup expects).
 * The preferred layer is also this consumer's vote in the track's LayerDemand,
 * which tells the publisher which layers anyone watches.
 */
export class SimulcastPolicy {
  private readonly onScore = (scores: types.ProducerScore[]) => void this.apply(scores);
  private pausedByPolicy = false;
  private spatialLayer: number;
  private fallback: SimulcastFallback;

  constructor(
    private readonly consumer: types.Consumer,
    /** The publisher's own producer: its per-encoding scores say which layers arrive. */
    private readonly source: types.Producer,
    readonly rids: readonly string[],
    preference: SimulcastPreference,
    private readonly demand?: LayerDemand,
  ) {
    this.spatialLayer = SimulcastPolicy.layerOf(rids, preference.preferredRid);
    this.fallback = preference.fallback ?? 'AUTO';
    source.on('score', this.onScore);
    demand?.want(source.id, consumer.id, this.spatialLayer);
    consumer.observer.once('close', () => this.detach());
  }

  /** The spatial layer for a RID (the top one when no RID is given). */
  static layerOf(rids: readonly string[], rid: string | null | undefined): number {
    if (rid == null) return rids.length - 1;
    return rids.indexOf(rid);
  }

  get preferredRid(): string | undefined {
    return this.rids[this.spatialLayer];
  }

  get preferredLayers(): types.ConsumerLayers {
    return { spatialLayer: this.spatialLayer };
  }

  /** The layers the subscriber receives now (mediasoup's currentLayers), with the spatial layer's RID; null while it receives none. */
  get currentLayers(): { spatialLayer: number; temporalLayer: number | null; rid: string | null } | null {
    const current = this.consumer.currentLayers;
    if (!current || this.consumer.closed) return null;
    return { spatialLayer: current.spatialLayer, temporalLayer: current.temporalLayer ?? null, rid: this.rids[current.spatialLayer] ?? null };
  }

  async update(preference: SimulcastPreference): Promise<void> {
    if (preference.preferredRid !== undefined) this.spatialLayer = SimulcastPolicy.layerOf(this.rids, preference.preferredRid);
    if (preference.fallback) this.fallback = preference.fallback;
    this.demand?.want(this.source.id, this.consumer.id, this.spatialLayer);
    await this.apply(this.source.score);
  }

  detach(): void {
    this.source.off('score', this.onScore);
    this.demand?.release(this.source.id, this.consumer.id);
  }

  private async apply(scores: types.ProducerScore[]): Promise<void> {
    if (this.consumer.closed) return;
    const preferred = scores.find((s) => s.encodingIdx === this.spatialLayer);
    // Before the first scores arrive, assume the layer is there.
    const arriving = preferred === undefined ? scores.length === 0 : preferred.score > 0;
    try {
      if (this.fallback === 'NONE') {
        if (!arriving && !this.consumer.paused) {
          this.pausedByPolicy = true;
          await this.consumer.pause();
        } else if (arriving && this.pausedByPolicy) {
          this.pausedByPolicy = false;
          await this.consumer.resume();
        }
        await this.consumer.setPreferredLayers({ spatialLayer: this.spatialLayer });
      } else if (this.fallback === 'LEAST_BANDWIDTH' && !arriving) {
        await this.consumer.setPreferredLayers({ spatialLayer: 0 });
      } else {
        if (this.pausedByPolicy) {
          this.pausedByPolicy = false;
          await this.consumer.resume();
        }
        await this.consumer.setPreferredLayers({ spatialLayer: this.spatialLayer });
      }
    } catch {
      // The consumer closed while the request was on its way: nothing to keep.
    }
  }
}
