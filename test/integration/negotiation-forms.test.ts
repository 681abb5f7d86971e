import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { errorCode, gql, gqlOk } from '../helpers/graphql.js';
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

// Each test's peers, media and sinks end with the test: libwebrtc in one
// process is steadier with a handful of PeerConnections than with dozens.
afterEach(() => {
  for (const stop of stops.reverse()) stop();
  stops.length = 0;
});

afterAll(async () => {
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
    await publisher.setLocal(await publisher.pc.createOffer());
    const data = await gqlOk(
      server.url,
      'mutation($input: PushTracksInput!) { pushTracks(input: $input) { sessionDescription { sdp } tracks { mid trackName error { code } } } }',
      { input: { sessionId: publisher.sessionId, sessionDescription: { type: 'OFFER', sdp: publisher.localSdp }, autoDiscover: true } },
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
    await subscriber.setLocal(await subscriber.pc.createOffer());
    const data = await gqlOk(
      server.url,
      'mutation($input: RenegotiateInput!) { renegotiate(input: $input) { sessionDescription { type sdp } } }',
      { input: { sessionId: subscriber.sessionId, sessionDescription: { type: 'OFFER', sdp: subscriber.localSdp } } },
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

    await subscriber.setLocal(await subscriber.pc.createOffer());
    const answer = await gqlOk(
      server.url,
      'mutation($input: RenegotiateInput!) { renegotiate(input: $input) { sessionDescription { sdp } } }',
      { input: { sessionId: subscriber.sessionId, sessionDescription: { type: 'OFFER', sdp: subscriber.localSdp } } },
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

describe('pushTracks without an offer', () => {
  it('offers m-sections to send on; the tracks are published from the client\'s answer', async () => {
    const publisher = await peer();
    const cam = camera(320, 240);
    const data = await gqlOk(
      server.url,
      'mutation($input: PushTracksInput!) { pushTracks(input: $input) { requiresImmediateRenegotiation sessionDescription { type sdp } tracks { mid trackName error { code } } } }',
      { input: { sessionId: publisher.sessionId, tracks: [{ trackName: 'camera', kind: 'VIDEO', tags: ['room:x'] }] } },
    );
    expect(data.pushTracks.requiresImmediateRenegotiation).toBe(true);
    expect(data.pushTracks.sessionDescription.type).toBe('OFFER');
    const mid = data.pushTracks.tracks[0].mid as string;
    expect(data.pushTracks.tracks[0].error).toBeNull();

    await publisher.pc.setRemoteDescription({ type: 'offer', sdp: data.pushTracks.sessionDescription.sdp });
    const transceiver = publisher.pc.getTransceivers().find((t: RTCRtpTransceiver) => t.mid === mid)!;
    transceiver.direction = 'sendonly';
    await transceiver.sender.replaceTrack(cam.track);
    await publisher.setLocal(await publisher.pc.createAnswer());
    // Not published before the answer arrives.
    expect((await gqlOk(server.url, 'query($s: ID!) { track(sessionId: $s, name: "camera") { name } }', { s: publisher.sessionId })).track).toBeNull();
    await gqlOk(server.url, 'mutation($input: RenegotiateInput!) { renegotiate(input: $input) { session { id } } }', {
      input: { sessionId: publisher.sessionId, sessionDescription: { type: 'ANSWER', sdp: publisher.localSdp } },
    });
    const track = await gqlOk(server.url, 'query($s: ID!) { track(sessionId: $s, name: "camera") { kind tags } }', { s: publisher.sessionId });
    expect(track.track).toEqual({ kind: 'VIDEO', tags: ['room:x'] });

    const subscriber = await peer();
    const [pulled] = await subscriber.pull([{ sessionId: publisher.sessionId, trackName: 'camera' }]);
    const video = await framesOf(subscriber, pulled!.mid!);
    expect([video.stats.width, video.stats.height]).toEqual([320, 240]);
  });

  it('needs a kind for each track', async () => {
    const publisher = await peer();
    const result = await gql(server.url, 'mutation($input: PushTracksInput!) { pushTracks(input: $input) { tracks { mid } } }', {
      input: { sessionId: publisher.sessionId, tracks: [{ trackName: 'camera' }] },
    });
    expect(errorCode(result)).toBe('BAD_REQUEST');
  });
});

describe('pulling', () => {
  it('the same source twice gives two transceivers that both play', async () => {
    const publisher = await peer();
    await publisher.push([{ track: camera().track, name: 'camera' }]);
    const subscriber = await peer();
    const results = await subscriber.pull([
      { sessionId: publisher.sessionId, trackName: 'camera' },
      { sessionId: publisher.sessionId, trackName: 'camera' },
    ]);
    expect(results[0]!.mid).not.toBe(results[1]!.mid);
    await framesOf(subscriber, results[0]!.mid!);
    await framesOf(subscriber, results[1]!.mid!);
  });

  it('a track of one\'s own session loops it back', async () => {
    const me = await peer();
    const cam = camera(160, 120);
    await me.push([{ track: cam.track, name: 'camera' }]);
    const [loop] = await me.pull([{ sessionId: me.sessionId, trackName: 'camera' }]);
    const video = await framesOf(me, loop!.mid!);
    expect(video.stats.width).toBe(160);
  });

  it('into an existing transceiver whose source went away, keeping its place', async () => {
    const first = await peer();
    await first.push([{ track: camera(160, 120).track, name: 'camera' }]);
    const second = await peer();
    await second.push([{ track: camera(320, 240).track, name: 'camera' }]);
    const subscriber = await peer();
    const [pulled] = await subscriber.pull([{ sessionId: first.sessionId, trackName: 'camera' }]);
    await framesOf(subscriber, pulled!.mid!);
    await gqlOk(server.url, 'mutation($id: ID!) { closeSession(input: { sessionId: $id }) { sessionId } }', { id: first.sessionId });
    // The source's end reaches the subscriber's consumer asynchronously (TRACK_ENDED).
    await waitFor('the pulled transceiver to end', () =>
      Boolean(server.sessions.get(subscriber.sessionId)!.transceivers.find((t) => t.section.mid === pulled!.mid)?.pulled?.ended),
    );
    const count = server.sessions.get(subscriber.sessionId)!.transceivers.length;

    const [reused] = await subscriber.pull([{ sessionId: second.sessionId, trackName: 'camera', mid: pulled!.mid! }]);
    expect(reused).toMatchObject({ mid: pulled!.mid, error: null });
    expect(server.sessions.get(subscriber.sessionId)!.transceivers.length).toBe(count);
    const receiver = subscriber.pc.getTransceivers().find((t: RTCRtpTransceiver) => t.mid === pulled!.mid)!.receiver;
    const video = watchVideo(receiver.track);
    stops.push(video.stop);
    await waitFor('frames of the new source on the old mid', () => video.stats.width === 320 && video.stats.frames > 5, 15_000);

    const busy = await subscriber.pull([{ sessionId: second.sessionId, trackName: 'camera', mid: pulled!.mid! }]);
    expect(busy[0]!.error).toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('a track that is not published leaves no transceiver behind', async () => {
    const subscriber = await peer();
    const before = server.sessions.get(subscriber.sessionId)!.transceivers.length;
    const data = await gqlOk(server.url, PULL, {
      input: { sessionId: subscriber.sessionId, tracks: [{ sessionId: subscriber.sessionId, trackName: 'nothing' }] },
    });
    expect(data.pullTracks).toMatchObject({ requiresImmediateRenegotiation: false, sessionDescription: null });
    expect(data.pullTracks.tracks[0].error.code).toBe('TRACK_NOT_FOUND');
    expect(server.sessions.get(subscriber.sessionId)!.transceivers.length).toBe(before);
  });
});

describe('pulling from a publisher that never connects', () => {
  it('waits, then fails that track with UNAVAILABLE and leaves no transceiver', async () => {
    const waiting = await startTestServer({ WORKERS: '1', MEDIA_WAIT_MS: '800' });
    const ghost = new TestPeer(waiting.url);
    const subscriber = new TestPeer(waiting.url);
    const cam = camera();
    try {
      await ghost.pushNeverConnecting(cam.track, 'camera');
      await subscriber.createSession();
      const before = waiting.sessions.get(subscriber.sessionId)!.transceivers.length;
      const started = Date.now();
      const data = await gqlOk(waiting.url, PULL, {
        input: { sessionId: subscriber.sessionId, tracks: [{ sessionId: ghost.sessionId, trackName: 'camera' }] },
      });
      expect(Date.now() - started).toBeGreaterThanOrEqual(700);
      expect(data.pullTracks.tracks[0].error.code).toBe('UNAVAILABLE');
      expect(data.pullTracks.sessionDescription).toBeNull();
      expect(waiting.sessions.get(subscriber.sessionId)!.transceivers.length).toBe(before);
    } finally {
      ghost.stop();
      subscriber.stop();
      await waiting.stop();
    }
  });
});
