/**
 * Cluster benchmark (npm run bench:cluster): what a pull across nodes costs
 * against a pull on the publisher's own node, in the same run.
 *
 * Two nodes (WORKERS=1 each) on one redis-server (started here), a libwebrtc
 * publisher on node A sending a 320x240 camera at 30 fps whose frames carry
 * their capture time (32 black or white blocks in the top rows, read back at
 * the subscriber from the decoded picture). Then:
 * 1. pull to first frame: RUNS fresh subscribers on A (same node) and on B
 *    (across nodes: the first one opens the pipe, later ones reuse it);
 * 2. frame latency: a fresh subscriber on A and one on B, started together,
 *    decode for SECONDS; capture to decoded frame, median and p95, for each
 *    (it includes encoding, the receivers' jitter buffers and decoding);
 * 3. worker CPU: each node's mediasoup worker, over SECONDS, with one
 *    same-node subscriber; with a second same-node subscriber; and with the
 *    second one on B instead (pipe out of A, pipe into B).
 * KEY_FRAME_REQUEST_DELAY_MS is passed to the nodes (0 unless set): with the
 * default 1000 each pull waits for the key-frame window of the one before.
 */
import type { Switchyard } from '../src/app.js';
import { pullToFirstFrame, timestampCamera, WIDTH, HEIGHT } from './videoProbe.js';
import { TestPeer } from '../test/helpers/peer.js';
import { startBenchNode } from './benchNode.js';
import { startRedis } from '../test/helpers/redis.js';

const RUNS = Number(process.env.RUNS ?? 10);
const SECONDS = Number(process.env.SECONDS ?? 10);
const KEY_FRAME_DELAY = process.env.KEY_FRAME_REQUEST_DELAY_MS ?? '0';

async function node(redisUrl: string): Promise<Switchyard> {
  return startBenchNode({ REDIS_URL: redisUrl, KEY_FRAME_REQUEST_DELAY_MS: KEY_FRAME_DELAY });
}

/** CPU time (user + system, ms) of each node's worker. */
async function workerCpu(nodes: Switchyard[]): Promise<number[]> {
  return Promise.all(
    nodes.map(async (n) => {
      const usage = await n.pool.workers[0]!.worker.getResourceUsage();
      return usage.ru_utime + usage.ru_stime;
    }),
  );
}

async function cpuOver(nodes: Switchyard[], seconds: number): Promise<number[]> {
  const before = await workerCpu(nodes);
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const after = await workerCpu(nodes);
  return after.map((value, i) => (value - before[i]!) / seconds);
}

const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
};
const fmt = (n: number) => n.toFixed(1);

const redis = await startRedis();
const [a, b] = [await node(redis.url), await node(redis.url)];
const camera = timestampCamera();
const publisher = new TestPeer(a.url);
await publisher.createSession();
await publisher.push([{ track: camera.track, name: 'camera' }]);
await new Promise((resolve) => setTimeout(resolve, 1000));

// 1. Pull to first frame.
const same: number[] = [];
const across: number[] = [];
let firstAcross = NaN;
for (let i = 0; i < RUNS; i += 1) {
  for (const [target, list] of [[a, same], [b, across]] as const) {
    const { peer, probe, ms } = await pullToFirstFrame(target, publisher.sessionId);
    if (target === b && i === 0) firstAcross = ms;
    else list.push(ms);
    probe.stop();
    peer.stop();
  }
}

// 2. Latency: a fresh subscriber on each node, started together.
const [local, remote] = await Promise.all([pullToFirstFrame(a, publisher.sessionId), pullToFirstFrame(b, publisher.sessionId)]);
await new Promise((resolve) => setTimeout(resolve, 2000));
local.probe.samples.length = 0;
remote.probe.samples.length = 0;
await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));
const latencyLocal = [...local.probe.samples];
const latencyRemote = [...remote.probe.samples];

// 3. CPU: one local subscriber; two local ones; one local and one on B.
remote.probe.stop();
remote.peer.stop();
const second = await pullToFirstFrame(a, publisher.sessionId);
await new Promise((resolve) => setTimeout(resolve, 1000));
const cpuTwoLocal = await cpuOver([a, b], SECONDS);
second.probe.stop();
second.peer.stop();
await new Promise((resolve) => setTimeout(resolve, 1000));
const cpuOneLocal = await cpuOver([a, b], SECONDS);
const piped = await pullToFirstFrame(b, publisher.sessionId);
await new Promise((resolve) => setTimeout(resolve, 1000));
const cpuWithPipe = await cpuOver([a, b], SECONDS);

console.log(`\nSwitchyard cluster benchmark, ${new Date().toISOString().slice(0, 10)}, two nodes (1 worker each) and redis-server on one machine, libwebrtc peers, ${WIDTH}x${HEIGHT} VP8 at 30 fps, KEY_FRAME_REQUEST_DELAY_MS=${KEY_FRAME_DELAY}, ${RUNS} runs\n`);
console.table({
  'pull -> first frame, same node (median, ms)': fmt(quantile(same, 0.5)),
  'pull -> first frame, same node (p95, ms)': fmt(quantile(same, 0.95)),
  'pull -> first frame, across nodes, first pull (opens the pipe, ms)': fmt(firstAcross),
  'pull -> first frame, across nodes, pipe reused (median, ms)': fmt(quantile(across, 0.5)),
  'pull -> first frame, across nodes, pipe reused (p95, ms)': fmt(quantile(across, 0.95)),
});
console.table({
  'capture -> decoded, same node (median, ms)': fmt(quantile(latencyLocal, 0.5)),
  'capture -> decoded, same node (p95, ms)': fmt(quantile(latencyLocal, 0.95)),
  'capture -> decoded, across nodes (median, ms)': fmt(quantile(latencyRemote, 0.5)),
  'capture -> decoded, across nodes (p95, ms)': fmt(quantile(latencyRemote, 0.95)),
  'frames measured (same node / across)': `${latencyLocal.length} / ${latencyRemote.length}`,
});
console.table({
  'worker A, publisher + 1 subscriber on A (CPU ms/s)': fmt(cpuOneLocal[0]!),
  'worker A, publisher + 2 subscribers on A (CPU ms/s)': fmt(cpuTwoLocal[0]!),
  'worker A, publisher + 1 on A + pipe out to B (CPU ms/s)': fmt(cpuWithPipe[0]!),
  'worker B, idle (CPU ms/s)': fmt(cpuOneLocal[1]!),
  'worker B, pipe in + 1 subscriber on B (CPU ms/s)': fmt(cpuWithPipe[1]!),
});

local.probe.stop();
local.peer.stop();
piped.probe.stop();
piped.peer.stop();
publisher.stop();
camera.stop();
await a.stop();
await b.stop();
await redis.close();
process.exit(0);
