import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { gqlOk } from '../helpers/graphql.js';
import { fakeCamera, fakeMicrophone, waitFor, watchVideo } from '../helpers/media.js';
import { TestPeer } from '../helpers/peer.js';
import { startTestServer } from '../helpers/server.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const PULL = `mutation($input: PullTracksInput!) { pullTracks(input: $input) { requiresImmediateRenegotiation sessionDescription { type sdp } tracks { mid trackName error { code } } } }`;

let server: Switchyard;
const stops: (() => void)[] = [];

beforeAll(async () => {
  server = await startTestServer({ WORKERS: '2' });
});

afterAll(async () => {
  for (const stop of stops.reverse()) stop();
  await server?.stop();
});

async function peer(): Promise<TestPeer> {
  const p = new TestPeer(server.url);
  stops.push(() => p.stop());
  await p.createSession();
  return p;
}

function camera(width = 160, height = 120) {
  const cam = fakeCamera(width, height);
  stops.push(cam.stop);
  return cam;
}

async function framesOf(p: TestPeer, mid: string, atLeast = 10) {
  await waitFor(`track on mid ${mid}`, () => p.received.has(mid));
  const video = watchVideo(p.received.get(mid)!);
  stops.push(video.stop);
  await waitFor(`frames on mid ${mid}`, () => video.stats.frames >= atLeast, 15_000);
  return video;
}

describe('pushTracks with autoDiscover', () => {
  it('publishes every new sending transceiver under the name it reports', async () => {
    const publisher = await peer();
    const cam = camera();
    const mic = fakeMicrophone();
    stops.push(mic.stop);
    publisher.pc.addTransceiver(cam.track, { direction: 'sendonly' });
    publisher.pc.addTransceiver(mic.track, { direction: 'sendonly' });
    await publisher.pc.setLocalDescription(await publisher.pc.createOffer());
    const data = await gqlOk(
      server.url,
      'mutation($input: PushTracksInput!) { pushTracks(input: $input) { sessionDescription { sdp } tracks { mid trackName error { code } } } }',
      { input: { sessionId: publisher.sessionId, sessionDescription: { type: 'OFFER', sdp: publisher.pc.localDescription!.sdp }, autoDiscover: true } },
    );
    await publisher.pc.setRemoteDescription({ type: 'answer', sdp: data.pushTracks.sessionDescription.sdp });
    const results = data.pushTracks.tracks as { mid: string; trackName: string; error: null }[];
    // mid 0 is the session's data channel.
    expect(results.map((r) => r.mid)).toEqual(['1', '2']);
    expect(results.map((r) => r.trackName)).toEqual([cam.track.id, mic.track.id]);

    const subscriber = await peer();
    const [pulled] = await subscriber.pull([{ sessionId: publisher.sessionId, trackName: results[0]!.trackName }]);
    await framesOf(subscriber, pulled!.mid!);
  });
});

describe('renegotiate with a client offer', () => {
  it('answers transceivers the client added on its own and keeps media flowing', async () => {
    const publisher = await peer();
    const cam = camera();
    await publisher.push([{ track: cam.track, name: 'camera' }]);
    const subscriber = await peer();
    const [pulled] = await subscriber.pull([{ sessionId: publisher.sessionId, trackName: 'camera' }]);
    const video = await framesOf(subscriber, pulled!.mid!);

    subscriber.pc.addTransceiver('audio', { direction: 'recvonly' });
    await subscriber.pc.setLocalDescription(await subscriber.pc.createOffer());
    const data = await gqlOk(
      server.url,
      'mutation($input: RenegotiateInput!) { renegotiate(input: $input) { sessionDescription { type sdp } } }',
      { input: { sessionId: subscriber.sessionId, sessionDescription: { type: 'OFFER', sdp: subscriber.pc.localDescription!.sdp } } },
    );
    expect(data.renegotiate.sessionDescription.type).toBe('ANSWER');
    await subscriber.pc.setRemoteDescription({ type: 'answer', sdp: data.renegotiate.sessionDescription.sdp });
    expect(subscriber.pc.getTransceivers().at(-1)!.currentDirection).toBe('inactive');
    const before = video.stats.frames;
    await waitFor('frames after renegotiation', () => video.stats.frames > before + 10, 10_000);
  });
});

describe('closeTracks with force', () => {
  it('stops the media at once without renegotiation; the next client offer is answered inactive', async () => {
    const publisher = await peer();
    const cam = camera();
    await publisher.push([{ track: cam.track, name: 'camera' }]);
    const subscriber = await peer();
    const [pulled] = await subscriber.pull([{ sessionId: publisher.sessionId, trackName: 'camera' }]);
    const video = await framesOf(subscriber, pulled!.mid!);

    const data = await gqlOk(
      server.url,
      'mutation($input: CloseTracksInput!) { closeTracks(input: $input) { sessionDescription { sdp } requiresImmediateRenegotiation tracks { mid error { code } } } }',
      { input: { sessionId: subscriber.sessionId, mids: [pulled!.mid], force: true } },
    );
    expect(data.closeTracks).toEqual({ sessionDescription: null, requiresImmediateRenegotiation: false, tracks: [{ mid: pulled!.mid, error: null }] });
    await sleep(300);
    const frozen = video.stats.frames;
    await sleep(1000);
    expect(video.stats.frames).toBe(frozen);

    await subscriber.pc.setLocalDescription(await subscriber.pc.createOffer());
    const answer = await gqlOk(
      server.url,
      'mutation($input: RenegotiateInput!) { renegotiate(input: $input) { sessionDescription { sdp } } }',
      { input: { sessionId: subscriber.sessionId, sessionDescription: { type: 'OFFER', sdp: subscriber.pc.localDescription!.sdp } } },
    );
    await subscriber.pc.setRemoteDescription({ type: 'answer', sdp: answer.renegotiate.sessionDescription.sdp });
    expect(subscriber.pc.getTransceivers()[0]!.currentDirection).toBe('inactive');
  });
});

describe('a long sequence on one PeerConnection', () => {
  it('push, pull, close, push again under the same name, pull again', async () => {
    const publisher = await peer();
    const subscriber = await peer();
    const first = camera(160, 120);
    const mic = fakeMicrophone();
    stops.push(mic.stop);
    // The microphone stays: libwebrtc refuses a max-bundle offer in which every m-section is stopped.
    await publisher.push([{ track: first.track, name: 'camera' }, { track: mic.track, name: 'mic' }]);
    const [pull1, pulledMic] = await subscriber.pull([
      { sessionId: publisher.sessionId, trackName: 'camera' },
      { sessionId: publisher.sessionId, trackName: 'mic' },
    ]);
    await framesOf(subscriber, pull1!.mid!);

    await publisher.close([publisher.midOf(first.track)]);
    await subscriber.close([pull1!.mid!]);

    const second = camera(320, 240);
    const [again] = await publisher.push([{ track: second.track, name: 'camera' }]);
    expect(again!.error).toBeNull();
    const [pull2] = await subscriber.pull([{ sessionId: publisher.sessionId, trackName: 'camera' }]);
    const video = await framesOf(subscriber, pull2!.mid!);
    expect([video.stats.width, video.stats.height]).toEqual([320, 240]);

    const state = await gqlOk(server.url, 'query($s: ID!) { session(id: $s) { tracks { mid location track { name } } } }', { s: subscriber.sessionId });
    expect(state.session.tracks).toEqual([
      { mid: pulledMic!.mid, location: 'REMOTE', track: { name: 'mic' } },
      { mid: pull2!.mid, location: 'REMOTE', track: { name: 'camera' } },
    ]);
  });
});

describe('concurrent mutations on one session', () => {
  it('run one at a time and end in one offer that carries every pulled track', async () => {
    const publishers = await Promise.all([peer(), peer(), peer()]);
    for (const p of publishers) await p.push([{ track: camera().track, name: 'camera' }]);
    const subscriber = await peer();
    const responses = await Promise.all(
      publishers.map((p) =>
        gqlOk(server.url, PULL, { input: { sessionId: subscriber.sessionId, tracks: [{ sessionId: p.sessionId, trackName: 'camera' }] } }),
      ),
    );
    const mids = responses.map((r) => r.pullTracks.tracks[0].mid as string);
    expect(new Set(mids).size).toBe(3);
    // Offers fold: the one with the most m-sections is the latest and supersedes the others.
    const latest = responses
      .map((r) => r.pullTracks.sessionDescription.sdp as string)
      .sort((a, b) => a.split('m=video').length - b.split('m=video').length)
      .at(-1)!;
    expect(latest.split('m=video').length - 1).toBe(3);
    await subscriber.applyOffer(latest);
    for (const mid of mids) await framesOf(subscriber, mid, 5);
  });
});
