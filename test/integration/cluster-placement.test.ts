import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { errorCode, gql } from '../helpers/graphql.js';
import { fakeCamera, waitFor, watchVideo } from '../helpers/media.js';
import { TestPeer } from '../helpers/peer.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { startTestServer } from '../helpers/server.js';
import { scrape, sample } from '../helpers/metrics.js';

/**
 * Placement by load: four nodes with room for 5 sessions each, three in
 * region eu and one in us. Every createSession goes to node A, as from a
 * load balancer that knows nothing of load: A takes 5, then the least full
 * node of its region, then the other eu node, then us; past that the cluster
 * is full (LIMIT_EXCEEDED).
 */
let redis: TestRedis;
const nodes: Switchyard[] = [];
const cleanups: (() => void)[] = [];
const REGIONS = ['eu', 'eu', 'eu', 'us'];
const CAPACITY = 5;

beforeAll(async () => {
  redis = await startRedis();
  for (const region of REGIONS) {
    nodes.push(
      await startTestServer({
        WORKERS: '1',
        REDIS_URL: redis.url,
        CLUSTER_SECRET: 'placement-test-secret-0123456789abcdefgh',
        NODE_REGION: region,
        REGION_ORDER: region === 'eu' ? 'us' : 'eu',
        MAX_SESSIONS_PER_NODE: String(CAPACITY),
      }),
    );
  }
  await waitFor('every node to see the others', () => nodes.every((n) => n.shared.cluster!.nodes.peers.length === nodes.length), 5000);
}, 60_000);

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) cleanup();
  for (const node of nodes) await node.stop().catch(() => undefined);
  await redis?.close();
});

const where = (sessionId: string) => nodes.findIndex((n) => n.sessions.get(sessionId));

describe('placement by load', () => {
  it('puts 10 sessions sent to one node with room for 5 on it and on another node of its region, all carrying media', { timeout: 90_000 }, async () => {
    const camera = fakeCamera(160, 120, 15);
    cleanups.push(camera.stop);
    const peers: TestPeer[] = [];
    for (let i = 0; i < 10; i += 1) {
      const peer = new TestPeer(nodes[0]!.url);
      cleanups.push(() => peer.stop());
      await peer.createSession();
      peers.push(peer);
    }
    const homes = peers.map((p) => where(p.sessionId));
    console.log(`placement: 10 createSession calls to A landed on ${homes.map((i) => String.fromCharCode(65 + i)).join(' ')}`);
    expect(homes.slice(0, CAPACITY)).toEqual(Array(CAPACITY).fill(0));
    const other = homes[CAPACITY]!;
    expect(REGIONS[other]).toBe('eu');
    expect(other).not.toBe(0);
    expect(homes.slice(CAPACITY)).toEqual(Array(CAPACITY).fill(other));

    // All ten carry media: the first publishes, the other nine pull it (every call still through A).
    await peers[0]!.push([{ track: camera.track, name: 'camera' }]);
    const videos: ReturnType<typeof watchVideo>[] = [];
    for (const peer of peers.slice(1)) {
      const [pulled] = await peer.pull([{ sessionId: peers[0]!.sessionId, trackName: 'camera' }]);
      expect(pulled?.error).toBeNull();
      await waitFor('the pulled track', () => peer.received.has(pulled!.mid!));
      const video = watchVideo(peer.received.get(pulled!.mid!)!);
      cleanups.push(video.stop);
      videos.push(video);
    }
    await waitFor('all nine subscribers to decode', () => videos.every((v) => v.stats.frames > 5), 20_000);
    // Each node announces its load and capacity in /metrics.
    const metrics = await scrape(`${nodes[0]!.url}/metrics`);
    expect(sample(metrics, 'switchyard_node_load', { measure: 'sessions' })).toBe(CAPACITY);
    expect(sample(metrics, 'switchyard_node_capacity', { measure: 'max_sessions', region: 'eu' })).toBe(CAPACITY);
  });

  it('fills the region, then the next region in REGION_ORDER, and answers LIMIT_EXCEEDED only when the cluster is full', { timeout: 60_000 }, async () => {
    const create = () => gql(nodes[0]!.url, 'mutation { createSession { session { id } } }');
    const homes: number[] = [];
    for (let i = 0; i < 2 * CAPACITY; i += 1) {
      const result = await create();
      expect(result.errors).toBeUndefined();
      homes.push(where(result.data!.createSession.session.id));
    }
    const thirdEu = [1, 2].find((i) => nodes[i]!.sessions.sessionCount === CAPACITY && homes.includes(i))!;
    expect(homes.slice(0, CAPACITY)).toEqual(Array(CAPACITY).fill(thirdEu));
    expect(homes.slice(CAPACITY)).toEqual(Array(CAPACITY).fill(3));
    const full = await create();
    expect(errorCode(full)).toBe('LIMIT_EXCEEDED');
    expect(full.errors![0]!.message).toContain('every node of the cluster is full');
    expect(nodes.map((n) => n.sessions.sessionCount)).toEqual([CAPACITY, CAPACITY, CAPACITY, CAPACITY]);
  });
});
