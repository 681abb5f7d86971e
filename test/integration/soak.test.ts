import { describe, expect, it } from 'vitest';
import { runSoak } from '../../scripts/soak/soak.js';

/**
 * The soak (npm run soak) in-process: a churn of real libwebrtc peers that
 * publish, pull, leave politely, leave abruptly, vanish and never connect,
 * some following trackEvents and sessionEvents, against one node for
 * SOAK_MINUTES (2 by default). No operation may fail, and once the churn
 * stops and the peers are gone every count must be back to zero: sessions,
 * tracks, the mediasoup objects the workers report, graphql-ws connections
 * and subscriptions. SOAK_SEED repeats a run; SOAK_ENV (KEY=VALUE,KEY=VALUE)
 * changes the node's settings for experiments (SOAK_ENV=SESSION_IDLE_TIMEOUT_MS=60000
 * leaves the never-connected sessions open past the drain: the test fails).
 */
const MINUTES = Number(process.env.SOAK_MINUTES ?? 2);
const SEED = process.env.SOAK_SEED === undefined ? undefined : Number(process.env.SOAK_SEED);
const ENV = Object.fromEntries(
  (process.env.SOAK_ENV ?? '')
    .split(',')
    .filter(Boolean)
    .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
);

describe('soak', () => {
  it(`churns peers for ${MINUTES} min with no failure and drains to zero`, { timeout: (MINUTES * 60 + 120) * 1000 }, async () => {
    const lines: string[] = [];
    const result = await runSoak({
      minutes: MINUTES,
      seed: SEED,
      env: ENV,
      log: (line) => lines.push(line),
    });
    // One block (vitest prints each console.log on its own); failures are in the assertion messages too.
    console.log(lines.join('\n'));
    const context = `seed ${result.seed}:\n${lines.join('\n')}`;

    expect(result.failures, context).toEqual([]);
    expect(result.workerDeaths, context).toBe(0);
    expect(result.journeys, context).toBeGreaterThan(10 * MINUTES);

    // The drain, count by count (not only the verdict).
    const { final } = result;
    expect(final.sessions, context).toBe(0);
    expect(final.tracks, context).toBe(0);
    expect(final.census.transports - final.pipeTransports, context).toBe(0);
    expect(final.census.producers, context).toBe(0);
    expect(final.census.consumers, context).toBe(0);
    expect(final.census.dataProducers + final.census.dataConsumers, context).toBe(0);
    // mediasoup keeps one PipeTransport pair per pair of routers for later pipes (two workers: one pair).
    expect(final.pipeTransports, context).toBeLessThanOrEqual(final.workers.length * (final.workers.length - 1));
    // Every peer's graphql-ws connection is gone: a connection or subscription the API still holds leaked.
    expect(final.api, context).toEqual({ connections: 0, subscriptions: 0 });
    expect(result.leftovers, context).toEqual([]);
    expect(result.passed, context).toBe(true);
  });
});
