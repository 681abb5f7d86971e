import type { types } from 'mediasoup';

/**
 * Makes a producer consumable on other routers of this machine. The first
 * pull of a producer onto a router pipes it there (router.pipeToRouter); every
 * later pull on that router reuses the pipe. mediasoup closes a pipe producer
 * when its source or its router closes, and this cache forgets it then.
 */
export class ProducerPipes {
  /** producer id -> target router id -> the piped producer (or the pipe being made). */
  private readonly pipes = new Map<string, Map<string, Promise<types.Producer>>>();

  /**
   * The id under which `producer` (living on `source`) can be consumed on
   * `target`: the producer itself on its own router, a pipe producer elsewhere.
   */
  async availableOn(producer: types.Producer, source: types.Router, target: types.Router): Promise<string> {
    if (source.id === target.id) return producer.id;
    let byRouter = this.pipes.get(producer.id);
    if (!byRouter) {
      byRouter = new Map();
      this.pipes.set(producer.id, byRouter);
      producer.observer.once('close', () => this.pipes.delete(producer.id));
    }
    let pipe = byRouter.get(target.id);
    if (!pipe) {
      pipe = source.pipeToRouter({ producerId: producer.id, router: target }).then(({ pipeProducer }) => {
        if (!pipeProducer) throw new Error('pipeToRouter returned no producer');
        pipeProducer.observer.once('close', () => byRouter.delete(target.id));
        return pipeProducer;
      });
      byRouter.set(target.id, pipe);
      // A failed pipe must not poison later pulls.
      pipe.catch(() => byRouter.delete(target.id));
    }
    return (await pipe).id;
  }

  /** Routers a producer is piped to now (made or being made). */
  pipedRouters(producerId: string): number {
    return this.pipes.get(producerId)?.size ?? 0;
  }

  /** Number of live pipes, for metrics and tests. */
  get size(): number {
    let count = 0;
    for (const byRouter of this.pipes.values()) count += byRouter.size;
    return count;
  }
}
