/**
 * Phases: load set up, SETTLE_SECONDS to settle, then CPU (node, worker,
 * ffmpeg children, this process) and event-loop delay (node and bench)
 * measured over SECONDS; `idle` phases (the publisher alone) are the
 * baseline each loaded phase is compared with: the mean of the idle phases
 * before and after it.
 */
import { sleep } from '../forwarding/raw.js';
import { cpuBetween, loopMonitor, readCpu, type Cpu, type LoopDelay } from './cpu.js';
import type { NodeLink } from './node.js';
import { epoch } from './settings.js';

export interface BasePhase<K extends string> {
  kind: K | 'idle';
  n: number;
  seconds: number;
  /** The measured window (epoch ms). */
  from: number;
  to: number;
  cpu: Cpu;
  /** Event-loop delay over the window: the node process's and this one's. */
  loop: { node: LoopDelay; bench: LoopDelay };
  /** What was done, per unit, to check equal work. */
  work: string;
  note?: string;
}

/** What a phase's `load` sets up: `check` reads the work done (seconds 0: at the window's start), `finish` adds to the phase, `undo` tears down. */
export interface Load<T, X> {
  state: T;
  check?: (state: T, seconds: number) => string;
  finish?: (state: T, from: number, to: number) => Promise<X>;
  undo: (state: T) => Promise<void>;
}

export function phaseRunner(options: { node: NodeLink; nodePid: number; workerPid: number; seconds: number; settleSeconds: number }) {
  const { node, nodePid, workerPid, seconds: SECONDS, settleSeconds: SETTLE_SECONDS } = options;
  let counter = 0;
  /** This process's event-loop delay (the peers' and the service's callbacks run on it). */
  const benchLoop = loopMonitor();

  /** Runs `load` (which sets things up and returns what to measure and how to undo it), settles, measures SECONDS. */
  async function measure<K extends string, T, X extends object = object>(kind: K | 'idle', n: number, load: (id: number) => Promise<Load<T, X>>): Promise<BasePhase<K> & Partial<X>> {
    const id = (counter += 1);
    console.error(`phase ${id}: ${kind}${kind === 'idle' ? '' : ` x${n}`}`);
    const { state, check, finish, undo } = await load(id);
    try {
      await sleep(SETTLE_SECONDS * 1000);
      check?.(state, 0);
      await node.loopDelay();
      benchLoop();
      const before = readCpu(nodePid, workerPid);
      const from = epoch();
      await sleep(SECONDS * 1000);
      const after = readCpu(nodePid, workerPid);
      const to = epoch();
      const loop = { bench: benchLoop(), node: await node.loopDelay() };
      const seconds = (after.at - before.at) / 1000;
      const work = check?.(state, seconds) ?? '';
      const extra = finish ? await finish(state, from, to) : ({} as X);
      return { kind, n, seconds, from, to, cpu: cpuBetween(before, after), loop, work, ...extra };
    } finally {
      await undo(state);
    }
  }

  return {
    measure,
    /** The publisher alone. */
    idle: () => measure('idle', 0, async () => ({ state: null, undo: async () => undefined })),
    /** A fresh number (phases and paths share the count). */
    nextId: () => (counter += 1),
  };
}
export type PhaseRunner = ReturnType<typeof phaseRunner>;

/** The mean CPU of the idle phases before and after phase `index`. */
export function idleBaseline(phases: readonly BasePhase<string>[], index: number): Cpu {
  const before = phases.slice(0, index).reverse().find((p) => p.kind === 'idle');
  const next = phases.slice(index + 1).find((p) => p.kind === 'idle');
  const idles = [before, next].filter((p): p is BasePhase<string> => p !== undefined);
  const mean = (key: keyof Cpu) => idles.reduce((sum, p) => sum + p.cpu[key], 0) / idles.length;
  return { node: mean('node'), worker: mean('worker'), ffmpeg: mean('ffmpeg'), ffmpegProcesses: 0, bench: mean('bench') };
}

/** Each loaded phase's CPU above its idle baseline, divided by `units` (its N by default): % of one core per unit. */
export function perUnit<P extends BasePhase<string>>(phases: readonly P[], units: (p: P) => number = (p) => p.n) {
  return phases.flatMap((p, i) => {
    if (p.kind === 'idle') return [];
    const b = idleBaseline(phases, i);
    const u = units(p);
    return [{ p, node: (p.cpu.node - b.node) / u, worker: (p.cpu.worker - b.worker) / u, ffmpeg: (p.cpu.ffmpeg - b.ffmpeg) / u, bench: (p.cpu.bench - b.bench) / u }];
  });
}
