import * as sdpTransform from 'sdp-transform';
import { ErrorCode, invalidSdp, SwitchyardError } from '../errors.js';
import type {
  CodecParameters,
  Direction,
  RemoteDescription,
  RemoteSection,
  RemoteTransport,
  RtcpFeedback,
  SdpCodec,
  SdpSsrcStream,
  SectionKind,
} from './types.js';

const FINGERPRINT_ALGORITHMS = new Set(['sha-1', 'sha-224', 'sha-256', 'sha-384', 'sha-512']);
const FINGERPRINT_VALUE = /^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){15,63}$/;
const SECTION_KINDS = new Set<string>(['audio', 'video', 'application']);
const DIRECTIONS = new Set<string>(['sendrecv', 'sendonly', 'recvonly', 'inactive']);
const TOKEN = /^[A-Za-z0-9_.~+/=:-]{1,64}$/;
const MAX_SECTIONS = 512;

type SdpMedia = sdpTransform.MediaDescription;

/**
 * Parses and validates a client's SDP (sdp-transform does the parsing).
 * Anything Switchyard cannot negotiate on one bundled PeerConnection is
 * rejected here with INVALID_SDP, before any state changes.
 */
export function parseDescription(type: 'offer' | 'answer', sdp: string, maxBytes: number): RemoteDescription {
  if (Buffer.byteLength(sdp, 'utf8') > maxBytes) {
    throw new SwitchyardError(ErrorCode.LIMIT_EXCEEDED, `SDP is larger than ${maxBytes} bytes (MAX_SDP_BYTES)`);
  }
  if (!/^v=0\r?\n/.test(sdp)) throw invalidSdp('SDP must start with v=0');
  let parsed: sdpTransform.SessionDescription;
  try {
    parsed = sdpTransform.parse(sdp);
  } catch (error) {
    throw invalidSdp(`SDP could not be parsed: ${(error as Error).message}`);
  }
  if (!parsed.origin || !Array.isArray(parsed.media)) throw invalidSdp('SDP lacks an o= line or m= sections');
  if (parsed.media.length > MAX_SECTIONS) throw invalidSdp(`SDP has more than ${MAX_SECTIONS} m-sections`);

  const sections = parsed.media.map((media, index) => parseSection(media, index));
  const live = sections.filter((s) => !s.rejected);

  const mids = new Set<string>();
  for (const section of sections) {
    if (mids.has(section.mid)) throw invalidSdp(`mid ${section.mid} appears twice`);
    mids.add(section.mid);
  }

  if (live.length > 0) {
    const bundle = parsed.groups?.find((g) => g.type === 'BUNDLE');
    const bundled = new Set(bundle ? String(bundle.mids).split(' ') : []);
    for (const section of live) {
      if (!bundled.has(section.mid)) {
        throw invalidSdp(`m-section ${section.mid} is not in the BUNDLE group; Switchyard needs max-bundle`);
      }
    }
  }

  const description: RemoteDescription = { type, sections };
  if (live.length > 0) description.transport = parseTransport(type, parsed);
  return description;
}

function parseTransport(type: 'offer' | 'answer', parsed: sdpTransform.SessionDescription): RemoteTransport {
  // With BUNDLE the first live m-section carries the transport's attributes.
  const first = parsed.media.find((m) => m.port !== 0 || m.bundleOnly === 'bundle-only');
  const fingerprint = first?.fingerprint ?? parsed.fingerprint;
  if (!fingerprint) throw invalidSdp('SDP has no a=fingerprint');
  const algorithm = String(fingerprint.type).toLowerCase();
  if (!FINGERPRINT_ALGORITHMS.has(algorithm) || !FINGERPRINT_VALUE.test(String(fingerprint.hash))) {
    throw invalidSdp('a=fingerprint is malformed');
  }

  const setup = first?.setup ?? parsed.setup ?? (type === 'offer' ? 'actpass' : undefined);
  if (setup !== 'actpass' && setup !== 'active' && setup !== 'passive') {
    throw invalidSdp('a=setup must be actpass, active or passive');
  }
  if (type === 'answer' && setup === 'actpass') throw invalidSdp('an answer cannot use a=setup:actpass');

  const iceUfrag = first?.iceUfrag ?? parsed.iceUfrag;
  const icePwd = first?.icePwd ?? parsed.icePwd;
  if (!iceUfrag || !icePwd) throw invalidSdp('SDP has no a=ice-ufrag / a=ice-pwd');

  return {
    fingerprint: { algorithm, value: String(fingerprint.hash).toUpperCase() },
    setup,
    iceUfrag: String(iceUfrag),
    icePwd: String(icePwd),
  };
}

function parseSection(media: SdpMedia, index: number): RemoteSection {
  const kind = String(media.type);
  if (!SECTION_KINDS.has(kind)) throw invalidSdp(`m-section ${index} has unsupported media type ${kind}`);
  // Port 0 rejects an m-section unless it is bundle-only (Firefox's max-bundle).
  const rejected = media.port === 0 && media.bundleOnly !== 'bundle-only';
  const mid = media.mid === undefined ? undefined : String(media.mid);
  if (mid === undefined || !TOKEN.test(mid)) {
    throw invalidSdp(`m-section ${index} has no valid a=mid`);
  }
  const direction = (media.direction ?? 'sendrecv') as Direction;
  if (!DIRECTIONS.has(direction)) throw invalidSdp(`m-section ${mid} has an invalid direction`);

  const section: RemoteSection = {
    mid,
    kind: kind as SectionKind,
    rejected,
    direction,
    codecs: [],
    headerExtensions: [],
    streams: [],
    sendRids: [],
  };
  if (rejected) return section;

  if (kind === 'application') {
    if (!/DTLS\/SCTP/.test(String(media.protocol))) throw invalidSdp(`m-section ${mid} is not a DTLS/SCTP data section`);
    const port = Number(media.sctpPort ?? media.sctpmap?.sctpmapNumber ?? 5000);
    const maxMessageSize = Number(media.maxMessageSize ?? 65536);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw invalidSdp(`m-section ${mid} has an invalid sctp-port`);
    if (!Number.isInteger(maxMessageSize) || maxMessageSize < 0) {
      throw invalidSdp(`m-section ${mid} has an invalid max-message-size`);
    }
    section.sctp = { port, maxMessageSize };
    return section;
  }

  if (!/RTP\/S?AVPF/.test(String(media.protocol))) {
    throw invalidSdp(`m-section ${mid} uses ${media.protocol}; WebRTC needs UDP/TLS/RTP/SAVPF`);
  }
  if (!media.rtcpMux) throw invalidSdp(`m-section ${mid} lacks a=rtcp-mux`);
  section.codecs = parseCodecs(media, kind, mid);
  section.headerExtensions = (media.ext ?? []).map((ext) => {
    const id = Number(ext.value);
    if (!Number.isInteger(id) || id < 1 || id > 255) throw invalidSdp(`m-section ${mid} has an invalid extmap id`);
    return { uri: String(ext.uri), id };
  });
  section.streams = parseStreams(media, mid);
  section.cname = media.ssrcs?.find((s) => s.attribute === 'cname')?.value;
  section.msid = parseMsid(media);
  section.sendRids = parseSendRids(media, mid);
  return section;
}

function parseCodecs(media: SdpMedia, kind: string, mid: string): SdpCodec[] {
  const payloads = String(media.payloads ?? '')
    .split(' ')
    .filter(Boolean)
    .map(Number);
  if (payloads.length === 0) throw invalidSdp(`m-section ${mid} lists no payload types`);
  const codecs: SdpCodec[] = [];
  for (const payloadType of payloads) {
    if (!Number.isInteger(payloadType) || payloadType < 0 || payloadType > 127) {
      throw invalidSdp(`m-section ${mid} has an invalid payload type`);
    }
    const rtpmap = media.rtp.find((r) => r.payload === payloadType);
    // Static payload types without rtpmap (e.g. PCMU) are not codecs Switchyard routes.
    if (!rtpmap) continue;
    const clockRate = Number(rtpmap.rate);
    if (!Number.isInteger(clockRate) || clockRate <= 0) throw invalidSdp(`payload type ${payloadType} has no clock rate`);
    const codec: SdpCodec = {
      payloadType,
      mimeType: `${kind}/${rtpmap.codec}`,
      clockRate,
      parameters: parseFmtp(media, payloadType),
      rtcpFeedback: parseFeedback(media, payloadType),
    };
    if (kind === 'audio') codec.channels = rtpmap.encoding ? Number(rtpmap.encoding) : 1;
    codecs.push(codec);
  }
  return codecs;
}

function parseFmtp(media: SdpMedia, payloadType: number): CodecParameters {
  const fmtp = media.fmtp.find((f) => f.payload === payloadType);
  if (!fmtp) return {};
  const params = sdpTransform.parseParams(String(fmtp.config)) as CodecParameters;
  // sdp-transform turns numeric-looking strings into numbers; H264's profile-level-id is hex text.
  if (params['profile-level-id'] !== undefined) params['profile-level-id'] = String(params['profile-level-id']);
  return params;
}

function parseFeedback(media: SdpMedia, payloadType: number): RtcpFeedback[] {
  return (media.rtcpFb ?? [])
    .filter((fb) => fb.payload === '*' || Number(fb.payload) === payloadType)
    .map((fb) => ({ type: String(fb.type), parameter: fb.subtype ? String(fb.subtype) : '' }));
}

function parseStreams(media: SdpMedia, mid: string): SdpSsrcStream[] {
  const ssrcs: number[] = [];
  for (const line of media.ssrcs ?? []) {
    const ssrc = Number(line.id);
    if (!Number.isInteger(ssrc) || ssrc <= 0 || ssrc > 0xffffffff) throw invalidSdp(`m-section ${mid} has an invalid ssrc`);
    if (!ssrcs.includes(ssrc)) ssrcs.push(ssrc);
  }
  const rtxOf = new Map<number, number>();
  for (const group of media.ssrcGroups ?? []) {
    if (group.semantics !== 'FID') continue;
    const [primary, rtx] = String(group.ssrcs).split(' ').map(Number);
    if (primary === undefined || rtx === undefined || !ssrcs.includes(primary) || !ssrcs.includes(rtx)) {
      throw invalidSdp(`m-section ${mid} has an a=ssrc-group:FID with unknown ssrcs`);
    }
    rtxOf.set(primary, rtx);
  }
  const repair = new Set(rtxOf.values());
  return ssrcs
    .filter((ssrc) => !repair.has(ssrc))
    .map((ssrc) => {
      const rtxSsrc = rtxOf.get(ssrc);
      return rtxSsrc === undefined ? { ssrc } : { ssrc, rtxSsrc };
    });
}

function parseMsid(media: SdpMedia): { streamId: string; trackId: string } | undefined {
  const raw = media.msid ?? media.ssrcs?.find((s) => s.attribute === 'msid')?.value;
  if (!raw) return undefined;
  const [streamId, trackId] = String(raw).trim().split(/\s+/);
  if (!streamId) return undefined;
  return { streamId, trackId: trackId ?? streamId };
}

function parseSendRids(media: SdpMedia, mid: string): string[] {
  if (!media.simulcast) return [];
  const { dir1, list1, dir2, list2 } = media.simulcast;
  const list = dir1 === 'send' ? list1 : dir2 === 'send' ? list2 : undefined;
  if (!list) return [];
  const declared = new Set((media.rids ?? []).filter((r) => r.direction === 'send').map((r) => String(r.id)));
  const rids: string[] = [];
  for (const alternatives of sdpTransform.parseSimulcastStreamList(String(list))) {
    const first = alternatives[0];
    if (!first) continue;
    const rid = String(first.scid);
    if (!declared.has(rid)) throw invalidSdp(`m-section ${mid} sends simulcast rid ${rid} without a=rid`);
    rids.push(rid);
  }
  return rids;
}
