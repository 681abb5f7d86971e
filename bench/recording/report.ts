/** bench:recording's tables. */
import { median } from '../forwarding/raw.js';
import { total } from '../lib/cpu.js';
import { FPS, HEIGHT, TONE_HZ, WIDTH } from '../lib/media.js';
import { perUnit } from '../lib/phases.js';
import { f1, f2, machine, perCore, printTable, utcMinute } from '../lib/report.js';
import type { Phase, RecordingResult, Target } from './phases.js';
import { TRACKS, startFailures } from './phases.js';
import { SECONDS, SETTLE_SECONDS } from './settings.js';

const WHAT: Record<Target, string> = { cam: 'camera', mic: 'microphone', session: 'session (camera + mic, one file)' };
const label = (p: Phase) =>
  p.kind === 'idle' ? 'idle (publisher alone)' : p.kind.endsWith('-recordings') ? `recordings: ${WHAT[p.target!]}` : `plain subscribers: ${p.target === 'session' ? 'camera + mic' : WHAT[p.target!]}`;
const tracks = (p: Phase) => (p.target ? TRACKS[p.target].length : 1);
/** median (min-max) */
const spread = (values: number[], digits = 0) => {
  const v = values.filter(Number.isFinite);
  return v.length ? `${median(v).toFixed(digits)} (${Math.min(...v).toFixed(digits)}-${Math.max(...v).toFixed(digits)})` : '-';
};

function printCpu(phases: Phase[]): void {
  printTable(
    ['>#', 'phase', '>N', '>node %', '>worker %', '>ffmpeg % (processes)', '>node + worker + ffmpeg %', '>bench %', 'event-loop delay p99 / max ms: node, bench', 'work done'],
    phases.map((p, i) => {
      const loop = `${f1(p.loop.node.p99)} / ${f1(p.loop.node.max)}, ${f1(p.loop.bench.p99)} / ${f1(p.loop.bench.max)}`;
      return [String(i + 1), label(p), p.kind === 'idle' ? '' : String(p.n), f1(p.cpu.node), f1(p.cpu.worker), `${f1(p.cpu.ffmpeg)} (${p.cpu.ffmpegProcesses})`, f1(total(p.cpu)), f1(p.cpu.bench), loop, `${p.work}${p.note ? `; ${p.note}` : ''}`];
    }),
  );
  const per = perUnit(phases);
  console.log('\nPer recording or subscriber, above the idle phases around it (% of one core), per recorded or pulled track, and how many fit on one core:\n');
  printTable(
    ['phase', '>N', '>tracks each', '>node %', '>worker %', '>ffmpeg %', '>**total %**', '>**per track %**', '>per core (100 / total)', '>**recording / subscriber** (same tracks, same N)'],
    per.map((r) => {
      const t = total(r);
      const recording = r.p.kind.endsWith('-recordings');
      const plain = recording ? per.find((o) => o.p.kind === `${r.p.target}-subscribers` && o.p.n === r.p.n) : undefined;
      return [label(r.p), String(r.p.n), String(tracks(r.p)), f2(r.node), f2(r.worker), f2(r.ffmpeg), `**${f2(t)}**`, `**${f2(t / tracks(r.p))}**`, perCore(t), plain ? `**${f1(t / total(plain))}**` : ''];
    }),
  );
}

function printFiles(phases: Phase[], warm: RecordingResult[]): void {
  const recorded = phases.filter((p) => p.recordings?.length);
  if (!recorded.length) return;
  console.log('\nRecordings: what they wrote, and how long they took to start and to finish (ms; median (min-max) over the N recordings of a phase):\n');
  const row = (what: string, n: string, rs: RecordingResult[]) => {
    const states = [...new Set(rs.map((r) => r.state))].map((s) => `${rs.filter((r) => r.state === s).length} ${s}`).join(', ');
    const fileRate = rs.map((r) => (r.sizeBytes !== null && r.durationMs ? r.sizeBytes / (r.durationMs / 1000) / 1000 : NaN));
    return [what, n, spread(rs.map((r) => r.writtenPerSecond / 1000), 1), spread(fileRate, 1), spread(rs.map((r) => (r.durationMs ?? NaN) / 1000), 1), spread(rs.map((r) => r.toRecording)), spread(rs.map((r) => r.toFinishing)), spread(rs.map((r) => r.toDone - r.toFinishing)), spread(rs.map((r) => r.toDone)), states];
  };
  printTable(
    ['recordings', '>N', '>kB/s written during the window (spool file)', '>kB/s of the stored file (size / duration)', '>file duration s', '>start → RECORDING', '>stop → FINISHING (ffmpeg ends)', '>FINISHING → DONE (copy pass, probe, store)', '>**stop → DONE**', 'ended'],
    [...(warm.length ? [row('warm-up: session', '1', warm)] : []), ...recorded.map((p) => row(WHAT[p.target!], String(p.n), p.recordings!))],
  );
  const failed = recorded.flatMap((p) => p.recordings!).filter((r) => r.state !== 'DONE');
  for (const r of failed) console.log(`\n${r.id}: ${r.state}: ${r.reason}`);
  if (startFailures.length) console.log(`\nWARNING: startRecording failed ${startFailures.length} time(s) and was tried again: ${[...new Set(startFailures)].join('; ')}`);
}

export function report(phases: Phase[], warm: RecordingResult[], meta: { started: Date; load: number[]; nodeSetupMs: number; camera: string; dir: string }): void {
  console.log(
    `\nSwitchyard recording benchmark, ${utcMinute(meta.started)} UTC: one node (WORKERS=1) in a process of its own; ${machine(meta.load)}.\n` +
      `Publisher: libwebrtc (@roamhq/wrtc) in the bench process, ${TONE_HZ} Hz tone (Opus) and a ${WIDTH}x${HEIGHT} ${FPS} fps camera (VP8, ${meta.camera}). Phases of ${SECONDS} s after ${SETTLE_SECONDS} s. ` +
      `CPU in % of one core, from /proc schedstat: node = the Node.js process, worker = its mediasoup worker, ffmpeg = the recorders (ffmpeg children of the node); bench = this process (publisher and subscribers), not counted. ` +
      `RECORDINGS_DIR: a temporary directory under ${meta.dir}.\n`,
  );
  if (phases.length) printCpu(phases);
  printFiles(phases, warm);
  console.log(`\nNode process up in ${(meta.nodeSetupMs / 1000).toFixed(1)} s; run took ${((Date.now() - meta.started.getTime()) / 1000).toFixed(0)} s.`);
}
