/**
 * The soak: one Switchyard node and a churn of real libwebrtc peers
 * (TestPeer) against it for a while, sampled every interval (sessions,
 * tracks, the mediasoup census, memory, file descriptors, the graphql-ws
 * census), then a drain that must bring every count back to zero, and a
 * last sample a while later for the memory the node keeps once idle.
 * `npm run soak` is the command line; test/integration/soak.test.ts runs it
 * from vitest. Both import from here:
 * - node.ts, nodeProcess.ts, probe.ts: the node, in a process of its own
 *   (separate, the default) or in this one (in-process), and what it reports;
 * - journeys/:    what each peer does (everyday journeys, and the hardening ones);
 * - runner.ts:    the churn that keeps the peers going, the sampling, the drain check;
 * - report.ts:    the table, the memory slopes, the memory after the drain, the closing report;
 * - metrics.ts:   memory, RSS and file descriptors of the processes;
 * - startNode.ts: the node's settings for a soak;
 * - udpDrop.ts:   the nftables rule that makes a peer vanish (root only);
 * - types.ts:     the options and the result.
 */
import { inProcessNode, separateNode, type SoakNode } from './node.js';
import { Soak } from './runner.js';
import { startSoakNode } from './startNode.js';
import type { SoakMode, SoakOptions, SoakResult } from './types.js';

export type { JourneyKind } from './journeys/index.js';
export { SOAK_NODE_ENV, startSoakNode } from './startNode.js';
export type { SoakFailure, SoakMode, SoakOptions, SoakResult, SoakSample } from './types.js';

/**
 * The mode when the caller does not say: SOAK_MODE=in-process or separate
 * (the command line has no flag for it), separate by default.
 */
function defaultMode(): SoakMode {
  const mode = process.env.SOAK_MODE ?? 'separate';
  if (mode !== 'separate' && mode !== 'in-process') throw new Error(`SOAK_MODE must be separate or in-process, not ${JSON.stringify(mode)}`);
  return mode;
}

function defaultSettleS(): number | undefined {
  if (process.env.SOAK_SETTLE_S === undefined) return undefined;
  const s = Number(process.env.SOAK_SETTLE_S);
  if (!Number.isFinite(s) || s < 0) throw new Error(`SOAK_SETTLE_S must be a number of seconds, not ${JSON.stringify(process.env.SOAK_SETTLE_S)}`);
  return s;
}

export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const mode = options.mode ?? defaultMode();
  const env = options.env ?? {};
  const node: SoakNode = mode === 'separate' ? await separateNode(env) : inProcessNode(await startSoakNode(env));
  try {
    return await new Soak(node, { ...options, settleS: options.settleS ?? defaultSettleS() }).run();
  } finally {
    await node.stop();
  }
}
