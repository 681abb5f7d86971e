/**
 * The soak: one Switchyard node in this process and a churn of real
 * libwebrtc peers (TestPeer) against it for a while, sampled every interval
 * (sessions, tracks, the mediasoup census, memory, file descriptors, the
 * graphql-ws census), then a drain that must bring every count back to zero.
 * `npm run soak` is the command line; test/integration/soak.test.ts runs it
 * in-process. Both import from here:
 * - journeys.ts: what each peer does (publish, pull, leave, vanish, never connect);
 * - runner.ts:   the churn that keeps the peers going, the sampling, the drain check;
 * - report.ts:   the table, the memory slopes and the closing report;
 * - metrics.ts:  memory, RSS and file descriptors of the processes;
 * - types.ts:    the options and the result.
 */
import { startSwitchyard, type Switchyard } from '../../src/app.js';
import { loadConfig } from '../../src/config/config.js';
import { freeRtcPortRange } from '../../test/helpers/ports.js';
import { Soak } from './runner.js';
import type { SoakOptions, SoakResult } from './types.js';

export type { JourneyKind } from './journeys.js';
export type { SoakFailure, SoakOptions, SoakResult, SoakSample } from './types.js';

/** Starts a node as the tests do: loopback, free ports, two workers, silent, short liveness timeouts. */
export async function startSoakNode(env: Record<string, string> = {}): Promise<Switchyard> {
  const workers = Number(env.WORKERS ?? 2);
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    WORKERS: String(workers),
    RTC_PORT: String(await freeRtcPortRange(workers)),
    LOG_LEVEL: process.env.SOAK_LOG_LEVEL ?? 'silent',
    SESSION_IDLE_TIMEOUT_MS: '3000',
    RECONNECT_GRACE_MS: '2000',
    ...env,
  });
  return startSwitchyard(config);
}

export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const node = await startSoakNode(options.env);
  try {
    return await new Soak(node, options).run();
  } finally {
    await node.stop();
  }
}
