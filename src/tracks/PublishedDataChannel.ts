import type { types } from 'mediasoup';
import type { DataChannelOptions, TrackStatus, TrackView } from './PublishedTrack.js';

/**
 * A data channel a session published: named (sessionId, name) like a track,
 * in the same directory and event log (kind 'data'), carried by a mediasoup
 * DataProducer on the publisher's SCTP association.
 */
export interface PublishedDataChannel extends TrackView {
  readonly kind: 'data';
  readonly dataChannel: DataChannelOptions;
  readonly dataProducer: types.DataProducer;
  /** The router the data producer lives on; subscribers on other routers pipe from it. */
  readonly router: types.Router;
  /** The SCTP stream id the publisher sends on (its negotiated channel's id). */
  readonly streamId: number;
  status: TrackStatus;
  muted: boolean;
}
