import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gqlOk } from '../helpers/graphql.js';
import { publishCamera } from '../helpers/call.js';
import { waitFor, watchVideo } from '../helpers/media.js';
import { makeTestHosts, type TestHosts } from '../helpers/netns.js';
import { buildOnce, startNodeProcess, type NodeProcess } from '../helpers/nodeProcess.js';
import { TestPeer } from '../helpers/peer.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

/**
 * A cluster on separate hosts: two nodes in network namespaces of their own
 * (their own addresses, no shared loopback), Redis on the bridge between
 * them, each node told where the others reach it (CLUSTER_ADVERTISE_URL,
 * RTC_LISTEN_IP). What a hard-coded 127.0.0.1 anywhere in calls between
 * nodes, pipes or ICE would break.
 */
let hosts: TestHosts;
let redis: TestRedis;
const nodes: NodeProcess[] = [];
const cleanups: (() => void)[] = [];

beforeAll(async () => {
  await buildOnce();
  hosts = await makeTestHosts(2);
  redis = await startRedis({ bind: hosts.bridgeIp });
  for (const [i, host] of hosts.hosts.entries()) {
    nodes.push(
      await startNodeProcess(
        `host-${i}`,
        { REDIS_URL: redis.url, RTC_LISTEN_IP: host.ip, CLUSTER_ADVERTISE_URL: `http://${host.ip}:4000` },
        { netns: host.netns, host: host.ip },
      ),
    );
  }
}, 120_000);

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) cleanup();
  for (const node of nodes) await node.stop();
  await redis?.close();
  await hosts?.remove();
});

describe('two nodes on two test hosts', () => {
  it('pipe a track published on one host to a subscriber on the other, and answer each other\'s calls', { timeout: 60_000 }, async () => {
    const [a, b] = nodes as [NodeProcess, NodeProcess];
    expect(a.url).not.toContain('127.0.0.1');
    const published = await publishCamera(a.url, undefined, 'camera', []);
    cleanups.push(published.stop);
    expect(published.pushed?.error).toBeNull();
    const publisher = published.peer;

    const subscriber = new TestPeer(b.url);
    cleanups.push(() => subscriber.stop());
    await subscriber.createSession();
    // Pulled through the publisher's host: forwarded to the subscriber's.
    subscriber.url = a.url;
    const [pulled] = await subscriber.pull([{ sessionId: publisher.sessionId, trackName: 'camera' }]);
    expect(pulled?.error).toBeNull();
    await waitFor('the piped track', () => subscriber.received.has(pulled!.mid!));
    const video = watchVideo(subscriber.received.get(pulled!.mid!)!);
    cleanups.push(video.stop);
    await waitFor('frames piped between the hosts', () => video.stats.frames > 10, 20_000);
    const listed = await gqlOk(b.url, 'query($ids: [ID!]) { tracks(filter: { sessionIds: $ids }) { name } }', { ids: [publisher.sessionId] });
    expect(listed.tracks).toEqual([{ name: 'camera' }]);
  });
});
