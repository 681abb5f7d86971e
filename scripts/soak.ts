/**
 * npm run soak -- --minutes N [--interval S] [--peers P] [--seed X] [--in-process] [--settle S] [--env KEY=VALUE ...]
 *
 * Starts a Switchyard node in a child process (or, with --in-process, in this
 * one) and churns real libwebrtc peers against it from this process
 * (scripts/soak/soak.ts), printing a row of counts and memory every interval;
 * at the end it drains, checks that everything is back to zero, and samples
 * memory again after it settles.
 * Exit code 0 on PASS, 1 on FAIL (failures, an incomplete drain, a worker death).
 */
import { parseArgs } from 'node:util';
import { runSoak } from './soak/soak.js';

const USAGE = `usage: npm run soak -- --minutes N [options]
  --minutes <n>      how long the churn runs (fractions allowed, e.g. 0.5)
  --interval <s>     seconds between table rows (default 30; 10 when minutes <= 2)
  --peers <p>        peers kept alive at once (default 8)
  --seed <x>         seed of the journey choices (default random; printed)
  --in-process       run the node in this process, with the peers (default: a child process, so its memory is its own)
  --settle <s>       seconds after the drain before the last memory sample (default 15)
  --env KEY=VALUE    a node setting over the soak's own (repeatable), e.g. --env SESSION_IDLE_TIMEOUT_MS=5000
Logs of the node: SOAK_LOG_LEVEL=info (default silent).`;

function number(name: string, value: string | undefined, fallback?: number): number | undefined {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, not ${JSON.stringify(value)}`);
  return n;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      minutes: { type: 'string' },
      interval: { type: 'string' },
      peers: { type: 'string' },
      seed: { type: 'string' },
      'in-process': { type: 'boolean' },
      settle: { type: 'string' },
      env: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help || values.minutes === undefined) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  const env: Record<string, string> = {};
  for (const pair of values.env ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Error(`--env takes KEY=VALUE, not ${JSON.stringify(pair)}`);
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const seed = values.seed === undefined ? undefined : Number(values.seed);
  if (seed !== undefined && !Number.isInteger(seed)) throw new Error(`--seed must be an integer, not ${JSON.stringify(values.seed)}`);
  const result = await runSoak({
    minutes: number('minutes', values.minutes)!,
    intervalS: number('interval', values.interval),
    peers: number('peers', values.peers),
    seed,
    env,
    ...(values['in-process'] ? { mode: 'in-process' as const } : {}),
    ...(values.settle === undefined ? {} : { settleS: number('settle', values.settle)! }),
  });
  return result.passed ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(2);
  },
);
