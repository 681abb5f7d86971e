import { describe, expect, it } from 'vitest';
import { toneMicrophone, waitFor } from '../helpers/media.js';
import { TestPeer } from '../helpers/peer.js';
import { startTestServer, useTestServer } from '../helpers/server.js';
import { collect, wsClient } from '../helpers/subscriptions.js';
import { startRedis } from '../helpers/redis.js';

/**
 * Who is speaking: two libwebrtc publishers on two workers, one talking (a
 * tone in syllables) and one silent; a subscriber that pulls both hears
 * DOMINANT_SPEAKER_CHANGED naming the talking one and the mid that carries
 * it; when they swap, the event names the other. The same with the
 * speakers on another node of a cluster (their tracks piped in).
 */
const file = useTestServer({ WORKERS: '2' });

type SpeakerEvent = { type: string; mid: string | null; speaker: { sessionId: string; name: string; kind: string } | null };

/**
 * Alice talks and Bob is silent, both published on `publishUrl`; a listener
 * on `listenUrl` pulls both. Waits for Alice to be named, then swaps their
 * voices and waits for Bob. Answers what the listener heard and when.
 */
async function twoSpeakers(publishUrl: string, listenUrl: string) {
  const alice = toneMicrophone(440, 12_000, { talking: true });
  const bob = toneMicrophone(660, 0, { talking: true });
  const peers: TestPeer[] = [];
  const client = wsClient(listenUrl);
  try {
    for (const [name, mic] of [['alice', alice], ['bob', bob]] as const) {
      const peer = new TestPeer(publishUrl);
      peers.push(peer);
      await peer.createSession();
      await peer.push([{ track: mic.track, name }]);
    }
    const listener = new TestPeer(listenUrl);
    peers.push(listener);
    await listener.createSession();
    const events = collect(client, 'subscription($id: ID!) { sessionEvents(sessionId: $id) { type mid speaker { sessionId name kind } } }', { id: listener.sessionId }, (d) => d.sessionEvents as SpeakerEvent);
    const pulled = await listener.pull([
      { sessionId: peers[0]!.sessionId, trackName: 'alice' },
      { sessionId: peers[1]!.sessionId, trackName: 'bob' },
    ]);
    const speakers = () => events.items.filter((e) => e.type === 'DOMINANT_SPEAKER_CHANGED');
    const started = Date.now();
    await waitFor('alice as the dominant speaker', () => speakers().at(-1)?.speaker?.name === 'alice', 10_000);
    const alices = { event: speakers().at(-1)!, ms: Date.now() - started };
    alice.setAmplitude(0);
    bob.setAmplitude(12_000);
    const swapped = Date.now();
    await waitFor('bob as the dominant speaker', () => speakers().at(-1)?.speaker?.name === 'bob', 10_000);
    const bobs = { event: speakers().at(-1)!, ms: Date.now() - swapped };
    await events.close();
    return { alice: alices, bob: bobs, count: speakers().length, mids: pulled.map((p) => p.mid), sessions: peers.map((p) => p.sessionId) };
  } finally {
    alice.stop();
    bob.stop();
    for (const peer of peers) peer.stop();
    await client.dispose();
  }
}

describe('the dominant speaker of a session', () => {
  it('is announced as it changes, with the track and its mid', { timeout: 40_000 }, async () => {
    const heard = await twoSpeakers(file.server.url, file.server.url);
    expect(heard.alice.event).toMatchObject({ mid: heard.mids[0], speaker: { sessionId: heard.sessions[0], name: 'alice', kind: 'AUDIO' } });
    expect(heard.bob.event).toMatchObject({ mid: heard.mids[1], speaker: { sessionId: heard.sessions[1], name: 'bob' } });
    console.log(`dominant speaker: alice announced ${heard.alice.ms} ms after the pull, bob ${heard.bob.ms} ms after the voices swapped`);
    // One event per change, not one per observation.
    expect(heard.count).toBeLessThanOrEqual(3);
  });

  it('is the same for tracks of another node: speakers on node A, the listener on node B', { timeout: 40_000 }, async () => {
    const redis = await startRedis();
    const nodes = [await startTestServer({ WORKERS: '1', REDIS_URL: redis.url }), await startTestServer({ WORKERS: '1', REDIS_URL: redis.url })];
    try {
      const heard = await twoSpeakers(nodes[0]!.url, nodes[1]!.url);
      expect(heard.alice.event.mid).toBe(heard.mids[0]);
    } finally {
      for (const node of nodes) await node.stop();
      await redis.close();
    }
  });
});
