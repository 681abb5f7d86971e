/**
 * The raw-mediasoup scenario of bench/forwarding.ts in a process of its own,
 * so that it can load another mediasoup build than the project's (part 2:
 * old build against new, in the same run). `runRawChild` forks this file;
 * with `--raw-child` it loads mediasoup from FWD_MEDIASOUP_DIR (the project's
 * own when empty), starts one worker and router, publishes the camera to it
 * with a raw producer, measures the worker idle with the publisher alone and
 * then with CONSUMERS raw subscribers, and sends the figures back.
 *
 * Every run is a fresh worker, a fresh publisher and fresh subscribers, for
 * either build alike. The worker binary is chosen by MEDIASOUP_WORKER_BIN,
 * which both 3.18.1 and 3.32.2 read when they are loaded.
 */
import { fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROUTER_MEDIA_CODECS } from '../../src/media/codecs.js';
import { camera, measure, rawPublisher, rawSubscribers, rtpCounts, sleep, waitUntil, warmUp, type PhaseMeasure, type RawSubscriber } from './raw.js';

/** Where the child's worker listens (mediasoup picks a free port in it for each transport). */
const RTC_MIN_PORT = 30000;
const RTC_MAX_PORT = 39999;

export interface RawRunSettings {
  consumers: number;
  seconds: number;
  settleSeconds: number;
  /** At most this long for the publisher's encoder to leave its bandwidth limit (warmUp). */
  warmupSeconds: number;
}

export interface RawRunResult {
  /** mediasoup.version of the package loaded. */
  version: string;
  workerBin: string;
  workerPid: number;
  codec: string;
  /** How long the publisher's encoder took to leave its bandwidth limit, and its reason then. */
  warmUp: { seconds: number; limitation: string; kbps: number };
  idle: PhaseMeasure;
  raw: PhaseMeasure;
}

type FromChild = { type: 'result'; result: RawRunResult } | { type: 'error'; message: string };

// --- the child ----------------------------------------------------------------------

async function rawChild(): Promise<void> {
  const settings = JSON.parse(process.env.FWD_SETTINGS ?? '{}') as RawRunSettings;
  const dir = process.env.FWD_MEDIASOUP_DIR;
  const send = (message: FromChild) => new Promise<void>((resolve) => process.send!(message, () => resolve()));
  // The project's own mediasoup, or the one installed under `dir` (resolved from there, so its own dependencies too).
  const mediasoup: typeof import('mediasoup') = dir ? createRequire(join(dir, 'package.json'))('mediasoup') : await import('mediasoup');
  const worker = await mediasoup.createWorker({ rtcMinPort: RTC_MIN_PORT, rtcMaxPort: RTC_MAX_PORT, logLevel: 'warn' });
  // A dead worker is a crash to report, never a run to retry.
  worker.on('died', (error) => {
    void send({ type: 'error', message: `mediasoup ${mediasoup.version} worker (pid ${worker.pid}) died: ${String(error)}` }).then(() => process.exit(1));
  });
  const cam = camera();
  let publisher: Awaited<ReturnType<typeof rawPublisher>> | undefined;
  let subscribers: RawSubscriber[] = [];
  try {
    const router = await worker.createRouter({ mediaCodecs: ROUTER_MEDIA_CODECS });
    publisher = await rawPublisher(router, cam.track);
    const { producer } = publisher;
    await waitUntil('the raw producer to receive RTP', async () => (await rtpCounts(producer)).packets > 0, 20_000);
    // The publisher's bandwidth estimate starts low and ramps up: measure once it has.
    const warm = await warmUp(publisher.pc, settings.warmupSeconds);
    const idle = await measure(worker.pid, settings.seconds, cam, producer, [], [], publisher.pc, []);
    subscribers = await rawSubscribers(router, producer.id, settings.consumers, 30_000);
    await sleep(settings.settleSeconds * 1000);
    const raw = await measure(worker.pid, settings.seconds, cam, producer, subscribers.map((s) => s.consumer), subscribers.map((s) => s.pc), publisher.pc, subscribers.map((s) => s.transport));
    const codec = producer.rtpParameters.codecs[0]?.mimeType ?? '?';
    await send({ type: 'result', result: { version: mediasoup.version, workerBin: String(mediasoup.workerBin), workerPid: worker.pid, codec, warmUp: warm, idle, raw } });
  } finally {
    for (const s of subscribers) s.close();
    publisher?.close();
    cam.stop();
    worker.removeAllListeners('died');
    worker.close();
  }
}

// --- the parent ---------------------------------------------------------------------

export interface RawChild {
  pid: number | undefined;
  result: Promise<RawRunResult>;
  /** Ends the child (SIGKILL) if it still runs; its worker exits with it (its channel closes). */
  kill(): void;
}

/**
 * Runs the raw scenario in a child process with the mediasoup installed under
 * `mediasoupDir` (the project's when undefined) and, when given, that worker
 * binary. A child that exits without a result, by a signal above all (a
 * segfault in libwebrtc or a worker), rejects with its exit status and the
 * end of its stderr as evidence.
 */
export function runRawChild(settings: RawRunSettings, mediasoupDir?: string, workerBin?: string): RawChild {
  const env: NodeJS.ProcessEnv = { ...process.env, FWD_SETTINGS: JSON.stringify(settings), FWD_MEDIASOUP_DIR: mediasoupDir ?? '' };
  if (workerBin) env.MEDIASOUP_WORKER_BIN = workerBin;
  // Another install's own default, never the binary chosen for the project's mediasoup.
  else if (mediasoupDir) delete env.MEDIASOUP_WORKER_BIN;
  const child = fork(fileURLToPath(import.meta.url), ['--raw-child'], { env, stdio: ['ignore', 'inherit', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    process.stderr.write(chunk);
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const result = new Promise<RawRunResult>((resolve, reject) => {
    let outcome: FromChild | undefined;
    child.on('message', (message: FromChild) => (outcome ??= message));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (outcome?.type === 'result' && code === 0) return resolve(outcome.result);
      const why = outcome?.type === 'error' ? outcome.message : 'no result';
      reject(new Error(`raw child (pid ${child.pid}, mediasoup ${mediasoupDir ?? 'of the project'}) exited with ${signal ?? `code ${code}`}: ${why}${stderr ? `\n--- its stderr (end) ---\n${stderr}` : ''}`));
    });
  });
  return { pid: child.pid, result, kill: () => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); } };
}

if (process.argv.includes('--raw-child')) {
  try {
    await rawChild();
    process.exit(0);
  } catch (error) {
    process.send!({ type: 'error', message: String((error as Error)?.stack ?? error) } satisfies FromChild, () => process.exit(1));
  }
}
