import { describe, expect, it } from 'vitest';
import { runSoak } from '../../scripts/soak/soak.js';

/**
 * The soak (npm run soak) for SOAK_MINUTES (2 by default): a churn of real
 * libwebrtc peers that publish, pull, leave politely, leave abruptly, vanish
 * and never connect, some holding trackEvents and sessionEvents over
 * graphql-ws, plus the hardening journeys (a hoard of pulls refused by the
 * session bounds, a session without ICE consent checks whose client
 * vanishes, a list argument over MAX_LIST_ITEMS), each of those at least
 * once. The node runs in a process of its own as `npm run soak` runs it
 * (SOAK_MODE=in-process puts it in the test's). No operation may fail, and
 * once the churn stops and the peers are gone every count must be back to
 * zero: sessions, tracks, the mediasoup objects the workers report,
 * graphql-ws connections and subscriptions. SOAK_SEED repeats a run; SOAK_ENV
 * (KEY=VALUE,KEY=VALUE) changes the node's settings for experiments
 * (SOAK_ENV=SESSION_IDLE_TIMEOUT_MS=60000 leaves the never-connected sessions
 * open past the drain: the test fails). Not root: the vanishing no-consent
 * client needs an nftables rule, so that journey is skipped, and said so.
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
  it(`churns peers for ${MINUTES} min with no failure and drains to zero`, { timeout: (MINUTES * 60 + 180) * 1000 }, async () => {
    const lines: string[] = [];
    const result = await runSoak({
      minutes: MINUTES,
      seed: SEED,
      env: ENV,
      settleS: 5,
      log: (line) => lines.push(line),
    });
    // One block (vitest prints each console.log on its own); failures are in the assertion messages too.
    console.log(lines.join('\n'));
    const context = `seed ${result.seed}:\n${lines.join('\n')}`;

    expect(result.failures, context).toEqual([]);
    expect(result.workerDeaths, context).toBe(0);
    expect(result.journeys, context).toBeGreaterThan(10 * MINUTES);

    // Every edge reached: each hardening journey ran (the root-only one skipped, and said so, when not root);
    // with no failure, each got the outcome it expects (a refusal naming its bound, a close within the window).
    const rootless = process.getuid?.() !== 0;
    for (const kind of ['hoard', 'list-flood', ...(rootless ? [] : ['silent-no-consent'])]) {
      expect(result.journeysByKind[kind] ?? 0, `${kind}: ${context}`).toBeGreaterThan(0);
    }
    if (rootless) expect(result.skipped.join('\n'), context).toMatch(/silent-no-consent/);
    expect(Object.keys(result.outcomes).filter((o) => o.startsWith('hoard refused by')), context).not.toEqual([]);
    expect(result.outcomes['subscribed over graphql-ws'] ?? 0, context).toBeGreaterThan(0);

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
    // Still nothing a while later: the settled sample is taken from an idle node.
    expect(result.settled.sessions + result.settled.census.consumers + result.settled.api.connections, context).toBe(0);
    expect(result.passed, context).toBe(true);
  });
});
