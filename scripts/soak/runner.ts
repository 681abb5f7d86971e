/**
 * The churn: keeps `peers` journeys (journeys.ts) under way until the
 * deadline, samples the node every interval, then stops the churn, closes
 * every peer and waits for the drain: every count back to zero, or the
 * leftovers named in the result.
 */
import type { types } from 'mediasoup';
import type { Switchyard } from '../../src/app.js';
import { takeCensus } from '../../src/media/census.js';
import type { MediaWorker } from '../../src/media/workerPool.js';
import { rng } from '../../test/helpers/fuzz.js';
import { Journeys, pickJourney } from './journeys.js';
import { nodeMemoryKb, openFds, processRssKb } from './metrics.js';
import { clock, memorySlopes, report, tableHeader, tableRow } from './report.js';
import type { SoakFailure, SoakOptions, SoakResult, SoakSample } from './types.js';
import { delay, errorMessage, settleWithin } from './util.js';

export class Soak {
  private readonly log: (line: string) => void;
  private readonly seed: number;
  private readonly peers: number;
  private readonly intervalS: number;
  private readonly startedAt = Date.now();
  private stopping = false;
  private readonly wakers = new Set<() => void>();
  private readonly failures: SoakFailure[] = [];
  private journeysDone = 0;
  private readonly journeysByKind: Record<string, number> = {};
  private active = 0;
  private sequence = 0;
  private workerDeaths = 0;
  /** Journeys under way. */
  private readonly underWay = new Set<Promise<void>>();
  /** What the journeys share: publishers, open peers, the checks that outlive a journey. */
  private readonly journeys: Journeys;
  private readonly samples: SoakSample[] = [];
  /** Transport id -> type ('webrtc', 'pipe', …), from every router's observer since the start. */
  private readonly transportTypes = new Map<string, types.TransportType>();

  constructor(
    private readonly node: Switchyard,
    private readonly options: SoakOptions,
  ) {
    this.log = options.log ?? ((line) => console.log(line));
    this.seed = (options.seed ?? Math.floor(Math.random() * 1_000_000_000)) >>> 0;
    this.peers = Math.max(1, options.peers ?? 8);
    this.intervalS = options.intervalS ?? (options.minutes <= 2 ? 10 : 30);
    this.journeys = new Journeys(node, {
      stopping: () => this.stopping,
      fail: (journey, message) => this.fail(journey, message),
      sleep: (ms) => this.sleep(ms),
      finished: (kind) => {
        this.journeysDone += 1;
        this.journeysByKind[kind] = (this.journeysByKind[kind] ?? 0) + 1;
      },
    });
  }

  private elapsedS(): number {
    return (Date.now() - this.startedAt) / 1000;
  }

  async run(): Promise<SoakResult> {
    const { config } = this.node;
    this.log(
      `soak: ${this.options.minutes} min, ${this.peers} peers, a row every ${this.intervalS} s, seed ${this.seed} (repeat with --seed ${this.seed}); ` +
        `node ${this.node.url}, ${config.workers} workers, SESSION_IDLE_TIMEOUT_MS ${config.sessionIdleTimeoutMs}, RECONNECT_GRACE_MS ${config.reconnectGraceMs}`,
    );
    const onWorkerDied = (worker: { index: number; worker: { pid: number } }) => {
      this.workerDeaths += 1;
      this.fail('node', `mediasoup worker ${worker.index} (pid ${worker.worker.pid}) died`);
    };
    const onUnhandled = (reason: unknown) => this.fail('process', `unhandled rejection: ${errorMessage(reason)}`);
    const observe = (slot: MediaWorker) => {
      slot.router.observer.on('newtransport', (transport) => {
        this.transportTypes.set(transport.id, transport.type);
        transport.observer.once('close', () => this.transportTypes.delete(transport.id));
      });
    };
    for (const slot of this.node.pool.workers) observe(slot);
    this.node.pool.on('workerReady', observe);
    this.node.pool.on('workerDied', onWorkerDied);
    process.on('unhandledRejection', onUnhandled);
    try {
      this.log(tableHeader(this.node.pool.workers));
      const start = await this.sample();
      this.log(tableRow(start, 'start'));
      const deadline = this.startedAt + this.options.minutes * 60_000;
      const sampler = this.sampleUntil(deadline);
      while (Date.now() < deadline) {
        if (this.active < this.peers) {
          this.launch();
          await delay(250);
        } else {
          await delay(100);
        }
      }
      await sampler;
      return await this.finish(start);
    } finally {
      this.node.pool.off('workerDied', onWorkerDied);
      this.node.pool.off('workerReady', observe);
      process.off('unhandledRejection', onUnhandled);
    }
  }

  // The end: stop the churn, close everything, drain, judge ---------------------

  private async finish(start: SoakSample): Promise<SoakResult> {
    this.stopping = true;
    for (const wake of [...this.wakers]) wake();
    this.log(`-- churn stopped at ${clock(this.elapsedS())}: ${this.active} journeys finishing`);
    const settled = await settleWithin([...this.underWay], 40_000);
    if (!settled) this.fail('soak', `journeys still running 40 s after the churn stopped (${this.active} left)`);
    if (!(await settleWithin(this.journeys.pendingChecks(), 20_000))) {
      this.fail('soak', `${this.journeys.pendingCheckCount} sessions that peers left were still open 20 s after the churn stopped`);
    }
    await this.journeys.closeAll();

    const drainStarted = Date.now();
    const drainTimeoutMs = this.options.drainTimeoutMs ?? 15_000;
    let leftovers = await this.leftovers();
    while (leftovers.length > 0 && Date.now() - drainStarted < drainTimeoutMs) {
      await delay(250);
      leftovers = await this.leftovers();
    }
    const drainMs = Date.now() - drainStarted;
    if (leftovers.length > 0) leftovers.push(...this.describeLiveSessions());
    const final = await this.sample();
    this.log(tableRow(final, 'drained'));

    const { slopes, slopeWindow } = memorySlopes(this.samples, final);
    const drained = leftovers.length === 0;
    const passed = drained && this.failures.length === 0 && this.workerDeaths === 0;
    const result: SoakResult = {
      seed: this.seed,
      peers: this.peers,
      intervalS: this.intervalS,
      journeys: this.journeysDone,
      journeysByKind: { ...this.journeysByKind },
      failures: [...this.failures],
      workerDeaths: this.workerDeaths,
      samples: [...this.samples],
      start,
      final,
      drained,
      leftovers,
      drainMs,
      slopes,
      slopeWindow,
      passed,
    };
    report(result, this.log);
    return result;
  }

  private async leftovers(): Promise<string[]> {
    const left: string[] = [];
    const { sessions } = this.node;
    if (sessions.sessionCount > 0) left.push(`${sessions.sessionCount} sessions`);
    if (sessions.tracks.size > 0) left.push(`${sessions.tracks.size} tracks`);
    const census = await takeCensus(this.node.pool);
    const pipes = this.pipeTransports();
    if (census.transports - pipes > 0) left.push(`${census.transports - pipes} mediasoup transports (besides ${pipes} pipe transports)`);
    // mediasoup keeps one PipeTransport pair per pair of routers for later pipes: at most w(w-1) for w workers.
    const workers = this.node.pool.workers.length;
    if (pipes > workers * (workers - 1)) left.push(`${pipes} pipe transports (more than the ${workers * (workers - 1)} of one pair per router pair)`);
    for (const key of ['producers', 'consumers', 'dataProducers', 'dataConsumers'] as const) {
      if (census[key] > 0) left.push(`${census[key]} mediasoup ${key}`);
    }
    // Every peer's graphql-ws connection is disposed by now: whatever the API still holds leaked.
    const api = this.node.api.census();
    if (api.connections > 0) left.push(`${api.connections} graphql-ws connections`);
    if (api.subscriptions > 0) left.push(`${api.subscriptions} graphql-ws subscriptions`);
    return left;
  }

  /** For the report of an incomplete drain: which sessions stayed, in what state. */
  private describeLiveSessions(): string[] {
    const map = (this.node.sessions as unknown as { sessions?: Map<string, { connectionState?: string }> }).sessions;
    if (!(map instanceof Map)) return [];
    return [...map.entries()].slice(0, 10).map(([id, session]) => `session ${id} ${session.connectionState ?? '?'}`);
  }

  private pipeTransports(): number {
    let count = 0;
    for (const type of this.transportTypes.values()) if (type === 'pipe') count += 1;
    return count;
  }

  // Sampling ------------------------------------------------------------------

  private async sampleUntil(deadline: number): Promise<void> {
    for (let k = 1; ; k += 1) {
      const at = this.startedAt + k * this.intervalS * 1000;
      if (at > deadline + 500) return;
      await delay(Math.max(0, at - Date.now()));
      const sample = await this.sample();
      this.samples.push(sample);
      this.log(tableRow(sample));
    }
  }

  private async sample(): Promise<SoakSample> {
    const census = await takeCensus(this.node.pool);
    const memory = await nodeMemoryKb();
    return {
      elapsedS: this.elapsedS(),
      journeys: this.journeysDone,
      failures: this.failures.length,
      sessions: this.node.sessions.sessionCount,
      tracks: this.node.sessions.tracks.size,
      census,
      pipeTransports: this.pipeTransports(),
      heapKb: memory.heapKb,
      rssKb: memory.rssKb,
      nodeFds: openFds(process.pid),
      workers: this.node.pool.workers.map((w) => ({ index: w.index, pid: w.worker.pid, rssKb: processRssKb(w.worker.pid), fds: openFds(w.worker.pid) })),
      api: this.node.api.census(),
    };
  }

  // Churn -----------------------------------------------------------------------

  private fail(journey: string, message: string): void {
    const failure = { atS: this.elapsedS(), journey, message };
    this.failures.push(failure);
    this.log(`  ! ${clock(failure.atS)} ${journey}: ${message}`);
  }

  /** Waits, but returns at once when the churn stops. */
  private sleep(ms: number): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const wake = () => {
        clearTimeout(timer);
        this.wakers.delete(wake);
        resolve();
      };
      timer = setTimeout(wake, ms);
      this.wakers.add(wake);
    });
  }

  /** Starts one more journey, its kind and choices from a generator seeded by the run's seed and the journey's number. */
  private launch(): void {
    this.sequence += 1;
    const id = this.sequence;
    const r = rng((this.seed + Math.imul(id, 0x9e3779b9)) >>> 0);
    const kind = pickJourney(r);
    this.active += 1;
    const journey = this.journeys.run(kind, id, r).finally(() => {
      this.active -= 1;
      this.underWay.delete(journey);
    });
    this.underWay.add(journey);
  }
}
