/**
 * Relay tree benchmark (npm run bench:cascade): what a relay costs against
 * its baseline, each in the same run. In-process nodes on loopback (WORKERS=1,
 * one redis-server started here), a libwebrtc publisher sending a 320x240
 * camera at 30 fps whose frames carry their capture time.
 *
 * 1. Pull to first frame by depth: a chain A -> B -> C -> D (RELAY_FANOUT=1,
 *    so each node feeds one), built afresh each run (idle pipes close after
 *    PIPE_IDLE_GRACE_MS): pulls on B, C, D in turn each open a pipe one hop
 *    deeper; baseline a pull on the publisher's own node A.
 * 2. Per-hop latency: subscribers on A, B, C, D decode together; capture to
 *    decoded per depth, and (depth n - depth 0) / n per hop.
 * 3. Relay CPU: B's worker with one subscriber on B, then also feeding C (a
 *    relay), against A's worker with one, then two, local subscribers.
 * 4. The owner's outgoing pipes with 3, 6 and 9 pulling nodes, with
 *    RELAY_FANOUT=3 (flat at 3) against a star (every node from the owner).
 * 5. Calls on a node's own sessions with Redis behind a 50 ms round-trip
 *    link (a delaying proxy) against Redis local.
 * KEY_FRAME_REQUEST_DELAY_MS=0 (as bench:cluster): with the default 1000 each
 * pull waits for the key-frame window of the one before.
 */
import type { Switchyard } from '../src/app.js';
import { TestPeer } from '../test/helpers/peer.js';
import { startRedis } from '../test/helpers/redis.js';
import { startDelayProxy } from '../test/helpers/delayProxy.js';
import { callJourney } from '../test/helpers/callJourney.js';
import { startBenchNode } from './benchNode.js';
import { pullToFirstFrame, timestampCamera, WIDTH, HEIGHT } from './videoProbe.js';

const RUNS = Number(process.env.RUNS ?? 5);
const SECONDS = Number(process.env.SECONDS ?? 8);
const GRACE_MS = 300;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;
const fmt = (n: number) => n.toFixed(1);

const redis = await startRedis();
const nodeEnv = (cluster: string, extra: Record<string, string> = {}) => ({
  REDIS_URL: redis.url,
  CLUSTER_NAME: cluster,
  KEY_FRAME_REQUEST_DELAY_MS: '0',
  PIPE_IDLE_GRACE_MS: String(GRACE_MS),
  ...extra,
});

async function workerCpu(node: Switchyard): Promise<number> {
  const usage = await node.pool.workers[0]!.worker.getResourceUsage();
  return usage.ru_utime + usage.ru_stime;
}

async function cpuOver(nodes: Switchyard[], seconds: number): Promise<number[]> {
  const before = await Promise.all(nodes.map(workerCpu));
  await sleep(seconds * 1000);
  const after = await Promise.all(nodes.map(workerCpu));
  return after.map((value, i) => (value - before[i]!) / seconds);
}

const until = async (what: string, check: () => boolean, ms = 10_000) => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
};

// 1-3: a chain.
const chain: Switchyard[] = [];
for (let i = 0; i < 4; i += 1) chain.push(await startBenchNode(nodeEnv('chain', { RELAY_FANOUT: '1' })));
const [a, b, c, d] = chain as [Switchyard, Switchyard, Switchyard, Switchyard];
await until('the chain to see itself', () => chain.every((n) => n.shared.cluster!.nodes.peers.length === 4));
const camera = timestampCamera();
const publisher = new TestPeer(a.url);
await publisher.createSession();
await publisher.push([{ track: camera.track, name: 'camera' }]);
await sleep(1000);

const byDepth: number[][] = [[], [], [], []];
for (let run = 0; run < RUNS; run += 1) {
  const subs = [];
  for (const [depth, node] of [[0, a], [1, b], [2, c], [3, d]] as const) {
    // libwebrtc answers key-frame requests about once a second: each pull waits out the window of the one before, so depths compare.
    await sleep(2500);
    const sub = await pullToFirstFrame(node, publisher.sessionId);
    byDepth[depth]!.push(sub.ms);
    subs.push(sub);
  }
  const depths = [b, c, d].map((n) => n.pipes!.remote.links()[0]?.depth);
  if (depths.join() !== '1,2,3') throw new Error(`the chain is not a chain: depths ${depths.join()}`);
  for (const sub of subs) await sub.stop();
  await until('the chain to fold (idle pipes closed)', () => [b, c, d].every((n) => n.pipes!.remote.size === 0), 5000);
}

const subs = await Promise.all([a, b, c, d].map((n) => pullToFirstFrame(n, publisher.sessionId)));
await sleep(2000);
for (const sub of subs) sub.probe.samples.length = 0;
await sleep(SECONDS * 1000);
const latency = subs.map((sub) => median(sub.probe.samples));
const frames = subs.map((sub) => sub.probe.samples.length);

// Relay CPU: B with its subscriber, feeding C (whose subscriber keeps its pipe) vs not; A with one or two local subscribers.
for (const sub of subs.slice(2)) await sub.stop();
await until('C and D to let go', () => [c, d].every((n) => n.pipes!.remote.size === 0), 5000);
const [cpuA1, cpuB1] = await cpuOver([a, b], SECONDS);
const secondLocal = await pullToFirstFrame(a, publisher.sessionId);
await sleep(1000);
const [cpuA2] = await cpuOver([a], SECONDS);
await secondLocal.stop();
const fed = await pullToFirstFrame(c, publisher.sessionId);
await sleep(1000);
const [cpuBRelay] = await cpuOver([b], SECONDS);
await fed.stop();
for (const sub of subs.slice(0, 2)) await sub.stop();
publisher.stop();
camera.stop();
for (const node of chain) await node.stop();

// 4. The owner's outgoing pipes as pulling nodes are added.
async function ownerPipes(fanout: string, label: string): Promise<number[]> {
  const owner = await startBenchNode(nodeEnv(label, { RELAY_FANOUT: fanout }));
  const pulling: Switchyard[] = [];
  const cam = timestampCamera(15);
  const pub = new TestPeer(owner.url);
  await pub.createSession();
  await pub.push([{ track: cam.track, name: 'camera' }]);
  const counts: number[] = [];
  const held: { stop(): Promise<void> }[] = [];
  for (const target of [3, 6, 9]) {
    while (pulling.length < target) {
      const node = await startBenchNode(nodeEnv(label, { RELAY_FANOUT: fanout }));
      await until('the new node to see the cluster', () => node.shared.cluster!.nodes.peers.length === pulling.length + 2);
      pulling.push(node);
      held.push(await pullToFirstFrame(node, pub.sessionId));
    }
    counts.push(owner.pipes!.server.links().length);
  }
  for (const sub of held) await sub.stop();
  pub.stop();
  cam.stop();
  for (const node of [...pulling, owner]) await node.stop();
  return counts;
}
const tree = await ownerPipes('3', 'fanout3');
const star = await ownerPipes('1000', 'star');

// 5. Calls on a node's own sessions, Redis 50 ms away vs local.
const proxy = await startDelayProxy({ host: '127.0.0.1', port: redis.port }, 25);
const near = await startBenchNode(nodeEnv('distance'));
const far = await startBenchNode({ ...nodeEnv('distance'), REDIS_URL: proxy.url('redis') });
await callJourney(near.url, 1);
await callJourney(far.url, 1);
const callsNear = await callJourney(near.url, RUNS);
const callsFar = await callJourney(far.url, RUNS);
await near.stop();
await far.stop();
await proxy.close();
await redis.close();

console.log(`\nSwitchyard relay tree benchmark, ${new Date().toISOString().slice(0, 10)}, in-process nodes (1 worker each) and redis-server on one machine, libwebrtc peers, ${WIDTH}x${HEIGHT} VP8 at 30 fps, KEY_FRAME_REQUEST_DELAY_MS=0, ${RUNS} runs\n`);
console.table(
  Object.fromEntries(
    byDepth.map((times, depth) => [
      depth === 0 ? 'pull -> first frame, publisher\'s node (baseline)' : `pull -> first frame, depth ${depth} (opens the pipe)`,
      { 'median ms': fmt(median(times)), 'min ms': fmt(Math.min(...times)), 'vs baseline (median) ms': depth === 0 ? '' : fmt(median(times) - median(byDepth[0]!)) },
    ]),
  ),
);
console.table(
  Object.fromEntries(
    latency.map((ms, depth) => [
      `capture -> decoded, depth ${depth}`,
      { 'median ms': fmt(ms), 'per hop ms': depth === 0 ? '' : fmt((ms - latency[0]!) / depth), frames: frames[depth] },
    ]),
  ),
);
console.table({
  'worker A: publisher + 1 local subscriber (CPU ms/s)': fmt(cpuA1!),
  'worker A: publisher + 2 local subscribers (CPU ms/s)': fmt(cpuA2!),
  'one more local subscriber costs (CPU ms/s)': fmt(cpuA2! - cpuA1!),
  'worker B: pipe in + 1 subscriber (CPU ms/s)': fmt(cpuB1!),
  'worker B: pipe in + 1 subscriber + relaying to C (CPU ms/s)': fmt(cpuBRelay!),
  'relaying to one more node costs (CPU ms/s)': fmt(cpuBRelay! - cpuB1!),
});
console.table({
  'owner\'s outgoing pipes, RELAY_FANOUT=3 (3 / 6 / 9 pulling nodes)': tree.join(' / '),
  'owner\'s outgoing pipes, star (3 / 6 / 9 pulling nodes)': star.join(' / '),
});
console.table(Object.fromEntries([...callsNear.keys()].map((field) => [field, { 'Redis local ms': fmt(callsNear.get(field)!), 'Redis 50 ms away ms': fmt(callsFar.get(field)!), 'difference ms': fmt(callsFar.get(field)! - callsNear.get(field)!) }])));
process.exit(0);
