import { describe, expect, it } from 'vitest';
import { toneMicrophone, waitFor } from '../helpers/media.js';
import { TestPeer } from '../helpers/peer.js';
import { useTestServer } from '../helpers/server.js';
import { collect, wsClient } from '../helpers/subscriptions.js';
import { startRedis } from '../helpers/redis.js';
import { startTestServer } from '../helpers/server.js';

/**
 * Who is speaking: two libwebrtc publishers on two workers, one talking (a
 * tone in syllables) and one silent; a subscriber that pulls both hears
 * DOMINANT_SPEAKER_CHANGED naming the talking one and the mid that carries
 * it; when they swap, the event names the other. The same with the
 * speakers on another node of a cluster (their tracks piped in).
 */
const file = useTestServer({ WORKERS: '2' });

describe('the dominant speaker of a session', () => {
  it('is announced as it changes, with the track and its mid', { timeout: 40_000 }, async () => {
    const alice = toneMicrophone(440, 12_000, { talking: true });
    const bob = toneMicrophone(660, 0, { talking: true });
    const peers: TestPeer[] = [];
    const client = wsClient(file.server.url);
    try {
      for (const [name, mic] of [['alice', alice], ['bob', bob]] as const) {
        const peer = new TestPeer(file.server.url);
        peers.push(peer);
        await peer.createSession();
        await peer.push([{ track: mic.track, name }]);
      }
      const listener = new TestPeer(file.server.url);
      peers.push(listener);
      await listener.createSession();
      const events = collect(client, 'subscription($id: ID!) { sessionEvents(sessionId: $id) { type mid speaker { sessionId name kind } } }', { id: listener.sessionId }, (d) => d.sessionEvents as { type: string; mid: string | null; speaker: { sessionId: string; name: string; kind: string } | null });
      const pulled = await listener.pull([
        { sessionId: peers[0]!.sessionId, trackName: 'alice' },
        { sessionId: peers[1]!.sessionId, trackName: 'bob' },
      ]);
      const speakers = () => events.items.filter((e) => e.type === 'DOMINANT_SPEAKER_CHANGED');
      const started = Date.now();
      await waitFor('alice as the dominant speaker', () => speakers().at(-1)?.speaker?.name === 'alice', 10_000);
      const first = speakers().at(-1)!;
      expect(first).toMatchObject({ mid: pulled[0]!.mid, speaker: { sessionId: peers[0]!.sessionId, name: 'alice', kind: 'AUDIO' } });
      console.log(`dominant speaker: alice announced ${Date.now() - started} ms after the pull`);

      alice.setAmplitude(0);
      bob.setAmplitude(12_000);
      const swapped = Date.now();
      await waitFor('bob as the dominant speaker', () => speakers().at(-1)?.speaker?.name === 'bob', 10_000);
      expect(speakers().at(-1)).toMatchObject({ mid: pulled[1]!.mid, speaker: { sessionId: peers[1]!.sessionId, name: 'bob' } });
      console.log(`dominant speaker: bob announced ${Date.now() - swapped} ms after the voices swapped`);
      // One event per change, not one per observation.
      expect(speakers().length).toBeLessThanOrEqual(3);
      await events.close();
    } finally {
      alice.stop();
      bob.stop();
      for (const peer of peers) peer.stop();
      await client.dispose();
    }
  });

  it('is the same for tracks of another node: speakers on node A, the listener on node B', { timeout: 40_000 }, async () => {
    const redis = await startRedis();
    const nodes = [await startTestServer({ WORKERS: '1', REDIS_URL: redis.url }), await startTestServer({ WORKERS: '1', REDIS_URL: redis.url })];
    const alice = toneMicrophone(440, 12_000, { talking: true });
    const bob = toneMicrophone(660, 0, { talking: true });
    const peers: TestPeer[] = [];
    const client = wsClient(nodes[1]!.url);
    try {
      for (const [name, mic] of [['alice', alice], ['bob', bob]] as const) {
        const peer = new TestPeer(nodes[0]!.url);
        peers.push(peer);
        await peer.createSession();
        await peer.push([{ track: mic.track, name }]);
      }
      const listener = new TestPeer(nodes[1]!.url);
      peers.push(listener);
      await listener.createSession();
      const events = collect(client, 'subscription($id: ID!) { sessionEvents(sessionId: $id) { type mid speaker { name } } }', { id: listener.sessionId }, (d) => d.sessionEvents as { type: string; mid: string | null; speaker: { name: string } | null });
      const pulled = await listener.pull([
        { sessionId: peers[0]!.sessionId, trackName: 'alice' },
        { sessionId: peers[1]!.sessionId, trackName: 'bob' },
      ]);
      const speakers = () => events.items.filter((e) => e.type === 'DOMINANT_SPEAKER_CHANGED');
      await waitFor('alice, piped from node A, as the dominant speaker', () => speakers().at(-1)?.speaker?.name === 'alice', 10_000);
      expect(speakers().at(-1)!.mid).toBe(pulled[0]!.mid);
      alice.setAmplitude(0);
      bob.setAmplitude(12_000);
      await waitFor('bob as the dominant speaker', () => speakers().at(-1)?.speaker?.name === 'bob', 10_000);
      await events.close();
    } finally {
      alice.stop();
      bob.stop();
      for (const peer of peers) peer.stop();
      await client.dispose();
      for (const node of nodes) await node.stop();
      await redis.close();
    }
  });
});
