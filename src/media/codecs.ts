import type { types } from 'mediasoup';

/**
 * The codecs every router offers, numbered as libwebrtc (Chrome, Safari,
 * Edge, native SDKs) numbers them by default.
 *
 * A consumer sends with its router's payload types, and the client receives
 * them on the same BUNDLE as the tracks it sends with its own numbering.
 * libwebrtc refuses a BUNDLE in which one payload type names two codecs, so
 * the router's media payload types are libwebrtc's: opus 111, VP8 96, VP9 98
 * (profile 2: 100), H264 102/108/116. mediasoup gives each video codec an RTX
 * payload type from its own free list in this order; the order below makes
 * those 101, 103, 104, 105, 106, 107, none of which libwebrtc uses for a
 * media codec that Switchyard routes.
 */
export const ROUTER_MEDIA_CODECS: types.RouterRtpCodecCapability[] = [
  {
    kind: 'audio',
    mimeType: 'audio/opus',
    preferredPayloadType: 111,
    clockRate: 48000,
    channels: 2,
    parameters: { minptime: 10, useinbandfec: 1 },
  },
  {
    kind: 'video',
    mimeType: 'video/VP9',
    preferredPayloadType: 100,
    clockRate: 90000,
    parameters: { 'profile-id': 2 },
  },
  {
    kind: 'video',
    mimeType: 'video/H264',
    preferredPayloadType: 102,
    clockRate: 90000,
    parameters: { 'packetization-mode': 1, 'profile-level-id': '42001f', 'level-asymmetry-allowed': 1 },
  },
  {
    kind: 'video',
    mimeType: 'video/H264',
    preferredPayloadType: 108,
    clockRate: 90000,
    parameters: { 'packetization-mode': 1, 'profile-level-id': '42e01f', 'level-asymmetry-allowed': 1 },
  },
  {
    kind: 'video',
    mimeType: 'video/H264',
    preferredPayloadType: 116,
    clockRate: 90000,
    parameters: { 'packetization-mode': 1, 'profile-level-id': '4d001f', 'level-asymmetry-allowed': 1 },
  },
  {
    kind: 'video',
    mimeType: 'video/VP8',
    preferredPayloadType: 96,
    clockRate: 90000,
  },
  {
    kind: 'video',
    mimeType: 'video/VP9',
    preferredPayloadType: 98,
    clockRate: 90000,
    parameters: { 'profile-id': 0 },
  },
];
