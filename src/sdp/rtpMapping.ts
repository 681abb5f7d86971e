import { isSameProfile } from 'h264-profile-level-id';
import type { types } from 'mediasoup';
import type { MediaKind, RemoteDescription, RemoteSection, RtcpFeedback, SdpCodec, SdpHeaderExtension } from './types.js';

const DEPENDENCY_DESCRIPTOR_URI = 'https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension';

/**
 * Header extensions the router knows but Switchyard keeps out of producers,
 * so no packet it forwards carries them:
 * - the dependency descriptor: with it negotiated, libwebrtc describes VP8
 *   with it, and the router's consumers then never see a key frame they can
 *   start from (browsers do not offer it by default either);
 * - abs-capture-time, playout-delay and mediasoup's packet id, which
 *   mediasoup 3.25+ forwards at router ids 9, 10 and 11: Chromium's
 *   receive-only offers (WHEP players) number the mid 9, and a packet with
 *   another extension at the mid's id is dropped by its receiver (see
 *   midExtensionClash). Sender Reports keep audio and video in sync without
 *   abs-capture-time.
 */
const UNFORWARDED_EXTENSIONS = new Set([
  DEPENDENCY_DESCRIPTOR_URI,
  'http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time',
  'http://www.webrtc.org/experiments/rtp-hdrext/playout-delay',
  'urn:mediasoup:params:rtp-hdrext:packet-id',
]);

/** Codecs that repair or pad other codecs: never a track's media codec. */
const AUXILIARY_CODECS = new Set(['rtx', 'red', 'ulpfec', 'flexfec-03', 'cn', 'telephone-event']);

const codecName = (mimeType: string) => mimeType.split('/')[1]?.toLowerCase() ?? '';

/** The rules mediasoup applies when it matches a producer's codec to its router's. */
export function codecMatches(codec: Pick<SdpCodec, 'mimeType' | 'clockRate' | 'channels' | 'parameters'>, cap: types.RtpCodecCapability): boolean {
  const mime = codec.mimeType.toLowerCase();
  if (mime !== cap.mimeType.toLowerCase() || codec.clockRate !== cap.clockRate) return false;
  if (mime.startsWith('audio/') && (codec.channels ?? 1) !== (cap.channels ?? 1)) return false;
  const a = codec.parameters;
  const b = cap.parameters ?? {};
  if (mime === 'video/h264') {
    if (Number(a['packetization-mode'] ?? 0) !== Number(b['packetization-mode'] ?? 0)) return false;
    if (!isSameProfile(a, b)) return false;
  }
  if (mime === 'video/vp9' && Number(a['profile-id'] ?? 0) !== Number(b['profile-id'] ?? 0)) return false;
  return true;
}

/** What a client's m-section produces, in mediasoup's terms, and what to answer for it. */
export interface ProducerMapping {
  kind: MediaKind;
  rtpParameters: types.RtpParameters;
  /** The codecs (media codec, then its RTX) the answer accepts, with the client's payload types. */
  codecs: SdpCodec[];
  headerExtensions: SdpHeaderExtension[];
  /** RIDs of the simulcast encodings, in the client's order; empty without simulcast. */
  rids: string[];
}

/**
 * Maps a sending m-section of a client's offer onto the router: picks the
 * client's most preferred codec the router supports (and its RTX), keeps the
 * header extensions and RTCP feedback both sides know, and lists the
 * encodings (RIDs for simulcast, else SSRCs, else the MID alone).
 * Returns undefined when no codec is shared.
 */
export function mapProducer(section: RemoteSection, router: types.RtpCapabilities): ProducerMapping | undefined {
  if (section.kind === 'application') return undefined;
  const kind = section.kind;
  let media: SdpCodec | undefined;
  let routerCodec: types.RtpCodecCapability | undefined;
  for (const codec of section.codecs) {
    if (AUXILIARY_CODECS.has(codecName(codec.mimeType))) continue;
    routerCodec = router.codecs?.find((cap) => cap.kind === kind && codecMatches(codec, cap));
    if (routerCodec) {
      media = codec;
      break;
    }
  }
  if (!media || !routerCodec) return undefined;

  const supportedFeedback = routerCodec.rtcpFeedback ?? [];
  const mediaCodec: SdpCodec = {
    ...media,
    rtcpFeedback: media.rtcpFeedback.filter((fb) =>
      supportedFeedback.some((s) => s.type === fb.type && (s.parameter ?? '') === fb.parameter),
    ),
  };
  const rtx = section.codecs.find(
    (c) => codecName(c.mimeType) === 'rtx' && Number(c.parameters.apt) === media.payloadType,
  );
  const codecs = rtx ? [mediaCodec, { ...rtx, rtcpFeedback: [] }] : [mediaCodec];

  const headerExtensions = section.headerExtensions.filter((ext) =>
    !UNFORWARDED_EXTENSIONS.has(ext.uri) &&
    router.headerExtensions?.some(
      (cap) => cap.kind === kind && cap.uri === ext.uri && (cap.direction === 'sendrecv' || cap.direction === 'recvonly'),
    ),
  );

  const rids = section.sendRids;
  let encodings: types.RtpEncodingParameters[];
  if (rids.length > 1) {
    // The SDP does not say how many temporal layers each encoding has. Without
    // a scalabilityMode mediasoup assumes one and forwards only temporal layer
    // 0 of each layer: a quarter of the frames of Chromium's VP8 simulcast
    // (L1T3). L1T3, as mediasoup-client declares, covers every browser's
    // simulcast (an encoding with fewer temporal layers loses nothing), and the
    // consumer then drops temporal layers only when bandwidth requires it.
    encodings = rids.map((rid) => ({ rid, scalabilityMode: SIMULCAST_SCALABILITY_MODE }));
  } else if (rids.length === 1) {
    encodings = rids.map((rid) => ({ rid }));
  } else if (section.streams.length > 0) {
    encodings = section.streams.map((stream) =>
      stream.rtxSsrc !== undefined && rtx ? { ssrc: stream.ssrc, rtx: { ssrc: stream.rtxSsrc } } : { ssrc: stream.ssrc },
    );
  } else {
    // No SSRC and no RID: mediasoup recognises the stream by its MID header extension.
    encodings = [{}];
  }

  const rtpParameters: types.RtpParameters = {
    mid: section.mid,
    codecs: codecs.map(toMediasoupCodec),
    headerExtensions: headerExtensions.map((ext) => ({ uri: ext.uri as types.RtpHeaderExtensionUri, id: ext.id })),
    encodings,
    rtcp: { cname: section.cname ?? section.msid?.streamId ?? `switchyard-${section.mid}`, reducedSize: true },
  };
  return { kind, rtpParameters, codecs, headerExtensions, rids };
}

/** What each simulcast encoding is declared as (one spatial, up to three temporal layers). */
export const SIMULCAST_SCALABILITY_MODE = 'L1T3';

function toMediasoupCodec(codec: SdpCodec): types.RtpCodecParameters {
  const out: types.RtpCodecParameters = {
    mimeType: codec.mimeType,
    payloadType: codec.payloadType,
    clockRate: codec.clockRate,
    parameters: codec.parameters,
    rtcpFeedback: codec.rtcpFeedback.map(toMediasoupFeedback),
  };
  if (codec.channels !== undefined) out.channels = codec.channels;
  return out;
}

const toMediasoupFeedback = (fb: RtcpFeedback): types.RtcpFeedback =>
  fb.parameter ? { type: fb.type, parameter: fb.parameter } : { type: fb.type };

/**
 * What the client can receive, read from its own SDP: every audio/video codec
 * and header extension it described, with its payload types and ids, so that
 * consumers speak the client's numbering. Returns undefined when the client
 * has described no media yet.
 */
export function clientCapabilities(description: RemoteDescription): types.RtpCapabilities | undefined {
  const codecs: types.RtpCodecCapability[] = [];
  const headerExtensions: types.RtpHeaderExtension[] = [];
  // Payload types are per m-section; the same number may mean different codecs in audio and video.
  const seenPayloadTypes = new Set<string>();
  const seenExtensions = new Set<string>();
  for (const section of description.sections) {
    if (section.rejected || section.kind === 'application') continue;
    const kind = section.kind;
    for (const codec of section.codecs) {
      const key = `${kind} ${codec.payloadType}`;
      if (seenPayloadTypes.has(key)) continue;
      seenPayloadTypes.add(key);
      const cap: types.RtpCodecCapability = {
        kind,
        mimeType: codec.mimeType,
        preferredPayloadType: codec.payloadType,
        clockRate: codec.clockRate,
        parameters: codec.parameters,
        rtcpFeedback: codec.rtcpFeedback.map(toMediasoupFeedback),
      };
      if (codec.channels !== undefined) cap.channels = codec.channels;
      codecs.push(cap);
    }
    for (const ext of section.headerExtensions) {
      const key = `${kind} ${ext.uri}`;
      if (seenExtensions.has(key)) continue;
      seenExtensions.add(key);
      headerExtensions.push({
        kind,
        uri: ext.uri as types.RtpHeaderExtensionUri,
        preferredId: ext.id,
        direction: 'sendrecv',
      });
    }
  }
  return codecs.length > 0 ? { codecs, headerExtensions } : undefined;
}

/** Converts mediasoup's codec parameters (of a consumer) back to the SDP model. */
export function fromMediasoupCodec(codec: types.RtpCodecParameters): SdpCodec {
  const out: SdpCodec = {
    payloadType: codec.payloadType,
    mimeType: codec.mimeType,
    clockRate: codec.clockRate,
    parameters: { ...(codec.parameters as Record<string, string | number>) },
    rtcpFeedback: (codec.rtcpFeedback ?? []).map((fb) => ({ type: fb.type, parameter: fb.parameter ?? '' })),
  };
  if (codec.channels !== undefined) out.channels = codec.channels;
  return out;
}

/**
 * The capabilities a consumer for this client is created with.
 *
 * mediasoup consumers send with the router's payload types and header
 * extension ids, whatever the client uses. Codecs: the router's, narrowed to
 * those the client described (all of them before it described any media).
 * Header extensions: only those whose router id cannot clash in the BUNDLE
 * with the client's own numbering: the client uses the same id for that URI,
 * or uses neither the URI nor the id. A clashing extension is left out rather
 * than making the client refuse the description.
 */
export function consumerCapabilities(router: types.RtpCapabilities, client: types.RtpCapabilities | undefined): types.RtpCapabilities {
  const routerCodecs = router.codecs ?? [];
  const codecs = client
    ? routerCodecs.filter(
        (cap) =>
          codecName(cap.mimeType) === 'rtx' ||
          (client.codecs ?? []).some(
            (offered) =>
              offered.kind === cap.kind &&
              codecMatches({ ...offered, parameters: (offered.parameters ?? {}) as Record<string, string | number> }, cap),
          ),
      )
    : routerCodecs;
  const idByUri = new Map<string, number>();
  const uriById = new Map<number, string>();
  for (const ext of client?.headerExtensions ?? []) {
    if (ext.preferredId === undefined) continue;
    idByUri.set(ext.uri, ext.preferredId);
    uriById.set(ext.preferredId, ext.uri);
  }
  const headerExtensions = (router.headerExtensions ?? []).filter((ext) => {
    if (UNFORWARDED_EXTENSIONS.has(ext.uri)) return false;
    const clientId = idByUri.get(ext.uri);
    if (clientId !== undefined) return clientId === ext.preferredId;
    return !uriById.has(ext.preferredId);
  });
  return { codecs, headerExtensions };
}

/**
 * What the client can receive after a new description: what it described
 * now, plus what it described before and left out this time (a description
 * whose video transceivers are all stopped does not mean it lost VP8).
 */
export function mergeCapabilities(
  previous: types.RtpCapabilities | undefined,
  next: types.RtpCapabilities | undefined,
): types.RtpCapabilities | undefined {
  if (!previous || !next) return next ?? previous;
  const codecKey = (c: types.RtpCodecCapability) => `${c.kind} ${c.preferredPayloadType}`;
  const extKey = (e: types.RtpHeaderExtension) => `${e.kind} ${e.uri}`;
  const codecs = new Map((previous.codecs ?? []).map((c) => [codecKey(c), c]));
  for (const c of next.codecs ?? []) codecs.set(codecKey(c), c);
  const headerExtensions = new Map((previous.headerExtensions ?? []).map((e) => [extKey(e), e]));
  for (const e of next.headerExtensions ?? []) headerExtensions.set(extKey(e), e);
  return { codecs: [...codecs.values()], headerExtensions: [...headerExtensions.values()] };
}

/**
 * The order codecs are offered in when the SFU asks a client to send: the
 * client sends the first one it supports. VP8 first (every browser encodes
 * it, in hardware or cheaply), then VP9 and H264; VP9 profile 2 (10-bit)
 * last, since an 8-bit camera cannot feed it.
 */
function offerRank(cap: types.RtpCodecCapability): number {
  const name = codecName(cap.mimeType);
  if (name === 'vp8') return 0;
  if (name === 'vp9') return Number(cap.parameters?.['profile-id'] ?? 0) === 2 ? 4 : 1;
  if (name === 'h264') return 2;
  return 3;
}

/**
 * What the SFU offers for an m-section on which it asks the client to send
 * (pushTracks without an offer): every router codec of that kind with RTX and
 * feedback, in the router's numbering, and the header extensions the router
 * receives, numbered as the client already numbers them where it does, so
 * that no id means two things in the BUNDLE.
 */
export function receiveOffer(
  kind: MediaKind,
  router: types.RtpCapabilities,
  client: types.RtpCapabilities | undefined,
): { codecs: SdpCodec[]; headerExtensions: SdpHeaderExtension[] } {
  const ofKind = (router.codecs ?? []).filter((cap) => cap.kind === kind);
  const media = ofKind.filter((cap) => codecName(cap.mimeType) !== 'rtx').sort((a, b) => offerRank(a) - offerRank(b));
  const ordered = media.flatMap((cap) => [
    cap,
    ...ofKind.filter((rtx) => codecName(rtx.mimeType) === 'rtx' && Number(rtx.parameters?.apt) === cap.preferredPayloadType),
  ]);
  const codecs = ordered.map((cap) => {
      const codec: SdpCodec = {
        payloadType: cap.preferredPayloadType,
        mimeType: cap.mimeType,
        clockRate: cap.clockRate,
        parameters: { ...((cap.parameters ?? {}) as Record<string, string | number>) },
        rtcpFeedback: (cap.rtcpFeedback ?? []).map((fb) => ({ type: fb.type, parameter: fb.parameter ?? '' })),
      };
      if (cap.channels !== undefined) codec.channels = cap.channels;
      return codec;
  });
  const clientIds = new Map<string, number>();
  const usedIds = new Set<number>();
  for (const ext of client?.headerExtensions ?? []) {
    if (ext.preferredId === undefined) continue;
    clientIds.set(ext.uri, ext.preferredId);
    usedIds.add(ext.preferredId);
  }
  const headerExtensions: SdpHeaderExtension[] = [];
  for (const ext of router.headerExtensions ?? []) {
    if (ext.kind !== kind || (ext.direction !== 'sendrecv' && ext.direction !== 'recvonly')) continue;
    if (UNFORWARDED_EXTENSIONS.has(ext.uri)) continue;
    const id = clientIds.get(ext.uri) ?? (usedIds.has(ext.preferredId) ? undefined : ext.preferredId);
    if (id === undefined || headerExtensions.some((e) => e.id === id)) continue;
    headerExtensions.push({ uri: ext.uri, id });
  }
  return { codecs, headerExtensions };
}

/**
 * The capabilities a consumer is created with when it answers the client's
 * own m-section (a pull with the client's offer, as WHEP players make):
 * the codecs that section offers, and only the header extensions it offers
 * with the router's id for them. An answer may not add extensions, and the
 * consumer writes the router's ids.
 */
export function offeredSectionCapabilities(section: RemoteSection, router: types.RtpCapabilities): types.RtpCapabilities {
  const offered = clientCapabilities({ type: 'offer', sections: [section] });
  const headerExtensions = (router.headerExtensions ?? []).filter(
    (ext) =>
      ext.kind === section.kind &&
      !UNFORWARDED_EXTENSIONS.has(ext.uri) &&
      section.headerExtensions.some((own) => own.uri === ext.uri && own.id === ext.preferredId),
  );
  return { codecs: offered?.codecs ?? [], headerExtensions };
}

/**
 * Whether a consumer's payload types can answer the client's m-section: a
 * consumer sends with the router's numbers, and the answerer must send with
 * the offerer's (RFC 3264 section 6.1). `rtx` says whether the RTX payload
 * type matches too (otherwise the consumer goes without RTX).
 */
export function answerablePayloadTypes(section: RemoteSection, codecs: readonly types.RtpCodecParameters[]): { media: boolean; rtx: boolean } {
  const [media, ...rest] = codecs;
  if (!media) return { media: false, rtx: false };
  const sameMedia = section.codecs.some((c) => c.payloadType === media.payloadType && c.mimeType.toLowerCase() === media.mimeType.toLowerCase());
  const rtx = rest.find((c) => codecName(c.mimeType) === 'rtx');
  const sameRtx =
    rtx !== undefined &&
    section.codecs.some((c) => c.payloadType === rtx.payloadType && codecName(c.mimeType) === 'rtx' && Number(c.parameters.apt) === media.payloadType);
  return { media: sameMedia, rtx: sameRtx };
}

const MID_URI = 'urn:ietf:params:rtp-hdrext:sdes:mid';

/**
 * The id a client's m-section gives the mid header extension when a packet
 * from the SFU could carry another extension there. mediasoup's consumers
 * send the extensions their producer's packets had, at the router's ids
 * (abs-send-time 4, transport-cc 5, video-orientation 8, …), whatever was
 * negotiated; libwebrtc demultiplexes a bundle by the mid at the id of its
 * own offer. libwebrtc in Node numbers the mid 4, reads abs-send-time as a
 * mid and drops the video (measured: 0 of 143 packets taken; all once the
 * offer had no mid extension). Chromium numbers it 9, where the router
 * (mediasoup 3.32) puts abs-capture-time, which producers here never carry
 * (UNFORWARDED_EXTENSIONS): it plays. Such an offer cannot be answered with media; the SFU
 * offers instead.
 */
export function midExtensionClash(section: RemoteSection, router: types.RtpCapabilities): number | undefined {
  const own = section.headerExtensions.find((ext) => ext.uri === MID_URI);
  if (!own) return undefined;
  const taken = (router.headerExtensions ?? []).some(
    (ext) => ext.kind === section.kind && ext.preferredId === own.id && ext.uri !== MID_URI && !UNFORWARDED_EXTENSIONS.has(ext.uri),
  );
  return taken ? own.id : undefined;
}
