import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { gqlOk } from '../helpers/graphql.js';
import { fakeCamera, waitFor, watchVideo } from '../helpers/media.js';
import { SIMULCAST_LAYERS, TestPeer } from '../helpers/peer.js';
import { publishCamera } from '../helpers/call.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { startTestServer } from '../helpers/server.js';
import { collect, wsClient } from '../helpers/subscriptions.js';
import { linkTable, regionOf } from '../helpers/relayLinks.js';

/**
 * Relay trees, in one process: seven nodes on one redis-server in two
 * regions, RELAY_FANOUT 2. A track published on A (eu) and pulled on every
 * node enters each node once, no node feeds more than two others, the
 * second region takes it over exactly one link, and every subscriber
 * decodes. A relay that stops: the nodes below it re-attach, and their
 * subscribers get the media back on the same transceiver, through an SFU
 * offer, with no TRACK_ENDED.
 */
let redis: TestRedis;
const nodes: Switchyard[] = [];
const cleanups: (() => void)[] = [];
const REGIONS = ['eu', 'eu', 'eu', 'eu', 'us', 'us', 'us'];
const FANOUT = 2;
const subscribers: Awaited<ReturnType<typeof follower>>[] = [];
const videos: ReturnType<typeof watchVideo>[] = [];

beforeAll(async () => {
  redis = await startRedis();
  for (const [i, region] of REGIONS.entries()) {
    nodes.push(
      await startTestServer({
        // Node D has two workers: its subscribers on both still share one inbound pipe.
        WORKERS: i === 3 ? '2' : '1',
        REDIS_URL: redis.url,
        CLUSTER_SECRET: 'relay-tree-test-secret-0123456789abcdef',
        NODE_REGION: region,
        REGION_ORDER: region === 'eu' ? 'us' : 'eu',
        RELAY_FANOUT: String(FANOUT),
        PIPE_IDLE_GRACE_MS: '1000',
        LAYER_OFF_DELAY_MS: '500',
      }),
    );
  }
  // Every node has seen every other's heartbeat (regions are read from them).
  await waitFor('every node to see the others', () => nodes.every((n) => n.shared.cluster!.nodes.peers.length === nodes.length), 5000);
}, 120_000);

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) cleanup();
  for (const node of nodes) await node.stop().catch(() => undefined);
  await redis?.close();
});

/** A subscriber that answers the SFU's offers by itself, as the SDK does, and records its session's events. */
async function follower(node: Switchyard) {
  const peer = new TestPeer(node.url);
  cleanups.push(() => peer.stop());
  await peer.createSession();
  const events = collect(wsClient(node.url), 'subscription($id: ID!) { sessionEvents(sessionId: $id) { type mid } }', { id: peer.sessionId }, (d) => d.sessionEvents as { type: string; mid: string | null });
  cleanups.push(() => void events.close());
  let answered = 0;
  const timer = setInterval(() => {
    if (!events.items.some((e, i) => e.type === 'RENEGOTIATION_NEEDED' && i >= answered)) return;
    answered = events.items.length;
    void gqlOk(node.url, 'query($id: ID!) { session(id: $id) { pendingOffer { sdp } } }', { id: peer.sessionId }).then(async (data) => {
      if (data.session.pendingOffer) await peer.applyOffer(data.session.pendingOffer.sdp);
    });
  }, 100);
  cleanups.push(() => clearInterval(timer));
  return { peer, events, node };
}

describe('relay trees', () => {
  it('bring a track into every node once, no node feeding more than RELAY_FANOUT, each region over one link', { timeout: 120_000 }, async () => {
    const published = await publishCamera(nodes[0]!.url, undefined, 'camera', [], 15);
    cleanups.push(published.stop);
    const source = { sessionId: published.peer.sessionId, trackName: 'camera' };

    // One subscriber per node after A, two on D (one per worker), pulled one node at a time so the tree grows level by level.
    for (const i of [1, 2, 3, 3, 4, 5, 6]) {
      const s = await follower(nodes[i]!);
      const [pulled] = await s.peer.pull([source]);
      expect(pulled?.error).toBeNull();
      await waitFor('the pulled track', () => s.peer.received.has(pulled!.mid!));
      subscribers.push(s);
    }
    const d = nodes[3]!;
    const onD = subscribers.filter((s) => s.node === d).map((s) => d.sessions.get(s.peer.sessionId)!.worker.index);
    expect(new Set(onD).size).toBe(2);

    for (const s of subscribers) {
      const video = watchVideo([...s.peer.received.values()][0]!);
      cleanups.push(video.stop);
      videos.push(video);
    }
    await waitFor('every subscriber to decode', () => videos.every((v) => v.stats.frames > 5), 20_000);

    const links = linkTable(nodes, REGIONS);
    console.log(`relay tree: ${nodes.length} nodes, RELAY_FANOUT ${FANOUT}\n${links.text}`);
    // Every node but the owner takes the track over exactly one inbound pipe.
    for (const node of nodes.slice(1)) expect(node.pipes!.remote.links()).toHaveLength(1);
    expect(nodes[0]!.pipes!.remote.links()).toHaveLength(0);
    // No node feeds more than RELAY_FANOUT others.
    for (const node of nodes) expect(node.pipes!.server.links().length).toBeLessThanOrEqual(FANOUT);
    // The us region takes the track from eu over one link.
    expect(links.rows.filter((r) => r.fromRegion !== r.toRegion)).toHaveLength(1);
    expect(links.rows).toHaveLength(nodes.length - 1);
  });

  it('passes layer demand up the tree: a subscriber two hops away asks for f, the publisher hears it', { timeout: 60_000 }, async () => {
    const camera = fakeCamera(320, 180, 15);
    cleanups.push(camera.stop);
    const publisher = new TestPeer(nodes[0]!.url);
    cleanups.push(() => publisher.stop());
    await publisher.createSession();
    const events = collect(wsClient(nodes[0]!.url), 'subscription($id: ID!) { sessionEvents(sessionId: $id) { type layersInDemand } }', { id: publisher.sessionId }, (d) => d.sessionEvents as { type: string; layersInDemand: string[] | null });
    cleanups.push(() => void events.close());
    const [pushed] = await publisher.push([{ track: camera.track, name: 'sim', sendEncodings: SIMULCAST_LAYERS }]);
    expect(pushed?.error).toBeNull();
    const demand = () => events.items.filter((e) => e.type === 'LAYERS_IN_DEMAND').map((e) => e.layersInDemand!.join(','));
    const pull = async (node: Switchyard) => {
      const peer = new TestPeer(node.url);
      cleanups.push(() => peer.stop());
      await peer.createSession();
      const data = await gqlOk(node.url, 'mutation($input: PullTracksInput!) { pullTracks(input: $input) { sessionDescription { sdp } tracks { mid error { code } } } }', {
        input: { sessionId: peer.sessionId, tracks: [{ sessionId: publisher.sessionId, trackName: 'sim', simulcast: { preferredRid: 'q' } }] },
      });
      await peer.applyOffer(data.pullTracks.sessionDescription.sdp);
      return { peer, mid: data.pullTracks.tracks[0].mid as string, node };
    };
    // Nodes 1 and 2 fill the owner's fan-out; node 3 hangs below one of them.
    const pulled = [await pull(nodes[1]!), await pull(nodes[2]!), await pull(nodes[3]!)];
    const deep = pulled[2]!;
    const link = nodes[3]!.pipes!.remote.links().find((l) => l.trackName === 'sim')!;
    expect(link.depth).toBe(2);
    await expect.poll(() => demand().at(-1), { timeout: 10_000 }).toBe('q');
    const asked = Date.now();
    await gqlOk(deep.node.url, 'mutation($input: UpdateTracksInput!) { updateTracks(input: $input) { tracks { error { code } } } }', {
      input: { sessionId: deep.peer.sessionId, tracks: [{ mid: deep.mid, sessionId: publisher.sessionId, trackName: 'sim', simulcast: { preferredRid: 'f' } }] },
    });
    await expect.poll(() => demand().at(-1), { timeout: 3000, interval: 20 }).toBe('q,h,f');
    console.log(`relay tree: a subscriber at depth 2 asks for f -> the publisher hears it after ${Date.now() - asked} ms`);
    // The track ends with its session: its pipes close everywhere (the later tests count pipes).
    for (const { peer, node } of [...pulled, { peer: publisher, node: nodes[0]! }]) {
      await gqlOk(node.url, 'mutation($id: ID!) { closeSession(input: { sessionId: $id }) { sessionId } }', { id: peer.sessionId });
    }
    await waitFor('the track\'s pipes to close', () => nodes.every((n) => !n.pipes!.remote.links().some((l) => l.trackName === 'sim')), 5000);
  });
  it('re-attaches the nodes below a relay that stops, their subscribers back on the same transceivers without TRACK_ENDED', { timeout: 60_000 }, async () => {
    const links = linkTable(nodes, REGIONS).rows;
    // The relay with the largest subtree (a node other than the owner that feeds others): its grandchildren must follow too.
    const descendants = (i: number): number => links.filter((l) => l.from === i).reduce((n, l) => n + 1 + descendants(l.to), 0);
    const relay = [...new Set(links.map((l) => l.from))].filter((i) => i !== 0).sort((a, b) => descendants(b) - descendants(a))[0]!;
    expect(descendants(relay)).toBeGreaterThan(0);
    console.log(`stopping relay ${String.fromCharCode(65 + relay)}, which has ${descendants(relay)} nodes below it`);
    const below = links.filter((l) => l.from === relay).map((l) => l.to);
    const publisherSession = nodes[0]!.sessions.list().find((s) => s.transceivers.some((t) => t.pushed))!.id;
    const watched = below.map((i) => {
      const session = nodes[i]!.sessions.list().find((s) => s.transceivers.some((t) => t.pulled?.source.sessionId === publisherSession))!;
      const mid = session.transceivers.find((t) => t.pulled)!.section.mid;
      return { i, session, mid };
    });
    expect(watched.length).toBeGreaterThan(0);
    const stopped = Date.now();
    await nodes[relay]!.stop();
    const back = await Promise.all(
      watched.map(async ({ i, session, mid }) => {
        await waitFor(`node ${i} to take the track from another carrier`, () => nodes[i]!.pipes!.remote.links().some((l) => l.parentId !== nodes[relay]!.shared.cluster!.nodeId), 10_000);
        // The same transceiver carries a live consumer again, and its answer was applied (not pending).
        await waitFor(`the subscriber on node ${i} to follow`, () => {
          const t = session.transceivers.find((x) => x.section.mid === mid);
          return Boolean(t?.pulled && !t.pulled.ended && !t.pending);
        }, 10_000);
        return { i, ms: Date.now() - stopped };
      }),
    );
    for (const b of back) console.log(`relay ${regionOf(relay, REGIONS)}#${relay} stopped -> node ${b.i} re-attached and its subscriber followed after ${b.ms} ms`);
    for (const b of back) expect(b.ms).toBeLessThan(5000);
    // Every subscriber still there decodes again, on the track it had: those below the relay and those further down.
    const living = subscribers.map((s, k) => ({ s, video: videos[k]! })).filter(({ s }) => s.node !== nodes[relay]);
    const before = living.map(({ video }) => video.stats.frames);
    await waitFor('every remaining subscriber to decode again', () => living.every(({ video }, k) => video.stats.frames > before[k]! + 10), 10_000);
    for (const { s } of living) {
      // Nothing for the application to do: no TRACK_ENDED on any of them.
      expect(s.events.items.filter((e) => e.type === 'TRACK_ENDED')).toEqual([]);
    }
    for (const { i } of watched) {
      const s = living.find((l) => l.s.node === nodes[i])!.s;
      expect(s.events.items.some((e) => e.type === 'RENEGOTIATION_NEEDED')).toBe(true);
    }
  });

  it('folds idle branches: once the last subscribers leave, every inbound pipe closes after PIPE_IDLE_GRACE_MS, and the parents\' ends with them', { timeout: 30_000 }, async () => {
    const alive = nodes.filter((n) => n.pipes!.remote.size > 0 || n.pipes!.server.size > 0);
    expect(alive.length).toBeGreaterThan(1);
    for (const s of subscribers) {
      if (!s.node.sessions.get(s.peer.sessionId)) continue;
      await gqlOk(s.node.url, 'mutation($id: ID!) { closeSession(input: { sessionId: $id }) { sessionId } }', { id: s.peer.sessionId });
    }
    const closed = Date.now();
    await waitFor('every pipe between nodes to close', () => nodes.every((n) => n.pipes!.remote.size === 0 && n.pipes!.server.size === 0), 10_000);
    const ms = Date.now() - closed;
    console.log(`relay tree: last subscribers closed -> every pipe between nodes closed after ${ms} ms (PIPE_IDLE_GRACE_MS 1000, ${alive.length} nodes had pipes)`);
    // Not before the grace: a subscriber that comes back at once finds its pipe.
    expect(ms).toBeGreaterThanOrEqual(900);
  });

});
