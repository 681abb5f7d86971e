import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { errorCode, gql, gqlOk } from '../helpers/graphql.js';
import { fakeCamera, waitFor, watchVideo } from '../helpers/media.js';
import { SIMULCAST_LAYERS, TestPeer } from '../helpers/peer.js';
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

  it('gives each subscriber the layer it prefers, and switches when the preference changes', { timeout: 90_000 }, async () => {
    // libwebrtc sends three simulcast layers only from 960x540 up.
    const camera = fakeCamera(1280, 720, 15);
    stops.push(camera.stop);
    const publisher = new TestPeer(server.url);
    stops.push(() => publisher.stop());
    await publisher.createSession();
    const [pushed] = await publisher.push([{ track: camera.track, name: 'camera', sendEncodings: SIMULCAST_LAYERS }]);
    expect(pushed?.error).toBeNull();
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
    const [source] = server.sessions.tracks.list({ kind: 'video' });
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

describe('updateTracks to another source', () => {
  it('puts the new source on the same mid after one SFU offer', async () => {
    const server = await startTestServer({ WORKERS: '2' });
    const peers: TestPeer[] = [];
    const cams = [fakeCamera(160, 120), fakeCamera(320, 240)];
    try {
      const publishers = [new TestPeer(server.url), new TestPeer(server.url)];
      const subscriber = new TestPeer(server.url);
      peers.push(...publishers, subscriber);
      for (const [i, p] of publishers.entries()) {
        await p.createSession();
        await p.push([{ track: cams[i]!.track, name: 'camera' }]);
      }
      await subscriber.createSession();
      const [pulled] = await subscriber.pull([{ sessionId: publishers[0]!.sessionId, trackName: 'camera' }]);
      const mid = pulled!.mid!;
      await waitFor('the first source', () => subscriber.received.has(mid));
      const receiver = subscriber.pc.getTransceivers().find((t: RTCRtpTransceiver) => t.mid === mid)!.receiver;
      const video = watchVideo(receiver.track);
      try {
        await waitFor('160x120 from the first source', () => size(video) === '160x120', 15_000);
        const data = await gqlOk(server.url, UPDATE, {
          input: { sessionId: subscriber.sessionId, tracks: [{ mid, sessionId: publishers[1]!.sessionId, trackName: 'camera' }] },
        });
        expect(data.updateTracks.requiresImmediateRenegotiation).toBe(true);
        expect(data.updateTracks.tracks).toEqual([{ mid, error: null }]);
        await subscriber.applyOffer(data.updateTracks.sessionDescription.sdp);
        await waitFor('320x240 from the second source on the same mid', () => size(video) === '320x240', 15_000);
        const state = await gqlOk(server.url, 'query($s: ID!) { session(id: $s) { tracks { mid track { sessionId } } } }', { s: subscriber.sessionId });
        expect(state.session.tracks).toEqual([{ mid, track: { sessionId: publishers[1]!.sessionId } }]);
      } finally {
        video.stop();
      }
    } finally {
      for (const c of cams) c.stop();
      for (const p of peers) p.stop();
      await server.stop();
    }
  });
});

function size(v: { stats: { width: number; height: number } }) {
  return `${v.stats.width}x${v.stats.height}`;
}
