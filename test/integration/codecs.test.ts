import wrtc from '@roamhq/wrtc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { gqlOk } from '../helpers/graphql.js';
import { fakeCamera, waitFor, watchVideo } from '../helpers/media.js';
import { TestPeer } from '../helpers/peer.js';
import { startTestServer } from '../helpers/server.js';

// libwebrtc in Node encodes VP8 and VP9 (it has no H264 encoder; H264 is
// covered by the mapping tests on Chrome's and Safari's offers).
describe.each([
  ['video/VP8', undefined],
  ['video/VP9', 'profile-id=0'],
])('a camera sent as %s', (mimeType, fmtp) => {
  let server: Switchyard;
  const stops: (() => void)[] = [];

  beforeAll(async () => {
    server = await startTestServer({ WORKERS: '2' });
  });

  afterAll(async () => {
    for (const stop of stops) stop();
    await server?.stop();
  });

  it('is routed in that codec and decoded by the subscriber', async () => {
    const camera = fakeCamera(320, 180);
    const publisher = new TestPeer(server.url);
    const subscriber = new TestPeer(server.url);
    stops.push(camera.stop, () => publisher.stop(), () => subscriber.stop());
    await publisher.createSession();
    await subscriber.createSession();

    const transceiver = publisher.pc.addTransceiver(camera.track, { direction: 'sendonly' });
    const preferred = wrtc.RTCRtpSender.getCapabilities('video')!.codecs.filter(
      (c: RTCRtpCodec) => c.mimeType === mimeType && (fmtp === undefined || c.sdpFmtpLine === fmtp),
    );
    expect(preferred.length).toBeGreaterThan(0);
    transceiver.setCodecPreferences(preferred);
    await publisher.setLocal(await publisher.pc.createOffer());
    const data = await gqlOk(
      server.url,
      'mutation($input: PushTracksInput!) { pushTracks(input: $input) { sessionDescription { sdp } tracks { error { code } } } }',
      {
        input: {
          sessionId: publisher.sessionId,
          sessionDescription: { type: 'OFFER', sdp: publisher.localSdp },
          tracks: [{ mid: transceiver.mid, trackName: 'camera' }],
        },
      },
    );
    expect(data.pushTracks.tracks[0].error).toBeNull();
    await publisher.pc.setRemoteDescription({ type: 'answer', sdp: data.pushTracks.sessionDescription.sdp });

    const producer = server.sessions.tracks.get(publisher.sessionId, 'camera')!.producer;
    expect(producer.rtpParameters.codecs[0]!.mimeType).toBe(mimeType);

    const [pulled] = await subscriber.pull([{ sessionId: publisher.sessionId, trackName: 'camera' }]);
    await waitFor('the pulled track', () => subscriber.received.has(pulled!.mid!));
    const video = watchVideo(subscriber.received.get(pulled!.mid!)!);
    stops.push(video.stop);
    await waitFor(`decoded ${mimeType} frames`, () => video.stats.frames > 15, 15_000);
    expect([video.stats.width, video.stats.height]).toEqual([320, 180]);
    const consumer = server.sessions.get(subscriber.sessionId)!.transceivers.find((t) => t.pulled)!.pulled!.consumer;
    expect(consumer.rtpParameters.codecs[0]!.mimeType).toBe(mimeType);
  });
});
