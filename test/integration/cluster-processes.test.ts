import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCode, gql, gqlOk } from '../helpers/graphql.js';
import { publishCamera } from '../helpers/call.js';
import { waitFor, watchVideo } from '../helpers/media.js';
import { buildOnce, startNodeProcess, type NodeProcess } from '../helpers/nodeProcess.js';
import { TestPeer } from '../helpers/peer.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { collect, wsClient } from '../helpers/subscriptions.js';
import { closed, inbox, openNegotiated, opened, publishData, subscribeData } from '../helpers/dataChannels.js';

/**
 * A cluster as users run one: three node processes (`node dist/src/main.js`,
 * WORKERS=1, their own PORT and RTC_PORT) on one real redis-server, all on
 * 127.0.0.1, with libwebrtc peers. Then what happens when a node is killed,
 * when one stalls, and when Redis restarts empty.
 */
let redis: TestRedis;
let A: NodeProcess;
let B: NodeProcess;
let C: NodeProcess;
const cleanups: (() => void)[] = [];

beforeAll(async () => {
  await buildOnce();
  redis = await startRedis();
  const started = await Promise.all(['A', 'B', 'C'].map((name) => startNodeProcess(name, { REDIS_URL: redis.url, SESSION_RESUME_GRACE_MS: '0' })));
  [A, B, C] = started as [NodeProcess, NodeProcess, NodeProcess];
}, 120_000);

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) cleanup();
  await Promise.all([A, B, C].map((node) => node?.stop()));
  await redis?.close();
});

const TRACKS = 'query($ids: [ID!]) { tracks(filter: { sessionIds: $ids }) { sessionId name } }';
const SESSION = 'query($id: ID!) { session(id: $id) { id tracks { mid location status } } }';
const PULL = 'mutation($input: PullTracksInput!) { pullTracks(input: $input) { sessionDescription { sdp } tracks { mid error { code message } } } }';

/** A connected session on `node` that publishes a fake camera as `camera`. */
async function publisherOn(node: NodeProcess) {
  const call = await publishCamera(node.url, undefined, 'camera', []);
  cleanups.push(call.stop);
  expect(call.pushed?.error).toBeNull();
  return call.peer;
}

/** `peer` pulls `trackName` of `source` through `via` and answers through `answerVia`; resolves once frames are decoded. */
async function pullAndDecode(peer: TestPeer, source: string, via: NodeProcess, answerVia: NodeProcess) {
  const data = await gqlOk(via.url, PULL, { input: { sessionId: peer.sessionId, tracks: [{ sessionId: source, trackName: 'camera' }] } });
  expect(data.pullTracks.tracks[0].error).toBeNull();
  const mid = data.pullTracks.tracks[0].mid as string;
  const home = peer.url;
  peer.url = answerVia.url;
  await peer.applyOffer(data.pullTracks.sessionDescription.sdp);
  peer.url = home;
  await waitFor(`the track on mid ${mid}`, () => peer.received.has(mid));
  const video = watchVideo(peer.received.get(mid)!);
  cleanups.push(video.stop);
  await waitFor(`decoded frames on mid ${mid}`, () => video.stats.frames > 5, 15_000);
  return { mid, video };
}

describe('a cluster of three node processes', () => {
  let onA: TestPeer;
  let onB: TestPeer;
  let bPulls: { mid: string };

  it('a publisher on A and one on B decode each other; the B session\'s calls go through C and A; B lists A\'s tracks', { timeout: 60_000 }, async () => {
    onA = await publisherOn(A);
    onB = await publisherOn(B);
    bPulls = await pullAndDecode(onB, onA.sessionId, C, A);
    await pullAndDecode(onA, onB.sessionId, A, A);
    const listed = await gqlOk(B.url, TRACKS, { ids: [onA.sessionId] });
    expect(listed.tracks).toEqual([{ sessionId: onA.sessionId, name: 'camera' }]);
  });

  it('a cursor taken on C resumes on B', { timeout: 30_000 }, async () => {
    const { trackEventsCursor } = await gqlOk(C.url, 'query { trackEventsCursor }');
    const later = await publisherOn(C);
    const resumed = collect(wsClient(B.url), 'subscription($after: String) { trackEvents(after: $after) { type track { sessionId } } }', { after: trackEventsCursor }, (d) => d.trackEvents);
    cleanups.push(() => void resumed.close());
    await waitFor('the event after the cursor', () => resumed.items.length > 0, 10_000);
    expect(resumed.items[0]).toEqual({ type: 'PUBLISHED', track: { sessionId: later.sessionId } });
  });

  it('60 mutations of one session spread over the three nodes: exactly 50 pass', { timeout: 30_000 }, async () => {
    const peer = new TestPeer(A.url);
    cleanups.push(() => peer.stop());
    await peer.createSession();
    const FORCE_CLOSE = 'mutation($id: ID!) { closeTracks(input: { sessionId: $id, mids: ["9"], force: true }) { tracks { error { code } } } }';
    await new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000)));
    const burst = await Promise.all(Array.from({ length: 60 }, (_, i) => gql([A, B, C][i % 3]!.url, FORCE_CLOSE, { id: peer.sessionId })));
    const codes = burst.map((r) => errorCode(r) ?? 'ok');
    expect(codes.filter((c) => c === 'ok')).toHaveLength(50);
    expect(codes.filter((c) => c === 'RATE_LIMITED')).toHaveLength(10);
  });

  it('SIGKILL of A: UNPUBLISHED on C and TRACK_ENDED on B within 5 s, calls about its sessions fail fast; then C pulls from B', { timeout: 60_000 }, async () => {
    // A data channel of A's session, subscribed on B: it ends with A too.
    const [chat] = await publishData(onA, [{ name: 'chat' }]);
    const [subscribed] = await subscribeData(onB, [{ sessionId: onA.sessionId, name: 'chat' }]);
    const sending = openNegotiated(onA, chat!);
    const receiving = openNegotiated(onB, subscribed!);
    const messages = inbox(receiving);
    await Promise.all([opened(sending), opened(receiving)]);
    sending.send('before the kill');
    await waitFor('the message on B', () => messages.length === 1);
    const unpublished = collect(wsClient(C.url), 'subscription($ids: [ID!]) { trackEvents(filter: { sessionIds: $ids }) { type } }', { ids: [onA.sessionId] }, (d) => ({ type: d.trackEvents.type, at: Date.now() }));
    const ended = collect(wsClient(B.url), 'subscription($id: ID!) { sessionEvents(sessionId: $id) { type mid dataChannelId } }', { id: onB.sessionId }, (d) => ({ ...d.sessionEvents, at: Date.now() }));
    cleanups.push(() => void unpublished.close(), () => void ended.close());
    await new Promise((resolve) => setTimeout(resolve, 300));
    const killed = Date.now();
    A.signal('SIGKILL');
    await waitFor('UNPUBLISHED on C', () => unpublished.items.some((e) => e.type === 'UNPUBLISHED'), 10_000);
    await waitFor('TRACK_ENDED on B', () => ended.items.some((e) => e.type === 'TRACK_ENDED' && e.mid === bPulls.mid), 10_000);
    const unpublishedAfter = unpublished.items.find((e) => e.type === 'UNPUBLISHED')!.at - killed;
    const endedAfter = ended.items.find((e) => e.type === 'TRACK_ENDED')!.at - killed;
    await waitFor('DATA_CHANNEL_ENDED on B', () => ended.items.some((e) => e.type === 'DATA_CHANNEL_ENDED' && e.dataChannelId === subscribed!.id), 10_000);
    await closed(receiving);
    const channelEndedAfter = ended.items.find((e) => e.type === 'DATA_CHANNEL_ENDED')!.at - killed;
    console.log(`cluster: SIGKILL of A -> UNPUBLISHED on C after ${unpublishedAfter} ms, TRACK_ENDED on B after ${endedAfter} ms, DATA_CHANNEL_ENDED on B after ${channelEndedAfter} ms`);
    expect(channelEndedAfter).toBeLessThan(5000);
    expect(unpublishedAfter).toBeLessThan(5000);
    expect(endedAfter).toBeLessThan(5000);

    const asked = Date.now();
    const gone = await gql(B.url, 'mutation($id: ID!) { closeSession(input: { sessionId: $id }) { sessionId } }', { id: onA.sessionId });
    expect(errorCode(gone)).toBe('SESSION_NOT_FOUND');
    expect(Date.now() - asked).toBeLessThan(1000);
    expect((await gqlOk(C.url, TRACKS, { ids: [onA.sessionId] })).tracks).toEqual([]);

    const onC = new TestPeer(C.url);
    cleanups.push(() => onC.stop());
    await onC.createSession();
    await pullAndDecode(onC, onB.sessionId, C, C);
  });

  it('a node that stalls past its heartbeat (SIGSTOP) is given up; back (SIGCONT), it stops serving its old sessions and takes new ones', { timeout: 60_000 }, async () => {
    const stalled = await publisherOn(C);
    const events = collect(wsClient(B.url), 'subscription($ids: [ID!]) { trackEvents(filter: { sessionIds: $ids }) { type } }', { ids: [stalled.sessionId] }, (d) => ({ type: d.trackEvents.type, at: Date.now() }));
    cleanups.push(() => void events.close());
    await new Promise((resolve) => setTimeout(resolve, 300));
    const stopped = Date.now();
    C.signal('SIGSTOP');
    try {
      await waitFor('UNPUBLISHED of the stalled node\'s track on B', () => events.items.some((e) => e.type === 'UNPUBLISHED'), 10_000);
      console.log(`cluster: SIGSTOP of C -> its track UNPUBLISHED on B after ${events.items.find((e) => e.type === 'UNPUBLISHED')!.at - stopped} ms`);
    } finally {
      C.signal('SIGCONT');
    }
    // Back, C closes what the cluster gave up, whoever asks.
    await expect.poll(async () => errorCode(await gql(C.url, SESSION, { id: stalled.sessionId })) ?? (await gql(C.url, SESSION, { id: stalled.sessionId })).data?.session, { timeout: 10_000 }).toBeNull();
    expect((await gql(B.url, SESSION, { id: stalled.sessionId })).data?.session).toBeNull();
    expect(C.output()).toContain('the cluster declared this node gone');
    // And it serves new sessions, reachable from the other nodes.
    const fresh = new TestPeer(C.url);
    cleanups.push(() => fresh.stop());
    await fresh.createSession();
    await expect.poll(async () => (await gql(B.url, SESSION, { id: fresh.sessionId })).data?.session?.id, { timeout: 5000 }).toBe(fresh.sessionId);
  });

  it('Redis stopped and restarted empty while a call runs: media goes on, shared calls answer UNAVAILABLE, then each node restores its sessions and tracks', { timeout: 60_000 }, async () => {
    const callee = new TestPeer(C.url);
    cleanups.push(() => callee.stop());
    await callee.createSession();
    const { video } = await pullAndDecode(callee, onB.sessionId, C, B);
    await redis.stop();
    try {
      const before = video.stats.frames;
      await new Promise((resolve) => setTimeout(resolve, 2000));
      expect(video.stats.frames).toBeGreaterThan(before + 10);
      const tracks = await gql(C.url, TRACKS, { ids: [onB.sessionId] });
      expect(errorCode(tracks)).toBe('UNAVAILABLE');
    } finally {
      await redis.start();
    }
    const back = Date.now();
    await expect.poll(async () => (await gql(C.url, TRACKS, { ids: [onB.sessionId] })).data?.tracks, { timeout: 15_000, interval: 250 }).toEqual([{ sessionId: onB.sessionId, name: 'camera' }]);
    await expect.poll(async () => (await gql(C.url, SESSION, { id: onB.sessionId })).data?.session?.id, { timeout: 15_000, interval: 250 }).toBe(onB.sessionId);
    console.log(`cluster: Redis back empty -> B's tracks and sessions visible from C again after ${Date.now() - back} ms`);
    const frames = video.stats.frames;
    await waitFor('media still flowing after Redis came back', () => video.stats.frames > frames + 10, 5000);
  });

  it('Redis stalled for 5 s (SIGSTOP) and back with its data: no node declares another dead, sessions and tracks stay', { timeout: 60_000 }, async () => {
    const gone = () => [B, C].map((node) => node.output().split('the cluster declared this node gone').length - 1);
    const before = gone();
    const watcher = new TestPeer(C.url);
    cleanups.push(() => watcher.stop());
    await watcher.createSession();
    const { video } = await pullAndDecode(watcher, onB.sessionId, C, C);
    redis.signal('SIGSTOP');
    try {
      await new Promise((resolve) => setTimeout(resolve, 5000));
    } finally {
      redis.signal('SIGCONT');
    }
    // Every heartbeat key expired meanwhile; the nodes beat again before judging each other.
    await new Promise((resolve) => setTimeout(resolve, 6000));
    const judged = [B, C].flatMap((node) => node.output().split('\n').filter((line) => /declared this node gone|cleaned up after a node|stopped answering its heartbeat/.test(line)).map((line) => `${node.name}: ${line.slice(0, 240)}`));
    if (gone().some((count, i) => count !== before[i])) console.log(`cluster: what the nodes logged about each other:\n${judged.join('\n')}`);
    expect(gone()).toEqual(before);
    expect((await gqlOk(C.url, TRACKS, { ids: [onB.sessionId] })).tracks).toEqual([{ sessionId: onB.sessionId, name: 'camera' }]);
    expect((await gqlOk(C.url, SESSION, { id: onB.sessionId })).session.id).toBe(onB.sessionId);
    const frames = video.stats.frames;
    await waitFor('the piped media still flowing', () => video.stats.frames > frames + 10, 5000);
  });

  it('SIGTERM drains: no new sessions (health 503 draining; createSession there is placed on another node), live ones served until they end, then the node exits', { timeout: 60_000 }, async () => {
    const D = await startNodeProcess('D', { REDIS_URL: redis.url, DRAIN_TIMEOUT_MS: '20000' });
    cleanups.push(() => void D.stop());
    const peer = new TestPeer(D.url);
    cleanups.push(() => peer.stop());
    await peer.createSession();
    D.signal('SIGTERM');
    await expect.poll(async () => (await fetch(`${D.url}/healthz`)).status, { timeout: 5000 }).toBe(503);
    expect(await (await fetch(`${D.url}/healthz`)).json()).toEqual({ status: 'draining' });
    // A session asked of the draining node is placed on another node of the cluster (placement), which holds it.
    const placed = await gqlOk(D.url, 'mutation { createSession { session { id } } }');
    const placedId = placed.createSession.session.id as string;
    expect(placedId.slice(0, 8)).not.toBe(peer.sessionId.slice(0, 8));
    expect((await gqlOk(B.url, SESSION, { id: placedId })).session.id).toBe(placedId);
    await gqlOk(B.url, 'mutation($id: ID!) { closeSession(input: { sessionId: $id }) { sessionId } }', { id: placedId });
    // Its live session is still served, from any node.
    expect((await gqlOk(B.url, SESSION, { id: peer.sessionId })).session.id).toBe(peer.sessionId);
    const closed = Date.now();
    await gqlOk(B.url, 'mutation($id: ID!) { closeSession(input: { sessionId: $id }) { sessionId } }', { id: peer.sessionId });
    await waitFor('D to exit once its last session ended', () => D.child.exitCode !== null, 10_000);
    console.log(`cluster: drained node exited ${Date.now() - closed} ms after its last session closed (exit code ${D.child.exitCode})`);
    expect(D.child.exitCode).toBe(0);
  });
});
