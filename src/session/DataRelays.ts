import type { types } from 'mediasoup';
import { trackKey } from '../events/TrackEventBus.js';
import type { DataChannelOptions } from '../tracks/PublishedTrack.js';
import type { Logger } from '../logger.js';

/** What a relay asks when its feed ends: whether the channel is moving, and where it is now. */
export interface RelaySource {
  /** Resolves true once the channel is published again (its session moved), false when it ended; undefined: it ended. */
  moving(sessionId: string, name: string): Promise<boolean> | undefined;
  /** The channel's data producer made consumable on `router` again; null when it is gone. */
  find(sessionId: string, name: string, router: types.Router): Promise<string | null>;
}

/** One channel's relay on one router: what its subscribers there consume. */
export interface DataRelay {
  readonly producer: types.DataProducer;
  feed: types.DataConsumer | undefined;
  holders: number;
}

/**
 * Subscriptions to a data channel go through a relay on the subscriber's
 * router: a direct DataProducer that the subscribers' DataConsumers consume,
 * fed in Node from the channel's own producer (here, piped from another
 * worker, or from another node). Why: a DataConsumer whose producer closes is
 * closed and its SCTP stream reset, and a DataConsumer cannot be given
 * another producer. When the channel's session moves (resumeSession), only
 * the feed changes: the subscribers' channels carry on. A channel that ends
 * closes its relays, and the subscribers' channels end as before. Costs one
 * pass through Node per message and router (bench:data measures it).
 */
export class DataRelays {
  private readonly transports = new Map<string, Promise<types.DirectTransport>>();
  private readonly relays = new Map<string, Promise<DataRelay>>();

  constructor(
    private readonly source: RelaySource,
    private readonly maxMessageBytes: number,
    private readonly logger: Logger,
  ) {}

  /** The relay of channel (sessionId, name) on `router`, fed from `producerId` (made once; each caller holds it until `release`). */
  async acquire(router: types.Router, sessionId: string, name: string, producerId: string): Promise<DataRelay> {
    const key = `${router.id}|${trackKey(sessionId, name)}`;
    let made = this.relays.get(key);
    if (!made) {
      made = this.make(router, sessionId, name, producerId, key);
      this.relays.set(key, made);
      made.catch(() => this.relays.delete(key));
    }
    const relay = await made;
    relay.holders += 1;
    return relay;
  }

  /** A subscriber's consumer of the relay closed: the relay closes with its last one. */
  release(relay: DataRelay): void {
    relay.holders -= 1;
    if (relay.holders <= 0) relay.producer.close();
  }

  get size(): number {
    return this.relays.size;
  }

  private async make(router: types.Router, sessionId: string, name: string, producerId: string, key: string): Promise<DataRelay> {
    const transport = await this.transportOn(router);
    const producer = await transport.produceData({ label: name, appData: { relayOf: key } });
    const relay: DataRelay = { producer, feed: undefined, holders: 0 };
    producer.observer.once('close', () => {
      relay.feed?.close();
      this.relays.delete(key);
    });
    try {
      await this.feed(relay, transport, producerId, sessionId, name, router);
    } catch (error) {
      producer.close();
      throw error;
    }
    return relay;
  }

  /** Feeds the relay from `producerId`; when that producer closes, from where the channel went, or the relay ends. */
  private async feed(relay: DataRelay, transport: types.DirectTransport, producerId: string, sessionId: string, name: string, router: types.Router): Promise<void> {
    const feed = await transport.consumeData({ dataProducerId: producerId });
    relay.feed = feed;
    feed.on('message', (message, ppid) => {
      if (!relay.producer.closed) relay.producer.send(message, ppid);
    });
    feed.on('dataproducerclose', () => void this.refeed(relay, transport, sessionId, name, router));
  }

  private async refeed(relay: DataRelay, transport: types.DirectTransport, sessionId: string, name: string, router: types.Router): Promise<void> {
    relay.feed = undefined;
    const moving = this.source.moving(sessionId, name);
    try {
      const back = moving ? await moving : false;
      const producerId = back && !relay.producer.closed ? await this.source.find(sessionId, name, router) : null;
      if (!producerId || relay.producer.closed) return relay.producer.close();
      await this.feed(relay, transport, producerId, sessionId, name, router);
      this.logger.info({ session: sessionId, dataChannel: name }, 'a subscribed data channel follows its moved source');
    } catch (error) {
      this.logger.warn({ err: error, session: sessionId, dataChannel: name }, 'could not follow a moved data channel: its subscriptions end');
      relay.producer.close();
    }
  }

  private transportOn(router: types.Router): Promise<types.DirectTransport> {
    let transport = this.transports.get(router.id);
    if (!transport) {
      transport = router.createDirectTransport({ maxSendMessageSize: this.maxMessageBytes, maxReceiveMessageSize: this.maxMessageBytes });
      this.transports.set(router.id, transport);
      transport.catch(() => this.transports.delete(router.id));
      router.observer.once('close', () => this.transports.delete(router.id));
    }
    return transport;
  }
}

/** The SCTP delivery of a subscriber's consumer of a relay: the channel's own (a direct producer has none to copy). */
export function sctpDelivery(options: DataChannelOptions | null | undefined): { ordered: boolean; maxPacketLifeTime?: number; maxRetransmits?: number } {
  if (!options || options.ordered) return { ordered: true };
  return {
    ordered: false,
    ...(options.maxPacketLifeTime != null ? { maxPacketLifeTime: options.maxPacketLifeTime } : {}),
    ...(options.maxRetransmits != null ? { maxRetransmits: options.maxRetransmits } : {}),
  };
}
