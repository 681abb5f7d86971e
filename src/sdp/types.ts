/**
 * The SDP model the session engine works with: what Switchyard needs from a
 * client's description, already validated, independent of sdp-transform's
 * loose object shapes.
 */

export type MediaKind = 'audio' | 'video';
export type SectionKind = MediaKind | 'application';
export type Direction = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';
export type DtlsSetup = 'actpass' | 'active' | 'passive';
export type CodecParameters = Record<string, string | number>;

export interface RtcpFeedback {
  type: string;
  parameter: string;
}

export interface SdpCodec {
  payloadType: number;
  /** kind/name as mediasoup spells it, e.g. video/VP8. */
  mimeType: string;
  clockRate: number;
  channels?: number;
  parameters: CodecParameters;
  rtcpFeedback: RtcpFeedback[];
}

export interface SdpHeaderExtension {
  uri: string;
  id: number;
}

export interface SdpSsrcStream {
  ssrc: number;
  /** The RTX repair stream paired by a=ssrc-group:FID. */
  rtxSsrc?: number;
}

/** One m-section of a client's description. */
export interface RemoteSection {
  mid: string;
  kind: SectionKind;
  /** Port 0: the transceiver is stopped (or the m-section rejected). */
  rejected: boolean;
  /** From the client's point of view. */
  direction: Direction;
  codecs: SdpCodec[];
  headerExtensions: SdpHeaderExtension[];
  /** Streams announced with a=ssrc, in order (simulcast without RIDs lists several). */
  streams: SdpSsrcStream[];
  cname?: string;
  /** a=msid: the client's stream id and track id. */
  msid?: { streamId: string; trackId: string };
  /** RIDs this client sends (a=simulcast:send), in the order it lists them. */
  sendRids: string[];
  sctp?: { port: number; maxMessageSize: number };
}

export interface DtlsFingerprint {
  algorithm: string;
  value: string;
}

/** ICE and DTLS of the bundled transport. */
export interface RemoteTransport {
  fingerprint: DtlsFingerprint;
  setup: DtlsSetup;
  iceUfrag: string;
  icePwd: string;
}

export interface RemoteDescription {
  type: 'offer' | 'answer';
  /** Absent only when every m-section is rejected: then there is no transport to describe. */
  transport?: RemoteTransport;
  sections: RemoteSection[];
}
