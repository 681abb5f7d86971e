/**
 * Process measurements for the soak: memory after a full GC, RSS and open
 * file descriptors of any process from /proc (Linux), and the least-squares
 * slope of a series.
 */
import { readdirSync, readFileSync } from 'node:fs';
import v8 from 'node:v8';
import vm from 'node:vm';

let gcFunction: (() => void) | null | undefined;

/** global.gc, exposed at run time when the process was not started with --expose-gc; null when that fails. */
function gc(): (() => void) | null {
  if (gcFunction !== undefined) return gcFunction;
  const global = globalThis as { gc?: () => void };
  if (typeof global.gc === 'function') {
    gcFunction = global.gc;
  } else {
    try {
      v8.setFlagsFromString('--expose_gc');
      gcFunction = vm.runInNewContext('gc') as () => void;
    } catch {
      gcFunction = null;
    }
  }
  return gcFunction;
}

/** Heap used and RSS of this process in KB, after full collections when GC can be triggered. */
export async function nodeMemoryKb(): Promise<{ heapKb: number; rssKb: number; collected: boolean }> {
  const collect = gc();
  if (collect) {
    for (let i = 0; i < 2; i += 1) {
      collect();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
  const usage = process.memoryUsage();
  return { heapKb: Math.round(usage.heapUsed / 1024), rssKb: Math.round(usage.rss / 1024), collected: collect !== null };
}

/** VmRSS of a process in KB (from /proc/<pid>/status), or NaN when it cannot be read. */
export function processRssKb(pid: number | undefined): number {
  if (!pid) return Number.NaN;
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** How many file descriptors a process holds open (entries of /proc/<pid>/fd), or NaN. */
export function openFds(pid: number | undefined): number {
  if (!pid) return Number.NaN;
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return Number.NaN;
  }
}

/** Least-squares slope of y over x; NaN with fewer than two distinct x. */
export function slope(points: readonly { x: number; y: number }[]): number {
  const usable = points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  const n = usable.length;
  if (n < 2) return Number.NaN;
  const meanX = usable.reduce((sum, p) => sum + p.x, 0) / n;
  const meanY = usable.reduce((sum, p) => sum + p.y, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (const p of usable) {
    sxx += (p.x - meanX) ** 2;
    sxy += (p.x - meanX) * (p.y - meanY);
  }
  return sxx === 0 ? Number.NaN : sxy / sxx;
}
