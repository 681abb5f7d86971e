/**
 * The shapes of a soak run: what it is asked (SoakOptions) and what it hands
 * back (SoakResult, with a SoakSample per interval). soak.ts re-exports them
 * for its callers; the runner, the journeys and the report share them here.
 */
import type { ApiCensus } from '../../src/api/server.js';
import type { MediaCensus } from '../../src/media/census.js';

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
  /** Settings of the node on top of the soak's own (loopback, 2 workers, short timeouts). */
  env?: Record<string, string>;
  /** How long the drain may take at the end (default 15 s). */
  drainTimeoutMs?: number;
}

export interface SoakFailure {
  atS: number;
  journey: string;
  message: string;
}

export interface SoakSample {
  elapsedS: number;
  journeys: number;
  failures: number;
  sessions: number;
  tracks: number;
  census: MediaCensus;
  /** Of census.transports, the PipeTransports between routers (mediasoup keeps one pair per router pair for reuse). */
  pipeTransports: number;
  heapKb: number;
  rssKb: number;
  nodeFds: number;
  workers: { index: number; pid: number; rssKb: number; fds: number }[];
  /** graphql-ws connections and subscriptions the API holds (node.api.census()): leaks of the API show here. */
  api: ApiCensus;
}

export interface SoakResult {
  seed: number;
  peers: number;
  intervalS: number;
  journeys: number;
  journeysByKind: Record<string, number>;
  failures: SoakFailure[];
  workerDeaths: number;
  samples: SoakSample[];
  /** The sample taken before the first peer (not in `samples`). */
  start: SoakSample;
  /** The sample taken after the drain (not in `samples`). */
  final: SoakSample;
  drained: boolean;
  /** What was not back to zero after the drain. */
  leftovers: string[];
  drainMs: number;
  /** KB per minute, least squares over `slopeWindow`. */
  slopes: { label: string; kbPerMin: number }[];
  slopeWindow: string;
  passed: boolean;
}
