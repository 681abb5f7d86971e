/** Printing a bench's results: numbers, the machine, Markdown tables. */
import { cpus, loadavg, totalmem } from 'node:os';
import { median } from '../forwarding/raw.js';

export const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '-');
export const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : '-');
export const quantile = (values: number[], q: number) => {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : NaN;
};
/** median (min-max, n=count) */
export const stats = (values: number[]) => {
  const v = values.filter(Number.isFinite);
  return v.length ? `${f1(median(v))} (${f1(Math.min(...v))}-${f1(Math.max(...v))}, n=${v.length})` : '-';
};
/** How many fit in 100 % of a core at `pct` each. */
export const perCore = (pct: number) => (pct > 0 ? String(Math.floor(100 / pct)) : '-');

/** "2026-12-07 17:19" (UTC). */
export const utcMinute = (date: Date) => date.toISOString().replace('T', ' ').slice(0, 16);

/** "2 CPUs (model), 24 GiB, Node 24.x; load average a b c at the start, d e f at the end" */
export function machine(loadAtStart: number[]): string {
  const cpu = cpus();
  return (
    `${cpu.length} CPUs (${cpu[0]?.model.trim() ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.versions.node}; ` +
    `load average ${loadAtStart.map((l) => l.toFixed(2)).join(' ')} at the start, ${loadavg().map((l) => l.toFixed(2)).join(' ')} at the end`
  );
}

/** A Markdown table: columns whose title starts with '>' are right-aligned. */
export function printTable(columns: string[], rows: string[][]): void {
  const titles = columns.map((c) => c.replace(/^>/, ''));
  console.log(`| ${titles.join(' | ')} |`);
  console.log(`| ${columns.map((c) => (c.startsWith('>') ? '---:' : '---')).join(' | ')} |`);
  for (const row of rows) console.log(`| ${row.join(' | ')} |`);
}
