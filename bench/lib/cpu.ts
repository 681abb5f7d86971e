/**
 * CPU of a node's process tree, from /proc: the Node.js process, its
 * mediasoup worker and its ffmpeg children (JPEG adapters, recorders), each
 * the sum of its threads' schedstat run time (ns); and event-loop delay.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { processSchedMs } from '../forwarding/raw.js';

/** Event-loop delay (ms, the histogram's resolution subtracted) since the last reading. */
export interface LoopDelay {
  p99: number;
  max: number;
}
const LOOP_RESOLUTION_MS = 5;

/** This process's event-loop delay: each call returns it since the last call. */
export function loopMonitor() {
  const histogram = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  histogram.enable();
  return (): LoopDelay => {
    const delay = { p99: Math.max(0, histogram.percentile(99) / 1e6 - LOOP_RESOLUTION_MS), max: Math.max(0, histogram.max / 1e6 - LOOP_RESOLUTION_MS) };
    histogram.reset();
    return delay;
  };
}

/** Processes named `comm` (ffmpeg: the adapters' decoders, the recorders) whose parent is `parent`, from /proc. */
export function ffmpegChildren(parent: number, comm = 'ffmpeg'): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parent && name === comm) pids.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

/** A process's CPU so far (ms, all threads), NaN once it is gone. */
export const schedMs = (pid: number) => {
  try {
    return processSchedMs(pid);
  } catch {
    return NaN;
  }
};

export interface CpuReading {
  at: number;
  node: number;
  worker: number;
  ffmpeg: Map<number, number>;
  bench: number;
}

export function readCpu(nodePid: number, workerPid: number): CpuReading {
  const usage = process.cpuUsage();
  return {
    at: performance.now(),
    node: schedMs(nodePid),
    worker: schedMs(workerPid),
    ffmpeg: new Map(ffmpegChildren(nodePid).map((pid) => [pid, schedMs(pid)])),
    bench: (usage.user + usage.system) / 1000,
  };
}

/** % of one core over a window, by process. */
export interface Cpu {
  node: number;
  worker: number;
  ffmpeg: number;
  ffmpegProcesses: number;
  bench: number;
}

/** Between two readings; an ffmpeg that started within the window counts from 0, one that ended is missed. */
export function cpuBetween(a: CpuReading, b: CpuReading): Cpu {
  const ms = b.at - a.at;
  let ffmpeg = 0;
  for (const [pid, after] of b.ffmpeg) ffmpeg += after - (a.ffmpeg.get(pid) ?? 0);
  const pct = (used: number) => (used / ms) * 100;
  return { node: pct(b.node - a.node), worker: pct(b.worker - a.worker), ffmpeg: pct(ffmpeg), ffmpegProcesses: b.ffmpeg.size, bench: pct(b.bench - a.bench) };
}

/** What the node spends: its process, its worker and its ffmpeg children (the bench process is not counted). */
export const total = (c: Pick<Cpu, 'node' | 'worker' | 'ffmpeg'>) => c.node + c.worker + c.ffmpeg;
