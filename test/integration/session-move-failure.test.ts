import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gqlOk } from '../helpers/graphql.js';
import { fakeCamera, waitFor } from '../helpers/media.js';
import { TestPeer } from '../helpers/peer.js';
import { publishCamera } from '../helpers/call.js';
import { follower, frameClock } from '../helpers/follower.js';
import { buildOnce, startNodeProcess, type NodeProcess } from '../helpers/nodeProcess.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { collect, wsClient } from '../helpers/subscriptions.js';

/**
 * A node dies (SIGKILL) and its sessions outlive it, as API clients drive
 * them: two node processes on one redis-server, each publisher on A, the
 * subscriber on B. The killed node's sessions stay resumable for
 * SESSION_RESUME_GRACE_MS (4 s here): one publisher resumes on B with its
 * secret and publishes again, and the subscriber's transceiver plays it
 * again with no TRACK_ENDED; the other publisher never comes back, and its
 * subscriber's transceiver ends once the grace is over, not before.
 */
let redis: TestRedis;
let A: NodeProcess;
let B: NodeProcess;
const cleanups: (() => void)[] = [];
const GRACE_MS = 4000;

beforeAll(async () => {
  await buildOnce();
  redis = await startRedis();
  const env = { REDIS_URL: redis.url, SESSION_RESUME_GRACE_MS: String(GRACE_MS), CLUSTER_SECRET: 'session-move-failure-secret-0123456789abcdef' };
  [A, B] = await Promise.all([startNodeProcess('A', env), startNodeProcess('B', env)]);
}, 120_000);

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) cleanup();
  await Promise.all([A?.stop(), B?.stop()]);
  await redis?.close();
});

/** A camera ('cam', 160x120 at 15 fps) published on the node at `url`; stopped after the tests. */
async function publisher(url: string) {
  const published = await publishCamera(url, undefined, 'cam', [], 15);
  cleanups.push(published.stop);
  return published.peer;
}

describe('a session outlives its node', () => {
  it('resumed on another node after SIGKILL: its subscriber plays it again on the same mid; one not resumed ends after the grace', { timeout: 60_000 }, async () => {
    const returning = await publisher(A.url);
    const gone = await publisher(A.url);
    const sub = await follower(B.url);
    cleanups.push(() => sub.stop());
    const pulled = await sub.peer.pull([
      { sessionId: returning.sessionId, trackName: 'cam' },
      { sessionId: gone.sessionId, trackName: 'cam' },
    ]);
    const [returningMid, goneMid] = pulled.map((r) => r.mid as string) as [string, string];
    await waitFor('both pulled tracks', () => sub.peer.received.has(returningMid) && sub.peer.received.has(goneMid));
    const clock = frameClock(sub.peer.received.get(returningMid)!);
    cleanups.push(() => clock.stop());
    await waitFor('decoded frames', () => clock.frames() > 10, 15_000);
    const events = collect(wsClient(B.url), 'subscription($ids: [ID!]) { trackEvents(filter: { sessionIds: $ids }) { type track { sessionId } } }', { ids: [returning.sessionId, gone.sessionId] }, (d) => d.trackEvents as { type: string; track: { sessionId: string } });
    cleanups.push(() => void events.close());
    await new Promise((resolve) => setTimeout(resolve, 300));

    clock.mark();
    const killed = performance.now();
    A.signal('SIGKILL');
    // The client notices (its node does not answer) and resumes through another node: B here.
    await expect.poll(() => fetch(`${A.url}/healthz`).then(() => 'up', () => 'down'), { timeout: 5000 }).toBe('down');
    const moved = new TestPeer(B.url);
    const camera = fakeCamera(160, 120, 15);
    cleanups.push(() => {
      camera.stop();
      moved.stop();
    });
    expect(await moved.resumeSession(returning.sessionId, returning.resumeSecret)).toEqual(['cam']);
    await moved.push([{ track: camera.track, name: 'cam' }]);
    const resumedAt = performance.now() - killed;
    const frames = clock.frames();
    await waitFor('the resumed camera on the same transceiver', () => clock.frames() > frames + 10, 15_000);
    console.log(
      `SIGKILL of the publisher's node: resumed on B ${resumedAt.toFixed(0)} ms after the kill, subscriber's longest freeze ${clock.longestGapMs().toFixed(0)} ms (offers applied: ${sub.offersApplied()})`,
    );
    expect(sub.events.items.filter((e) => e.type === 'TRACK_ENDED' && e.mid === returningMid)).toEqual([]);
    expect(events.items.filter((e) => e.track.sessionId === returning.sessionId).map((e) => e.type)).toContain('MOVED');
    expect(events.items.filter((e) => e.track.sessionId === returning.sessionId).map((e) => e.type)).not.toContain('UNPUBLISHED');
    // The session lives on B now, under its old id; calls about it reach it from any node.
    expect((await gqlOk(B.url, 'query($id: ID!) { session(id: $id) { id } }', { id: returning.sessionId })).session.id).toBe(returning.sessionId);

    // The other session was not resumed: a freeze for its subscriber until the grace is over, then its track ends.
    expect(sub.events.items.filter((e) => e.type === 'TRACK_ENDED' && e.mid === goneMid)).toEqual([]);
    await waitFor('TRACK_ENDED of the session nobody resumed', () => sub.events.items.some((e) => e.type === 'TRACK_ENDED' && e.mid === goneMid), GRACE_MS + 10_000);
    const endedAt = performance.now() - killed;
    console.log(`the session nobody resumed: TRACK_ENDED ${endedAt.toFixed(0)} ms after the kill (SESSION_RESUME_GRACE_MS ${GRACE_MS})`);
    expect(endedAt).toBeGreaterThan(GRACE_MS);
    expect(events.items.some((e) => e.type === 'UNPUBLISHED' && e.track.sessionId === gone.sessionId)).toBe(true);
  });
});
