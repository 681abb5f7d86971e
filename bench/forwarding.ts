/**
 * Forwarding benchmark (npm run bench:forwarding): what forwarding one video
 * track costs the mediasoup worker per consumer through Switchyard, against
 * consumers made with mediasoup's own API on the same worker, in one run; and,
 * optionally, one mediasoup build against another (issue 24: the upgrade from
 * 3.18.1). This VM's speed varies by 2x within an hour, so only figures of the
 * same run compare: phases alternate and the table gives medians and ratios.
 *
 * Part 1. One node, WORKERS=1 (all media on one worker). A libwebrtc
 * publisher pushes a 640x360 30 fps camera through the GraphQL API; once its
 * stream is steady (bench/forwarding/raw.ts warmUp), ROUNDS rounds of three
 * phases, each measured over SECONDS after SETTLE_SECONDS:
 *  a. idle: the publisher alone;
 *  b. Switchyard: CONSUMERS subscriber sessions pulling the track through the
 *     API (TestPeer: createSession with the bootstrap data channel, then
 *     pullTracks), closed afterwards;
 *  c. raw: CONSUMERS consumers made with mediasoup's API on the same router
 *     and producer (reached through the publisher's Session), each on a
 *     WebRtcTransport with mediasoup's defaults, wired to a libwebrtc
 *     subscriber by SDP written with src/sdp: no src/session, no GraphQL.
 * Worker CPU is utime + stime of the worker process (/proc/<pid>/stat),
 * minus the same round's idle, divided by CONSUMERS; stat truncates to 10 ms
 * ticks, so the same is also read from the threads' schedstat (ns), which
 * short windows need (bench/forwarding/raw.ts processSchedMs). Equal work
 * is checked, not assumed: each subscriber's decoded frames per second
 * (getStats framesDecoded), the packets each consumer forwarded, and the
 * stream the producer received are printed for every phase, and a round
 * whose two paths decoded different frame rates, or sent different packet
 * rates or transport bitrates (probation padding) per consumer, is flagged.
 *
 * Part 2, when LEGACY_MEDIASOUP_DIR is set ($LEGACY_MEDIASOUP_DIR/node_modules/
 * mediasoup; LEGACY_WORKER_BIN its worker binary, else that package's own):
 * the raw scenario alone (raw publisher and CONSUMERS raw subscribers on a
 * worker of its own) in a child process per run, with the legacy build and
 * with the project's own, alternating over ROUNDS (bench/forwarding/rawRun.ts).
 *
 * Variables: CONSUMERS (4), SECONDS (10), ROUNDS (2), SETTLE_SECONDS (3),
 * WARMUP_SECONDS (60, the most to wait for the publisher's stream to be
 * steady), LEGACY_MEDIASOUP_DIR, LEGACY_WORKER_BIN.
 *   SECONDS=3 CONSUMERS=2 ROUNDS=1 npm run bench:forwarding
 */
import { existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import type { types } from 'mediasoup';
import { version as mediasoupVersion } from 'mediasoup';
import type { Switchyard } from '../src/app.js';
import { gql } from '../test/helpers/graphql.js';
import { TestPeer } from '../test/helpers/peer.js';
import { startBenchNode } from './benchNode.js';
import { camera, framesDecoded, measure, median, rawSubscribers, sleep, waitUntil, warmUp, type PhaseMeasure } from './forwarding/raw.js';
import { runRawChild, type RawChild, type RawRunResult, type RawRunSettings } from './forwarding/rawRun.js';

const number = (name: string, fallback: number, min: number) => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(value) || value < min) throw new Error(`${name} must be a number of at least ${min}`);
  return value;
};
const CONSUMERS = number('CONSUMERS', 4, 1);
const SECONDS = number('SECONDS', 10, 1);
const ROUNDS = number('ROUNDS', 2, 1);
const SETTLE_SECONDS = number('SETTLE_SECONDS', 3, 0);
const WARMUP_SECONDS = number('WARMUP_SECONDS', 60, 0);
const LEGACY_DIR = process.env.LEGACY_MEDIASOUP_DIR || undefined;
const LEGACY_BIN = process.env.LEGACY_WORKER_BIN || undefined;
// Checked before part 1, not after its minutes of measuring.
if (LEGACY_DIR && !existsSync(join(LEGACY_DIR, 'node_modules', 'mediasoup', 'package.json'))) throw new Error(`LEGACY_MEDIASOUP_DIR: no mediasoup installed in ${LEGACY_DIR}/node_modules`);
if (LEGACY_BIN && !existsSync(LEGACY_BIN)) throw new Error(`LEGACY_WORKER_BIN: ${LEGACY_BIN} does not exist`);
/** Two paths decoded "the same" frame rate when within this (fps) or 5 %. */
const FPS_TOLERANCE = 1;

const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '-');
const mean = (values: number[]) => (values.length ? values.reduce((a, b) => a + b, 0) / values.length : NaN);
type CpuKey = 'workerCpuMsPerS' | 'workerSchedMsPerS';
/** A phase's worker CPU above the same round's idle, per consumer (ms/s); stat's figure unless `key` says schedstat's. */
const perConsumer = (phase: PhaseMeasure, idle: PhaseMeasure, key: CpuKey = 'workerCpuMsPerS') => (phase[key] - idle[key]) / CONSUMERS;
const fpsDiffer = (a: number, b: number) => Math.abs(a - b) > Math.max(FPS_TOLERANCE, 0.05 * Math.max(a, b));

// --- cleanup: everything started is stopped, on success, on error and on Ctrl-C -------

const cleanups: (() => unknown)[] = [];
async function cleanUp(): Promise<void> {
  while (cleanups.length) {
    try {
      await cleanups.pop()!();
    } catch (error) {
      console.error('cleanup step failed:', error);
    }
  }
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void cleanUp().finally(() => process.exit(130)));
}

// --- part 1: Switchyard against raw mediasoup on one worker ---------------------------

interface Round {
  idle: PhaseMeasure;
  switchyard: PhaseMeasure;
  raw: PhaseMeasure;
}

/** Throws if the node's worker died (WorkerPool would quietly replace it: a crash is reported, never measured around). */
function watchWorker(worker: types.Worker): () => void {
  let death: string | undefined;
  worker.on('died', (error) => (death = `the node's mediasoup worker (pid ${worker.pid}) died: ${String(error)}`));
  return () => {
    if (death) throw new Error(`${death}; a crash, not retried`);
  };
}

/** Phase b: CONSUMERS sessions pull the track through the API; they are closed again before it returns. */
async function switchyardPhase(node: Switchyard, ctx: Part1Context): Promise<PhaseMeasure> {
  const peers: TestPeer[] = [];
  try {
    for (let i = 0; i < CONSUMERS; i += 1) {
      const peer = new TestPeer(node.url);
      peers.push(peer);
      await peer.createSession();
      const [pulled] = await peer.pull([{ sessionId: ctx.publisher.sessionId, trackName: 'camera' }]);
      if (!pulled || pulled.error) throw new Error(`pullTracks: ${JSON.stringify(pulled?.error)}`);
    }
    await waitUntil('every Switchyard subscriber to decode a frame', async () => (await Promise.all(peers.map((p) => framesDecoded(p.pc)))).every((f) => f > 0), 30_000);
    await sleep(SETTLE_SECONDS * 1000);
    const pulling = node.sessions.list().filter((s) => s.transceivers.some((t) => t.pulled));
    const consumers = pulling.flatMap((s) => s.transceivers.flatMap((t) => (t.pulled ? [t.pulled.consumer] : [])));
    if (consumers.length !== CONSUMERS) throw new Error(`expected ${CONSUMERS} consumers on the node, found ${consumers.length}`);
    return await measure(ctx.workerPid, SECONDS, ctx.cam, ctx.producer, consumers, peers.map((p) => p.pc), ctx.publisher.pc, pulling.map((s) => s.transport));
  } finally {
    for (const peer of peers) {
      if (peer.sessionId) await gql(node.url, 'mutation($id: ID!) { closeSession(input: { sessionId: $id }) { sessionId } }', { id: peer.sessionId }).catch(() => undefined);
      peer.stop();
    }
    // The next phase measures without them: their transports must be gone from the worker.
    await waitUntil('the subscriber sessions to close', () => node.sessions.sessionCount === 1, 15_000);
  }
}

/** Phase c: CONSUMERS raw consumers on the publisher's router, closed again before it returns. */
async function rawPhase(ctx: Part1Context): Promise<PhaseMeasure> {
  const subscribers = await rawSubscribers(ctx.router, ctx.producer.id, CONSUMERS, 30_000);
  try {
    await sleep(SETTLE_SECONDS * 1000);
    return await measure(ctx.workerPid, SECONDS, ctx.cam, ctx.producer, subscribers.map((s) => s.consumer), subscribers.map((s) => s.pc), ctx.publisher.pc, subscribers.map((s) => s.transport));
  } finally {
    for (const s of subscribers) s.close();
  }
}

interface Part1Context {
  workerPid: number;
  cam: ReturnType<typeof camera>;
  publisher: TestPeer;
  router: types.Router;
  producer: types.Producer;
}

async function part1(): Promise<{ rounds: Round[]; warm: Awaited<ReturnType<typeof warmUp>>; codec: string }> {
  const node = await startBenchNode();
  cleanups.push(() => node.stop());
  const { worker } = node.pool.workers[0]!;
  const checkWorker = watchWorker(worker);
  const cam = camera();
  cleanups.push(() => cam.stop());
  const publisher = new TestPeer(node.url);
  cleanups.push(() => publisher.stop());
  await publisher.createSession();
  const [pushed] = await publisher.push([{ track: cam.track, name: 'camera' }]);
  if (!pushed || pushed.error) throw new Error(`pushTracks: ${JSON.stringify(pushed?.error)}`);
  // The router and producer as Switchyard holds them: the publisher's Session, its worker's router, its pushed track.
  const session = node.sessions.get(publisher.sessionId);
  const producer = session?.transceivers.find((t) => t.pushed)?.pushed?.producer;
  if (!session || !producer) throw new Error('the publisher has no producer on the node');
  const ctx: Part1Context = { workerPid: worker.pid, cam, publisher, router: session.router, producer };
  console.error(`part 1: node up (worker pid ${worker.pid}), publisher pushing; waiting for its stream to be steady (at most ${WARMUP_SECONDS} s)`);
  const warm = await warmUp(publisher.pc, WARMUP_SECONDS);
  const rounds: Round[] = [];
  try {
    for (let r = 0; r < ROUNDS; r += 1) {
      await sleep(SETTLE_SECONDS * 1000);
      const idle = await measure(ctx.workerPid, SECONDS, cam, producer, [], [], publisher.pc, []);
      checkWorker();
      const switchyard = await switchyardPhase(node, ctx);
      checkWorker();
      const raw = await rawPhase(ctx);
      checkWorker();
      rounds.push({ idle, switchyard, raw });
      console.error(`part 1 round ${r + 1}/${ROUNDS}: worker ms/s idle ${fmt(idle.workerCpuMsPerS)}, Switchyard ${fmt(switchyard.workerCpuMsPerS)}, raw ${fmt(raw.workerCpuMsPerS)}`);
    }
  } catch (error) {
    // A dead worker makes the next call fail with a channel error: name the cause.
    checkWorker();
    throw error;
  }
  await cleanUp();
  return { rounds, warm, codec: producer.rtpParameters.codecs[0]?.mimeType ?? '?' };
}

// --- part 2: the raw scenario with the legacy mediasoup build and the project's -----

async function part2(legacyDir: string): Promise<{ legacy: RawRunResult[]; project: RawRunResult[] }> {
  const settings: RawRunSettings = { consumers: CONSUMERS, seconds: SECONDS, settleSeconds: SETTLE_SECONDS, warmupSeconds: WARMUP_SECONDS };
  const legacy: RawRunResult[] = [];
  const project: RawRunResult[] = [];
  for (let r = 0; r < ROUNDS; r += 1) {
    for (const side of ['legacy', 'project'] as const) {
      const child: RawChild = side === 'legacy' ? runRawChild(settings, legacyDir, LEGACY_BIN) : runRawChild(settings);
      cleanups.push(() => child.kill());
      const result = await child.result;
      (side === 'legacy' ? legacy : project).push(result);
      console.error(`part 2 round ${r + 1}/${ROUNDS}: mediasoup ${result.version} (${side}) worker ms/s idle ${fmt(result.idle.workerCpuMsPerS)}, raw ${fmt(result.raw.workerCpuMsPerS)}`);
    }
  }
  return { legacy, project };
}

// --- the report ---------------------------------------------------------------------

const fpsCell = (m: PhaseMeasure) => (m.fps.length ? `${fmt(mean(m.fps))} (min ${fmt(Math.min(...m.fps))})` : '-');

function phaseRow(label: string, m: PhaseMeasure, idle?: PhaseMeasure): string {
  const per = idle ? `${fmt(perConsumer(m, idle), 2)} (${fmt(perConsumer(m, idle, 'workerSchedMsPerS'), 2)})` : '-';
  const sent = m.fps.length ? fmt(m.outPacketsPerSPerConsumer, 0) : '-';
  const transport = m.fps.length ? `${fmt(m.transportKbpsPerConsumer, 0)} (${fmt(m.probationKbpsPerConsumer, 0)} / ${fmt(m.rtxKbpsPerConsumer, 0)})` : '-';
  return `| ${label} | ${fmt(m.workerCpuMsPerS)} (${fmt(m.workerSchedMsPerS)}) | ${per} | ${fpsCell(m)} | ${fmt(m.encodedFps)} ${m.encodedSize} (${m.limitation}) | ${fmt(m.inKbps, 0)} / ${fmt(m.inPacketsPerS, 0)} | ${sent} | ${transport} |`;
}
const PHASE_HEADER = [
  '| phase | worker CPU ms/s, stat (schedstat) | minus idle, per consumer, stat (schedstat) | decoded fps per subscriber, mean (min) | publisher encoded fps, size (limitation) | producer in kbit/s / packets/s | packets/s sent per consumer | transport kbit/s sent per consumer (probation / RTX) |',
  '| --- | ---: | ---: | --- | --- | --- | ---: | ---: |',
];

/** One side's phases with the idle phase of the same round (or run). */
type Side = { phase: PhaseMeasure; idle: PhaseMeasure }[];

/** Medians over the rounds of one side. */
function summary(side: Side) {
  const med = (f: (s: Side[number]) => number) => median(side.map(f));
  return {
    idle: med((s) => s.idle.workerCpuMsPerS),
    loaded: med((s) => s.phase.workerCpuMsPerS),
    per: med((s) => perConsumer(s.phase, s.idle)),
    perSched: med((s) => perConsumer(s.phase, s.idle, 'workerSchedMsPerS')),
    fps: med((s) => mean(s.phase.fps)),
    fpsMin: Math.min(...side.flatMap((s) => s.phase.fps)),
    packets: med((s) => s.phase.outPacketsPerSPerConsumer),
    transportKbps: med((s) => s.phase.transportKbpsPerConsumer),
    probationKbps: med((s) => s.phase.probationKbpsPerConsumer),
    kbps: med((s) => s.phase.inKbps),
  };
}

/** The markdown table for docs/benchmarks.md: side a against side b, medians, and a / b per consumer (with each round's ratio). */
function comparison(names: [string, string], sideA: Side, sideB: Side): string[] {
  const [a, b] = [summary(sideA), summary(sideB)];
  const rounds = (key: CpuKey) => sideA.map((s, i) => fmt(perConsumer(s.phase, s.idle, key) / perConsumer(sideB[i]!.phase, sideB[i]!.idle, key), 2)).join(', ');
  // The totals, without the idle subtracted: when the two sides' idle phases are measured apart (part 2: another process, another
  // minute), the idle's own drift weighs on the per-consumer figure, while each round's two loaded phases are close in time.
  const loadedRounds = sideA.map((s, i) => fmt(s.phase.workerCpuMsPerS / sideB[i]!.phase.workerCpuMsPerS, 2)).join(', ');
  return [
    `| median of ${ROUNDS} round(s), ${CONSUMERS} consumers | ${names[0]} | ${names[1]} | ${names[0]} / ${names[1]} |`,
    '| --- | ---: | ---: | ---: |',
    `| worker CPU, publisher alone (ms/s) | ${fmt(a.idle)} | ${fmt(b.idle)} | |`,
    `| worker CPU with ${CONSUMERS} consumers (ms/s) | ${fmt(a.loaded)} | ${fmt(b.loaded)} | ${fmt(a.loaded / b.loaded, 2)} (rounds: ${loadedRounds}) |`,
    `| **worker CPU per consumer, minus idle (ms/s)** | **${fmt(a.per, 2)}** | **${fmt(b.per, 2)}** | **${fmt(a.per / b.per, 2)}** (rounds: ${rounds('workerCpuMsPerS')}) |`,
    `| the same from schedstat (ns resolution) | ${fmt(a.perSched, 2)} | ${fmt(b.perSched, 2)} | ${fmt(a.perSched / b.perSched, 2)} (rounds: ${rounds('workerSchedMsPerS')}) |`,
    `| decoded fps per subscriber, median of means (lowest) | ${fmt(a.fps)} (${fmt(a.fpsMin)}) | ${fmt(b.fps)} (${fmt(b.fpsMin)}) | |`,
    `| RTP packets/s sent per consumer | ${fmt(a.packets, 0)} | ${fmt(b.packets, 0)} | |`,
    `| kbit/s its transport sent per consumer (of it probation padding) | ${fmt(a.transportKbps, 0)} (${fmt(a.probationKbps, 0)}) | ${fmt(b.transportKbps, 0)} (${fmt(b.probationKbps, 0)}) | |`,
    `| stream received by the producer (kbit/s) | ${fmt(a.kbps, 0)} | ${fmt(b.kbps, 0)} | |`,
  ];
}

/**
 * Rounds whose two sides did not do the same work: different decoded frame
 * rates, fewer frames decoded than encoded, or different packet rates per
 * consumer (the stream changed between the phases). Their CPU figures do not
 * compare, and the report says so.
 */
function unequalWork(label: string, pairs: [PhaseMeasure, PhaseMeasure][], names: [string, string]): string[] {
  return pairs.flatMap(([a, b], i) => {
    const [fa, fb] = [mean(a.fps), mean(b.fps)];
    const where = `WARNING ${label} round ${i + 1}:`;
    const notes: string[] = [];
    if (fpsDiffer(fa, fb)) notes.push(`${where} ${names[0]} subscribers decoded ${fmt(fa)} fps, ${names[1]} ${fmt(fb)} fps: not the same work, the CPU figures of this round do not compare.`);
    const [pa, pb] = [a.outPacketsPerSPerConsumer, b.outPacketsPerSPerConsumer];
    if (Math.abs(pa - pb) > 0.1 * Math.max(pa, pb)) notes.push(`${where} each ${names[0]} consumer sent ${fmt(pa, 0)} packets/s, each ${names[1]} consumer ${fmt(pb, 0)}: the stream changed, the CPU figures of this round do not compare.`);
    const [ta, tb] = [a.transportKbpsPerConsumer, b.transportKbpsPerConsumer];
    if (Math.abs(ta - tb) > 0.1 * Math.max(ta, tb)) notes.push(`${where} each ${names[0]} transport sent ${fmt(ta, 0)} kbit/s (probation ${fmt(a.probationKbpsPerConsumer, 0)}), each ${names[1]} one ${fmt(tb, 0)} (probation ${fmt(b.probationKbpsPerConsumer, 0)}): more than forwarding went on one side.`);
    for (const [name, m] of [[names[0], a], [names[1], b]] as const) {
      if (fpsDiffer(mean(m.fps), m.encodedFps)) notes.push(`${where} ${name} subscribers decoded ${fmt(mean(m.fps))} fps of the ${fmt(m.encodedFps)} the publisher encoded.`);
    }
    return notes;
  });
}

const steadyNote = (label: string, warm: { seconds: number; limitation: string; kbps: number }) =>
  warm.seconds >= WARMUP_SECONDS && WARMUP_SECONDS > 0
    ? [`WARNING ${label}: the publisher's stream was not steady after WARMUP_SECONDS=${WARMUP_SECONDS} (${fmt(warm.kbps, 0)} kbit/s, ${warm.limitation}): it may have grown while measured.`]
    : [];

function report(p1: Awaited<ReturnType<typeof part1>>, p2: Awaited<ReturnType<typeof part2>> | undefined, load: { start: number[]; end: number[] }): void {
  const lines: string[] = [];
  const cpu = cpus()[0]?.model ?? '?';
  lines.push(
    `\n## Forwarding benchmark, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `${cpus().length} cores (${cpu}), Node ${process.versions.node}, project mediasoup ${mediasoupVersion}; load average ${load.start.map((l) => l.toFixed(2)).join(' ')} at the start, ${load.end.map((l) => l.toFixed(2)).join(' ')} at the end.`,
    `${p1.codec} 640x360 at 30 fps from a libwebrtc publisher, ${CONSUMERS} consumers, ${ROUNDS} round(s) of ${SECONDS} s phases after ${SETTLE_SECONDS} s settling; publisher steady after ${fmt(p1.warm.seconds, 0)} s at ${fmt(p1.warm.kbps, 0)} kbit/s (${p1.warm.limitation}).`,
    '',
    '### 1. Switchyard against raw mediasoup, same worker (WORKERS=1), same run',
    '',
    ...PHASE_HEADER,
  );
  p1.rounds.forEach((round, i) => {
    lines.push(phaseRow(`${i + 1}a idle (publisher only)`, round.idle), phaseRow(`${i + 1}b Switchyard API pulls`, round.switchyard, round.idle), phaseRow(`${i + 1}c raw mediasoup consumers`, round.raw, round.idle));
  });
  lines.push(
    '',
    ...comparison(
      ['Switchyard', 'raw mediasoup'],
      p1.rounds.map((r) => ({ phase: r.switchyard, idle: r.idle })),
      p1.rounds.map((r) => ({ phase: r.raw, idle: r.idle })),
    ),
  );
  const warnings = [...steadyNote('part 1', p1.warm), ...unequalWork('part 1', p1.rounds.map((r) => [r.switchyard, r.raw]), ['Switchyard', 'raw'])];
  if (p2) {
    const [legacy, project] = [p2.legacy, p2.project];
    const names: [string, string] = [`mediasoup ${project[0]!.version} (project)`, `mediasoup ${legacy[0]!.version} (LEGACY_MEDIASOUP_DIR)`];
    const steady = (runs: RawRunResult[]) => runs.map((r) => `${fmt(r.warmUp.seconds, 0)} s`).join(', ');
    lines.push(
      '',
      `### 2. Raw mediasoup, ${names[1]} against ${names[0]}, same run`,
      '',
      `Each run a fresh worker, raw publisher and ${CONSUMERS} raw subscribers in a child process, alternating. Worker binaries: ${legacy[0]!.workerBin} (LEGACY_MEDIASOUP_DIR); ${project[0]!.workerBin} (project).`,
      `Publisher's stream steady after: ${steady(legacy)} (${legacy[0]!.version}); ${steady(project)} (${project[0]!.version}).`,
      '',
      ...PHASE_HEADER,
    );
    legacy.forEach((l, i) => {
      const p = project[i]!;
      lines.push(phaseRow(`${i + 1} ${l.version} idle`, l.idle), phaseRow(`${i + 1} ${l.version} raw`, l.raw, l.idle), phaseRow(`${i + 1} ${p.version} idle`, p.idle), phaseRow(`${i + 1} ${p.version} raw`, p.raw, p.idle));
    });
    lines.push(
      '',
      ...comparison(
        names,
        project.map((p) => ({ phase: p.raw, idle: p.idle })),
        legacy.map((l) => ({ phase: l.raw, idle: l.idle })),
      ),
    );
    for (const run of [...legacy, ...project]) warnings.push(...steadyNote(`part 2 (${run.version})`, run.warmUp));
    warnings.push(...unequalWork('part 2', project.map((p, i) => [p.raw, legacy[i]!.raw]), ['project', 'legacy']));
  }
  const equal = "Equal work: in every round both sides decoded the publisher's full frame rate (within 5 % or 1 fps) and sent the same packets and transport bitrate per consumer (within 10 %).";
  lines.push('', ...(warnings.length ? warnings : [equal]));
  console.log(lines.join('\n'));
}

// --- main -----------------------------------------------------------------------------

const load = { start: loadavg(), end: [] as number[] };
let exitCode = 0;
try {
  const p1 = await part1();
  const p2 = LEGACY_DIR ? await part2(LEGACY_DIR) : undefined;
  load.end = loadavg();
  report(p1, p2, load);
} catch (error) {
  console.error('bench:forwarding failed:', error);
  exitCode = 1;
} finally {
  await cleanUp();
}
process.exit(exitCode);
