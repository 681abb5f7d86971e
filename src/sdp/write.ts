import * as sdpTransform from 'sdp-transform';
import type { types } from 'mediasoup';
import { fromMediasoupCodec } from './rtpMapping.js';
import type { Direction, DtlsSetup, MediaKind, SdpCodec, SdpHeaderExtension, SectionKind } from './types.js';

/** What the SFU sends on a section: the pulled track's RTP stream. */
export interface OutgoingStream {
  ssrc: number;
  rtxSsrc?: number;
  cname: string;
  /** a=msid: stream id and track id the client's ontrack sees. */
  streamId: string;
  trackId: string;
}

/** One m-section as the SFU describes it. */
export interface LocalSection {
  mid: string;
  kind: SectionKind;
  /** From the SFU's point of view: recvonly for a pushed track, sendonly for a pulled one. */
  direction: Direction;
  /** Port 0: stopped for good. */
  rejected: boolean;
  codecs: SdpCodec[];
  headerExtensions: SdpHeaderExtension[];
  outgoing?: OutgoingStream;
  /** RIDs the SFU receives from a simulcast publisher. */
  receiveRids?: string[];
  sctp?: { port: number; maxMessageSize: number };
}

/**
 * The sendonly section that carries a consumer's stream to the client: its
 * codecs, header extensions and SSRCs (RTX too) as mediasoup sends them.
 * Undefined when the consumer has no SSRC (mediasoup always gives one).
 */
export function sendingSection(
  rtpParameters: types.RtpParameters,
  section: { mid: string; kind: MediaKind; cname: string; streamId: string; trackId: string },
): LocalSection | undefined {
  const encoding = rtpParameters.encodings?.[0];
  if (!encoding?.ssrc) return undefined;
  return {
    mid: section.mid,
    kind: section.kind,
    direction: 'sendonly',
    rejected: false,
    codecs: rtpParameters.codecs.map(fromMediasoupCodec),
    headerExtensions: (rtpParameters.headerExtensions ?? []).map((ext) => ({ uri: ext.uri, id: ext.id })),
    outgoing: {
      ssrc: encoding.ssrc,
      ...(encoding.rtx?.ssrc ? { rtxSsrc: encoding.rtx.ssrc } : {}),
      cname: rtpParameters.rtcp?.cname ?? section.cname,
      streamId: section.streamId,
      trackId: section.trackId,
    },
  };
}

export interface LocalTransport {
  iceParameters: types.IceParameters;
  iceCandidates: types.IceCandidate[];
  fingerprints: types.DtlsFingerprint[];
  /** actpass in the SFU's offers; passive or active in its answers. */
  setup: DtlsSetup;
}

export interface DescriptionInput {
  /** Stable per session (o= line). */
  originId: string;
  /** Incremented for every description the SFU writes. */
  version: number;
  transport: LocalTransport;
  sections: LocalSection[];
}

const RTP_PROTOCOL = 'UDP/TLS/RTP/SAVPF';
const SCTP_PROTOCOL = 'UDP/DTLS/SCTP';

/** Writes the SFU's offer or answer (sdp-transform does the serialising). */
export function writeDescription(input: DescriptionInput): string {
  const { transport, sections } = input;
  const fingerprint = transport.fingerprints.find((f) => f.algorithm === 'sha-256') ?? transport.fingerprints[0];
  if (!fingerprint) throw new Error('transport has no DTLS fingerprint');
  const bundled = sections.filter((s) => !s.rejected).map((s) => s.mid);

  const description: sdpTransform.SessionDescription = {
    version: 0,
    origin: {
      username: 'switchyard',
      sessionId: input.originId,
      sessionVersion: input.version,
      netType: 'IN',
      ipVer: 4,
      address: '127.0.0.1',
    },
    name: '-',
    timing: { start: 0, stop: 0 },
    icelite: 'ice-lite',
    fingerprint: { type: fingerprint.algorithm, hash: fingerprint.value },
    msidSemantic: { semantic: 'WMS', token: '*' },
    media: sections.map((section) => writeSection(section, transport)),
  };
  if (bundled.length > 0) description.groups = [{ type: 'BUNDLE', mids: bundled.join(' ') }];
  return sdpTransform.write(description);
}

function writeSection(section: LocalSection, transport: LocalTransport): sdpTransform.MediaDescription {
  const isData = section.kind === 'application';
  const media: sdpTransform.MediaDescription = {
    type: section.kind,
    port: section.rejected ? 0 : 9,
    protocol: isData ? SCTP_PROTOCOL : RTP_PROTOCOL,
    payloads: isData ? 'webrtc-datachannel' : payloadList(section),
    connection: { version: 4, ip: '0.0.0.0' },
    mid: section.mid,
    rtp: [],
    fmtp: [],
  };
  if (!isData) {
    for (const codec of section.codecs) {
      const [, name] = codec.mimeType.split('/');
      const rtp: { payload: number; codec: string; rate: number; encoding?: number } = {
        payload: codec.payloadType,
        codec: name ?? codec.mimeType,
        rate: codec.clockRate,
      };
      if (codec.channels !== undefined && codec.channels > 1) rtp.encoding = codec.channels;
      media.rtp.push(rtp);
      const config = Object.entries(codec.parameters)
        .map(([key, value]) => `${key}=${value}`)
        .join(';');
      if (config) media.fmtp.push({ payload: codec.payloadType, config });
      for (const fb of codec.rtcpFeedback) {
        (media.rtcpFb ??= []).push(
          fb.parameter ? { payload: codec.payloadType, type: fb.type, subtype: fb.parameter } : { payload: codec.payloadType, type: fb.type },
        );
      }
    }
  }
  if (section.rejected) {
    media.direction = 'inactive';
    return media;
  }

  media.iceUfrag = transport.iceParameters.usernameFragment;
  media.icePwd = transport.iceParameters.password;
  media.setup = transport.setup;
  media.candidates = transport.iceCandidates.map((candidate) => {
    const line: NonNullable<sdpTransform.MediaDescription['candidates']>[number] = {
      foundation: candidate.foundation,
      component: 1,
      transport: candidate.protocol,
      priority: candidate.priority,
      ip: candidate.address,
      port: candidate.port,
      type: candidate.type,
    };
    if (candidate.tcpType) line.tcptype = candidate.tcpType;
    return line;
  });
  media.endOfCandidates = 'end-of-candidates';

  if (isData) {
    media.sctpPort = section.sctp?.port ?? 5000;
    media.maxMessageSize = section.sctp?.maxMessageSize ?? 262144;
    return media;
  }

  media.direction = section.direction;
  media.rtcpMux = 'rtcp-mux';
  media.rtcpRsize = 'rtcp-rsize';
  media.ext = section.headerExtensions.map((ext) => ({ value: ext.id, uri: ext.uri }));

  if (section.receiveRids && section.receiveRids.length > 0) {
    media.rids = section.receiveRids.map((rid) => ({ id: rid, direction: 'recv' }));
    media.simulcast = { dir1: 'recv', list1: section.receiveRids.join(';') };
  }

  const out = section.outgoing;
  if (out && (section.direction === 'sendonly' || section.direction === 'sendrecv')) {
    media.msid = `${out.streamId} ${out.trackId}`;
    media.ssrcs = [
      { id: out.ssrc, attribute: 'cname', value: out.cname },
      { id: out.ssrc, attribute: 'msid', value: `${out.streamId} ${out.trackId}` },
    ];
    if (out.rtxSsrc !== undefined) {
      media.ssrcs.push(
        { id: out.rtxSsrc, attribute: 'cname', value: out.cname },
        { id: out.rtxSsrc, attribute: 'msid', value: `${out.streamId} ${out.trackId}` },
      );
      media.ssrcGroups = [{ semantics: 'FID', ssrcs: `${out.ssrc} ${out.rtxSsrc}` }];
    }
  }
  return media;
}

function payloadList(section: LocalSection): string {
  // An m= line needs at least one format even when the section is rejected.
  if (section.codecs.length === 0) return section.kind === 'audio' ? '0' : '96';
  return section.codecs.map((c) => c.payloadType).join(' ');
}
