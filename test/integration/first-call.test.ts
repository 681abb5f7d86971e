import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { fakeCamera, fakeMicrophone, waitFor, watchAudio, watchVideo } from '../helpers/media.js';
import { gqlOk } from '../helpers/graphql.js';
import { TestPeer } from '../helpers/peer.js';
import { startTestServer } from '../helpers/server.js';

describe('the first call: one session pushes camera and microphone, another pulls them', () => {
  let server: Switchyard;
  let publisher: TestPeer;
  let subscriber: TestPeer;
  const camera = fakeCamera(320, 240);
  const microphone = fakeMicrophone();
  const watchers: { stop(): void }[] = [];

  beforeAll(async () => {
    server = await startTestServer({ WORKERS: '2' });
    publisher = new TestPeer(server.url);
    subscriber = new TestPeer(server.url);
    await publisher.createSession();
    await subscriber.createSession();
  });

  afterAll(async () => {
    for (const w of watchers) w.stop();
    camera.stop();
    microphone.stop();
    publisher?.stop();
    subscriber?.stop();
    await server?.stop();
  });

  it('places the two sessions on different workers', () => {
    const a = server.sessions.get(publisher.sessionId)!;
    const b = server.sessions.get(subscriber.sessionId)!;
    expect(a.worker.index).not.toBe(b.worker.index);
  });

  it('publishes both tracks from the client offer', async () => {
    const results = await publisher.push([
      { track: camera.track, name: 'camera', tags: ['room:test'] },
      { track: microphone.track, name: 'mic', tags: ['room:test'] },
    ]);
    expect(results.map((r) => [r.trackName, r.error])).toEqual([
      ['camera', null],
      ['mic', null],
    ]);
    await waitFor('publisher connected', () => publisher.pc.connectionState === 'connected');
  });

  it('delivers decoded video of the right size and audible audio to the subscriber', async () => {
    const results = await subscriber.pull([
      { sessionId: publisher.sessionId, trackName: 'camera' },
      { sessionId: publisher.sessionId, trackName: 'mic' },
    ]);
    expect(results.every((r) => r.error === null && r.mid !== null)).toBe(true);
    await waitFor('subscriber connected', () => subscriber.pc.connectionState === 'connected');
    const video = subscriber.received.get(results[0]!.mid!);
    const audio = subscriber.received.get(results[1]!.mid!);
    expect(video?.kind).toBe('video');
    expect(audio?.kind).toBe('audio');
    const videoWatch = watchVideo(video!);
    const audioWatch = watchAudio(audio!);
    watchers.push(videoWatch, audioWatch);
    await waitFor('30 decoded frames', () => videoWatch.stats.frames >= 30, 15_000);
    expect(videoWatch.stats.width).toBe(320);
    expect(videoWatch.stats.height).toBe(240);
    await waitFor('audible audio', () => audioWatch.stats.chunks > 50 && audioWatch.stats.peak > 1000, 15_000);
  });

  it('reports the published tracks ACTIVE once media flows, and finds them by tag', async () => {
    const query = 'query($s: ID!) { track(sessionId: $s, name: "camera") { status kind tags } tracks(filter: { tags: ["room:test"], kind: AUDIO }) { name status } }';
    let data = await gqlOk(server.url, query, { s: publisher.sessionId });
    for (let i = 0; i < 50 && data.track.status !== 'ACTIVE'; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      data = await gqlOk(server.url, query, { s: publisher.sessionId });
    }
    expect(data.track).toEqual({ status: 'ACTIVE', kind: 'VIDEO', tags: ['room:test'] });
    expect(data.tracks).toEqual([{ name: 'mic', status: 'ACTIVE' }]);
  });
});

describe('createSession with an offer that carries only a data m-section', () => {
  it('answers it and the PeerConnection connects', async () => {
    const server = await startTestServer({ WORKERS: '1' });
    const peer = new TestPeer(server.url);
    try {
      peer.pc.createDataChannel('control');
      await peer.setLocal(await peer.pc.createOffer());
      const data = await gqlOk(
        server.url,
        'mutation($sdp: String!) { createSession(input: { sessionDescription: { type: OFFER, sdp: $sdp } }) { session { id } sessionDescription { type sdp } } }',
        { sdp: peer.localSdp },
      );
      expect(data.createSession.sessionDescription.type).toBe('ANSWER');
      expect(data.createSession.sessionDescription.sdp).toMatch(/m=application 9 UDP\/DTLS\/SCTP webrtc-datachannel/);
      await peer.pc.setRemoteDescription({ type: 'answer', sdp: data.createSession.sessionDescription.sdp });
      await waitFor('the PeerConnection to connect', () => peer.pc.connectionState === 'connected');
      // The SFU learns it a moment later than the client (its DTLS side finishes last).
      const serverState = async () =>
        (await gqlOk(server.url, 'query($id: ID!) { session(id: $id) { connectionState } }', { id: data.createSession.session.id })).session.connectionState;
      let state = await serverState();
      for (let i = 0; i < 30 && state !== 'CONNECTED'; i += 1) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        state = await serverState();
      }
      expect(state).toBe('CONNECTED');
    } finally {
      peer.stop();
      await server.stop();
    }
  });
});
