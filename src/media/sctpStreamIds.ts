import type { types } from 'mediasoup';

/**
 * SCTP stream ids of a session's data channels, kept apart in both
 * directions. A WebRTC data channel is one stream id used both ways, so the
 * id of a channel the client publishes (a DataProducer, id chosen by us) must
 * never be given to a channel the SFU sends on (a DataConsumer, id chosen by
 * mediasoup's allocator, which only knows of DataConsumers). Reserving an id
 * is therefore done the way mediasoup allocates: a DataConsumer of a silent
 * DataProducer (on a DirectTransport of the same router, which never sends)
 * holds the id for as long as the published channel lives. Closing it resets
 * the outgoing stream, which is what closing a channel does anyway.
 */
export class SctpStreamIds {
  /** router id -> the silent DataProducer reservations consume. */
  private readonly silent = new Map<string, Promise<types.DataProducer>>();

  /** Reserves a free stream id on `transport`; close the returned consumer to release it. */
  async reserve(router: types.Router, transport: types.WebRtcTransport): Promise<types.DataConsumer> {
    const producer = await this.silentProducer(router);
    return transport.consumeData({ dataProducerId: producer.id, appData: { reservation: true } });
  }

  private silentProducer(router: types.Router): Promise<types.DataProducer> {
    let producer = this.silent.get(router.id);
    if (!producer) {
      producer = router.createDirectTransport().then((direct) => direct.produceData({ label: 'switchyard-reserved-stream' }));
      this.silent.set(router.id, producer);
      producer.catch(() => this.silent.delete(router.id));
      router.observer.once('close', () => this.silent.delete(router.id));
    }
    return producer;
  }
}
