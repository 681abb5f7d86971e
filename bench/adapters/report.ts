/** bench:adapters' tables. */
import { median } from '../forwarding/raw.js';
import { total } from '../lib/cpu.js';
import { FPS, HEIGHT, TONE_HZ, WIDTH } from '../lib/media.js';
import { perUnit } from '../lib/phases.js';
import { f1, f2, machine, perCore, printTable, quantile, stats, utcMinute } from '../lib/report.js';
import type { Kind, Phase } from './context.js';
import type { EgressLatency, IngestLatency } from './latency.js';
import { leftFfmpeg } from './phases.js';
import { SECONDS, SETTLE_SECONDS } from './settings.js';

const LABEL: Record<Kind, string> = {
  idle: 'idle (publisher alone)',
  'pcm-egress': 'PCM egress adapters',
  'audio-subscribers': 'plain audio subscribers',
  'pcm-ingest': 'PCM ingest adapters',
  'jpeg-1': 'JPEG adapters, 1/s',
  'jpeg-5': 'JPEG adapters, 5/s',
  'video-subscriber': 'plain video subscriber',
};

function printCpu(phases: Phase[]): void {
  printTable(
    ['>#', 'phase', '>N', '>node %', '>worker %', '>ffmpeg % (processes)', '>node + worker + ffmpeg %', '>bench %', 'event-loop delay p99 / max ms: node, bench', 'work done'],
    phases.map((p, i) => {
      const loop = `${f1(p.loop.node.p99)} / ${f1(p.loop.node.max)}, ${f1(p.loop.bench.p99)} / ${f1(p.loop.bench.max)}`;
      return [String(i + 1), LABEL[p.kind], p.kind === 'idle' ? '' : String(p.n), f1(p.cpu.node), f1(p.cpu.worker), `${f1(p.cpu.ffmpeg)} (${p.cpu.ffmpegProcesses})`, f1(total(p.cpu)), f1(p.cpu.bench), loop, `${p.work}${p.note ? `; ${p.note}` : ''}`];
    }),
  );

  // Each loaded phase against the mean of the idle phases around it.
  const per = perUnit(phases);
  console.log('\nPer adapter or subscriber, above the idle phases around it (% of one core), and how many would fit on one core at that cost:\n');
  printTable(
    ['phase', '>N', '>node %', '>worker %', '>ffmpeg %', '>**total %**', '>per core (100 / total)', '>per Node.js thread (100 / node %)', '>adapter / plain subscriber (same N; JPEG: the video subscriber)'],
    per.map((r) => {
      const t = total(r);
      const plain = r.p.kind === 'pcm-egress' ? per.find((o) => o.p.kind === 'audio-subscribers' && o.p.n === r.p.n) : r.p.kind.startsWith('jpeg') ? per.find((o) => o.p.kind === 'video-subscriber') : undefined;
      const plainTotal = plain ? total(plain) : NaN;
      return [LABEL[r.p.kind], String(r.p.n), f2(r.node), f2(r.worker), f2(r.ffmpeg), `**${f2(t)}**`, perCore(t), perCore(r.node), plain ? f1(t / plainTotal) : ''];
    }),
  );
}

export function report(phases: Phase[], egress: EgressLatency | undefined, ingest: IngestLatency | undefined, meta: { started: Date; load: number[]; clockOffset: number; nodeSetupMs: number }) {
  console.log(
    `\nSwitchyard WebSocket adapter benchmark, ${utcMinute(meta.started)} UTC: one node (WORKERS=1) in a process of its own; ${machine(meta.load)}.\n` +
      `Publisher: libwebrtc (@roamhq/wrtc) in the bench process, ${TONE_HZ} Hz tone (Opus) and a ${WIDTH}x${HEIGHT} ${FPS} fps camera (VP8). Phases of ${SECONDS} s after ${SETTLE_SECONDS} s. ` +
      `CPU in % of one core, from /proc schedstat: node = the Node.js process, worker = its mediasoup worker, ffmpeg = the JPEG adapters' ffmpeg processes; bench = this process (peers and service), not counted.\n`,
  );
  if (phases.length) printCpu(phases);
  const egressPhases = phases.filter((p) => p.kind === 'pcm-egress' && p.latencies.length);
  const videoPhases = phases.filter((p) => (p.kind.startsWith('jpeg') || p.kind === 'video-subscriber') && p.latencies.length);
  if (egressPhases.length || videoPhases.length) {
    console.log('\nLatency per packet or image (ms):\n');
    const row = (what: string, p: Phase, samples: string) => [what, String(p.n), f1(quantile(p.latencies, 0.5)), f1(quantile(p.latencies, 0.9)), f1(quantile(p.latencies, 0.99)), f1(Math.max(...p.latencies)), samples];
    printTable(['what', '>N', '>p50', '>p90', '>p99', '>max', '>samples'], [
      ...egressPhases.map((p) => row('PCM egress: RTP packet at the adapter → its Packet at the service', p, `${p.latencies.length}${p.unmatched ? ` (${p.unmatched} unmatched)` : ''}`)),
      ...videoPhases.map((p) => row(p.kind === 'video-subscriber' ? 'plain video subscriber: capture → frame decoded' : `${LABEL[p.kind]}: capture → JPEG at the service`, p, String(p.latencies.length))),
    ]);
    const firsts = phases.filter((p) => p.firstImageMs);
    if (firsts.length) console.log(`\nJPEG: createWebSocketAdapter → first image at the service (ms): ${firsts.map((p) => `${LABEL[p.kind]} x${p.n}: ${p.firstImageMs!.map((ms) => ms.toFixed(0)).join(', ')}`).join('; ')}.`);
  }
  if (egress || ingest) {
    console.log(`\nTone onsets (ms; median (min-max, n)); the node's clock is ${f2(meta.clockOffset)} ms from this process's (measured over IPC, subtracted):\n`);
    const rows: string[][] = [];
    if (egress) {
      rows.push(['publisher (libwebrtc) → PCM egress adapter', 'its RTP packet reaches the adapter', stats(egress.toAdapter)]);
      rows.push(['publisher (libwebrtc) → PCM egress adapter', 'first loud Packet at the service', stats(egress.toService)]);
      rows.push(['publisher (libwebrtc) → plain subscriber (libwebrtc)', 'first loud 10 ms chunk played', stats(egress.toSubscriber)]);
      const diff = egress.toService.map((s, i) => s - egress.toSubscriber[i]!);
      // An empty middle cell, printed "| |" as it always was.
      rows.push(['egress adapter − subscriber, same onset |', stats(diff)]);
    }
    if (ingest) {
      rows.push(['service → PCM ingest adapter → plain subscriber', 'first loud chunk played', stats(ingest.toSubscriber)]);
      rows.push(['of which: service send → Packet in the adapter', 'WebSocket hop', stats(ingest.wsHop)]);
      rows.push(["of which: in the adapter's buffer", 'until its 20 ms clock takes it', stats(ingest.buffer)]);
      rows.push(['of which: frame out → played', "Opus, worker, subscriber's jitter buffer", stats(ingest.rest)]);
      const lessBuffer = ingest.toSubscriber.map((s, i) => s - ingest.buffer[i]!);
      rows.push(['ingest, less its buffer |', stats(lessBuffer)]);
      if (egress) {
        const ref = median(egress.toSubscriber.filter(Number.isFinite));
        rows.push([`ingest, less its buffer, − publisher → subscriber (${f1(ref)} ms, median)`, 'added by the ingest path', stats(lessBuffer.map((v) => v - ref))]);
      }
    }
    printTable(['path', 'onset →', 'ms'], rows);
  }
  const leaks = leftFfmpeg.reduce((a, b) => a + b, 0);
  if (leaks) console.log(`\nWARNING: ${leaks} ffmpeg process(es) were still running 2 s after their JPEG adapters closed (the warm-up's, then per JPEG phase: ${leftFfmpeg.join(', ')}); the bench killed them.`);
  console.log(`\nNode process up in ${(meta.nodeSetupMs / 1000).toFixed(1)} s; run took ${((Date.now() - meta.started.getTime()) / 1000).toFixed(0)} s.`);
}
