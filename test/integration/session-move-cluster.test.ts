import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { errorCode, gql, gqlOk } from '../helpers/graphql.js';
import { fakeCamera, waitFor } from '../helpers/media.js';
import { TestPeer } from '../helpers/peer.js';
import { follower, watchPull, type Follower } from '../helpers/follower.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { startTestServer } from '../helpers/server.js';
import { collect, wsClient } from '../helpers/subscriptions.js';
import { closed, inbox, openNegotiated, opened, publishData, subscribeData } from '../helpers/dataChannels.js';

/**
 * Sessions move between nodes, driven as an API client would (the steps of
 * docs/lifecycle.md), in one process: three nodes on one redis-server. The
 * node of a publisher drains: its session gets MOVE_REQUESTED naming another
 * node, resumes there on a new PeerConnection with its secret and publishes
 * its camera again. Its subscribers, one on the node it moved to and one on
 * the third node, keep their transceivers and decode the camera from its new
 * node after one SFU offer each; nobody sees TRACK_ENDED or UNPUBLISHED.
 * Its data channel, published again under its name, reaches the
 * subscribers' RTCDataChannels of before: they never close.
 */
let redis: TestRedis;
const nodes: Switchyard[] = [];
const cleanups: (() => void)[] = [];

beforeAll(async () => {
  redis = await startRedis();
  for (let i = 0; i < 3; i += 1) {
    nodes.push(await startTestServer({ WORKERS: '1', REDIS_URL: redis.url, CLUSTER_SECRET: 'session-move-test-secret-0123456789abcdef', SESSION_RESUME_GRACE_MS: '8000' }));
  }
  await waitFor('every node to see the others', () => nodes.every((n) => n.shared.cluster!.nodes.peers.length === nodes.length), 5000);
}, 60_000);

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) cleanup();
  for (const node of nodes) await node.stop().catch(() => undefined);
  await redis?.close();
});

const watching = (sub: Follower, source: { sessionId: string; trackName: string }) => watchPull(sub, source, cleanups);

describe('a session moves to another node', () => {
  it('when its node drains: MOVE_REQUESTED names a node, the client resumes there, subscribers on two nodes follow', { timeout: 90_000 }, async () => {
    const [a, b, c] = nodes as [Switchyard, Switchyard, Switchyard];
    const pub = new TestPeer(a.url);
    const camera = fakeCamera(160, 120, 15);
    cleanups.push(() => {
      camera.stop();
      pub.stop();
    });
    await pub.createSession();
    await pub.push([{ track: camera.track, name: 'camera' }]);
    const [chatResult] = await publishData(pub, [{ name: 'chat' }]);
    const chat = openNegotiated(pub, chatResult!);
    await opened(chat);
    const source = { sessionId: pub.sessionId, trackName: 'camera' };
    const subs = [await follower(b.url), await follower(c.url)];
    for (const sub of subs) cleanups.push(() => sub.stop());
    const watched = [await watching(subs[0]!, source), await watching(subs[1]!, source)];
    // Both subscribers also take its chat channel: after the move they keep the very same RTCDataChannel.
    const theirs = await Promise.all(
      subs.map(async (sub) => {
        const [result] = await subscribeData(sub.peer, [{ sessionId: pub.sessionId, name: 'chat' }]);
        const channel = openNegotiated(sub.peer, result!);
        await opened(channel);
        return { channel, messages: inbox(channel), closedEarly: false };
      }),
    );
    for (const t of theirs) t.channel.addEventListener('close', () => (t.closedEarly = true));
    chat.send('before');
    await waitFor('the chat message before the move', () => theirs.every((t) => t.messages.includes('before')));
    const trackEvents = collect(wsClient(b.url), 'subscription($ids: [ID!]) { trackEvents(filter: { sessionIds: $ids }) { type } }', { ids: [pub.sessionId] }, (d) => d.trackEvents.type as string);
    const sessionEvents = collect(wsClient(a.url), 'subscription($id: ID!) { sessionEvents(sessionId: $id) { type moveTo moveReason } }', { id: pub.sessionId }, (d) => d.sessionEvents as { type: string; moveTo: string | null; moveReason: string | null });
    cleanups.push(() => void trackEvents.close(), () => void sessionEvents.close());
    await new Promise((resolve) => setTimeout(resolve, 500));

    // Another app's caller, or one without the secret, cannot take it, from any node.
    expect(errorCode(await gql(c.url, 'mutation($input: ResumeSessionInput!) { resumeSession(input: $input) { session { id } } }', { input: { sessionId: pub.sessionId, resumeSecret: 'y'.repeat(43) } }))).toBe('FORBIDDEN');

    for (const w of watched) w.clock.mark();
    const draining = a.drain(30_000);
    await waitFor('MOVE_REQUESTED', () => sessionEvents.items.some((e) => e.type === 'MOVE_REQUESTED'), 5000);
    const request = sessionEvents.items.find((e) => e.type === 'MOVE_REQUESTED')!;
    expect(request.moveReason).toBe('DRAINING');
    expect([b.url, c.url]).toContain(request.moveTo);

    const moved = new TestPeer(request.moveTo!);
    const camera2 = fakeCamera(160, 120, 15);
    cleanups.push(() => {
      camera2.stop();
      moved.stop();
    });
    const started = performance.now();
    expect(await moved.resumeSession(pub.sessionId, pub.resumeSecret)).toEqual(['camera', 'chat']);
    await moved.push([{ track: camera2.track, name: 'camera' }]);
    pub.pc.close();
    const counts = watched.map((w) => w.clock.frames());
    await waitFor('both subscribers decoding the moved camera', () => watched.every((w, i) => w.clock.frames() > counts[i]! + 10), 20_000);
    const freezes = watched.map((w) => Math.round(w.clock.longestGapMs()));
    console.log(`drain move: longest freeze per subscriber ${freezes.join(' ms, ')} ms (subscriber on the node it moved to, then the other); ${(performance.now() - started).toFixed(0)} ms from resumeSession to 10 new frames on both`);
    for (const sub of subs) {
      expect(sub.offersApplied()).toBeGreaterThanOrEqual(1);
      expect(sub.events.items.filter((e) => e.type === 'TRACK_ENDED')).toEqual([]);
    }
    await waitFor('MOVED on the track events', () => trackEvents.items.includes('MOVED'));
    expect(trackEvents.items).not.toContain('UNPUBLISHED');
    // The chat channel, published again under its name, reaches the subscribers' channels of before.
    const [chatAgain] = await publishData(moved, [{ name: 'chat' }]);
    const chat2 = openNegotiated(moved, chatAgain!);
    await opened(chat2);
    await waitFor('the chat message after the move on the same channels', () => {
      if (!theirs.every((t) => t.messages.includes('after'))) chat2.send('after');
      return theirs.every((t) => t.messages.includes('after'));
    }, 10_000);
    expect(theirs.map((t) => t.closedEarly)).toEqual([false, false]);
    expect(theirs.map((t) => t.channel.readyState)).toEqual(['open', 'open']);
    for (const sub of subs) expect(sub.events.items.filter((e) => e.type === 'DATA_CHANNEL_ENDED')).toEqual([]);
    void closed;
    // The drained node is left with nothing and stops before its deadline.
    await draining;
    // Calls about the session reach the node it lives on now, from any node.
    const target = nodes.find((n) => n.url === request.moveTo)!;
    const other = [b, c].find((n) => n !== target)!;
    const read = await gqlOk(other.url, 'query($id: ID!) { session(id: $id) { id tracks { track { name } } } }', { id: pub.sessionId });
    expect(read.session.tracks.map((t: { track: { name: string } }) => t.track.name)).toEqual(['camera']);
    expect(target.sessions.get(pub.sessionId)).toBeDefined();
  });
});
