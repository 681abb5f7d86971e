import type { SwitchyardError } from './errors.js';
import type { HttpTransportOptions, Transport } from './transport.js';

/** What a track carries; DATA is a published data channel (publishData), which is subscribed to, not pulled. */
export type MediaKind = 'AUDIO' | 'VIDEO' | 'DATA';
export type TrackStatus = 'ACTIVE' | 'INACTIVE' | 'WAITING';
export type PeerConnectionState = 'NEW' | 'CONNECTING' | 'CONNECTED' | 'DISCONNECTED' | 'FAILED' | 'CLOSED';

/** A track some session publishes, as Switchyard describes it. */
export interface TrackInfo {
  /** `<sessionId>:<name>`: the same on every node and in every event, so normalized caches key tracks by it. */
  id: string;
  sessionId: string;
  name: string;
  kind: MediaKind;
  status: TrackStatus;
  /** Its publisher muted it (setMuted): it stays published and sends nothing until unmuted. */
  muted: boolean;
  tags: string[];
  simulcastRids: string[];
  /** kind DATA: how the channel delivers messages; null for media tracks. */
  dataChannel?: DataChannelDelivery | null;
}

/** How a data channel delivers messages, as Switchyard assigned it (the options its RTCDataChannel is opened with). */
export interface DataChannelDelivery {
  ordered: boolean;
  maxRetransmits: number | null;
  maxPacketLifeTime: number | null;
}

/** One channel's outcome in publishDataChannels, subscribeDataChannels and closeDataChannels. */
export interface DataChannelResultData {
  /** The SCTP stream id: the negotiated RTCDataChannel's id. Null when it failed. */
  id: number | null;
  sessionId: string | null;
  name: string | null;
  options: DataChannelDelivery | null;
  error: { code: string; message: string } | null;
}

export interface SessionDescriptionData {
  type: 'OFFER' | 'ANSWER';
  sdp: string;
}

export interface TrackResultData {
  mid: string | null;
  sessionId: string | null;
  trackName: string | null;
  error: { code: string; message: string } | null;
}

export interface TracksPayload {
  requiresImmediateRenegotiation?: boolean;
  sessionDescription: SessionDescriptionData | null;
  tracks: TrackResultData[];
}

/** A sessionEvents message, as the SDK reads it. */
export interface SessionEventData {
  type:
    | 'CONNECTION_STATE_CHANGED'
    | 'TRACK_ENDED'
    | 'RENEGOTIATION_NEEDED'
    | 'LAYERS_IN_DEMAND'
    | 'DATA_CHANNEL_ENDED'
    | 'QUALITY_CHANGED'
    | 'DOMINANT_SPEAKER_CHANGED'
    | 'MOVE_REQUESTED'
    | 'MOVED'
    | 'CLOSED';
  mid: string | null;
  /** MOVE_REQUESTED: the node to resume on (null: any). */
  moveTo?: string | null;
  /** QUALITY_CHANGED: the session's connection quality now. */
  quality?: ConnectionQuality | null;
  layersInDemand?: string[] | null;
  /** DATA_CHANNEL_ENDED: the SCTP stream id of the subscribed channel that ended. */
  dataChannelId?: number | null;
  /** DATA_CHANNEL_ENDED: why. */
  dataChannelEndReason?: DataChannelEndReason | null;
  /** DOMINANT_SPEAKER_CHANGED: the pulled audio track now speaking (on `mid`). */
  speaker?: { sessionId: string; name: string } | null;
}

/**
 * Why a subscribed data channel ended: its source went away, or this
 * subscriber could not keep up with a reliable channel (messages may be
 * missing from there: subscribe again and resynchronise).
 */
export type DataChannelEndReason = 'SOURCE_ENDED' | 'OVERFLOW';

export interface TrackFilter {
  sessionIds?: string[];
  tags?: string[];
  kind?: MediaKind;
}

export interface SimulcastPreference {
  preferredRid?: string;
  fallback?: 'AUTO' | 'LEAST_BANDWIDTH' | 'NONE';
}

export interface ConnectOptions extends Partial<HttpTransportOptions> {
  /** Instead of url/token: any GraphQL client wrapped as a Transport. */
  transport?: Transport;
  rtcConfiguration?: RTCConfiguration;
  /**
   * Use the deployment's TURN relays (query iceServers): their credentials are
   * fetched at connect and again before each ICE restart, and added after
   * rtcConfiguration.iceServers. On by default; false uses only rtcConfiguration.
   * `{ ttlSeconds }` asks for credentials of that lifetime (longer than the call).
   */
  turn?: boolean | { ttlSeconds: number };
  /**
   * Where to resume the session when its node stops answering (a crash): the
   * URLs of other nodes, or of a load balancer in front of them, tried in
   * order. The SDK also moves by itself when a draining node asks it to
   * (MOVE_REQUESTED). Without them, a lost node ends the session.
   */
  fallbackUrls?: string[];
  /** Makes the PeerConnection (tests, or runtimes without a global RTCPeerConnection). */
  createPeerConnection?: (configuration: RTCConfiguration) => RTCPeerConnection;
  /** Stored on the session (for example the application's user id). */
  correlationId?: string;
  /**
   * Send only the simulcast layers someone watches: the SDK turns a pushed
   * track's unwatched encodings off and on as Switchyard reports demand
   * (LAYERS_IN_DEMAND). On by default; false keeps every encoding on.
   */
  adaptiveSimulcast?: boolean;
}

export interface PushOptions {
  /** The track's name within this session: others pull it as (sessionId, name). */
  name: string;
  /** Labels others filter on, for example `room:lobby`. */
  tags?: string[];
  /** Simulcast layers (RIDs and limits), as for RTCPeerConnection.addTransceiver. */
  sendEncodings?: RTCRtpEncodingParameters[];
}

export interface PublishDataOptions {
  /** Labels others filter on, for example `room:lobby`. */
  tags?: string[];
  /** Default true; must be false (the default then) with maxRetransmits or maxPacketLifeTime. */
  ordered?: boolean;
  /** Partial reliability: give a message up after this many retransmissions. */
  maxRetransmits?: number;
  /** Partial reliability: give a message up after this many milliseconds (not with maxRetransmits). */
  maxPacketLifeTime?: number;
}

export interface PullOptions {
  simulcast?: SimulcastPreference;
}

/** The simulcast layers of one of this session's transceivers (Switchyard's view; see `layers()`). */
export interface TrackLayers {
  mid: string;
  location: 'LOCAL' | 'REMOTE';
  /** LOCAL simulcast tracks: the RIDs someone watches. */
  layersInDemand: string[] | null;
  /** REMOTE simulcast tracks: the RID asked for. */
  preferredLayer: string | null;
  /** REMOTE simulcast tracks: what arrives now. */
  receivingLayers: { rid: string | null; spatialLayer: number; temporalLayer: number | null } | null;
}

/** A track this session publishes. */
export interface LocalTrack {
  readonly sessionId: string;
  readonly name: string;
  readonly mid: string;
  /** The track as pushed; it stays here while muted, when the sender carries none. */
  readonly track: MediaStreamTrack;
  readonly transceiver: RTCRtpTransceiver;
  /** Set with setMuted. */
  readonly muted: boolean;
}

/** How well the session's media gets through, as Switchyard judges it from its stream scores (docs/call-quality.md). */
export type ConnectionQuality = 'EXCELLENT' | 'GOOD' | 'POOR' | 'LOST' | 'UNKNOWN';

/** One direction of one m-section, measured by the SFU (TransceiverStats). */
export interface TransceiverStats {
  mid: string;
  /** LOCAL: what this client sends (a pushed track). REMOTE: what the SFU sends it (a pulled track). */
  location: 'LOCAL' | 'REMOTE';
  kind: 'audio' | 'video';
  trackSessionId: string;
  trackName: string;
  /** Bits per second. */
  bitrate: number;
  bytes: number;
  packets: number;
  packetsLost: number;
  /** 0 to 1, the latest receiver report. */
  fractionLost: number;
  /** Milliseconds; LOCAL only. */
  jitter: number | null;
  /** Milliseconds. */
  roundTripTime: number | null;
  nackCount: number;
  pliCount: number;
  firCount: number;
  /** mediasoup's score, 0 to 10. */
  score: number;
  /** REMOTE simulcast: the layer forwarded now. */
  layer: { rid: string | null; spatialLayer: number; temporalLayer: number | null } | null;
}

/** The session's call quality at one moment (Session.stats). */
export interface SessionStats {
  /** ISO 8601: when the SFU read it. */
  at: string;
  quality: ConnectionQuality;
  score: number | null;
  /** Bits per second from this client, and to it. */
  bitrateIn: number;
  bitrateOut: number;
  /** The SFU's bandwidth estimate towards this client, bits per second. */
  availableOutgoingBitrate: number | null;
  /** Milliseconds, the worst of its streams. */
  roundTripTime: number | null;
  tracks: TransceiverStats[];
}

export interface SwitchyardEvents extends Record<string, unknown> {
  /** Another of the audio tracks this session pulls is now the dominant speaker: highlight its tile (`mid` is its transceiver here). */
  dominantspeaker: { mid: string; sessionId: string; trackName: string; track: MediaStreamTrack | undefined };
  /** The session's connection quality dropped or recovered (QUALITY_CHANGED): show a "poor connection" hint. */
  qualitychange: { quality: ConnectionQuality };
  /** Which simulcast layers (RIDs) of a pushed track someone watches changed; with adaptiveSimulcast the others are off now. */
  layersindemand: { mid: string; rids: string[] };
  /** The PeerConnection's state (new, connecting, connected, disconnected, failed, closed). */
  connectionstatechange: RTCPeerConnectionState;
  /** A pulled track's source went away (its publisher closed it or left). */
  trackended: { mid: string; track: MediaStreamTrack | undefined };
  /** A subscribed data channel ended (its publisher closed it or left, or OVERFLOW: this client could not keep up); the SDK closed the channel. */
  datachannelended: { id: number; channel: RTCDataChannel | undefined; reason: DataChannelEndReason };
  /**
   * The session moved to a new PeerConnection (its node drained or died):
   * same session id, its tracks pushed and pulled again. Streams from
   * pullStream() play on by themselves; a track from pull() was replaced by
   * `moved` (old track -> new track).
   */
  moved: { url: string | null; reason: 'DRAINING' | 'NODE_LOST'; ms: number; moved: Map<MediaStreamTrack, MediaStreamTrack> };
  /** The session is over: leave() was called, or Switchyard closed it. */
  closed: { byServer: boolean };
  /** The SDK restarts ICE after the connection was lost (attempt 1, 2, …, until connected again): show "reconnecting". */
  icerestart: { attempt: number };
  /**
   * Something failed in the background: answering an offer the SFU made by
   * itself (an OfferRefusedError when the browser could not apply it), an ICE
   * restart attempt, a lost subscription.
   */
  error: SwitchyardError;
}
