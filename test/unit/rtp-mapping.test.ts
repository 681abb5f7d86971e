import { readFileSync } from 'node:fs';
import * as mediasoup from 'mediasoup';
import type { types } from 'mediasoup';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTER_MEDIA_CODECS } from '../../src/media/codecs.js';
import { parseDescription } from '../../src/sdp/parse.js';
import { answerablePayloadTypes, clientCapabilities, consumerCapabilities, mapProducer, midExtensionClash, offeredSectionCapabilities } from '../../src/sdp/rtpMapping.js';

const fixture = (name: string) => parseDescription('offer', readFileSync(new URL(`../fixtures/sdp/${name}.sdp`, import.meta.url), 'utf8'), 65536);

// A real router: mapping is only right if mediasoup accepts what it produces.
let worker: types.Worker;
let router: types.Router;
let transport: types.WebRtcTransport;

beforeAll(async () => {
  worker = await mediasoup.createWorker({ logLevel: 'error' });
  router = await worker.createRouter({ mediaCodecs: ROUTER_MEDIA_CODECS });
  transport = await router.createWebRtcTransport({ listenInfos: [{ protocol: 'udp', ip: '127.0.0.1' }] });
});

afterAll(() => worker?.close());

describe.each([
  ['chrome', 'video/VP8'],
  ['firefox', 'video/VP8'],
  ['safari', 'video/H264'],
])('mapping a %s push offer onto the router', (browser, videoCodec) => {
  it(`picks the browser's first routable video codec (${videoCodec}) with its RTX and feedback`, async () => {
    const description = fixture(`${browser}-push`);
    const video = mapProducer(description.sections[0]!, router.rtpCapabilities)!;
    expect(video.kind).toBe('video');
    expect(video.codecs[0]!.mimeType.toLowerCase()).toBe(videoCodec.toLowerCase());
    expect(video.codecs[1]?.mimeType.toLowerCase()).toBe('video/rtx');
    expect(Number(video.codecs[1]!.parameters.apt)).toBe(video.codecs[0]!.payloadType);
    const feedback = video.codecs[0]!.rtcpFeedback.map((fb) => `${fb.type} ${fb.parameter}`.trim());
    expect(feedback).toEqual(expect.arrayContaining(['nack', 'nack pli', 'transport-cc']));
    expect(video.headerExtensions.map((e) => e.uri)).toContain('urn:ietf:params:rtp-hdrext:sdes:mid');
    expect(video.rtpParameters.encodings?.[0]?.ssrc).toBe(description.sections[0]!.streams[0]!.ssrc);

    const producer = await transport.produce({ kind: 'video', rtpParameters: video.rtpParameters });
    expect(producer.type).toBe('simple');
    producer.close();
  });

  it('maps the microphone to Opus and mediasoup accepts it', async () => {
    const audio = mapProducer(fixture(`${browser}-push`).sections[1]!, router.rtpCapabilities)!;
    expect(audio.codecs.map((c) => c.mimeType.toLowerCase())).toEqual(['audio/opus']);
    const producer = await transport.produce({ kind: 'audio', rtpParameters: audio.rtpParameters });
    producer.close();
  });

  it('reads what the client can receive, in its own payload types', () => {
    const description = fixture(`${browser}-push`);
    const caps = clientCapabilities(description)!;
    const opus = caps.codecs!.find((c) => c.mimeType.toLowerCase() === 'audio/opus')!;
    const offeredOpus = description.sections[1]!.codecs.find((c) => c.mimeType.toLowerCase() === 'audio/opus')!;
    expect(opus.preferredPayloadType).toBe(offeredOpus.payloadType);
  });
});

describe.each(['chrome', 'firefox'])('a %s simulcast offer', (browser) => {
  it('becomes a simulcast producer with one encoding per RID', async () => {
    const mapping = mapProducer(fixture(`${browser}-simulcast`).sections[0]!, router.rtpCapabilities)!;
    expect(mapping.rids).toEqual(['q', 'h', 'f']);
    expect(mapping.rtpParameters.encodings?.map((e) => e.rid)).toEqual(['q', 'h', 'f']);
    // Declared with three temporal layers: without it mediasoup forwards only a quarter of Chromium's frames.
    expect(mapping.rtpParameters.encodings?.map((e) => e.scalabilityMode)).toEqual(['L1T3', 'L1T3', 'L1T3']);
    const producer = await transport.produce({ kind: 'video', rtpParameters: mapping.rtpParameters });
    expect(producer.type).toBe('simulcast');
    expect(producer.consumableRtpParameters.encodings?.[0]?.scalabilityMode).toBe('L1T3');
    producer.close();
  });
});

it('finds no mapping when the client offers no codec the router routes', () => {
  const description = fixture('chrome-push');
  const audio = { ...description.sections[1]!, codecs: description.sections[1]!.codecs.filter((c) => !/opus/i.test(c.mimeType)) };
  expect(mapProducer(audio, router.rtpCapabilities)).toBeUndefined();
});

describe('answering a client\'s receiving m-section with a consumer', () => {
  const MID = 'urn:ietf:params:rtp-hdrext:sdes:mid';
  const receiving = (midId: number | null) => ({
    ...fixture('chrome-push').sections[0]!,
    direction: 'recvonly' as const,
    headerExtensions: midId === null ? [] : [{ uri: MID, id: midId }],
  });

  it('finds the mid where the router writes another extension (libwebrtc in Node: 4, abs-send-time), not where it does not (Chromium: 9)', () => {
    expect(midExtensionClash(receiving(4), router.rtpCapabilities)).toBe(4);
    expect(midExtensionClash(receiving(9), router.rtpCapabilities)).toBeUndefined();
    expect(midExtensionClash(receiving(1), router.rtpCapabilities)).toBeUndefined();
    expect(midExtensionClash(receiving(null), router.rtpCapabilities)).toBeUndefined();
  });

  it('keeps the extensions mediasoup forwards at Chromium\'s mid id (9: abs-capture-time) out of producers and consumers', async () => {
    const forwardedElsewhere = [
      'http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time',
      'http://www.webrtc.org/experiments/rtp-hdrext/playout-delay',
      'urn:mediasoup:params:rtp-hdrext:packet-id',
    ];
    // The router knows them (mediasoup 3.32 numbers them 9, 10, 11): the premise of this test.
    expect(router.rtpCapabilities.headerExtensions?.filter((e) => e.kind === 'video').map((e) => e.uri)).toEqual(expect.arrayContaining(forwardedElsewhere));
    const section = fixture('chrome-push').sections[0]!;
    const offering = { ...section, headerExtensions: [...section.headerExtensions, ...forwardedElsewhere.map((uri, i) => ({ uri, id: 20 + i }))] };
    const mapping = mapProducer(offering, router.rtpCapabilities)!;
    const producer = await transport.produce({ kind: 'video', rtpParameters: mapping.rtpParameters });
    for (const uri of forwardedElsewhere) {
      expect(producer.rtpParameters.headerExtensions?.some((e) => e.uri === uri)).toBe(false);
      expect(consumerCapabilities(router.rtpCapabilities, undefined).headerExtensions?.some((e) => e.uri === uri)).toBe(false);
    }
    producer.close();
  });

  it('says whether the consumer\'s payload types are the offer\'s, media and RTX apart', () => {
    const section = fixture('chrome-push').sections[0]!;
    const vp8 = section.codecs.find((c) => c.mimeType.toLowerCase() === 'video/vp8')!;
    const rtx = section.codecs.find((c) => c.mimeType.toLowerCase() === 'video/rtx' && Number(c.parameters.apt) === vp8.payloadType)!;
    const codec = (mimeType: string, payloadType: number, parameters = {}) => ({ mimeType, payloadType, clockRate: 90000, parameters, rtcpFeedback: [] });
    expect(answerablePayloadTypes(section, [codec('video/VP8', vp8.payloadType), codec('video/rtx', rtx.payloadType, { apt: vp8.payloadType })])).toEqual({ media: true, rtx: true });
    expect(answerablePayloadTypes(section, [codec('video/VP8', vp8.payloadType), codec('video/rtx', 125, { apt: vp8.payloadType })])).toEqual({ media: true, rtx: false });
    expect(answerablePayloadTypes(section, [codec('video/VP8', 120)]).media).toBe(false);
  });

  it('gives the consumer only the extensions the offer has at the router\'s ids', () => {
    const capabilities = offeredSectionCapabilities(receiving(1), router.rtpCapabilities);
    expect(capabilities.headerExtensions?.map((e) => [e.uri, e.preferredId])).toEqual([[MID, 1]]);
    expect(offeredSectionCapabilities(receiving(9), router.rtpCapabilities).headerExtensions).toEqual([]);
  });
});
