import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishCamera } from '../helpers/call.js';
import { publishData } from '../helpers/dataChannels.js';
import { errorCode, gql, gqlOk } from '../helpers/graphql.js';
import { waitFor, watchVideo } from '../helpers/media.js';
import { buildOnce, startNodeProcess, type NodeProcess } from '../helpers/nodeProcess.js';
import { TestPeer } from '../helpers/peer.js';
import { MASTER_NAME, startSentinelRedis, type TestSentinelRedis } from '../helpers/sentinel.js';
import { collect, wsClient } from '../helpers/subscriptions.js';

/**
 * A cluster on a replicated Redis with Sentinels, as users run one: two node
 * processes configured with REDIS_SENTINELS, a primary, a replica and three
 * Sentinels (all Debian's redis-server), libwebrtc peers. The primary is
 * SIGKILLed mid-call, just after it took writes that never reached the
 * replica (its link cut and the replica stopped for a moment): Sentinel
 * promotes the replica, and the nodes must carry on as if Redis had only
 * paused, with what was lost written again.
 */
let redis: TestSentinelRedis;
let A: NodeProcess;
let B: NodeProcess;
const cleanups: (() => void)[] = [];

beforeAll(async () => {
  await buildOnce();
  redis = await startSentinelRedis({ downAfterMs: 1000 });
  const env = { REDIS_SENTINELS: redis.sentinels, REDIS_SENTINEL_MASTER: MASTER_NAME };
  [A, B] = await Promise.all([startNodeProcess('A', env), startNodeProcess('B', env)]);
}, 120_000);

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) cleanup();
  await Promise.all([A, B].map((node) => node?.stop()));
  await redis?.close();
});

const TRACKS = 'query($ids: [ID!]) { tracks(filter: { sessionIds: $ids }) { sessionId name } }';
const SESSION = 'query($id: ID!) { session(id: $id) { id } }';
const PULL = 'mutation($input: PullTracksInput!) { pullTracks(input: $input) { sessionDescription { sdp } tracks { mid error { code message } } } }';
const CREATE = 'mutation { createSession { session { id } } }';
const EVENTS = 'subscription($after: String, $ids: [ID!]) { trackEvents(after: $after, filter: { sessionIds: $ids }) { type track { name } } }';
const JUDGED = /declared this node gone|cleaned up after a node|stopped answering its heartbeat/;

/** `seq` of a cursor (`epoch:seq:stream id`, base64url), for the timeline. */
const seqOf = (cursor: string) => Buffer.from(cursor, 'base64url').toString().split(':')[1];

/** When a node logged a line containing `text` (pino's `time`), or undefined. */
function loggedAt(node: NodeProcess, text: string): number | undefined {
  const line = node.output().split('\n').find((l) => l.includes(text));
  if (!line) return undefined;
  try {
    return (JSON.parse(line) as { time: number }).time;
  } catch {
    return undefined;
  }
}

describe('a cluster on Redis Sentinel: the primary dies mid-call', () => {
  it('media never stops, no node is declared gone, calls answer UNAVAILABLE only during the failover, and what the old primary lost is written again', { timeout: 120_000 }, async () => {
    // A publisher on A, its camera pulled on B (piped between the nodes) and decoded.
    const publisher = await publishCamera(A.url, undefined, 'camera', []);
    cleanups.push(publisher.stop);
    expect(publisher.pushed?.error).toBeNull();
    const onA = publisher.peer;
    await expect.poll(async () => (await gql(B.url, TRACKS, { ids: [onA.sessionId] })).data?.tracks, { timeout: 10_000 }).toEqual([{ sessionId: onA.sessionId, name: 'camera' }]);
    const onB = new TestPeer(B.url);
    cleanups.push(() => onB.stop());
    await onB.createSession();
    // Just after the nodes started, B may not yet have read A's heartbeat (relays choose among the nodes of the last beat): retry.
    let pull: Record<string, any> = {};
    for (const deadline = Date.now() + 10_000; ; await new Promise((resolve) => setTimeout(resolve, 250))) {
      pull = await gqlOk(B.url, PULL, { input: { sessionId: onB.sessionId, tracks: [{ sessionId: onA.sessionId, trackName: 'camera' }] } });
      if (pull.pullTracks.tracks[0].error?.code !== 'TRACK_NOT_FOUND' || Date.now() > deadline) break;
    }
    expect(pull.pullTracks.tracks[0].error).toBeNull();
    const mid = pull.pullTracks.tracks[0].mid as string;
    await onB.applyOffer(pull.pullTracks.sessionDescription.sdp);
    await waitFor('the pulled track on B', () => onB.received.has(mid));
    const video = watchVideo(onB.received.get(mid)!);
    cleanups.push(video.stop);
    await waitFor('decoded frames on B', () => video.stats.frames > 5, 15_000);
    // The camera's own status events (WAITING, then ACTIVE once media flows) are over before the events this test follows.
    const STATUS = 'query($ids: [ID!]) { tracks(filter: { sessionIds: $ids }) { name status } }';
    await expect.poll(async () => (await gql(B.url, STATUS, { ids: [onA.sessionId] })).data?.tracks, { timeout: 10_000 }).toEqual([{ name: 'camera', status: 'ACTIVE' }]);

    // A live subscription that follows every event (once it has seen a first one, it is surely live), and a cursor taken before anything is lost.
    const live = collect(wsClient(B.url), EVENTS, { ids: [onA.sessionId] }, (d) => d.trackEvents as { type: string; track: { name: string } });
    cleanups.push(() => void live.close());
    for (let i = 0; live.items.length === 0; i += 1) {
      if (i === 20) throw new Error(`the live subscription saw nothing: ${JSON.stringify(live.errors)}`);
      await publishData(onA, [{ name: `probe-${i}` }]);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const probes = live.items.length;
    const { trackEventsCursor: before } = await gqlOk(B.url, 'query { trackEventsCursor }');

    // Writes the replica never gets: its link cut (and it held still, so it cannot resync), then a session and a data channel on A.
    const subscriber = new Promise<number>((resolve) => {
      void redis.client(redis.sentinelPorts[0]!).then(async (sentinel: Redis) => {
        sentinel.on('message', () => resolve(Date.now()));
        await sentinel.subscribe('+switch-master');
      });
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const primary = await redis.client(redis.primaryPort);
    const frozen = Date.now();
    redis.signal(redis.replicaPort, 'SIGSTOP');
    let lostSession: string;
    let lost: string;
    try {
      await primary.call('CLIENT', 'KILL', 'TYPE', 'replica');
      lostSession = (await gqlOk(A.url, CREATE)).createSession.session.id as string;
      const [late] = await publishData(onA, [{ name: 'late' }]);
      expect(late!.error).toBeNull();
      await waitFor('the late channel on B\'s live subscription', () => live.items.length > probes, 2000).catch((error: unknown) => {
        throw new Error(`${(error as Error).message}: ${JSON.stringify({ items: live.items, errors: live.errors, late })}`);
      });
      lost = (await gqlOk(A.url, 'query { trackEventsCursor }')).trackEventsCursor as string;
    } finally {
      redis.signal(redis.primaryPort, 'SIGKILL');
      redis.signal(redis.replicaPort, 'SIGCONT');
    }
    const killed = Date.now();
    console.log(`sentinel: replica held still ${killed - frozen} ms while A wrote a session and event seq ${seqOf(lost)} the replica never got`);

    // Through the failover: frames keep decoding on B; calls that need Redis answer UNAVAILABLE and nothing else until they work.
    let frames = video.stats.frames;
    let lastFrame = Date.now();
    let longestGap = 0;
    const frameWatch = setInterval(() => {
      if (video.stats.frames > frames) {
        frames = video.stats.frames;
        longestGap = Math.max(longestGap, Date.now() - lastFrame);
        lastFrame = Date.now();
      }
    }, 20);
    cleanups.push(() => clearInterval(frameWatch));
    // A's live session as B sees it, all along: found, UNAVAILABLE, or (wrongly) not found while A's heartbeat key is lapsed.
    const seen: { at: number; answer: string }[] = [];
    let watching = true;
    const sessionWatch = (async () => {
      while (watching) {
        const result = await gql(B.url, SESSION, { id: onA.sessionId });
        seen.push({ at: Date.now(), answer: errorCode(result) ?? (result.data?.session ? 'found' : 'not found') });
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    const codes = new Set<string>();
    const firstOk = async (call: () => Promise<string | undefined>) => {
      for (;;) {
        const code = await call();
        if (code === undefined) return Date.now();
        codes.add(code);
        if (Date.now() - killed > 20_000) throw new Error(`still ${[...codes].join(', ')} 20 s after the kill; the Sentinels logged:\n${(await redis.sentinelLog()).slice(-3000)}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };
    const [tracksOk, createOk] = await Promise.all([
      firstOk(async () => errorCode(await gql(B.url, TRACKS, { ids: [onA.sessionId] })) ?? undefined),
      firstOk(async () => errorCode(await gql(A.url, CREATE)) ?? undefined),
    ]);
    const promoted = await Promise.race([subscriber, new Promise<number>((resolve) => setTimeout(() => resolve(NaN), 10_000))]);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    watching = false;
    await sessionWatch;
    const notFound = seen.filter((s) => s.answer === 'not found').map((s) => s.at - killed);
    const lastUnavailable = Math.max(0, ...seen.filter((s) => s.answer === 'UNAVAILABLE').map((s) => s.at - killed));
    await waitFor('A to repair what the old primary lost', () => loggedAt(A, 'brought the cluster') !== undefined, 15_000).catch(() => undefined);
    const repaired = loggedAt(A, 'brought the cluster') ?? NaN;
    console.log(
      `sentinel: SIGKILL of the primary -> +switch-master after ${promoted - killed} ms, first tracks OK on B after ${tracksOk - killed} ms, ` +
        `first createSession OK on A after ${createOk - killed} ms, A repaired its sessions and tracks after ${repaired - killed} ms; ` +
        `errors meanwhile: ${[...codes].join(', ') || 'none'}; longest gap between decoded frames on B ${longestGap} ms; ` +
        `A's session seen from B: UNAVAILABLE until ${lastUnavailable} ms, not found at ${notFound.length ? notFound.join(', ') : 'no time'} ms`,
    );
    expect(seen.at(-1)?.answer).toBe('found');
    expect(notFound.filter((at) => at > Math.max(tracksOk, createOk) - killed + 1000)).toEqual([]);
    expect(await redis.primaryNow()).toBe(redis.replicaPort);
    expect([...codes].filter((code) => code !== 'UNAVAILABLE')).toEqual([]);
    expect(Math.max(tracksOk, createOk) - promoted).toBeLessThan(2500);
    expect(A.output()).toMatch(/"reason":"reconnected"[^\n]*"changes":[1-9]/);

    // Afterwards: what the old primary lost is there again, and cursors from before the kill (and from the lost stretch) resume.
    expect((await gqlOk(B.url, SESSION, { id: lostSession })).session.id).toBe(lostSession);
    expect((await gqlOk(B.url, SESSION, { id: onA.sessionId })).session.id).toBe(onA.sessionId);
    const names = (await gqlOk(B.url, TRACKS, { ids: [onA.sessionId] })).tracks.map((t: { name: string }) => t.name);
    expect(names.filter((name: string) => !name.startsWith('probe-')).sort()).toEqual(['camera', 'late']);
    const fromBefore = collect(wsClient(B.url), EVENTS, { after: before, ids: [onA.sessionId] }, (d) => `${d.trackEvents.type} ${d.trackEvents.track.name}`);
    const fromLost = collect(wsClient(A.url), EVENTS, { after: lost, ids: [onA.sessionId] }, (d) => d.trackEvents.track.name as string);
    cleanups.push(() => void fromBefore.close(), () => void fromLost.close());
    await publishData(onA, [{ name: 'after' }]);
    await waitFor('the event after the failover, from the cursor taken before the kill', () => fromBefore.items.includes('PUBLISHED after'), 5000);
    await waitFor('the event after the failover, from the cursor of the lost stretch', () => fromLost.items.includes('after') || fromLost.errors.length > 0, 5000);
    expect(fromLost.errors).toEqual([]);
    expect(fromBefore.items).toEqual(['PUBLISHED late', 'PUBLISHED after']);
    // The live subscription saw the late channel before the kill, its repair after it (a later seq: not taken for a duplicate), then the next event.
    await waitFor('the next event on the live subscription', () => live.items.some((e) => e.track.name === 'after'), 5000);
    expect(live.errors).toEqual([]);
    expect(live.items.slice(probes).map((e) => `${e.type} ${e.track.name}`)).toEqual(['PUBLISHED late', 'PUBLISHED late', 'PUBLISHED after']);

    // Every heartbeat key may have lapsed in the gap: the nodes beat again for a full TTL before judging each other.
    await new Promise((resolve) => setTimeout(resolve, 6000));
    const judged = [A, B].flatMap((node) => node.output().split('\n').filter((line) => JUDGED.test(line)).map((line) => `${node.name}: ${line.slice(0, 240)}`));
    expect(judged).toEqual([]);
    expect(longestGap).toBeLessThan(1000);
    const now = video.stats.frames;
    await waitFor('the piped media still flowing', () => video.stats.frames > now + 10, 5000);
    const fresh = new TestPeer(B.url);
    cleanups.push(() => fresh.stop());
    await fresh.createSession();
    expect((await gqlOk(A.url, SESSION, { id: fresh.sessionId })).session.id).toBe(fresh.sessionId);
  });
});
