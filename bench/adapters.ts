/**
 * WebSocket adapter benchmark (npm run bench:adapters): what Cloudflare-style
 * WebSocket adapters cost a node, against the node idle and against plain
 * WebRTC subscribers, and the latency they add, in one run.
 *
 * Two processes. The node (`--node`, a fork of this file: startBenchNode,
 * WORKERS=1) does nothing but serve, so its CPU is the node's: the Node.js
 * process (API, adapters: Opus decoding and encoding with libopus, protobuf,
 * WebSockets), its mediasoup worker and the ffmpeg processes of JPEG adapters,
 * each read from /proc (schedstat, ns, all threads). This process holds the
 * libwebrtc peers and the adapters' WebSocket service: a publisher with a
 * 440 Hz microphone and a 640x480 30 fps camera whose frames carry their
 * capture time (32 black or white blocks, as bench/videoProbe.ts), plain
 * subscribers, and the service, which records what it receives and sends
 * ingest adapters 48 kHz stereo PCM (a tone with noise) in real time, a 20 ms
 * Packet every 20 ms.
 *
 * After a warm-up (one adapter of each kind and a subscriber for a few
 * seconds, unmeasured: loading libopus, JIT), phases of SECONDS (10)
 * after SETTLE_SECONDS (2), in this order, idle phases (the publisher alone)
 * between the groups; each loaded phase is compared with the mean of the idle
 * phases before and after it:
 *  a. PCM egress: N (EGRESS_N: 1,4,16) REMOTE PCM adapters on the mic, then
 *     the same N plain subscribers (libwebrtc sessions pulling the mic);
 *  b. PCM ingest: N (INGEST_N: 1,4,16) LOCAL adapters fed in real time;
 *  c. JPEG egress (once the camera's bitrate is steady): N (JPEG_N: 1,4)
 *     REMOTE JPEG adapters on the camera at 1 and at 5 images a second (own
 *     size), then one plain video subscriber. ffmpeg processes still running
 *     2 s after their adapter closed are counted and killed;
 *  d. latency, with one adapter and one subscriber each:
 *     - PCM egress: the mic switches between silence (710 ms) and the tone
 *       (500 ms); time from the first loud 10 ms chunk handed to libwebrtc to
 *       the first loud Packet at the service, against the first loud chunk a
 *       plain subscriber plays (RTCAudioSink: after its jitter buffer). And,
 *       for every packet of every egress phase, the adapter's own part: its
 *       RTP packet reaching the adapter (the call to its Opus decoder, timed
 *       by a wrapper this file puts on each PcmEgress in the node process) to
 *       its Packet at the service, matched by number (the decoder's call n
 *       makes Packet n while no packet is lost: Packet timestamps check it);
 *       the two processes' clocks are compared over IPC first;
 *     - PCM ingest: the service switches its PCM between silence (700 ms) and
 *       the tone (500 ms); from the send of the first loud Packet to the
 *       first loud chunk at a plain subscriber, split by hooks on PcmIngest in
 *       the node into the WebSocket hop, the wait in the adapter's buffer (it
 *       plays out on its own 20 ms clock) and the rest (Opus encoding, the
 *       worker, the subscriber's jitter buffer); the same tone from a
 *       libwebrtc publisher to a subscriber is the reference;
 *     - JPEG: every image's age, its arrival minus the capture time read back
 *       from the picture (decoded with ffmpeg afterwards), against the same
 *       for frames a plain subscriber decodes.
 * Adapters per core: 100 % over an adapter's CPU above idle (node + worker +
 * ffmpeg), per kind; and per Node.js thread (100 % over the node process's
 * part: PCM adapters all run on its one event loop). This VM's speed varies by up to 2x from one hour to the
 * next: compare figures of the same run (the ratios), not across runs.
 *
 * Modules: bench/adapters/ (the node process's hooks, the service, the
 * phases, latency, the tables); bench/lib/ what other benches share (the
 * forked node, /proc CPU of its process tree, phases with idle baselines,
 * the publisher and subscribers, tables).
 *
 * Settings from the environment or arguments (--seconds=5 is SECONDS=5):
 * SECONDS, SETTLE_SECONDS, EGRESS_N, INGEST_N, JPEG_N, ONSETS (6),
 * PARTS (egress,ingest,jpeg,latency).
 *   npm run bench:adapters -- --seconds=5 --parts=egress,latency
 */
import { fileURLToPath } from 'node:url';
import { loadavg } from 'node:os';
import { sleep, waitUntil, warmUp } from './forwarding/raw.js';
import { closeAdapters, createAdapters, idle, type Context, type Phase } from './adapters/context.js';
import { egressLatency, ingestLatency, type EgressLatency, type IngestLatency } from './adapters/latency.js';
import type { FromNode, ToNode } from './adapters/nodeSide.js';
import { audioSubscribers, jpegEgress, killLeftFfmpeg, pcmEgress, pcmIngest, pullers, videoSubscriber } from './adapters/phases.js';
import { report } from './adapters/report.js';
import { startService } from './adapters/service.js';
import { EGRESS_N, INGEST_N, JPEG_N, PARTS, SECONDS, SETTLE_SECONDS } from './adapters/settings.js';
import { startMeasuredNode } from './lib/node.js';
import { closeSubscribers, startPublisher } from './lib/peers.js';
import { phaseRunner } from './lib/phases.js';
import { runBench } from './lib/run.js';

async function main(): Promise<void> {
  const started = new Date();
  const load = loadavg();
  await runBench('bench:adapters', 20, async (defer) => {
    const phases: Phase[] = [];
    let egress: EgressLatency | undefined;
    let ingest: IngestLatency | undefined;
    const { node, url, workerPid, setupMs: nodeSetupMs, clockOffset } = await startMeasuredNode<ToNode, FromNode>(fileURLToPath(import.meta.url), defer);
    const service = await startService();
    defer(() => service.close());
    const { peer: publisher, mic } = await startPublisher(url, defer);
    const runner = phaseRunner({ node, nodePid: node.child.pid!, workerPid, seconds: SECONDS, settleSeconds: SETTLE_SECONDS });
    const ctx: Context = { url, node, nodePid: node.child.pid!, workerPid, service, publisher, mic, clockOffset, phases: runner };

    // Warm-up, not measured: the first adapter of each kind loads libopus and compiles the code paths.
    console.error('warm-up');
    await measurePhaseless(ctx);

    if (PARTS.has('egress')) {
      phases.push(await idle(ctx));
      for (const n of EGRESS_N) {
        phases.push(await pcmEgress(ctx, n));
        phases.push(await audioSubscribers(ctx, n));
      }
    }
    if (PARTS.has('ingest')) {
      phases.push(await idle(ctx));
      for (const n of INGEST_N) phases.push(await pcmIngest(ctx, n));
    }
    if (PARTS.has('jpeg')) {
      // libwebrtc starts the camera at 300 kbit/s and ramps up for tens of seconds: the JPEG phases decode a steady stream.
      const steady = await warmUp(publisher.pc, 60);
      console.error(`camera steady after ${steady.seconds.toFixed(0)} s: ${steady.kbps.toFixed(0)} kbit/s (${steady.limitation})`);
      phases.push(await idle(ctx));
      for (const n of JPEG_N) {
        phases.push(await jpegEgress(ctx, n, 1));
        phases.push(await jpegEgress(ctx, n, 5));
      }
      phases.push(await videoSubscriber(ctx));
    }
    if (phases.length) phases.push(await idle(ctx));
    if (PARTS.has('latency')) {
      egress = await egressLatency(ctx);
      ingest = await ingestLatency(ctx);
    }
    report(phases, egress, ingest, { started, load, clockOffset, nodeSetupMs });
  });
}

/** One adapter of each kind and a plain subscriber for a few seconds, then closed. */
async function measurePhaseless(ctx: Context): Promise<void> {
  const peers = await pullers(ctx, 1, 'mic');
  const paths = ['/egress/warm/0', '/ingest/warm/0', '/jpeg/warm/0'];
  const adapters = await createAdapters(ctx, [
    { location: 'REMOTE', sessionId: ctx.publisher.sessionId, trackName: 'mic', codec: 'PCM', endpoint: ctx.service.url(paths[0]!) },
    { location: 'LOCAL', trackName: 'warm', endpoint: ctx.service.url(paths[1]!) },
    { location: 'REMOTE', sessionId: ctx.publisher.sessionId, trackName: 'cam', codec: 'JPEG', frameRate: 5, endpoint: ctx.service.url(paths[2]!) },
  ]);
  await waitUntil('an image from the warm-up JPEG adapter', () => (ctx.service.get(paths[2]!)?.messages ?? 0) > 2, 30_000);
  await sleep(2000);
  await closeAdapters(ctx, adapters, paths);
  await closeSubscribers(ctx.url, peers);
  await killLeftFfmpeg(ctx);
}

if (process.argv.includes('--node')) await (await import('./adapters/nodeSide.js')).nodeProcess();
else await main();
