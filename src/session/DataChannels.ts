import type { types } from 'mediasoup';
import { badRequest, ErrorCode, SwitchyardError, trackNotFound } from '../errors.js';
import type { SessionEventBus } from '../events/SessionEventBus.js';
import type { Logger } from '../logger.js';
import type { ProducerPipes } from '../media/producerPipes.js';
import type { SctpStreamIds } from '../media/sctpStreamIds.js';
import type { RemoteTrackSource } from '../cluster/RemoteTracks.js';
import type { PublishedDataChannel } from '../tracks/PublishedDataChannel.js';
import { DataRelays, sctpDelivery } from './DataRelays.js';
import type { TrackStatus } from '../tracks/PublishedTrack.js';
import { TrackRegistry } from '../tracks/TrackRegistry.js';
import {
  checkDataChannelRoom,
  checkLocalDataChannels,
  checkRemoteDataChannels,
  type DataChannelResult,
  type LocalDataChannelRequest,
  type RemoteDataChannelRequest,
} from './dataChannelRequests.js';
import type { PulledSource, Session, SessionDataChannel } from './Session.js';
import type { TrackRefusal } from './types.js';

export interface DataChannelsOutcome {
  session: Session;
  dataChannels: DataChannelResult[];
}

export interface DataChannelParts {
  /** The media tracks of this node: a name there is not a data channel. */
  media: TrackRegistry;
  pipes: ProducerPipes;
  streamIds: SctpStreamIds;
  sessionEvents: SessionEventBus;
  logger: Logger;
  /** Data channels (published and subscribed) one session may hold. */
  maxPerSession: number;
  /** In a cluster: channels of other nodes, piped here when subscribed. */
  remote?: RemoteTrackSource | undefined;
  /** Channels of sessions that moved off a PeerConnection of this node (TrackMoves): relays wait for them. */
  sessionMoves?: { moving(sessionId: string, name: string): Promise<boolean> | undefined };
  /** Largest data channel message (SCTP max-message-size), for the relays' direct transports. */
  maxMessageBytes: number;
}

/**
 * Data channels over sessions' SCTP associations: a published channel is a
 * DataProducer on the publisher's transport, each subscription a
 * DataConsumer of it (piped from other workers and nodes like media).
 * Channels are negotiated out of band: the SFU assigns each one's SCTP
 * stream id and the client opens it with { negotiated: true, id }, so no SDP
 * round trip is needed once the session has a data m-section. Messages go one
 * way, publisher to subscribers; what a subscriber sends on its channel is
 * dropped (to answer, it publishes a channel of its own), as in Cloudflare's
 * SFU. Every method runs on the session's queue.
 */
export class DataChannels {
  /** Published data channels of this node; their changes go to the track event log with the tracks'. */
  readonly registry = new TrackRegistry<PublishedDataChannel>();
  private readonly watched = new WeakSet<Session>();

  /** Every subscription goes through its channel's relay on the subscriber's router (DataRelays). */
  private readonly relays: DataRelays;

  constructor(private readonly parts: DataChannelParts) {
    this.relays = new DataRelays(
      {
        moving: (sessionId, name) => parts.sessionMoves?.moving(sessionId, name) ?? parts.remote?.dataMoving(sessionId, name),
        find: (sessionId, name, router) => this.producerOn(sessionId, name, router),
      },
      parts.maxMessageBytes,
      parts.logger,
    );
  }

  /** The channel's data producer made consumable on `router` (for a relay whose source moved); null when it is nowhere. */
  private async producerOn(sessionId: string, name: string, router: types.Router): Promise<string | null> {
    const local = this.registry.get(sessionId, name);
    if (local) return this.parts.pipes.dataAvailableOn(local.dataProducer, local.router, router);
    const remote = await this.parts.remote?.findData(sessionId, name, router, () => null);
    return remote && 'dataProducer' in remote ? remote.dataProducer.id : null;
  }

  async publish(session: Session, requests: LocalDataChannelRequest[]): Promise<DataChannelsOutcome> {
    const checked = checkLocalDataChannels(requests);
    this.requireDataSection(session);
    checkDataChannelRoom(session.dataChannels.length, requests.length, this.parts.maxPerSession);
    await this.reserveBootstrapStreams(session);
    this.watchSctp(session);
    const taken = session.publishedNames();
    const results: DataChannelResult[] = [];
    const added: SessionDataChannel[] = [];
    try {
      for (const { request, options, tags } of checked) {
        if (taken.has(request.name)) {
          results.push(refused(session.id, request.name, { code: ErrorCode.BAD_REQUEST, message: `this session already publishes ${request.name}` }));
          continue;
        }
        taken.add(request.name);
        const reservation = await this.parts.streamIds.reserve(session.router, session.transport);
        const streamId = reservation.sctpStreamParameters?.streamId;
        if (streamId === undefined) throw new Error('a reserved SCTP stream has no id');
        let dataProducer: types.DataProducer;
        try {
          dataProducer = await session.transport.produceData({
            sctpStreamParameters: {
              streamId,
              ordered: options.ordered,
              ...(options.maxRetransmits !== null ? { maxRetransmits: options.maxRetransmits } : {}),
              ...(options.maxPacketLifeTime !== null ? { maxPacketLifeTime: options.maxPacketLifeTime } : {}),
            },
            label: request.name,
            appData: { sessionId: session.id, name: request.name },
          });
        } catch (error) {
          reservation.close();
          throw error;
        }
        const published: PublishedDataChannel = {
          appId: session.ownership.appId,
          owner: session.ownership.owner,
          sessionId: session.id,
          name: request.name,
          kind: 'data',
          status: sctpStatus(session),
          tags,
          simulcastRids: [],
          publishedAt: new Date(),
          muted: false,
          dataChannel: options,
          dataProducer,
          router: session.router,
          streamId,
        };
        const channel: SessionDataChannel = { id: streamId, location: 'LOCAL', source: published, dataProducer, reservation };
        added.push(channel);
        results.push({ id: streamId, sessionId: session.id, name: request.name, options, error: null });
      }
    } catch (error) {
      for (const channel of added) this.closeLocal(channel, false);
      throw error;
    }
    for (const channel of added) {
      session.dataChannels.push(channel);
      this.registry.publish(channel.source as PublishedDataChannel, session.claimName(channel.source.name));
    }
    if (added.length > 0) session.log.info({ dataChannels: added.map((c) => c.source.name) }, 'data channels published');
    return { session, dataChannels: results };
  }

  async subscribe(session: Session, requests: RemoteDataChannelRequest[]): Promise<DataChannelsOutcome> {
    checkRemoteDataChannels(requests);
    this.requireDataSection(session);
    checkDataChannelRoom(session.dataChannels.length, requests.length, this.parts.maxPerSession);
    await this.reserveBootstrapStreams(session);
    const results: DataChannelResult[] = [];
    const added: SessionDataChannel[] = [];
    /** The result of each added channel, in case its source goes away before the call ends. */
    const resultOf = new Map<SessionDataChannel, DataChannelResult>();
    try {
      for (const request of requests) {
        const subscribed = [...session.dataChannels, ...added].find(
          (c) => c.location === 'REMOTE' && c.source.sessionId === request.sessionId && c.source.name === request.name,
        );
        if (subscribed) {
          results.push(refused(request.sessionId, request.name, { code: ErrorCode.BAD_REQUEST, message: `this session already subscribes to ${request.name} (data channel id ${subscribed.id})` }));
          continue;
        }
        const found = await this.findSource(session, request);
        if ('refusal' in found) {
          results.push(refused(request.sessionId, request.name, found.refusal));
          continue;
        }
        // Through the channel's relay on this router: a move of its session then changes the relay's feed, not this consumer.
        const relay = await this.relays.acquire(session.router, request.sessionId, request.name, found.producerId);
        let consumer: types.DataConsumer;
        try {
          consumer = await session.transport.consumeData({ dataProducerId: relay.producer.id, ...sctpDelivery(found.view.dataChannel), appData: { sessionId: session.id } });
        } catch (error) {
          this.relays.release(relay);
          throw error;
        }
        consumer.observer.once('close', () => this.relays.release(relay));
        const id = consumer.sctpStreamParameters?.streamId;
        if (id === undefined) {
          consumer.close();
          throw new Error('a data consumer got no SCTP stream id');
        }
        const channel: SessionDataChannel = { id, location: 'REMOTE', source: found.view, consumer };
        added.push(channel);
        const result: DataChannelResult = { id, sessionId: request.sessionId, name: request.name, options: found.view.dataChannel ?? null, error: null };
        resultOf.set(channel, result);
        results.push(result);
      }
    } catch (error) {
      for (const channel of added) channel.consumer?.close();
      throw error;
    }
    for (const channel of added) {
      if (channel.consumer?.closed) {
        // Its source went away while this call was still subscribing to others.
        Object.assign(resultOf.get(channel)!, { id: null, options: null, error: { code: ErrorCode.TRACK_NOT_FOUND, message: trackNotFound(channel.source.sessionId, channel.source.name).message } });
        continue;
      }
      session.dataChannels.push(channel);
      // The source went away (unpublished, its session or node gone): mediasoup closed the consumer and reset the stream.
      channel.consumer?.observer.once('close', () => this.ended(session, channel));
      channel.consumer?.once('sctpsendbufferfull', () => this.overflowed(session, channel));
    }
    return { session, dataChannels: results };
  }

  /** Closes data channels by id: a published one is unpublished (its subscribers' channels end), a subscription stops. */
  async close(session: Session, ids: number[]): Promise<DataChannelsOutcome> {
    if (ids.length === 0) throw badRequest('closeDataChannels needs at least one id');
    const results: DataChannelResult[] = [];
    for (const id of ids) {
      const channel = session.dataChannels.find((c) => c.id === id);
      if (!channel) {
        results.push({ id, sessionId: session.id, name: null, options: null, error: { code: ErrorCode.TRACK_NOT_FOUND, message: `session ${session.id} has no data channel with id ${id}` } });
        continue;
      }
      session.dataChannels = session.dataChannels.filter((c) => c !== channel);
      if (channel.location === 'LOCAL') this.closeLocal(channel, true);
      else {
        channel.closing = true;
        channel.consumer?.close();
      }
      results.push({ id, sessionId: channel.source.sessionId, name: channel.source.name, options: channel.source.dataChannel ?? null, error: null });
    }
    return { session, dataChannels: results };
  }

  /** The session closed: its published channels are unpublished (mediasoup closed its producers and consumers with the transport). */
  forget(session: Session): void {
    for (const channel of session.dataChannels) {
      if (channel.location === 'LOCAL') this.closeLocal(channel, true);
    }
    session.dataChannels = [];
  }

  /** The session moves (SessionEnding.release): its published channels leave the registry without UNPUBLISHED. Returns them. */
  release(session: Session): PublishedDataChannel[] {
    const released: PublishedDataChannel[] = [];
    for (const channel of session.dataChannels) {
      if (channel.location !== 'LOCAL') continue;
      const published = channel.source as PublishedDataChannel;
      if (this.registry.withdraw(published)) released.push(published);
    }
    return released;
  }

  /** Closes what `release` withdrew, once its subscribers wait for it to move. */
  closeReleased(session: Session): void {
    for (const channel of session.dataChannels) if (channel.location === 'LOCAL') this.closeLocal(channel, false);
    session.dataChannels = [];
  }

  /** Status of a session's data channel as the session sees it. */
  status(session: Session, channel: SessionDataChannel): TrackStatus {
    if (session.transport.sctpState !== 'connected') return 'WAITING';
    return channel.source.status;
  }

  // ---------------------------------------------------------------------------

  private requireDataSection(session: Session): void {
    const ready = session.transceivers.some((t) => t.section.kind === 'application' && !t.section.rejected && !t.pending && !t.addedByPendingOffer);
    if (!ready) {
      throw badRequest(
        'this session has no data m-section yet: data channels ride on the session\'s SCTP association, so create one channel before the first offer (pc.createDataChannel) or apply and answer the SFU\'s first offer, which carries one',
      );
    }
  }

  /** The channel a request names, if the caller may subscribe to it: on this node (piped to the session's router) or, in a cluster, on another. */
  private async findSource(session: Session, request: RemoteDataChannelRequest): Promise<{ view: PulledSource; producerId: string } | { refusal: TrackRefusal }> {
    const local = this.registry.get(request.sessionId, request.name);
    if (local) {
      const refusal = request.allow?.(local);
      if (refusal) return { refusal };
      const producerId = await this.parts.pipes.dataAvailableOn(local.dataProducer, local.router, session.router);
      return { view: local, producerId };
    }
    const media = this.parts.media.get(request.sessionId, request.name);
    if (media) {
      const refusal = request.allow?.(media);
      return { refusal: refusal ?? notDataChannel(request.name) };
    }
    const missing = trackNotFound(request.sessionId, request.name);
    if (!this.parts.remote) return { refusal: { code: missing.code, message: missing.message } };
    try {
      const remote = await this.parts.remote.findData(request.sessionId, request.name, session.router, (view) => request.allow?.(view) ?? (view.kind === 'data' ? null : notDataChannel(request.name)));
      if (!remote) return { refusal: { code: missing.code, message: missing.message } };
      if ('code' in remote) return { refusal: remote };
      return { view: remote.view, producerId: remote.dataProducer.id };
    } catch (error) {
      if (!(error instanceof SwitchyardError)) throw error;
      return { refusal: { code: error.code, message: error.message } };
    }
  }

  private ended(session: Session, channel: SessionDataChannel): void {
    // The subscriber's own transport closing (its session ends) closes its consumers first: that is no ending to report.
    if (session.closed || session.transport.closed || channel.closing) return;
    session.dataChannels = session.dataChannels.filter((c) => c !== channel);
    this.parts.sessionEvents.publish({
      type: 'DATA_CHANNEL_ENDED',
      session,
      mid: null,
      dataChannelId: channel.id,
      dataChannelEndReason: channel.overflowed ? 'OVERFLOW' : 'SOURCE_ENDED',
      at: new Date(),
    });
  }

  /**
   * mediasoup dropped a message for this subscriber: its SCTP send buffer
   * was full (a subscriber that cannot keep up). A partially reliable
   * channel may lose messages. A reliable one must not have a silent gap, so
   * it ends here: the subscriber got every message up to the gap, sees the
   * channel close with DATA_CHANNEL_ENDED (reason OVERFLOW), and may
   * subscribe again and resynchronise. The publisher is never held back for
   * its slowest subscriber.
   */
  private overflowed(session: Session, channel: SessionDataChannel): void {
    const options = channel.source.dataChannel;
    const reliable = !options || (options.maxRetransmits === null && options.maxPacketLifeTime === null);
    session.log.warn(
      { dataChannel: channel.source.name, source: channel.source.sessionId, id: channel.id, reliable },
      reliable
        ? 'a subscriber could not keep up with a reliable data channel (its SCTP send buffer was full): its subscription is closed rather than left with a gap'
        : 'a subscriber cannot keep up with a partially reliable data channel: messages are dropped while its SCTP send buffer is full',
    );
    if (!reliable) return;
    channel.overflowed = true;
    channel.consumer?.close();
  }

  private closeLocal(channel: SessionDataChannel, unpublish: boolean): void {
    // Closing both directions' ends resets the stream both ways: the client's channel closes.
    channel.dataProducer?.close();
    channel.reservation?.close();
    if (unpublish) this.registry.unpublish(channel.source as PublishedDataChannel);
  }

  private async reserveBootstrapStreams(session: Session): Promise<void> {
    if (session.bootstrapStreams) return;
    const held: types.DataConsumer[] = [];
    for (let i = 0; i < 2; i += 1) held.push(await this.parts.streamIds.reserve(session.router, session.transport));
    session.bootstrapStreams = held;
  }

  /** Published channels are ACTIVE while the publisher's SCTP association is up. */
  private watchSctp(session: Session): void {
    if (this.watched.has(session)) return;
    this.watched.add(session);
    session.transport.on('sctpstatechange', () => {
      const status = sctpStatus(session);
      for (const channel of session.dataChannels) {
        if (channel.location === 'LOCAL') this.registry.setStatus(channel.source as PublishedDataChannel, status);
      }
    });
  }
}

function sctpStatus(session: Session): TrackStatus {
  const state = session.transport.sctpState;
  if (state === 'connected') return 'ACTIVE';
  return state === 'failed' || state === 'closed' ? 'INACTIVE' : 'WAITING';
}

function refused(sessionId: string, name: string, refusal: TrackRefusal): DataChannelResult {
  return { id: null, sessionId, name, options: null, error: { code: refusal.code, message: refusal.message } };
}

function notDataChannel(name: string): TrackRefusal {
  return { code: ErrorCode.BAD_REQUEST, message: `${name} is a media track, not a data channel: pull it with pullTracks` };
}
