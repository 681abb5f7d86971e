/**
 * Call quality stats benchmark (npm run bench:quality): what reading every
 * session's stats each second costs a node that forwards media, against not
 * reading them, in one run on one node (issue #16: "1,000 sessions polled each
 * second do not hurt forwarding (measure it)").
 *
 * One node, WORKERS=1 (all media on one worker). A second process of this
 * file (`--peers`) holds the libwebrtc peers, so that their encoding and
 * decoding are not counted as the server's CPU and the camera's frame timer
 * does not share the server's event loop: one publisher sending a 320x240
 * 30 fps camera, SUBSCRIBERS (20) subscriber sessions each pulling it and
 * counting decoded frames. Then idle sessions (GraphQL createSession without
 * an offer: a WebRtcTransport each, no media) up to SESSIONS (1000) in all.
 *
 * After a warm-up (each kind of polling once for WARMUP_SECONDS (5),
 * unmeasured: JIT compilation is paid once per process), phases of
 * PHASE_SECONDS (15) each, in the order PHASES gives
 * (none,stats,none,graphql,none,metrics,none), each after SETTLE_SECONDS (3)
 * with its polling already running (setting up 1,000 subscriptions is not
 * polling; the readings still under way when a phase ends are done before the
 * next one is measured):
 * - none: no polling, the baseline;
 * - stats: one sessionStats subscription at 1000 ms for every live session,
 *   through the subscription's own source (SessionService.stats.subscribe,
 *   the StatsFeed the API's sessionStats uses), drained here: each reading is
 *   readSessionStats (transport getStats and every producer and consumer's
 *   getStats, in parallel). The subscriptions start together, so their
 *   timers fire together: a round of every session each second, the burst
 *   case;
 * - graphql: the same through the API: one sessionStats subscription per
 *   session over graphql-ws (CONNECTIONS (10) WebSockets, clients in the
 *   peers process), with a dashboard's selection set; adds graphql-js
 *   executing the selection and the WebSocket writes;
 * - metrics: a /metrics scrape (SwitchyardMetrics.render, every producer's
 *   and consumer's stats and the workers' usage) each second.
 * Each phase: worker CPU (getResourceUsage), the server process's CPU
 * (process.cpuUsage: the API, the polling, graphql-ws), its event-loop delay
 * (monitorEventLoopDelay, 10 ms resolution, the resolution subtracted), the
 * subscribers' decoded frames per second (mean and min) and longest gap
 * between two decoded frames, the camera's own frame rate, and how long the
 * polling took: a stats round (from the subscriptions' timer firing to the
 * last reading), a graphql reading's way to its client (the reading's `at` to
 * the client receiving it), a scrape; and the RTP bitrate the worker received
 * from the publisher and forwarded to the subscribers (producer and consumer
 * byte counts at the window's ends). Each polling phase is then compared with
 * the no-polling phases right before and after it, and the difference divided
 * by the readings per second gives a cost per reading.
 *   SESSIONS=200 SUBSCRIBERS=5 PHASES=none,stats,none npm run bench:quality
 */
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Switchyard } from '../src/app.js';
import { gqlOk } from '../test/helpers/graphql.js';
import { startBenchNode } from './benchNode.js';
import { INTERVAL_MS, startPeers, type Peers } from './quality/peers.js';

const number = (name: string, fallback: number, min = 0) => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(value) || value < min) throw new Error(`${name} must be a number of at least ${min}`);
  return value;
};
const SUBSCRIBERS = number('SUBSCRIBERS', 20, 1);
const SESSIONS = number('SESSIONS', 1000, 1);
const PHASE_SECONDS = number('PHASE_SECONDS', 15, 1);
const SETTLE_SECONDS = number('SETTLE_SECONDS', 3, 1);
const WARMUP_SECONDS = number('WARMUP_SECONDS', 5);
const CONNECTIONS = number('CONNECTIONS', 10, 1);
/** Concurrent createSession calls while adding the idle sessions. */
const CREATE_CONCURRENCY = number('CREATE_CONCURRENCY', 8, 1);
const LOOP_RESOLUTION_MS = 10;
const KINDS = ['none', 'stats', 'graphql', 'metrics'] as const;
type Kind = (typeof KINDS)[number];
const PHASES = (process.env.PHASES ?? 'none,stats,none,graphql,none,metrics,none').split(',').map((p) => p.trim()) as Kind[];
if (PHASES.length === 0 || PHASES.some((p) => !KINDS.includes(p))) throw new Error(`PHASES must list phases among ${KINDS.join(', ')}`);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : NaN;
};
const mean = (values: number[]) => (values.length ? values.reduce((a, b) => a + b, 0) / values.length : NaN);


/** Current RSS of a process (Linux), MB. */
function rssMb(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

interface Polling {
  /** What the polling did within the phase's window (startMs to endMs, performance.now()). */
  stop(startMs: number, endMs: number): Promise<{ readings: number; timesMs: number[]; rounds: number; fewestPerRound: number; errors: string[] }>;
}

/** Every live session's sessionStats subscription (StatsFeed, as the API's), all started together, drained here. */
function startStatsPolling(server: Switchyard): Polling {
  const sessions = server.sessions.list();
  const arrivals: number[] = [];
  // Started before the subscriptions' timers, with the same interval: it fires first in the same batch, when a round starts.
  const roundStarts = [performance.now()];
  const marker = setInterval(() => roundStarts.push(performance.now()), INTERVAL_MS);
  const streams = sessions.map((session) => server.sessions.stats.subscribe(session, INTERVAL_MS));
  const drained = streams.map(async (stream) => {
    for await (const reading of stream) {
      void reading;
      arrivals.push(performance.now());
    }
  });
  return {
    async stop(startMs, endMs) {
      clearInterval(marker);
      await Promise.all(streams.map((stream) => stream.return?.()));
      await Promise.all(drained);
      const inWindow = arrivals.filter((t) => t >= startMs && t <= endMs);
      // A round: from its timer firing to the last reading that arrived before the next round started.
      const timesMs: number[] = [];
      const counts: number[] = [];
      roundStarts.forEach((start, i) => {
        const end = roundStarts[i + 1];
        if (start < startMs || end === undefined || end > endMs) return;
        const round = inWindow.filter((t) => t >= start && t < end);
        counts.push(round.length);
        if (round.length) timesMs.push(Math.max(...round) - start);
      });
      return { readings: inWindow.length, timesMs, rounds: counts.length, fewestPerRound: counts.length ? Math.min(...counts) : NaN, errors: [] };
    },
  };
}

/** One sessionStats subscription per live session over graphql-ws, the clients in the peers process. */
async function startGraphqlPolling(server: Switchyard, peers: Peers): Promise<Polling> {
  await peers.ask({ cmd: 'graphql-start', sessionIds: server.sessions.sessionIds(), connections: CONNECTIONS }, 'graphql-started');
  return {
    async stop(startMs, endMs) {
      const result = await peers.ask({ cmd: 'graphql-stop', fromEpochMs: performance.timeOrigin + startMs, untilEpochMs: performance.timeOrigin + endMs }, 'graphql');
      return { readings: result.readings, timesMs: result.deliveryMs, rounds: NaN, fewestPerRound: NaN, errors: result.errors };
    },
  };
}

/** A /metrics scrape each second (skipped while the previous one runs). */
function startMetricsPolling(server: Switchyard): Polling {
  const metrics = server.metrics.metrics;
  if (!metrics) throw new Error('metrics are off on this node');
  const scrapes: { at: number; ms: number }[] = [];
  const errors: string[] = [];
  let running: Promise<void> | undefined;
  const scrape = () => {
    if (running) return;
    const started = performance.now();
    running = metrics
      .render()
      .then(
        () => void scrapes.push({ at: started, ms: performance.now() - started }),
        (error: unknown) => void errors.push(String(error)),
      )
      .finally(() => (running = undefined));
  };
  const timer = setInterval(scrape, INTERVAL_MS);
  scrape();
  return {
    async stop(startMs, endMs) {
      clearInterval(timer);
      await running;
      const timesMs = scrapes.filter((s) => s.at >= startMs && s.at <= endMs).map((s) => s.ms);
      return { readings: timesMs.length, timesMs, rounds: timesMs.length, fewestPerRound: NaN, errors };
    },
  };
}

async function startPolling(kind: Kind, server: Switchyard, peers: Peers): Promise<Polling | undefined> {
  if (kind === 'stats') return startStatsPolling(server);
  if (kind === 'graphql') return startGraphqlPolling(server, peers);
  if (kind === 'metrics') return startMetricsPolling(server);
  return undefined;
}

/** RTP bytes so far: received from the publisher, and sent to all subscribers together (one getStats per producer and consumer). */
async function rtpBytes(server: Switchyard): Promise<{ in: number; out: number }> {
  const producers = [];
  const consumers = [];
  for (const session of server.sessions.list()) {
    for (const t of session.transceivers) {
      if (t.pushed && !t.pushed.producer.closed) producers.push(t.pushed.producer);
      if (t.pulled && !t.pulled.consumer.closed) consumers.push(t.pulled.consumer);
    }
  }
  const sum = (stats: { type: string; byteCount?: number }[][], type: string) =>
    stats.flat().reduce((total, s) => total + (s.type === type ? (s.byteCount ?? 0) : 0), 0);
  const [inbound, outbound] = await Promise.all([Promise.all(producers.map((p) => p.getStats())), Promise.all(consumers.map((c) => c.getStats()))]);
  return { in: sum(inbound, 'inbound-rtp'), out: sum(outbound, 'outbound-rtp') };
}

interface PhaseResult {
  kind: Kind;
  seconds: number;
  sessions: number;
  workerCpu: number;
  nodeCpu: number;
  peersCpu: number;
  loopP99: number;
  loopMax: number;
  fpsMean: number;
  fpsMin: number;
  maxGapMs: number;
  cameraFps: number;
  /** RTP from the publisher, and forwarded to all subscribers together, kbit/s. */
  kbpsIn: number;
  kbpsOut: number;
  readings: number;
  /** stats: the fewest readings in one full round. */
  fewestPerRound: number;
  timesMs: number[];
  rounds: number;
  errors: string[];
}

async function runPhase(kind: Kind, server: Switchyard, peers: Peers, loop: ReturnType<typeof monitorEventLoopDelay>): Promise<PhaseResult> {
  const worker = server.pool.workers[0]!.worker;
  const workerMs = async () => {
    const usage = await worker.getResourceUsage();
    return usage.ru_utime + usage.ru_stime;
  };
  // Polling starts before the window, so that setting it up (1,000 GraphQL subscriptions) is not counted as polling.
  const polling = await startPolling(kind, server, peers);
  // Half an interval more: the window then starts and ends between two rounds (stats) or scrapes, and holds PHASE_SECONDS of them.
  await sleep(SETTLE_SECONDS * 1000 + INTERVAL_MS / 2);
  const sessions = server.sessions.sessionCount;
  const peersBefore = await peers.ask({ cmd: 'snapshot' }, 'snapshot');
  const workerBefore = await workerMs();
  const bytesBefore = await rtpBytes(server);
  const nodeBefore = process.cpuUsage();
  const startMs = performance.now();
  loop.reset();
  await sleep(startMs + PHASE_SECONDS * 1000 - performance.now());
  const endMs = performance.now();
  const node = process.cpuUsage(nodeBefore);
  const loopP99 = loop.percentile(99) / 1e6 - LOOP_RESOLUTION_MS;
  const loopMax = loop.max / 1e6 - LOOP_RESOLUTION_MS;
  const workerAfter = await workerMs();
  const bytesAfter = await rtpBytes(server);
  const peersAfter = await peers.ask({ cmd: 'snapshot' }, 'snapshot');
  const wallMs = performance.now() - startMs;
  const polled = polling ? await polling.stop(startMs, endMs) : { readings: 0, timesMs: [], rounds: 0, fewestPerRound: NaN, errors: [] };
  const seconds = (endMs - startMs) / 1000;
  const fps = peersAfter.frames.map((f, i) => (f - peersBefore.frames[i]!) / seconds);
  return {
    kind,
    seconds,
    sessions,
    // Worker and peers readings are a few ms later than the end of the window: divide by the time between their own readings.
    workerCpu: ((workerAfter - workerBefore) / wallMs) * 100,
    nodeCpu: ((node.user + node.system) / 1000 / (endMs - startMs)) * 100,
    peersCpu: ((peersAfter.cpuMs - peersBefore.cpuMs) / wallMs) * 100,
    loopP99: Math.max(0, loopP99),
    loopMax: Math.max(0, loopMax),
    fpsMean: mean(fps),
    fpsMin: Math.min(...fps),
    maxGapMs: Math.max(...peersAfter.maxGapMs),
    cameraFps: (peersAfter.cameraFrames - peersBefore.cameraFrames) / seconds,
    kbpsIn: ((bytesAfter.in - bytesBefore.in) * 8) / seconds / 1000,
    kbpsOut: ((bytesAfter.out - bytesBefore.out) * 8) / seconds / 1000,
    readings: polled.readings,
    fewestPerRound: polled.fewestPerRound,
    timesMs: polled.timesMs,
    rounds: polled.rounds,
    errors: polled.errors,
  };
}

async function createIdleSessions(server: Switchyard, count: number): Promise<{ created: number; ms: number; error: string | undefined }> {
  const started = performance.now();
  let created = 0;
  let issued = 0;
  let error: string | undefined;
  const lane = async () => {
    while (issued < count && !error) {
      issued += 1;
      try {
        await gqlOk(server.url, 'mutation { createSession { session { id } } }');
        created += 1;
      } catch (e) {
        error ??= String((e as Error)?.message ?? e);
      }
    }
  };
  await Promise.all(Array.from({ length: CREATE_CONCURRENCY }, lane));
  return { created, ms: performance.now() - started, error };
}

const LABELS: Record<Kind, string> = {
  none: 'no polling',
  stats: 'stats each second, every session (StatsFeed)',
  graphql: 'stats each second, every session (graphql-ws)',
  metrics: '/metrics scrape each second',
};

async function main(): Promise<void> {
  const startedAt = performance.now();
  const budget = 300 + PHASES.length * (PHASE_SECONDS + SETTLE_SECONDS + 10) + SESSIONS / 20;
  setTimeout(() => {
    console.error(`bench:quality did not finish within ${budget.toFixed(0)} s; exiting`);
    process.exit(2);
  }, budget * 1000).unref();
  const loadBefore = loadavg();
  const server = await startBenchNode({
    // Room for every session, created back to back; idle sessions never connect, so they must not time out.
    MAX_SESSIONS_PER_NODE: '100000',
    MAX_SESSIONS_PER_APP: '100000',
    SESSION_CREATIONS_PER_APP_PER_SECOND: '100000',
    SESSION_IDLE_TIMEOUT_MS: '86400000',
    MAX_SUBSCRIPTIONS_PER_CONNECTION: '100000',
  });
  const workerPid = server.pool.workers[0]!.worker.pid;
  const peers = startPeers(server.url, SUBSCRIBERS);
  const results: PhaseResult[] = [];
  let failed: unknown;
  let setup = '';
  try {
    const ready = await peers.next('ready', 180_000);
    console.error(`publisher and ${ready.subscribers.length} subscribers decoding in ${(ready.setupMs / 1000).toFixed(1)} s`);
    const rssBefore = rssMb(workerPid);
    const idle = await createIdleSessions(server, Math.max(0, SESSIONS - server.sessions.sessionCount));
    const rssAfter = rssMb(workerPid);
    setup =
      `${server.sessions.sessionCount} sessions (1 publisher, ${ready.subscribers.length} subscribers, ${idle.created} idle created in ${(idle.ms / 1000).toFixed(1)} s ` +
      `through GraphQL createSession, ${CREATE_CONCURRENCY} at a time); worker RSS ${rssBefore.toFixed(0)} -> ${rssAfter.toFixed(0)} MB`;
    console.error(setup);
    if (idle.error) console.error(`createSession failed after ${idle.created} idle sessions: ${idle.error}`);
    // Each kind of polling once, unmeasured: JIT compilation (graphql-js execution, V8's compiler threads) is a cost paid once per process.
    for (const kind of new Set(PHASES)) {
      if (kind === 'none') continue;
      const polling = await startPolling(kind, server, peers);
      await sleep(WARMUP_SECONDS * 1000);
      await polling?.stop(0, performance.now());
    }
    await sleep(WARMUP_SECONDS * 1000);
    const loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
    loop.enable();
    for (const kind of PHASES) {
      const result = await runPhase(kind, server, peers, loop);
      results.push(result);
      console.error(
        `${LABELS[kind]}: worker ${result.workerCpu.toFixed(1)}%, node ${result.nodeCpu.toFixed(1)}%, loop p99 ${result.loopP99.toFixed(1)} ms, ` +
          `fps ${result.fpsMean.toFixed(1)} (min ${result.fpsMin.toFixed(1)}), readings ${result.readings}` +
          (result.errors.length ? `, errors: ${result.errors.join('; ')}` : ''),
      );
    }
    loop.disable();
  } catch (error) {
    failed = error;
  }

  const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '-');
  const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : '-');
  const cpu = cpus();
  console.log(
    `\nSwitchyard call quality stats benchmark, ${new Date().toISOString().slice(0, 10)}: one node, WORKERS=1, ${cpu.length} CPUs (${cpu[0]?.model.trim() ?? 'unknown'}), ` +
      `load average before ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, after ${loadavg().map((l) => l.toFixed(2)).join(' ')}.\n` +
      `${setup}. Publisher: 320x240 VP8 at 30 fps; peers (libwebrtc) in a process of their own. Phases of ${PHASE_SECONDS} s.\n`,
  );
  const timeText = (r: PhaseResult) =>
    r.kind === 'none' ? '-' : `${f1(quantile(r.timesMs, 0.5))} / ${f1(quantile(r.timesMs, 0.95))}${r.kind === 'stats' ? ' (round)' : r.kind === 'graphql' ? ' (reading → client)' : ' (scrape)'}`;
  const readingsText = (r: PhaseResult) =>
    r.kind === 'none'
      ? '-'
      : r.kind === 'metrics'
        ? `${f2(r.readings / r.seconds)} scrapes`
        : `${f1(r.readings / r.seconds)}${r.kind === 'stats' ? ` (fewest in a round: ${r.fewestPerRound})` : ''}`;
  console.log(
    '| # | phase | worker CPU % | worker CPU % per consumer | server process CPU % | event-loop delay p99 / max ms | RTP in / forwarded kbit/s | decoded fps mean / min | longest frame gap ms | camera fps | readings/s | polling ms p50 / p95 | peers process CPU % |',
  );
  console.log('| ---: | --- | ---: | ---: | ---: | --- | --- | --- | ---: | ---: | --- | --- | ---: |');
  results.forEach((r, i) => {
    console.log(
      `| ${i + 1} | ${LABELS[r.kind]} | ${f1(r.workerCpu)} | ${f2(r.workerCpu / SUBSCRIBERS)} | ${f1(r.nodeCpu)} | ${f1(r.loopP99)} / ${f1(r.loopMax)} | ` +
        `${r.kbpsIn.toFixed(0)} / ${r.kbpsOut.toFixed(0)} | ${f1(r.fpsMean)} / ${f1(r.fpsMin)} | ${f1(r.maxGapMs)} | ${f1(r.cameraFps)} | ${readingsText(r)} | ${timeText(r)} | ${f1(r.peersCpu)} |`,
    );
  });

  // Each polling phase against the no-polling phases next to it (before and after): forwarding load drifts during a run
  // (the publisher's bitrate ramps up), so a baseline far away in time is a worse one.
  const neighbours = (i: number) => [results[i - 1], results[i + 1]].filter((r): r is PhaseResult => r?.kind === 'none');
  const compared = results.flatMap((r, i) => {
    const base = neighbours(i);
    if (r.kind === 'none' || base.length === 0) return [];
    const worker = mean(base.map((b) => b.workerCpu));
    const node = mean(base.map((b) => b.nodeCpu));
    return [{ r, worker, node, dWorker: r.workerCpu - worker, dNode: r.nodeCpu - node }];
  });
  if (compared.length) {
    const sign = (n: number, digits = 1) => (Number.isFinite(n) ? `${n >= 0 ? '+' : ''}${n.toFixed(digits)}` : '-');
    console.log(`
Each polling phase against the no-polling phases before and after it (${SUBSCRIBERS} consumers, ${results[0]?.sessions ?? '?'} sessions):
`);
    console.log(
      '| # | polling | worker CPU %: no polling → polling (Δ) | worker CPU % per consumer (Δ) | server process CPU %: no polling → polling (Δ) | readings/s | worker µs per reading (scrape) | server process µs per reading (scrape) |',
    );
    console.log('| ---: | --- | --- | --- | --- | ---: | ---: | ---: |');
    for (const { r, worker, node, dWorker, dNode } of compared) {
      const perSecond = r.readings / r.seconds;
      const perReading = (deltaPercent: number) => (perSecond ? f1((deltaPercent * 10_000) / perSecond) : '-');
      console.log(
        `| ${results.indexOf(r) + 1} | ${LABELS[r.kind]} | ${f1(worker)} → ${f1(r.workerCpu)} (${sign(dWorker)}) | ${f2(worker / SUBSCRIBERS)} → ${f2(r.workerCpu / SUBSCRIBERS)} (${sign(dWorker / SUBSCRIBERS, 2)}) | ` +
          `${f1(node)} → ${f1(r.nodeCpu)} (${sign(dNode)}) | ${f1(perSecond)} | ${perReading(dWorker)} | ${perReading(dNode)} |`,
      );
    }
    const none = results.filter((r) => r.kind === 'none');
    console.log(
      `
No-polling phases: worker ${none.map((r) => f1(r.workerCpu)).join(', ')} %; server process ${none.map((r) => f1(r.nodeCpu)).join(', ')} % (the spread is the noise).`,
    );
  }
  console.log(`\n${results.length} phases; ${((performance.now() - startedAt) / 1000).toFixed(0)} s in all.`);

  try {
    await peers.ask({ cmd: 'stop' }, 'stopped').catch(() => undefined);
    await new Promise<void>((resolve) => {
      if (peers.child.exitCode !== null) return resolve();
      const timer = setTimeout(() => { peers.child.kill('SIGKILL'); resolve(); }, 5000);
      peers.child.once('exit', () => { clearTimeout(timer); resolve(); });
    });
  } finally {
    await server.stop();
  }
  if (failed) {
    console.error('bench failed:', failed);
    process.exit(1);
  }
  process.exit(0);
}

await main();
