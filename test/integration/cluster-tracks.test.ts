import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { gqlOk } from '../helpers/graphql.js';
import { publishCamera } from '../helpers/call.js';
import { waitFor } from '../helpers/media.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { startTestServer } from '../helpers/server.js';
import { collect, wsClient } from '../helpers/subscriptions.js';

/**
 * Cluster mode, the shared track directory and event log: two nodes on one
 * real redis-server (started here). What is published on one node is listed,
 * found and announced on the other, in one order, and a cursor taken on one
 * node resumes on the other.
 */
let redis: TestRedis;
let a: Switchyard;
let b: Switchyard;
const cleanups: (() => void)[] = [];

beforeAll(async () => {
  redis = await startRedis();
  a = await startTestServer({ WORKERS: '1', REDIS_URL: redis.url });
  b = await startTestServer({ WORKERS: '1', REDIS_URL: redis.url });
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) cleanup();
  await a?.stop();
  await b?.stop();
  await redis?.close();
});

const TRACKS = 'query($tags: [String!]) { tracks(filter: { tags: $tags }) { sessionId name status tags } }';
const SNAPSHOT = 'query($tags: [String!]) { trackSnapshot(filter: { tags: $tags }) { cursor tracks { sessionId name } } }';
const EVENTS = 'subscription($tags: [String!], $after: String) { trackEvents(filter: { tags: $tags }, after: $after) { type track { sessionId name } } }';

async function publisherOn(node: Switchyard, tags: string[]) {
  const call = await publishCamera(node.url, undefined, 'camera', tags);
  cleanups.push(call.stop);
  expect(call.pushed?.error).toBeNull();
  return call.peer;
}

describe('two nodes on one Redis', () => {
  it('say they are a cluster at start', () => {
    expect(a.shared.mode).toBe('cluster');
    expect(b.shared.mode).toBe('cluster');
  });

  it('list, find and announce each other\'s tracks, in the same order on both nodes', { timeout: 30_000 }, async () => {
    const tags = ['room:cluster-1'];
    const onA = collect(wsClient(a.url), EVENTS, { tags }, (d) => `${d.trackEvents.type} ${d.trackEvents.track.name}@${d.trackEvents.track.sessionId}`);
    const onB = collect(wsClient(b.url), EVENTS, { tags }, (d) => `${d.trackEvents.type} ${d.trackEvents.track.name}@${d.trackEvents.track.sessionId}`);
    cleanups.push(() => void onA.close(), () => void onB.close());
    await new Promise((resolve) => setTimeout(resolve, 200));
    const fromA = await publisherOn(a, tags);
    const fromB = await publisherOn(b, tags);

    for (const node of [a, b]) {
      const { tracks } = await gqlOk(node.url, TRACKS, { tags });
      expect(tracks.map((t: { sessionId: string }) => t.sessionId)).toEqual([fromA.sessionId, fromB.sessionId]);
      const found = await gqlOk(node.url, 'query($s: ID!) { track(sessionId: $s, name: "camera") { sessionId tags } }', { s: node === a ? fromB.sessionId : fromA.sessionId });
      expect(found.track).toMatchObject({ tags });
    }
    await waitFor('PUBLISHED and ACTIVE of both tracks on both nodes', () => onA.items.length >= 4 && onB.items.length >= 4, 15_000);
    expect(onB.items.slice(0, 4)).toEqual(onA.items.slice(0, 4));
    expect(onA.items.filter((e) => e.startsWith('PUBLISHED'))).toEqual([`PUBLISHED camera@${fromA.sessionId}`, `PUBLISHED camera@${fromB.sessionId}`]);

    // A session that closes on A is UNPUBLISHED for subscribers on B.
    await gqlOk(a.url, 'mutation($id: ID!) { closeSession(input: { sessionId: $id }) { sessionId } }', { id: fromA.sessionId });
    await waitFor('UNPUBLISHED on B', () => onB.items.includes(`UNPUBLISHED camera@${fromA.sessionId}`), 5000);
    expect((await gqlOk(b.url, TRACKS, { tags })).tracks).toHaveLength(1);
  });

  it('resume on one node from a cursor taken on the other, with exactly what came after it', { timeout: 30_000 }, async () => {
    const tags = ['room:cluster-2'];
    await publisherOn(a, tags);
    const { trackSnapshot } = await gqlOk(a.url, SNAPSHOT, { tags });
    expect(trackSnapshot.tracks).toHaveLength(1);
    const later = await publisherOn(b, tags);
    const resumed = collect(wsClient(b.url), EVENTS, { tags, after: trackSnapshot.cursor }, (d) => `${d.trackEvents.type} ${d.trackEvents.track.sessionId}`);
    cleanups.push(() => void resumed.close());
    await waitFor('the event after the cursor', () => resumed.items.length >= 1, 10_000);
    expect(resumed.items[0]).toBe(`PUBLISHED ${later.sessionId}`);
    expect(resumed.items.filter((e) => e.startsWith('PUBLISHED'))).toEqual([`PUBLISHED ${later.sessionId}`]);
    // A cursor that is not the cluster's is refused on every node, as on one node.
    const refused = collect(wsClient(b.url), EVENTS, { tags, after: 'bm90LWEtY3Vyc29y' }, (d) => d);
    cleanups.push(() => void refused.close());
    await waitFor('the refusal', () => refused.errors.length > 0, 5000);
    expect(JSON.stringify(refused.errors)).toContain('BAD_REQUEST');
  });
});
