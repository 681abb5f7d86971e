import type { Cluster } from '../cluster/Cluster.js';
import { callNode } from '../cluster/internalCalls.js';
import type { Logger } from '../logger.js';
import type { LayerDemand } from '../media/layerDemand.js';

/**
 * Layer demand up a track's tree: what this node's subscribers and the
 * nodes it feeds prefer (LayerDemand, with its delay for less) is reported
 * to the node it takes the track from, where this node counts as one
 * subscriber. Reports for one producer go one at a time, in order, and only
 * the newest waits, so the parent always ends with the latest.
 */
export class InboundDemand {
  /** The parent's URL of each simulcast track entering this node, by producer id. */
  private readonly parents = new Map<string, string>();
  private readonly reports = new Map<string, { sending: boolean; next: number | undefined }>();

  constructor(
    private readonly demand: LayerDemand,
    private readonly cluster: Cluster,
    private readonly logger: Logger,
  ) {
    demand.on('change', (producerId, highest) => {
      if (this.parents.has(producerId)) this.report(producerId, highest);
    });
  }

  /** A track with `layers` simulcast layers enters this node from `parentUrl`. */
  follow(producerId: string, layers: number, parentUrl: string): void {
    if (layers <= 1) return;
    const known = this.parents.has(producerId);
    this.parents.set(producerId, parentUrl);
    this.demand.track(producerId, layers);
    // A new parent (after a re-attach) hears what this node wants at once.
    const highest = this.demand.highest(producerId);
    if (known && highest !== undefined) this.report(producerId, highest);
  }

  forget(producerId: string): void {
    if (!this.parents.delete(producerId)) return;
    this.demand.forget(producerId);
  }

  private report(producerId: string, layer: number): void {
    const state = this.reports.get(producerId) ?? { sending: false, next: undefined };
    this.reports.set(producerId, state);
    state.next = layer;
    if (state.sending) return;
    state.sending = true;
    void (async () => {
      while (state.next !== undefined) {
        const parent = this.parents.get(producerId);
        const next = state.next;
        state.next = undefined;
        if (!parent) break;
        try {
          await callNode(this.cluster, parent, 'demand', { producerId, fromNode: this.cluster.nodeId, layer: next });
        } catch (error) {
          this.logger.debug({ err: error, producer: producerId }, 'could not tell the node a track comes from which layers are watched here');
        }
      }
      state.sending = false;
      if (!this.parents.has(producerId)) this.reports.delete(producerId);
    })();
  }
}
