/**
 * A benchmark's settings, from its arguments (--seconds=5 is SECONDS=5,
 * --egress-n=1,4 is EGRESS_N=1,4) or the environment, with defaults.
 */
const args = new Map(
  process.argv.slice(2).flatMap((arg) => {
    const match = /^--([a-z-]+)=(.*)$/.exec(arg);
    return match ? [[match[1]!.toUpperCase().replaceAll('-', '_'), match[2]!] as const] : [];
  }),
);

export const setting = (name: string, fallback: string) => args.get(name) ?? process.env[name] ?? fallback;

/** A non-negative number. */
export const number = (name: string, fallback: number) => {
  const value = Number(setting(name, String(fallback)));
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a non-negative number`);
  return value;
};

/** A comma-separated list of positive integers. */
export const list = (name: string, fallback: string) => {
  const values = setting(name, fallback).split(',').map((v) => v.trim()).filter(Boolean).map(Number);
  if (values.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`${name} must list positive integers`);
  return values;
};

/** A comma-separated set of words. */
export const words = (name: string, fallback: string) => new Set(setting(name, fallback).split(',').map((p) => p.trim()));

/** Wall-clock time in ms with sub-ms precision, comparable between processes of this machine (up to the offset measured). */
export const epoch = () => performance.timeOrigin + performance.now();
