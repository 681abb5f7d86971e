/**
 * Switchyard's browser SDK: one session (one RTCPeerConnection) per client,
 * push and pull by name, renegotiation handled inside.
 */
export { Switchyard } from './Switchyard.js';
export { DataChannels } from './DataChannels.js';
export { TrackWatch, type TrackChange, type TrackEventType, type TrackWatchListener } from './TrackWatch.js';
export { httpTransport, type HttpTransportOptions, type SubscriptionSink, type TokenSource, type Transport } from './transport.js';
export { OfferRefusedError, SwitchyardError, type ErrorCode } from './errors.js';
export { OperationQueue } from './OperationQueue.js';
export { SenderLayers } from './SenderLayers.js';
export type {
  ConnectionQuality,
  ConnectOptions,
  DataChannelDelivery,
  DataChannelEndReason,
  LocalTrack,
  MediaKind,
  PeerConnectionState,
  PublishDataOptions,
  PullOptions,
  PushOptions,
  SessionStats,
  SimulcastPreference,
  SwitchyardEvents,
  TrackFilter,
  TrackInfo,
  TrackLayers,
  TrackStatus,
  TransceiverStats,
} from './types.js';
