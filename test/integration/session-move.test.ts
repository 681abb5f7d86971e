import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { errorCode, gql, gqlOk } from '../helpers/graphql.js';
import { fakeCamera, waitFor } from '../helpers/media.js';
import { TestPeer } from '../helpers/peer.js';
import { publishCamera } from '../helpers/call.js';
import { follower, watchPull, type Follower } from '../helpers/follower.js';
import { startTestServer } from '../helpers/server.js';
import { collect, wsClient } from '../helpers/subscriptions.js';
import { inbox, openNegotiated, opened, publishData, subscribeData } from '../helpers/dataChannels.js';

/**
 * A session moves to a new PeerConnection on the same node (resumeSession
 * with its secret) and publishes its camera again under the same name: its
 * subscriber keeps its transceiver and decodes the new source after one SFU
 * offer, with no TRACK_ENDED, and track events show MOVED, never
 * UNPUBLISHED. A wrong secret, a missing session, a bad offer: refused,
 * nothing changed. (Moves between nodes: session-move-cluster.test.ts.)
 */
let node: Switchyard;
const cleanups: (() => void)[] = [];

beforeAll(async () => {
  node = await startTestServer({ WORKERS: '2', SESSION_RESUME_GRACE_MS: '5000' });
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) cleanup();
  await node?.stop();
});

const RESUME = 'mutation($input: ResumeSessionInput!) { resumeSession(input: $input) { session { id } movedTrackNames } }';

/** A camera ('camera', 160x120 at 15 fps) published on the node at `url`; stopped after the tests. */
async function publisher(url: string) {
  const published = await publishCamera(url, undefined, 'camera', [], 15);
  cleanups.push(published.stop);
  return published.peer;
}

const watching = (sub: Follower, source: { sessionId: string; trackName: string }) => watchPull(sub, source, cleanups);

describe('a session moves to a new PeerConnection', () => {
  it('keeps its id and track names; its subscriber follows on the same mid, with MOVED and no UNPUBLISHED', { timeout: 60_000 }, async () => {
    const pub = await publisher(node.url);
    expect(pub.resumeSecret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const sub = await follower(node.url);
    cleanups.push(() => sub.stop());
    const { mid, clock } = await watching(sub, { sessionId: pub.sessionId, trackName: 'camera' });
    // A data channel too: its subscriber keeps the same RTCDataChannel through the move.
    const [chatResult] = await publishData(pub, [{ name: 'chat' }]);
    await opened(openNegotiated(pub, chatResult!));
    const [theirResult] = await subscribeData(sub.peer, [{ sessionId: pub.sessionId, name: 'chat' }]);
    const theirChat = openNegotiated(sub.peer, theirResult!);
    await opened(theirChat);
    let chatClosed = false;
    theirChat.addEventListener('close', () => (chatClosed = true));
    const chatInbox = inbox(theirChat);
    const events = collect(wsClient(node.url), 'subscription($ids: [ID!]) { trackEvents(filter: { sessionIds: $ids }) { type track { name } } }', { ids: [pub.sessionId] }, (d) => d.trackEvents.type as string);
    cleanups.push(() => void events.close());
    await new Promise((resolve) => setTimeout(resolve, 300));

    // Knowing the id is not enough; a malformed offer is refused before anything is released.
    const stranger = await gql(node.url, RESUME, { input: { sessionId: pub.sessionId, resumeSecret: 'x'.repeat(43) } });
    expect(errorCode(stranger)).toBe('FORBIDDEN');
    const badOffer = await gql(node.url, RESUME, { input: { sessionId: pub.sessionId, resumeSecret: pub.resumeSecret, sessionDescription: { type: 'OFFER', sdp: 'v=0 nonsense' } } });
    expect(errorCode(badOffer)).toBe('INVALID_SDP');
    const unknown = await gql(node.url, RESUME, { input: { sessionId: '00000000-0000-4000-8000-000000000000', resumeSecret: pub.resumeSecret } });
    expect(errorCode(unknown)).toBe('SESSION_NOT_FOUND');
    clock.mark();
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(clock.longestGapMs()).toBeLessThan(400);

    // The move: a new PeerConnection takes the session, then publishes the camera again.
    const moved = new TestPeer(node.url);
    const camera = fakeCamera(160, 120, 15);
    cleanups.push(() => {
      camera.stop();
      moved.stop();
    });
    const started = performance.now();
    clock.mark();
    const names = await moved.resumeSession(pub.sessionId, pub.resumeSecret);
    expect(names).toEqual(['camera', 'chat']);
    expect(moved.sessionId).toBe(pub.sessionId);
    pub.pc.close();
    const [pushed] = await moved.push([{ track: camera.track, name: 'camera' }]);
    expect(pushed?.error ?? null).toBeNull();
    const framesBefore = clock.frames();
    await waitFor('frames of the moved camera on the same transceiver', () => clock.frames() > framesBefore + 10, 15_000);
    const freeze = clock.longestGapMs();
    console.log(`same-node move: subscriber's longest freeze ${freeze.toFixed(0)} ms, ${(performance.now() - started).toFixed(0)} ms from resumeSession to 10 new frames; SFU offers applied by the subscriber: ${sub.offersApplied()}`);
    expect(sub.offersApplied()).toBeGreaterThanOrEqual(1);
    expect(sub.events.items.filter((e) => e.type === 'TRACK_ENDED')).toEqual([]);
    expect(sub.peer.received.get(mid)).toBeDefined();
    await waitFor('the MOVED event', () => events.items.includes('MOVED'));
    expect(events.items).not.toContain('UNPUBLISHED');
    expect(events.items).not.toContain('PUBLISHED');
    // The chat channel published again reaches the subscriber's channel of before.
    const [chatAgain] = await publishData(moved, [{ name: 'chat' }]);
    const chat2 = openNegotiated(moved, chatAgain!);
    await opened(chat2);
    await waitFor('a chat message after the move on the same channel', () => {
      if (!chatInbox.includes('after')) chat2.send('after');
      return chatInbox.includes('after');
    });
    expect(chatClosed).toBe(false);
    expect(sub.events.items.filter((e) => e.type === 'DATA_CHANNEL_ENDED')).toEqual([]);

    // The session is the same one: the directory, the state, the tracks.
    const read = await gqlOk(node.url, 'query($id: ID!) { session(id: $id) { id connectionState tracks { mid location track { name } } } }', { id: pub.sessionId });
    expect(read.session.tracks.map((t: { track: { name: string } }) => t.track.name)).toEqual(['camera']);
    const track = await gqlOk(node.url, 'query($id: ID!) { track(sessionId: $id, name: "camera") { status } }', { id: pub.sessionId });
    expect(track.track).not.toBeNull();
    // The old PeerConnection's secret still resumes it (the secret stays across moves).
    expect(moved.resumeSecret).toBe(pub.resumeSecret);
  });

  it('ends a moved track that is not published again within the resume grace', { timeout: 30_000 }, async () => {
    const pub = await publisher(node.url);
    const sub = await follower(node.url);
    cleanups.push(() => sub.stop());
    const { mid } = await watching(sub, { sessionId: pub.sessionId, trackName: 'camera' });
    const moved = new TestPeer(node.url);
    cleanups.push(() => moved.stop());
    expect(await moved.resumeSession(pub.sessionId, pub.resumeSecret)).toEqual(['camera']);
    pub.pc.close();
    // SESSION_RESUME_GRACE_MS is 5 s here: the subscriber's transceiver ends after it, not before.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect(sub.events.items.filter((e) => e.type === 'TRACK_ENDED')).toEqual([]);
    await waitFor('TRACK_ENDED after the grace', () => sub.events.items.some((e) => e.type === 'TRACK_ENDED' && e.mid === mid), 8000);
    const track = await gqlOk(node.url, 'query($id: ID!) { track(sessionId: $id, name: "camera") { status } }', { id: pub.sessionId });
    expect(track.track).toBeNull();
  });
});
