import type { types } from 'mediasoup';

/** What a pipe is made of: a producer (media or data) whose closing can be watched. */
export interface Pipeable {
  readonly id: string;
  readonly observer: { once(event: 'close', listener: () => void): unknown };
}

/**
 * Makes a producer (media or data) consumable on other routers of this
 * machine. The first pull of a producer onto a router pipes it there
 * (router.pipeToRouter); every later pull on that router reuses the pipe.
 * mediasoup closes a pipe producer when its source or its router closes, and
 * this cache forgets it then.
 */
export class ProducerPipes {
  /** producer id -> target router id -> the piped producer (or the pipe being made). */
  private readonly pipes = new Map<string, Map<string, Promise<Pipeable>>>();

  /**
   * The id under which `producer` (living on `source`) can be consumed on
   * `target`: the producer itself on its own router, a pipe producer elsewhere.
   */
  availableOn(producer: types.Producer, source: types.Router, target: types.Router): Promise<string> {
    return this.pipe(producer, source, target, async () => {
      const { pipeProducer } = await source.pipeToRouter({ producerId: producer.id, router: target });
      if (!pipeProducer) throw new Error('pipeToRouter returned no producer');
      return pipeProducer;
    });
  }

  /** The same for a data producer (a published data channel). */
  dataAvailableOn(producer: types.DataProducer, source: types.Router, target: types.Router): Promise<string> {
    return this.pipe(producer, source, target, async () => {
      const { pipeDataProducer } = await source.pipeToRouter({ dataProducerId: producer.id, router: target });
      if (!pipeDataProducer) throw new Error('pipeToRouter returned no data producer');
      return pipeDataProducer;
    });
  }

  private async pipe(producer: Pipeable, source: types.Router, target: types.Router, make: () => Promise<Pipeable>): Promise<string> {
    if (source.id === target.id) return producer.id;
    let byRouter = this.pipes.get(producer.id);
    if (!byRouter) {
      byRouter = new Map();
      this.pipes.set(producer.id, byRouter);
      producer.observer.once('close', () => this.pipes.delete(producer.id));
    }
    const routers = byRouter;
    let pipe = routers.get(target.id);
    if (!pipe) {
      pipe = make().then((piped) => {
        piped.observer.once('close', () => routers.delete(target.id));
        return piped;
      });
      routers.set(target.id, pipe);
      // A failed pipe must not poison later pulls.
      pipe.catch(() => routers.delete(target.id));
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
