/**
 * The shapes of a soak run: what it is asked (SoakOptions), what the node
 * reports (NodeInfo, NodeSample, SessionView: they cross the IPC channel when
 * the node runs in a process of its own, so plain data only) and what the run
 * hands back (SoakResult, with a SoakSample per interval). soak.ts re-exports
 * them for its callers.
 */
import type { ApiCensus } from '../../src/api/server.js';
import type { MediaCensus } from '../../src/media/census.js';

/**
 * separate: the node runs in a child process and the peers in the soak's, so
 * the node's heap, RSS and fds are its own (the default of `npm run soak`);
 * in-process: both share one process, as before (cheaper to start, and the
 * node's objects are at hand in a debugger).
 */
export type SoakMode = 'separate' | 'in-process';

export interface SoakOptions {
  /** How long the churn runs (fractions allowed). */
  minutes: number;
  /** Seconds between table rows (default 30; 10 when minutes ≤ 2). */
  intervalS?: number;
  /** Peers kept alive at once (default 8). */
  peers?: number;
  /** Seed of the journey choices (default: random; printed). */
  seed?: number;
  /** Where lines go (default console.log). */
  log?: (line: string) => void;
  /** Settings of the node on top of the soak's own (loopback, 2 workers, short timeouts, small session bounds). */
  env?: Record<string, string>;
  /** How long the drain may take at the end (default 15 s). */
  drainTimeoutMs?: number;
  /** Default: SOAK_MODE from the environment, else 'separate'. */
  mode?: SoakMode;
  /** Seconds between the drain and the "settled" memory sample (default: SOAK_SETTLE_S, else 15). */
  settleS?: number;
}

/** What the journeys and the report need to know of the node's settings. */
export interface NodeInfo {
  url: string;
  pid: number;
  workers: { index: number; pid: number }[];
  sessionIdleTimeoutMs: number;
  reconnectGraceMs: number;
  trackInactiveAfterMs: number;
  maxListItems: number;
  maxTransceiversPerSession: number;
  maxPendingPullsPerSession: number;
}

/** One reading of the node: counts, then its memory after a full GC. */
export interface NodeSample {
  sessions: number;
  tracks: number;
  census: MediaCensus;
  /** Of census.transports, the PipeTransports between routers (mediasoup keeps one pair per router pair for reuse). */
  pipeTransports: number;
  /** The node's process: in-process mode, the peers' native memory is in rssKb too. */
  heapKb: number;
  rssKb: number;
  nodeFds: number;
  workers: { index: number; pid: number; rssKb: number; fds: number }[];
  /** graphql-ws connections and subscriptions the API holds (node.api.census()): leaks of the API show here. */
  api: ApiCensus;
}

/** Something wrong on the node's side: each fails the run. */
export interface NodeFailure {
  kind: 'worker-died' | 'unhandled-rejection' | 'process-exited';
  message: string;
}

/** A live session as the node holds it (bounds.ts's count of its transceivers). */
export interface SessionView {
  connectionState: string;
  holdings: { transceivers: number; pendingPulls: number; sections: number };
}

export interface SoakSample extends NodeSample {
  elapsedS: number;
  journeys: number;
  failures: number;
  /** RSS of the peers' process (the soak's own), when the node runs apart from it. */
  peersRssKb?: number;
}

export interface SoakFailure {
  atS: number;
  journey: string;
  message: string;
}

export interface SoakResult {
  mode: SoakMode;
  seed: number;
  peers: number;
  intervalS: number;
  journeys: number;
  journeysByKind: Record<string, number>;
  /** Outcomes the journeys counted: which bound refused a hoard, journeys that subscribed, … */
  outcomes: Record<string, number>;
  /** Durations the journeys measured (ms), e.g. how long a vanished no-consent session took to be closed. */
  timings: Record<string, number[]>;
  /** Journeys this run could not do, and why (e.g. not root: no nftables rule to make a peer vanish). */
  skipped: string[];
  failures: SoakFailure[];
  workerDeaths: number;
  samples: SoakSample[];
  /** The sample taken before the first peer (not in `samples`). */
  start: SoakSample;
  /** The sample taken after the drain (not in `samples`). */
  final: SoakSample;
  /** A sample `settleS` after the drain, compared with `warm` (memory after the drain). */
  settled: SoakSample;
  settleS: number;
  /** The first sample after the first minute (warm-up), or the first sample of a shorter run. */
  warm: SoakSample | undefined;
  /** The node's heap and RSS and each worker's RSS, KB, in `warm` and in `settled`. */
  afterDrain: { label: string; warmKb: number; settledKb: number }[];
  drained: boolean;
  /** What was not back to zero after the drain. */
  leftovers: string[];
  drainMs: number;
  /** KB per minute, least squares over `slopeWindow`. */
  slopes: { label: string; kbPerMin: number }[];
  slopeWindow: string;
  passed: boolean;
}
