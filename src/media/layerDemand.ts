import { EventEmitter } from 'node:events';

/**
 * Which simulcast layers of each published track someone watches ("dynacast"):
 * every consumer of a track, on any worker, says which spatial layer it
 * prefers; a track's demand is every layer from the lowest up to the highest
 * one preferred. The publisher is then told, so it can stop encoding and
 * sending the layers above that.
 *
 * - The lowest layer is always in demand: it keeps the track ACTIVE, lets a
 *   new subscriber see a picture at once, and costs little.
 * - Layers below the highest wanted one stay in demand: they are what a
 *   subscriber falls back to when its bandwidth drops.
 * - More demand is reported at once; less only after `offDelayMs` without it,
 *   so a subscriber that switches layers, or leaves and comes back, does not
 *   make the publisher's encoder flap.
 *
 * Tracks are keyed by their source producer id (pipe producers on other
 * workers share it as their id), consumers by their own id.
 */
export class LayerDemand extends EventEmitter<{ change: [producerId: string, highestLayer: number] }> {
  private readonly tracks = new Map<string, TrackDemand>();

  constructor(private readonly offDelayMs: number) {
    super();
  }

  /**
   * Starts following a track with `layerCount` simulcast layers. Until
   * `offDelayMs` passes, all its layers count as in demand, since a publisher
   * starts by sending all of them and subscribers usually follow shortly.
   */
  track(producerId: string, layerCount: number): void {
    if (this.tracks.has(producerId) || layerCount < 1) return;
    const demand: TrackDemand = { top: layerCount - 1, wanted: new Map(), reported: layerCount - 1 };
    this.tracks.set(producerId, demand);
    this.scheduleDecrease(producerId, demand);
  }

  /** The highest layer of the track in demand now (0 when nobody watches), or undefined for a track not followed. */
  highest(producerId: string): number | undefined {
    return this.tracks.get(producerId)?.reported;
  }

  /** A consumer prefers `layer` of the track (again: a preference may change). */
  want(producerId: string, consumerId: string, layer: number): void {
    const demand = this.tracks.get(producerId);
    if (!demand) return;
    demand.wanted.set(consumerId, Math.max(0, Math.min(layer, demand.top)));
    this.recompute(producerId, demand);
  }

  /** A consumer is gone or wants nothing any more. */
  release(producerId: string, consumerId: string): void {
    const demand = this.tracks.get(producerId);
    if (!demand?.wanted.delete(consumerId)) return;
    this.recompute(producerId, demand);
  }

  /** The track is unpublished. */
  forget(producerId: string): void {
    const demand = this.tracks.get(producerId);
    if (demand?.timer) clearTimeout(demand.timer);
    this.tracks.delete(producerId);
  }

  /** Stops every timer (at shutdown). */
  close(): void {
    for (const producerId of [...this.tracks.keys()]) this.forget(producerId);
  }

  private recompute(producerId: string, demand: TrackDemand): void {
    const wanted = highestWanted(demand);
    if (wanted > demand.reported) {
      if (demand.timer) clearTimeout(demand.timer);
      demand.timer = undefined;
      demand.reported = wanted;
      this.emit('change', producerId, wanted);
    } else if (wanted < demand.reported && !demand.timer) {
      this.scheduleDecrease(producerId, demand);
    }
  }

  private scheduleDecrease(producerId: string, demand: TrackDemand): void {
    demand.timer = setTimeout(() => {
      demand.timer = undefined;
      if (this.tracks.get(producerId) !== demand) return;
      const wanted = highestWanted(demand);
      if (wanted === demand.reported) return;
      demand.reported = wanted;
      this.emit('change', producerId, wanted);
    }, this.offDelayMs);
    demand.timer.unref();
  }
}

interface TrackDemand {
  /** The track's highest layer index. */
  readonly top: number;
  /** consumer id -> the spatial layer it prefers. */
  readonly wanted: Map<string, number>;
  /** The highest layer the publisher was last told is in demand. */
  reported: number;
  /** A pending decrease. */
  timer?: NodeJS.Timeout | undefined;
}

function highestWanted(demand: TrackDemand): number {
  let highest = 0;
  for (const layer of demand.wanted.values()) highest = Math.max(highest, layer);
  return highest;
}
