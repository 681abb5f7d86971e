import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { errorCode, gql, gqlOk } from '../helpers/graphql.js';
import { fakeCamera, waitFor, watchVideo } from '../helpers/media.js';
import { TestPeer } from '../helpers/peer.js';
import { startTestServer } from '../helpers/server.js';

const PULL = `mutation($input: PullTracksInput!) { pullTracks(input: $input) { requiresImmediateRenegotiation sessionDescription { sdp } tracks { mid error { code message } } } }`;
const UPDATE = `mutation($input: UpdateTracksInput!) { updateTracks(input: $input) { requiresImmediateRenegotiation sessionDescription { sdp } tracks { mid error { code message } } } }`;

describe('simulcast', () => {
  let server: Switchyard;
  const stops: (() => void)[] = [];

  beforeAll(async () => {
    server = await startTestServer({ WORKERS: '2' });
  });

  afterAll(async () => {
    for (const stop of stops.reverse()) stop();
    await server?.stop();
  });

  async function subscribe(publisherId: string, preferredRid: string) {
    const peer = new TestPeer(server.url);
    stops.push(() => peer.stop());
    await peer.createSession();
    const data = await gqlOk(server.url, PULL, {
      input: { sessionId: peer.sessionId, tracks: [{ sessionId: publisherId, trackName: 'camera', simulcast: { preferredRid } }] },
    });
    expect(data.pullTracks.tracks[0].error).toBeNull();
    await peer.applyOffer(data.pullTracks.sessionDescription.sdp);
    const mid = data.pullTracks.tracks[0].mid as string;
    await waitFor('the pulled track', () => peer.received.has(mid));
    const video = watchVideo(peer.received.get(mid)!);
    stops.push(video.stop);
    return { peer, mid, video };
  }

  const size = (v: { stats: { width: number; height: number } }) => `${v.stats.width}x${v.stats.height}`;

  it('gives each subscriber the layer it prefers, and switches when the preference changes', { timeout: 90_000 }, async () => {
    // libwebrtc sends three simulcast layers only from 960x540 up.
    const camera = fakeCamera(1280, 720, 15);
    stops.push(camera.stop);
    const publisher = new TestPeer(server.url);
    stops.push(() => publisher.stop());
    await publisher.createSession();
    const transceiver = publisher.pc.addTransceiver(camera.track, {
      direction: 'sendonly',
      sendEncodings: [
        { rid: 'q', scaleResolutionDownBy: 4 },
        { rid: 'h', scaleResolutionDownBy: 2 },
        { rid: 'f', scaleResolutionDownBy: 1 },
      ],
    });
    await publisher.pc.setLocalDescription(await publisher.pc.createOffer());
    const pushed = await gqlOk(
      server.url,
      'mutation($input: PushTracksInput!) { pushTracks(input: $input) { sessionDescription { sdp } tracks { error { code } } } }',
      { input: { sessionId: publisher.sessionId, sessionDescription: { type: 'OFFER', sdp: publisher.pc.localDescription!.sdp }, tracks: [{ mid: transceiver.mid, trackName: 'camera' }] } },
    );
    await publisher.pc.setRemoteDescription({ type: 'answer', sdp: pushed.pushTracks.sessionDescription.sdp });
    const track = await gqlOk(server.url, 'query($s: ID!) { track(sessionId: $s, name: "camera") { simulcastRids } }', { s: publisher.sessionId });
    expect(track.track.simulcastRids).toEqual(['q', 'h', 'f']);

    const low = await subscribe(publisher.sessionId, 'q');
    const high = await subscribe(publisher.sessionId, 'f');
    await waitFor('the low layer (320x180)', () => size(low.video) === '320x180' && low.video.stats.frames > 10, 20_000);
    // The top layer starts once the publisher's bandwidth estimate has grown.
    await waitFor('the full layer (1280x720)', () => size(high.video) === '1280x720', 60_000);
    expect(size(low.video)).toBe('320x180');

    const update = await gqlOk(server.url, UPDATE, {
      input: { sessionId: high.peer.sessionId, tracks: [{ mid: high.mid, sessionId: publisher.sessionId, trackName: 'camera', simulcast: { preferredRid: 'h' } }] },
    });
    expect(update.updateTracks).toMatchObject({ requiresImmediateRenegotiation: false, sessionDescription: null, tracks: [{ mid: high.mid, error: null }] });
    await waitFor('the half layer (640x360) after the switch', () => size(high.video) === '640x360', 20_000);
  });

  it('refuses a layer the publisher does not send', async () => {
    const [source] = server.sessions.listTracks({ kind: 'video' });
    const peer = new TestPeer(server.url);
    stops.push(() => peer.stop());
    await peer.createSession();
    const data = await gqlOk(server.url, PULL, {
      input: { sessionId: peer.sessionId, tracks: [{ sessionId: source!.sessionId, trackName: 'camera', simulcast: { preferredRid: 'x' } }] },
    });
    expect(data.pullTracks.tracks[0].error).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('q, h, f') });
    const bad = await gql(server.url, UPDATE, { input: { sessionId: peer.sessionId, tracks: [] } });
    expect(errorCode(bad)).toBe('BAD_REQUEST');
  });
});
