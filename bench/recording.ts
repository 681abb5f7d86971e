/**
 * Recording benchmark (npm run bench:recording): recorders per core, the CPU
 * a recorded track costs a node against forwarding it to one subscriber,
 * what recordings write and how long they take to finish.
 *
 * Two processes, as bench:adapters (shared helpers in bench/lib/). The node
 * (`--node`, a fork of this file: startBenchNode, WORKERS=1, RECORDINGS_DIR
 * a temporary directory removed at the end) does nothing but serve; its CPU
 * is the Node.js process, its mediasoup worker and its ffmpeg children (one
 * per recording: RTP copied into WebM or Ogg, no transcoding), each from
 * /proc (schedstat, all threads). This process holds the libwebrtc peers: a
 * publisher with a 440 Hz microphone (Opus) and a 640x480 30 fps camera
 * (VP8), and plain subscribers.
 *
 * Once the camera's bitrate is steady, an unmeasured warm-up (a session
 * recording and a subscriber for 3 s), then for each N (RECORDINGS_N:
 * 1,4,8) and each target (PARTS: cam, mic, session) two phases of SECONDS
 * (10) after SETTLE_SECONDS (2), then an idle phase (the publisher alone):
 *  - N recordings of the target: startRecording of the camera track, of the
 *    mic track, or of the session (camera and mic in one file), started one
 *    after the other, measured once all are RECORDING; then stopped, and
 *    each waited for until DONE (outside the window);
 *  - N plain subscribers (libwebrtc sessions) pulling the same tracks.
 * Each loaded phase is compared with the mean of the idle phases before and
 * after it. Reported: % of one core per recording and per recorded track,
 * recordings per core, recording / subscriber (same tracks, same N); bytes
 * per second each recording's spool file grew by over the window, and the
 * stored file's size over its duration; startRecording → RECORDING, and
 * stopRecording → FINISHING (ffmpeg finished the file and exited) → DONE
 * (the copy pass that writes duration and cues, the probe, the store), from
 * the node's Recordings events (its clock, offset measured over IPC).
 * This VM's speed varies by up to 2x from one hour to the next: compare
 * figures of the same run (the ratios), not across runs.
 *
 * Settings from the environment or arguments (--seconds=5 is SECONDS=5):
 * SECONDS, SETTLE_SECONDS, RECORDINGS_N, PARTS (cam,mic,session),
 * RECORDINGS_BASE (the temporary directory's parent: os.tmpdir()).
 *   npm run bench:recording -- --seconds=5 --recordings-n=1,8
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { warmUp } from './forwarding/raw.js';
import { ffmpegChildren } from './lib/cpu.js';
import { startMeasuredNode } from './lib/node.js';
import { startPublisher } from './lib/peers.js';
import { phaseRunner } from './lib/phases.js';
import { runBench } from './lib/run.js';
import type { FromNode, ToNode } from './recording/nodeSide.js';
import { pullers, recordings, warmUpRecording, type Context, type Phase, type Target } from './recording/phases.js';
import { report } from './recording/report.js';
import { PARTS, RECORDINGS_BASE, RECORDINGS_N, SECONDS, SETTLE_SECONDS } from './recording/settings.js';

async function main(): Promise<void> {
  const started = new Date();
  const load = loadavg();
  await runBench('bench:recording', 30, async (defer) => {
    const dir = mkdtempSync(join(RECORDINGS_BASE, 'switchyard-bench-recording-'));
    defer(() => rmSync(dir, { recursive: true, force: true }));
    process.env.RECORDINGS_DIR = dir;
    const { node, url, workerPid, setupMs: nodeSetupMs, clockOffset } = await startMeasuredNode<ToNode, FromNode>(fileURLToPath(import.meta.url), defer, `RECORDINGS_DIR ${dir}`);
    const { peer: publisher } = await startPublisher(url, defer);
    const nodePid = node.child.pid!;
    const runner = phaseRunner({ node, nodePid, workerPid, seconds: SECONDS, settleSeconds: SETTLE_SECONDS });
    const ctx: Context = { url, node, publisher, phases: runner, dir, clockOffset };

    // libwebrtc starts the camera at 300 kbit/s and ramps up for tens of seconds: every phase gets the same stream.
    const steady = await warmUp(publisher.pc, 60);
    const camera = `steady at ${steady.kbps.toFixed(0)} kbit/s after ${steady.seconds.toFixed(0)} s (${steady.limitation})`;
    console.error(`camera ${camera}`);
    console.error('warm-up');
    const warm = await warmUpRecording(ctx);

    const targets = (['cam', 'mic', 'session'] as Target[]).filter((t) => PARTS.has(t));
    const phases: Phase[] = [await runner.idle()];
    for (const n of RECORDINGS_N) {
      for (const target of targets) {
        phases.push(await recordings(ctx, target, n));
        phases.push(await pullers(ctx, target, n));
        phases.push(await runner.idle());
      }
    }
    const left = ffmpegChildren(nodePid);
    report(phases, warm, { started, load, nodeSetupMs, camera, dir: RECORDINGS_BASE });
    if (left.length) console.log(`\nWARNING: ${left.length} ffmpeg process(es) of the node still running after every recording was DONE.`);
  });
}

if (process.argv.includes('--node')) await (await import('./recording/nodeSide.js')).nodeProcess();
else await main();
