import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/media.js';
import { buildOnce, startNodeProcess, type NodeProcess } from '../helpers/nodeProcess.js';
import { publishCamera } from '../helpers/call.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { scrape, sample, type Scrape } from '../helpers/metrics.js';
import { follower, frameClock, type Follower } from '../helpers/follower.js';
import { makeWan, udpRoundTripMs, type Wan } from '../helpers/wan.js';

/**
 * No regions, for real: nine node processes as users start them (WORKERS=2),
 * three per region, each in a network namespace of its own; between regions
 * a delay line adds real latency (shared/notes/wan.md). One publisher in eu,
 * two subscribers on every other node (one per worker), each decoding. The
 * relay tree is read from each node's /metrics and printed; then a relay is
 * SIGKILLed and the freeze of every subscriber is measured.
 */
const REGIONS = ['eu', 'us', 'ap'];
const ONE_WAY_MS = { '0-1': 40, '0-2': 70, '1-2': 60 };
const FANOUT = 2;
let wan: Wan;
let redis: TestRedis;
const nodes: (NodeProcess & { id: string; region: number })[] = [];
const cleanups: (() => void)[] = [];
const subscribers: { node: number; follower: Follower; clock: ReturnType<typeof frameClock> }[] = [];

beforeAll(async () => {
  await buildOnce();
  wan = await makeWan([3, 3, 3], ONE_WAY_MS);
  redis = await startRedis({ bind: wan.hostIp });
  for (const [i, host] of wan.hosts.entries()) {
    const region = REGIONS[host.region]!;
    const node = await startNodeProcess(
      `${region}-${i}`,
      {
        WORKERS: '2',
        REDIS_URL: redis.url,
        RTC_LISTEN_IP: host.ip,
        CLUSTER_ADVERTISE_URL: `http://${host.ip}:4000`,
        NODE_REGION: region,
        REGION_ORDER: REGIONS.filter((r) => r !== region).join(','),
        RELAY_FANOUT: String(FANOUT),
        PIPE_IDLE_GRACE_MS: '3000',
      },
      { netns: host.netns, host: host.ip },
    );
    const id = /"node":"([0-9a-f-]{36})"/.exec(node.output())?.[1];
    if (!id) throw new Error(`node ${node.name} did not log its cluster id:\n${node.output()}`);
    nodes.push(Object.assign(node, { id, region: host.region }));
  }
}, 240_000);

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) cleanup();
  await Promise.all(nodes.map((node) => node.stop()));
  await redis?.close();
  await wan?.remove();
}, 60_000);


/** Every node's inbound links from its /metrics (switchyard_pipe_links{direction="in"}). */
async function linksNow(alive: typeof nodes): Promise<{ from: string; to: string; fromRegion: number; toRegion: number }[]> {
  const rows = [];
  for (const node of alive) {
    const metrics = await scrape(`${node.url}/metrics`);
    for (const [key, value] of metrics) {
      const peer = /^switchyard_pipe_links\{direction="in",peer="([^"]+)"\}$/.exec(key)?.[1];
      if (!peer || value < 1) continue;
      const from = nodes.find((n) => n.id === peer);
      rows.push({ from: from?.name ?? peer, to: node.name, fromRegion: from?.region ?? -1, toRegion: node.region });
    }
  }
  return rows;
}

describe('nine nodes in three regions', () => {
  it('carry one track in a relay tree: one inbound pipe per node, fan-out held, each region over one link, all decoding', { timeout: 240_000 }, async () => {
    const [eu, us, ap] = [wan.hosts[0]!, wan.hosts[3]!, wan.hosts[6]!];
    const rtts = { 'eu-us': await udpRoundTripMs(eu, us), 'eu-ap': await udpRoundTripMs(eu, ap), 'us-ap': await udpRoundTripMs(us, ap), 'eu-eu': await udpRoundTripMs(eu, wan.hosts[1]!) };
    console.log(`WAN round trips (UDP, best of 5): ${Object.entries(rtts).map(([k, v]) => `${k} ${v.toFixed(1)} ms`).join(', ')}`);
    expect(rtts['eu-us']).toBeGreaterThan(2 * ONE_WAY_MS['0-1'] * 0.9);
    expect(rtts['eu-eu']).toBeLessThan(10);

    const published = await publishCamera(nodes[0]!.url, undefined, 'camera', [], 15);
    cleanups.push(published.stop);
    const source = { sessionId: published.peer.sessionId, trackName: 'camera' };

    for (let i = 1; i < nodes.length; i += 1) {
      for (let k = 0; k < 2; k += 1) {
        const f = await follower(nodes[i]!.url);
        cleanups.push(f.stop);
        const started = performance.now();
        const [pulled] = await f.peer.pull([source]);
        expect(pulled?.error).toBeNull();
        await waitFor('the pulled track', () => f.peer.received.has(pulled!.mid!), 10_000);
        const clock = frameClock(f.peer.received.get(pulled!.mid!)!);
        cleanups.push(clock.stop);
        await waitFor(`the first frame on ${nodes[i]!.name}`, () => clock.frames() > 0, 15_000);
        if (k === 0) console.log(`pull on ${nodes[i]!.name} (${REGIONS[nodes[i]!.region]}) -> first frame after ${(performance.now() - started).toFixed(0)} ms`);
        subscribers.push({ node: i, follower: f, clock });
      }
    }
    await waitFor('every subscriber to decode', () => subscribers.every((s) => s.clock.frames() > 10), 30_000);

    const links = await linksNow(nodes);
    console.log(
      `relay tree, RELAY_FANOUT ${FANOUT}:\n` +
        ['from       -> to         link', ...links.map((l) => `${l.from.padEnd(10)} -> ${l.to.padEnd(10)} ${l.fromRegion === l.toRegion ? 'in region' : `${REGIONS[l.fromRegion]}->${REGIONS[l.toRegion]}`}`)].join('\n'),
    );
    const scrapes = new Map<string, Scrape>();
    for (const node of nodes) scrapes.set(node.name, await scrape(`${node.url}/metrics`));
    // The owner feeds at most RELAY_FANOUT nodes.
    expect(links.filter((l) => l.from === nodes[0]!.name).length).toBeLessThanOrEqual(FANOUT);
    for (const node of nodes.slice(1)) {
      const metrics = scrapes.get(node.name)!;
      // Exactly one inbound pipe, though its two subscribers sit on two workers.
      expect(sample(metrics, 'switchyard_pipes', { scope: 'node_in' }), node.name).toBe(1);
      expect(sample(metrics, 'switchyard_worker_sessions', { worker: '0' })).toBe(1);
      expect(sample(metrics, 'switchyard_worker_sessions', { worker: '1' })).toBe(1);
      expect(sample(metrics, 'switchyard_pipes', { scope: 'node_out' })).toBeLessThanOrEqual(FANOUT);
    }
    // Each other region takes the track over exactly one link from another region.
    for (const region of [1, 2]) expect(links.filter((l) => l.toRegion === region && l.fromRegion !== region), REGIONS[region]).toHaveLength(1);
    expect(links).toHaveLength(nodes.length - 1);
  });

  it('SIGKILL of a relay: every subscriber below it decodes again within 5 s on its transceiver, the others see no interruption', { timeout: 120_000 }, async () => {
    const links = await linksNow(nodes);
    const below = (name: string): string[] => links.filter((l) => l.from === name).flatMap((l) => [l.to, ...below(l.to)]);
    const relay = nodes.slice(1).sort((a, b) => below(b.name).length - below(a.name).length)[0]!;
    const affected = new Set(below(relay.name));
    expect(affected.size).toBeGreaterThan(0);
    const watched = subscribers.filter((s) => nodes[s.node] !== relay);
    for (const s of watched) s.clock.mark();
    const framesBefore = watched.map((s) => s.clock.frames());
    const killed = performance.now();
    relay.signal('SIGKILL');
    // Back: every subscriber below has decoded for a while after the kill (15 frames at 15 fps).
    await waitFor('every subscriber to decode again', () => watched.every((s, i) => s.clock.frames() > framesBefore[i]! + 15 && s.clock.lastFrameAt() > killed + 500), 20_000);
    const rows = watched.map((s) => ({ name: nodes[s.node]!.name, below: affected.has(nodes[s.node]!.name), freeze: s.clock.longestGapMs(), offers: s.follower.offersApplied(), ended: s.follower.events.items.filter((e) => e.type === 'TRACK_ENDED').length }));
    console.log(
      `SIGKILL of relay ${relay.name} (${affected.size} nodes below it): longest freeze per subscriber\n` +
        rows.map((r) => `${r.name.padEnd(8)} ${r.below ? 'below ' : 'other '} ${r.freeze.toFixed(0).padStart(5)} ms  offers applied ${r.offers}  TRACK_ENDED ${r.ended}`).join('\n'),
    );
    for (const r of rows) {
      expect(r.ended, r.name).toBe(0);
      if (r.below) expect(r.freeze, r.name).toBeLessThan(5000);
      else expect(r.freeze, r.name).toBeLessThan(1500);
    }
    const after = await linksNow(nodes.filter((n) => n !== relay));
    console.log(`after: ${after.map((l) => `${l.from}->${l.to}`).join(', ')}`);
    for (const node of nodes.slice(1).filter((n) => n !== relay)) expect(after.filter((l) => l.to === node.name), node.name).toHaveLength(1);
  });
});
