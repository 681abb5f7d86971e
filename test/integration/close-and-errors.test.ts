import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { errorCode, gql, gqlOk } from '../helpers/graphql.js';
import { fakeCamera, fakeMicrophone, waitFor, watchAudio, watchVideo } from '../helpers/media.js';
import { publishCamera } from '../helpers/call.js';
import { TestPeer } from '../helpers/peer.js';
import { startTestServer } from '../helpers/server.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let server: Switchyard;
const cleanups: (() => void)[] = [];

beforeAll(async () => {
  server = await startTestServer({ WORKERS: '2' });
});

// Each test's peers end with it: fewer live PeerConnections in one process.
afterEach(() => {
  for (const cleanup of cleanups.reverse()) cleanup();
  cleanups.length = 0;
});

afterAll(async () => {
  await server?.stop();
});

/** A publisher with camera + mic, and a subscriber that pulls both and watches them. */
async function call() {
  const camera = fakeCamera(320, 240);
  const microphone = fakeMicrophone();
  const publisher = new TestPeer(server.url);
  const subscriber = new TestPeer(server.url);
  cleanups.push(camera.stop, microphone.stop, () => publisher.stop(), () => subscriber.stop());
  await publisher.createSession();
  await subscriber.createSession();
  await publisher.push([
    { track: camera.track, name: 'camera' },
    { track: microphone.track, name: 'mic' },
  ]);
  const results = await subscriber.pull([
    { sessionId: publisher.sessionId, trackName: 'camera' },
    { sessionId: publisher.sessionId, trackName: 'mic' },
  ]);
  const videoMid = results[0]!.mid!;
  const audioMid = results[1]!.mid!;
  await waitFor('subscriber track', () => subscriber.received.has(videoMid) && subscriber.received.has(audioMid));
  const video = watchVideo(subscriber.received.get(videoMid)!);
  const audio = watchAudio(subscriber.received.get(audioMid)!);
  cleanups.push(video.stop, audio.stop);
  await waitFor('media at the subscriber', () => video.stats.frames > 10 && audio.stats.chunks > 20, 15_000);
  return { publisher, subscriber, video, audio, videoMid, audioMid };
}

describe('closeTracks', () => {
  it('stops one pulled track while the other keeps flowing', async () => {
    const { subscriber, video, audio, videoMid, audioMid } = await call();
    const results = await subscriber.close([videoMid]);
    expect(results).toEqual([expect.objectContaining({ mid: videoMid, error: null })]);

    await sleep(500); // frames in flight
    const framesAfterClose = video.stats.frames;
    const chunksAfterClose = audio.stats.chunks;
    await sleep(1500);
    expect(video.stats.frames).toBe(framesAfterClose);
    expect(audio.stats.chunks).toBeGreaterThan(chunksAfterClose + 50);

    const state = await gqlOk(server.url, 'query($id: ID!) { session(id: $id) { tracks { mid location } } }', {
      id: subscriber.sessionId,
    });
    expect(state.session.tracks).toEqual([{ mid: audioMid, location: 'REMOTE' }]);
  });

  it('closing a pushed track unpublishes it and its subscribers go inactive', async () => {
    const { publisher, subscriber, videoMid } = await call();
    const cameraMid = publisher.pc.getTransceivers()[0]!.mid!;
    await publisher.close([cameraMid]);
    const track = await gqlOk(server.url, 'query($s: ID!) { track(sessionId: $s, name: "camera") { name } }', {
      s: publisher.sessionId,
    });
    expect(track.track).toBeNull();
    const state = await gqlOk(server.url, 'query($id: ID!) { session(id: $id) { tracks { mid status } } }', {
      id: subscriber.sessionId,
    });
    expect(state.session.tracks.find((t: { mid: string }) => t.mid === videoMid)?.status).toBe('INACTIVE');
  });
});

describe('closeSession', () => {
  it('frees the session, unpublishes its tracks and leaves pullers inactive', async () => {
    const { publisher, subscriber } = await call();
    const consumersBefore = server.sessions.get(subscriber.sessionId)!.transceivers.filter((t) => t.pulled).length;
    await gqlOk(server.url, 'mutation($id: ID!) { closeSession(input: { sessionId: $id }) { sessionId } }', {
      id: publisher.sessionId,
    });
    expect(server.sessions.get(publisher.sessionId)).toBeUndefined();
    const tracks = await gqlOk(server.url, 'query($s: [ID!]) { tracks(filter: { sessionIds: $s }) { name } }', {
      s: [publisher.sessionId],
    });
    expect(tracks.tracks).toEqual([]);
    const state = await gqlOk(server.url, 'query($id: ID!) { session(id: $id) { tracks { status } } }', {
      id: subscriber.sessionId,
    });
    expect(state.session.tracks).toHaveLength(consumersBefore);
    expect(state.session.tracks.every((t: { status: string }) => t.status === 'INACTIVE')).toBe(true);
    const again = await gql(server.url, 'mutation($id: ID!) { closeSession(input: { sessionId: $id }) { sessionId } }', {
      id: publisher.sessionId,
    });
    expect(errorCode(again)).toBe('SESSION_NOT_FOUND');
  });
});

describe('a source that goes away before the pull is answered', () => {
  it('the answer is still accepted and the transceiver is inactive', async () => {
    const { peer: publisher, stop } = await publishCamera(server.url, undefined, 'camera', []);
    const subscriber = new TestPeer(server.url);
    cleanups.push(stop, () => subscriber.stop());
    await subscriber.createSession();
    const pulled = await gqlOk(
      server.url,
      'mutation($input: PullTracksInput!) { pullTracks(input: $input) { sessionDescription { sdp } tracks { mid error { code } } } }',
      { input: { sessionId: subscriber.sessionId, tracks: [{ sessionId: publisher.sessionId, trackName: 'camera' }] } },
    );
    const mid = pulled.pullTracks.tracks[0].mid as string;
    await gqlOk(server.url, 'mutation($id: ID!) { closeSession(input: { sessionId: $id }) { sessionId } }', { id: publisher.sessionId });
    await waitFor('the pulled source ends', () => server.sessions.get(subscriber.sessionId)!.transceivers.some((t) => t.pulled?.ended));
    await subscriber.applyOffer(pulled.pullTracks.sessionDescription.sdp);
    const session = await gqlOk(server.url, 'query($id: ID!) { session(id: $id) { tracks { mid status } } }', { id: subscriber.sessionId });
    expect(session.session.tracks).toEqual([{ mid, status: 'INACTIVE' }]);
  });
});

describe('pulling across workers', () => {
  it('pipes a producer to another worker once and reuses the pipe for every later pull there', async () => {
    const { publisher } = await call();
    const source = server.sessions.tracks.get(publisher.sessionId, 'camera')!;
    const publisherWorker = server.sessions.get(publisher.sessionId)!.worker.index;
    const pullers: TestPeer[] = [];
    for (let i = 0; i < 4; i += 1) {
      const peer = new TestPeer(server.url);
      cleanups.push(() => peer.stop());
      await peer.createSession();
      const results = await peer.pull([{ sessionId: publisher.sessionId, trackName: 'camera' }]);
      expect(results[0]!.error).toBeNull();
      pullers.push(peer);
    }
    const elsewhere = pullers.filter((p) => server.sessions.get(p.sessionId)!.worker.index !== publisherWorker);
    expect(elsewhere.length).toBeGreaterThanOrEqual(2);
    // Two workers: the camera is piped to the one other worker, exactly once.
    expect(server.sessions.pipes.pipedRouters(source.producer.id)).toBe(1);
    for (const peer of elsewhere) {
      await waitFor('the piped camera', () => peer.received.size === 1);
      const video = watchVideo([...peer.received.values()][0]!);
      cleanups.push(video.stop);
      await waitFor('frames through the pipe', () => video.stats.frames > 5, 15_000);
    }
  });
});

describe('errors: a contract code, the session unchanged, the server up', () => {
  const PUSH = `mutation($input: PushTracksInput!) { pushTracks(input: $input) { tracks { mid trackName error { code } } } }`;

  it('malformed SDP is INVALID_SDP and creates nothing', async () => {
    const before = server.sessions.sessionCount;
    const result = await gql(server.url, 'mutation($sdp: String!) { createSession(input: { sessionDescription: { type: OFFER, sdp: $sdp } }) { session { id } } }', {
      sdp: 'v=0\r\nthis is not sdp',
    });
    expect(errorCode(result)).toBe('INVALID_SDP');
    // Sessions of earlier tests' closed peers may end meanwhile (DTLS closed); none may appear.
    expect(server.sessions.sessionCount).toBeLessThanOrEqual(before);
  });

  it('an unknown session is SESSION_NOT_FOUND', async () => {
    const result = await gql(server.url, PUSH, {
      input: { sessionId: 'no-such-session', sessionDescription: { type: 'OFFER', sdp: 'v=0\r\n' }, tracks: [{ mid: '0', trackName: 'x' }] },
    });
    expect(errorCode(result)).toBe('SESSION_NOT_FOUND');
    const pull = await gql(server.url, 'mutation { pullTracks(input: { sessionId: "nope", tracks: [{ sessionId: "a", trackName: "b" }] }) { tracks { mid } } }');
    expect(errorCode(pull)).toBe('SESSION_NOT_FOUND');
  });

  it('a bad offer on a live session is INVALID_SDP and leaves it as it was', async () => {
    const { publisher } = await call();
    // Status moves WAITING -> ACTIVE on the activity monitor's clock, whatever the offers do: compare once it settled.
    await waitFor('both tracks ACTIVE', () => ['camera', 'mic'].every((name) => server.sessions.tracks.get(publisher.sessionId, name)?.status === 'ACTIVE'));
    const snapshot = () => gqlOk(server.url, 'query($id: ID!) { session(id: $id) { tracks { mid location status track { name } } } }', { id: publisher.sessionId });
    const before = await snapshot();
    const offer = publisher.localSdp;
    for (const sdp of [offer.replace(/a=fingerprint:[^\r]*\r\n/g, ''), offer.slice(0, 200), offer.replace(/a=mid:1/, 'a=mid:0')]) {
      const result = await gql(server.url, PUSH, {
        input: { sessionId: publisher.sessionId, sessionDescription: { type: 'OFFER', sdp }, tracks: [{ mid: '0', trackName: 'again' }] },
      });
      expect(errorCode(result)).toBe('INVALID_SDP');
    }
    expect(await snapshot()).toEqual(before);
  });

  it('an unknown track fails alone with TRACK_NOT_FOUND while the others are pulled', async () => {
    const { publisher } = await call();
    const peer = new TestPeer(server.url);
    cleanups.push(() => peer.stop());
    await peer.createSession();
    const results = await peer.pull([
      { sessionId: publisher.sessionId, trackName: 'no-such-track' },
      { sessionId: publisher.sessionId, trackName: 'camera' },
    ]);
    expect(results[0]).toMatchObject({ trackName: 'no-such-track', mid: null, error: { code: 'TRACK_NOT_FOUND' } });
    expect(results[1]).toMatchObject({ trackName: 'camera', error: null });
    await waitFor('the pulled camera', () => peer.received.has(results[1]!.mid!));
    const video = watchVideo(peer.received.get(results[1]!.mid!)!);
    cleanups.push(video.stop);
    await waitFor('frames of the pulled camera', () => video.stats.frames > 5, 15_000);
  });

  it('an answer with no offer pending is NEGOTIATION_CONFLICT', async () => {
    const { subscriber } = await call();
    const result = await gql(server.url, 'mutation($input: RenegotiateInput!) { renegotiate(input: $input) { session { id } } }', {
      input: { sessionId: subscriber.sessionId, sessionDescription: { type: 'ANSWER', sdp: subscriber.localSdp } },
    });
    expect(errorCode(result)).toBe('NEGOTIATION_CONFLICT');
  });

  it('a malformed operation is BAD_REQUEST', async () => {
    expect(errorCode(await gql(server.url, '{ nope }'))).toBe('BAD_REQUEST');
    expect(errorCode(await gql(server.url, 'mutation { closeTracks(input: { sessionId: 1 }) { tracks { mid } } }'))).toBe('BAD_REQUEST');
    expect(errorCode(await gql(server.url, '{ session(id:'))).toBe('BAD_REQUEST');
  });

  it('more than 64 tracks in one call is LIMIT_EXCEEDED and changes nothing', async () => {
    const peer = new TestPeer(server.url);
    cleanups.push(() => peer.stop());
    await peer.createSession();
    const before = server.sessions.get(peer.sessionId)!.transceivers.length;
    const tracks = Array.from({ length: 65 }, (_, i) => ({ sessionId: peer.sessionId, trackName: `t${i}` }));
    const result = await gql(server.url, 'mutation($input: PullTracksInput!) { pullTracks(input: $input) { tracks { mid } } }', {
      input: { sessionId: peer.sessionId, tracks },
    });
    expect(errorCode(result)).toBe('LIMIT_EXCEEDED');
    expect(server.sessions.get(peer.sessionId)!.transceivers.length).toBe(before);
  });

  it('the server is still healthy', async () => {
    const response = await fetch(`${server.url}/healthz`);
    expect(response.status).toBe(200);
  });
});
