/**
 * What the soak prints and concludes from its samples: the table (a header,
 * then a row per sample), the memory slopes over the samples, the memory
 * after the drain against the first sample after warm-up, and the closing
 * report. Pure formatting and arithmetic: the numbers come from runner.ts.
 */
import { slope } from './metrics.js';
import type { SoakMode, SoakResult, SoakSample } from './types.js';

/** Samples of the first minute are the node warming up (JIT, pools, caches): growth there is not a leak. */
const WARM_UP_S = 60;

/** m:ss of a number of seconds since the start. */
export function clock(seconds: number): string {
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** The column titles; a pair of columns per mediasoup worker; the peers' RSS when they run apart from the node. */
export function tableHeader(workers: readonly { index: number }[], mode: SoakMode): string {
  return [
    'elapsed'.padStart(8),
    'journeys'.padStart(8),
    'fail'.padStart(5),
    'sess'.padStart(5),
    'trk'.padStart(4),
    'tp/prod/cons'.padStart(13),
    'pipes'.padStart(5),
    'heap MB'.padStart(8),
    'rss MB'.padStart(7),
    ...workers.map((w) => `w${w.index} MB`.padStart(7)),
    `fds node/${workers.map((w) => `w${w.index}`).join('/')}`.padStart(17),
    'ws conn/subs'.padStart(12),
    ...(mode === 'separate' ? ['peers MB'.padStart(8)] : []),
  ].join(' ');
}

/** One sample under tableHeader(); `label` replaces the elapsed time (start, drained). */
export function tableRow(s: SoakSample, label?: string): string {
  const mb = (kb: number) => (Number.isFinite(kb) ? (kb / 1024).toFixed(1) : '?');
  return [
    (label ?? clock(s.elapsedS)).padStart(8),
    String(s.journeys).padStart(8),
    String(s.failures).padStart(5),
    String(s.sessions).padStart(5),
    String(s.tracks).padStart(4),
    `${s.census.transports}/${s.census.producers}/${s.census.consumers}`.padStart(13),
    String(s.pipeTransports).padStart(5),
    mb(s.heapKb).padStart(8),
    mb(s.rssKb).padStart(7),
    ...s.workers.map((w) => mb(w.rssKb).padStart(7)),
    [s.nodeFds, ...s.workers.map((w) => w.fds)].join('/').padStart(17),
    `${s.api.connections}/${s.api.subscriptions}`.padStart(12),
    ...(s.peersRssKb === undefined ? [] : [mb(s.peersRssKb).padStart(8)]),
  ].join(' ');
}

/**
 * KB per minute of the node's heap and RSS and of each worker's RSS. Samples
 * of the first minute are left out when at least five remain after it, so
 * that growth while the node warms up does not read as a leak.
 */
export function memorySlopes(samples: readonly SoakSample[], final: SoakSample): Pick<SoakResult, 'slopes' | 'slopeWindow'> {
  const usable = samples.filter((s) => s.elapsedS >= WARM_UP_S);
  const window = usable.length >= 5 ? usable : samples;
  const slopeWindow = usable.length >= 5 ? `${window.length} samples after the first minute` : `all ${window.length} samples`;
  const series = (label: string, value: (s: SoakSample) => number) => ({
    label,
    kbPerMin: slope(window.map((s) => ({ x: s.elapsedS / 60, y: value(s) }))),
  });
  const slopes = [
    series('node heap', (s) => s.heapKb),
    series('node RSS', (s) => s.rssKb),
    ...(final.workers.map((w) => series(`worker ${w.index} RSS`, (s) => s.workers.find((x) => x.index === w.index)?.rssKb ?? Number.NaN))),
    ...(final.peersRssKb === undefined ? [] : [series('peers RSS', (s) => s.peersRssKb ?? Number.NaN)]),
  ];
  return { slopes, slopeWindow };
}

/**
 * The node's memory a while after the drain against the first sample after
 * warm-up (or the first sample of a run shorter than that): flat means the
 * churn left nothing behind that the node still holds once idle.
 */
export function afterDrain(samples: readonly SoakSample[], settled: SoakSample): { warm: SoakSample | undefined; rows: SoakResult['afterDrain'] } {
  const warm = samples.find((s) => s.elapsedS >= WARM_UP_S) ?? samples[0];
  if (!warm) return { warm, rows: [] };
  const rows = [
    { label: 'node heap', warmKb: warm.heapKb, settledKb: settled.heapKb },
    { label: 'node RSS', warmKb: warm.rssKb, settledKb: settled.rssKb },
    ...settled.workers.map((w) => ({
      label: `worker ${w.index} RSS`,
      warmKb: warm.workers.find((x) => x.index === w.index)?.rssKb ?? Number.NaN,
      settledKb: w.rssKb,
    })),
  ];
  return { warm, rows };
}

/** The lines after the table: journeys by kind, the drain, the slopes, the failures, the verdict. */
export function report(result: SoakResult, log: (line: string) => void): void {
  const kinds = Object.entries(result.journeysByKind)
    .map(([kind, n]) => `${kind} ${n}`)
    .join(', ');
  log(`journeys: ${result.journeys} (${kinds})`);
  log(
    result.drained
      ? `drain: every count back to zero in ${result.drainMs} ms (sessions, tracks, mediasoup WebRTC transports/producers/consumers, graphql-ws connections/subscriptions; ` +
          `${result.final.pipeTransports} pipe transports stay: mediasoup keeps one PipeTransport pair per router pair for reuse)`
      : `drain: INCOMPLETE after ${result.drainMs} ms: ${result.leftovers.join('; ')}`,
  );
  const outcomes = Object.entries(result.outcomes).map(([outcome, n]) => `${outcome} ${n}`);
  if (outcomes.length > 0) log(`outcomes: ${outcomes.join(', ')}`);
  for (const [label, values] of Object.entries(result.timings)) {
    const sorted = [...values].sort((a, b) => a - b);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
    log(`${label}: ${sorted.length} times, ${(at(0) / 1000).toFixed(1)}–${(at(1) / 1000).toFixed(1)} s (median ${(at(0.5) / 1000).toFixed(1)} s)`);
  }
  for (const skipped of result.skipped) log(`skipped: ${skipped}`);
  log(
    `memory slope (${result.slopeWindow}): ${result.slopes.map((s) => `${s.label} ${Number.isFinite(s.kbPerMin) ? s.kbPerMin.toFixed(0) : 'n/a'} KB/min`).join(', ')}`,
  );
  if (result.warm) {
    const mb = (kb: number) => (Number.isFinite(kb) ? (kb / 1024).toFixed(1) : '?');
    const delta = (kb: number) => (Number.isFinite(kb) ? `${kb >= 0 ? '+' : ''}${(kb / 1024).toFixed(1)}` : '?');
    log(
      `memory ${result.settleS} s after the drain, against ${clock(result.warm.elapsedS)} ` +
        `(${result.warm.elapsedS >= WARM_UP_S ? 'first sample after warm-up' : 'first sample: the run is shorter than the warm-up'}), MB: ` +
        result.afterDrain.map((row) => `${row.label} ${mb(row.warmKb)} → ${mb(row.settledKb)} (${delta(row.settledKb - row.warmKb)})`).join(', ') +
        (result.mode === 'separate' ? '' : ' (in-process: node RSS includes the peers)'),
    );
  }
  if (result.failures.length > 0) {
    log(`failures: ${result.failures.length}`);
    for (const f of result.failures.slice(0, 30)) log(`  ${clock(f.atS)} ${f.journey}: ${f.message}`);
    if (result.failures.length > 30) log(`  … and ${result.failures.length - 30} more`);
  }
  log(`${result.passed ? 'PASS' : 'FAIL'} (seed ${result.seed})`);
}
