import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { gqlOk } from '../helpers/graphql.js';
import { fakeCamera, fakeMicrophone, waitFor, watchAudio, watchVideo } from '../helpers/media.js';
import { TestPeer } from '../helpers/peer.js';
import { startTestServer } from '../helpers/server.js';

describe('two participants who each publish and pull over their one PeerConnection', () => {
  let server: Switchyard;
  const stops: (() => void)[] = [];

  beforeAll(async () => {
    server = await startTestServer({ WORKERS: '2' });
  });

  afterAll(async () => {
    for (const stop of stops) stop();
    await server?.stop();
  });

  it('sees and hears each other, on different workers', async () => {
    const alice = new TestPeer(server.url);
    const bob = new TestPeer(server.url);
    stops.push(() => alice.stop(), () => bob.stop());
    await alice.createSession();
    await bob.createSession();
    expect(server.sessions.get(alice.sessionId)!.worker).not.toBe(server.sessions.get(bob.sessionId)!.worker);

    const media = { alice: [fakeCamera(320, 240), fakeMicrophone()], bob: [fakeCamera(640, 480), fakeMicrophone()] } as const;
    stops.push(...[...media.alice, ...media.bob].map((m) => m.stop));
    await alice.push([{ track: media.alice[0].track, name: 'camera' }, { track: media.alice[1].track, name: 'mic' }]);
    await bob.push([{ track: media.bob[0].track, name: 'camera' }, { track: media.bob[1].track, name: 'mic' }]);

    const aliceGets = await alice.pull([
      { sessionId: bob.sessionId, trackName: 'camera' },
      { sessionId: bob.sessionId, trackName: 'mic' },
    ]);
    const bobGets = await bob.pull([
      { sessionId: alice.sessionId, trackName: 'camera' },
      { sessionId: alice.sessionId, trackName: 'mic' },
    ]);

    const watch = async (peer: TestPeer, mids: (string | null)[]) => {
      await waitFor('pulled tracks', () => mids.every((mid) => peer.received.has(mid!)));
      const video = watchVideo(peer.received.get(mids[0]!)!);
      const audio = watchAudio(peer.received.get(mids[1]!)!);
      stops.push(video.stop, audio.stop);
      return { video, audio };
    };
    const atAlice = await watch(alice, aliceGets.map((r) => r.mid));
    const atBob = await watch(bob, bobGets.map((r) => r.mid));
    await waitFor('video both ways', () => atAlice.video.stats.frames > 20 && atBob.video.stats.frames > 20, 15_000);
    await waitFor('audio both ways', () => atAlice.audio.stats.peak > 1000 && atBob.audio.stats.peak > 1000, 15_000);
    expect([atAlice.video.stats.width, atAlice.video.stats.height]).toEqual([640, 480]);
    expect([atBob.video.stats.width, atBob.video.stats.height]).toEqual([320, 240]);

    const state = await gqlOk(server.url, 'query($id: ID!) { session(id: $id) { connectionState tracks { mid location track { sessionId name } } } }', {
      id: alice.sessionId,
    });
    expect(state.session.connectionState).toBe('CONNECTED');
    expect(state.session.tracks.map((t: { location: string; track: { name: string } }) => `${t.location}:${t.track.name}`)).toEqual([
      'LOCAL:camera',
      'LOCAL:mic',
      'REMOTE:camera',
      'REMOTE:mic',
    ]);
    // The PeerConnection can still renegotiate after all of that.
    await alice.setLocal(await alice.pc.createOffer());
    await alice.setLocal({ type: 'rollback' } as RTCSessionDescriptionInit);
  });
});
