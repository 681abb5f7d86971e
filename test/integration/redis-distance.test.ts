import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { gqlOk } from '../helpers/graphql.js';
import { waitFor } from '../helpers/media.js';
import { TestPeer } from '../helpers/peer.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { startTestServer } from '../helpers/server.js';
import { startDelayProxy } from '../helpers/delayProxy.js';
import { callJourney } from '../helpers/callJourney.js';

/**
 * No Redis round trip on a session's own hot path: node FAR reaches Redis
 * over a link with a 60 ms round trip (a delaying proxy), node NEAR directly.
 * The same call journey on each (create, publish, pull, answer, close),
 * timed per call: on FAR only creating a session pays the distance (it is
 * recorded in the cluster's directory); every call about its own sessions,
 * and a call about a session of NEAR that reaches FAR and is forwarded,
 * costs no more than on NEAR.
 */
const ONE_WAY_MS = 30;
let redis: TestRedis;
let proxy: Awaited<ReturnType<typeof startDelayProxy>>;
const nodes: { far?: Switchyard; near?: Switchyard } = {};
const cleanups: (() => void)[] = [];

beforeAll(async () => {
  redis = await startRedis();
  proxy = await startDelayProxy({ host: '127.0.0.1', port: redis.port }, ONE_WAY_MS);
  const common = { WORKERS: '1', CLUSTER_SECRET: 'redis-distance-test-secret-0123456789ab' };
  nodes.far = await startTestServer({ ...common, REDIS_URL: proxy.url('redis') });
  nodes.near = await startTestServer({ ...common, REDIS_URL: redis.url });
  await waitFor('the nodes to see each other', () => [nodes.far!, nodes.near!].every((n) => n.shared.cluster!.nodes.peers.length === 2), 5000);
}, 60_000);

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) cleanup();
  for (const node of [nodes.far, nodes.near]) await node?.stop().catch(() => undefined);
  await proxy?.close();
  await redis?.close();
});

const journey = (node: Switchyard, rounds: number) => callJourney(node.url, rounds);

describe('Redis far away', () => {
  it('costs only session creation on a node\'s own sessions, and nothing on a call forwarded by session id', { timeout: 90_000 }, async () => {
    await journey(nodes.near!, 1); // Warm both nodes' code paths.
    await journey(nodes.far!, 1);
    const near = await journey(nodes.near!, 3);
    const far = await journey(nodes.far!, 3);
    const rows = [...near.keys()].map((field) => ({ field, near: near.get(field)!, far: far.get(field)! }));
    console.log(
      `call latency, median of 3, Redis round trip ${2 * ONE_WAY_MS} ms away from FAR:\n` +
        rows.map((r) => `${r.field.padEnd(14)} near ${r.near.toFixed(1).padStart(6)} ms   far ${r.far.toFixed(1).padStart(6)} ms   (+${(r.far - r.near).toFixed(1)})`).join('\n'),
    );
    // Creating a session records it in the cluster's directory: at least one round trip.
    expect(far.get('createSession')! - near.get('createSession')!).toBeGreaterThan(2 * ONE_WAY_MS * 0.8);
    for (const field of ['pushTracks', 'pullTracks', 'renegotiate', 'closeTracks', 'session', 'closeSession']) {
      expect(far.get(field), field).toBeDefined();
      // Less than one round trip more than near: none at all.
      expect(far.get(field)! - near.get(field)!, field).toBeLessThan(2 * ONE_WAY_MS * 0.5);
    }

    // A call that reaches FAR about a session of NEAR: FAR finds NEAR from the session id, not from Redis.
    const peer = new TestPeer(nodes.near!.url);
    cleanups.push(() => peer.stop());
    await peer.createSession();
    const times: number[] = [];
    for (let i = 0; i < 5; i += 1) {
      const started = performance.now();
      await gqlOk(nodes.far!.url, 'query($id: ID!) { session(id: $id) { id connectionState } }', { id: peer.sessionId });
      times.push(performance.now() - started);
    }
    const forwarded = times.sort((a, b) => a - b)[2]!;
    console.log(`a call about a session of NEAR sent to FAR: ${forwarded.toFixed(1)} ms (median of 5)`);
    expect(forwarded).toBeLessThan(2 * ONE_WAY_MS * 0.5);
  });
});
