import { CLOSE_DATA_CHANNELS, PUBLISH_DATA_CHANNELS, SUBSCRIBE_DATA_CHANNELS } from './documents.js';
import { SwitchyardError, type ErrorCode } from './errors.js';
import { asSwitchyardError } from './negotiation.js';
import type { Transport } from './transport.js';
import type { DataChannelEndReason, DataChannelResultData, PublishDataOptions } from './types.js';

type DataChannelsPayload = { dataChannels: DataChannelResultData[] };

/**
 * A session's data channels through Switchyard. The SFU assigns each
 * channel's SCTP stream id and the client opens it with
 * `{ negotiated: true, id }` on the session's existing SCTP association (the
 * bootstrap channel of `Switchyard.connect`), so no SDP round trip is needed
 * and nothing here waits for the negotiation queue: a chat message channel
 * opens while a pull renegotiates.
 *
 * Channels go one way. A published channel sends to every subscriber; a
 * subscribed one only receives (the SFU drops what a subscriber sends).
 */
export class DataChannels {
  /** Channels this SDK opened and Switchyard still holds, by SCTP stream id (unique per session in both directions). */
  private readonly open = new Map<number, RTCDataChannel>();
  /** Every channel this SDK opened, open or not: closeData accepts them after they ended. */
  private readonly ours = new WeakSet<RTCDataChannel>();
  /** Ids that ended before their subscribeData call had its answer (the event can overtake it). */
  private readonly endedEarly = new Set<number>();
  /** subscribeData calls waiting for their answer. */
  private subscribing = 0;

  constructor(
    private readonly session: {
      sessionId: string;
      transport: Transport;
      pc: RTCPeerConnection;
      isClosed(): boolean;
      /** A subscribed channel's source went away (DATA_CHANNEL_ENDED). */
      ended(event: { id: number; channel: RTCDataChannel | undefined; reason: DataChannelEndReason }): void;
    },
  ) {}

  /** Publishes a channel under a name; others subscribe to it as (sessionId, name). */
  async publish(name: string, options: PublishDataOptions = {}): Promise<RTCDataChannel> {
    this.requireSession();
    const { ordered, maxRetransmits, maxPacketLifeTime } = options;
    const request = {
      name,
      tags: options.tags ?? [],
      ...(ordered !== undefined ? { ordered } : {}),
      ...(maxRetransmits !== undefined ? { maxRetransmits } : {}),
      ...(maxPacketLifeTime !== undefined ? { maxPacketLifeTime } : {}),
    };
    const { publishDataChannels } = await this.session.transport.request<{ publishDataChannels: DataChannelsPayload }>(PUBLISH_DATA_CHANNELS, {
      input: { sessionId: this.session.sessionId, dataChannels: [request] },
    });
    const result = accepted(publishDataChannels.dataChannels[0], name);
    try {
      return this.openChannel(result);
    } catch (error) {
      // The browser would not open it: unpublish it, or the room would see a channel that never sends.
      await this.requestClose([result.id]).catch(() => undefined);
      throw asSwitchyardError(error);
    }
  }

  /** Subscribes to another session's channel; its messages from now on arrive on the returned channel. */
  async subscribe(sessionId: string, name: string): Promise<RTCDataChannel> {
    this.requireSession();
    this.subscribing += 1;
    try {
      const { subscribeDataChannels } = await this.session.transport.request<{ subscribeDataChannels: DataChannelsPayload }>(SUBSCRIBE_DATA_CHANNELS, {
        input: { sessionId: this.session.sessionId, dataChannels: [{ sessionId, name }] },
      });
      const result = accepted(subscribeDataChannels.dataChannels[0], `${sessionId}/${name}`);
      try {
        return this.openChannel(result);
      } catch (error) {
        await this.requestClose([result.id]).catch(() => undefined);
        throw asSwitchyardError(error);
      }
    } finally {
      this.subscribing -= 1;
      if (this.subscribing === 0) this.endedEarly.clear();
    }
  }

  /**
   * Unpublishes a published channel or ends a subscription, and closes the
   * channel here. A channel whose source already went away (or that the SFU
   * no longer holds: TRACK_NOT_FOUND) is only closed here: what the caller
   * asked for is already the case.
   */
  async close(channel: RTCDataChannel): Promise<void> {
    if (!this.ours.has(channel) || channel.id === null) {
      throw new SwitchyardError('BAD_REQUEST', `data channel ${channel.label} was not opened with publishData or subscribeData`);
    }
    const id = channel.id;
    try {
      if (this.open.get(id) !== channel || this.session.isClosed()) return;
      const { closeDataChannels } = await this.requestClose([id]);
      const error = closeDataChannels.dataChannels[0]?.error;
      if (error && error.code !== 'TRACK_NOT_FOUND') throw new SwitchyardError(error.code as ErrorCode, error.message);
    } finally {
      if (this.open.get(id) === channel) this.open.delete(id);
      channel.close();
    }
  }

  /** DATA_CHANNEL_ENDED: the SFU reset the stream (the channel closes by itself); closing it here too makes sure. */
  ended(id: number, reason: DataChannelEndReason): void {
    const channel = this.open.get(id);
    this.open.delete(id);
    if (channel) channel.close();
    else if (this.subscribing > 0) this.endedEarly.add(id);
    this.session.ended({ id, channel, reason });
  }

  // ---------------------------------------------------------------------------

  private requireSession(): void {
    if (this.session.isClosed()) throw new SwitchyardError('SESSION_NOT_FOUND', 'this session was closed');
  }

  private requestClose(ids: number[]): Promise<{ closeDataChannels: DataChannelsPayload }> {
    return this.session.transport.request(CLOSE_DATA_CHANNELS, { input: { sessionId: this.session.sessionId, ids } });
  }

  /** The client's end of a channel Switchyard assigned: negotiated, with its stream id and delivery options. */
  private openChannel(result: AcceptedChannel): RTCDataChannel {
    const { ordered, maxRetransmits, maxPacketLifeTime } = result.options;
    const channel = this.session.pc.createDataChannel(result.name, {
      negotiated: true,
      id: result.id,
      ordered,
      ...(maxRetransmits !== null ? { maxRetransmits } : {}),
      ...(maxPacketLifeTime !== null ? { maxPacketLifeTime } : {}),
    });
    // Binary messages as ArrayBuffers, which can be read at once (a Blob, the browsers' default, needs an await).
    channel.binaryType = 'arraybuffer';
    this.ours.add(channel);
    // Its source is gone already, and the SFU's stream reset came before this channel existed: it would never close.
    if (this.endedEarly.delete(result.id)) channel.close();
    else this.open.set(result.id, channel);
    return channel;
  }
}

type AcceptedChannel = { id: number; name: string; options: NonNullable<DataChannelResultData['options']> };

/** The channel of a one-channel result, or its error as a SwitchyardError. */
function accepted(result: DataChannelResultData | undefined, what: string): AcceptedChannel {
  if (!result) throw new SwitchyardError('INTERNAL', `Switchyard returned no result for data channel ${what}`);
  if (result.error) throw new SwitchyardError(result.error.code as ErrorCode, result.error.message);
  if (result.id === null || result.name === null || result.options === null) {
    throw new SwitchyardError('INTERNAL', `Switchyard accepted data channel ${what} without an id or options`);
  }
  return { id: result.id, name: result.name, options: result.options };
}
