import type { WorkerPool } from './workerPool.js';

/** How many mediasoup objects the workers hold, as the workers themselves report them. */
export interface MediaCensus {
  routers: number;
  transports: number;
  producers: number;
  consumers: number;
  dataProducers: number;
  dataConsumers: number;
}

/**
 * Counts through each worker's and router's dump(), the state inside the C++
 * workers rather than the Node objects that mirror it: a leak shows here even
 * when every JavaScript reference is gone. For tests and diagnostics; it
 * costs a request to every worker and router.
 */
export async function takeCensus(pool: WorkerPool): Promise<MediaCensus> {
  const census: MediaCensus = { routers: 0, transports: 0, producers: 0, consumers: 0, dataProducers: 0, dataConsumers: 0 };
  for (const { worker, router } of pool.workers) {
    const workerDump = await worker.dump();
    census.routers += workerDump.routerIds.length;
    const dump = await router.dump();
    census.transports += dump.transportIds.length;
    census.producers += dump.mapProducerIdConsumerIds.length;
    census.consumers += dump.mapConsumerIdProducerId.length;
    census.dataProducers += dump.mapDataProducerIdDataConsumerIds.length;
    census.dataConsumers += dump.mapDataConsumerIdDataProducerId.length;
  }
  return census;
}
