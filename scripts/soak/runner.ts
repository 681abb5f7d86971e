/**
 * The churn: keeps `peers` journeys (journeys/) under way until the
 * deadline, samples the node every interval, then stops the churn, closes
 * every peer and waits for the drain: every count back to zero, or the
 * leftovers named in the result. A while after the drain it samples once
 * more, for the memory the node keeps once it has nothing to do.
 */
import { rng } from '../../test/helpers/fuzz.js';
import { HARDENING_KINDS, Journeys, pickJourney, type JourneyKind } from './journeys/index.js';
import type { SoakNode } from './node.js';
import { afterDrain, clock, memorySlopes, report, tableHeader, tableRow } from './report.js';
import type { NodeFailure, SoakFailure, SoakOptions, SoakResult, SoakSample } from './types.js';
import { delay, errorMessage, settleWithin } from './util.js';

export class Soak {
  private readonly log: (line: string) => void;
  private readonly seed: number;
  private readonly peers: number;
  private readonly intervalS: number;
  private readonly settleS: number;
  private readonly startedAt = Date.now();
  private stopping = false;
  private readonly wakers = new Set<() => void>();
  private readonly failures: SoakFailure[] = [];
  private journeysDone = 0;
  private readonly journeysByKind: Record<string, number> = {};
  private readonly outcomes: Record<string, number> = {};
  private readonly timings: Record<string, number[]> = {};
  private active = 0;
  private sequence = 0;
  private workerDeaths = 0;
  /** Journeys under way. */
  private readonly underWay = new Set<Promise<void>>();
  private readonly journeys: Journeys;
  /** Hardening kinds not launched yet: each runs once early (see launch). */
  private readonly firstOfKind: JourneyKind[];
  private readonly samples: SoakSample[] = [];

  constructor(
    private readonly node: SoakNode,
    private readonly options: SoakOptions,
  ) {
    this.log = options.log ?? ((line) => console.log(line));
    this.seed = (options.seed ?? Math.floor(Math.random() * 1_000_000_000)) >>> 0;
    this.peers = Math.max(1, options.peers ?? 8);
    this.intervalS = options.intervalS ?? (options.minutes <= 2 ? 10 : 30);
    this.settleS = options.settleS ?? 15;
    this.journeys = new Journeys(node, {
      stopping: () => this.stopping,
      fail: (journey, message) => this.fail(journey, message),
      sleep: (ms) => this.sleep(ms),
      finished: (kind) => {
        this.journeysDone += 1;
        this.journeysByKind[kind] = (this.journeysByKind[kind] ?? 0) + 1;
      },
      tally: (outcome) => {
        this.outcomes[outcome] = (this.outcomes[outcome] ?? 0) + 1;
      },
      time: (label, ms) => void (this.timings[label] ??= []).push(ms),
    });
    this.firstOfKind = HARDENING_KINDS.filter((kind) => !this.journeys.skipped.has(kind));
  }

  private elapsedS(): number {
    return (Date.now() - this.startedAt) / 1000;
  }

  async run(): Promise<SoakResult> {
    const { info, mode } = this.node;
    this.log(
      `soak: ${this.options.minutes} min, ${this.peers} peers, a row every ${this.intervalS} s, seed ${this.seed} (repeat with --seed ${this.seed}); ` +
        `node ${info.url}, ${info.workers.length} workers, SESSION_IDLE_TIMEOUT_MS ${info.sessionIdleTimeoutMs}, RECONNECT_GRACE_MS ${info.reconnectGraceMs}, ` +
        `TRACK_INACTIVE_AFTER_MS ${info.trackInactiveAfterMs}, MAX_TRANSCEIVERS_PER_SESSION ${info.maxTransceiversPerSession}, ` +
        `MAX_PENDING_PULLS_PER_SESSION ${info.maxPendingPullsPerSession}, MAX_LIST_ITEMS ${info.maxListItems}`,
    );
    this.log(
      mode === 'separate'
        ? `mode: separate: the node in process ${info.pid}, the peers in this one (${process.pid}): node heap, RSS and fds are the server's own`
        : `mode: in-process: the node and the peers share process ${process.pid}: its RSS and fds include the peers'`,
    );
    for (const [kind, reason] of this.journeys.skipped) this.log(`skipped: ${kind} (${reason})`);
    for (const note of this.journeys.notes) this.log(note);
    const onNodeFailure = (failure: NodeFailure) => {
      if (failure.kind === 'worker-died') this.workerDeaths += 1;
      this.fail('node', failure.message);
    };
    const onUnhandled = (reason: unknown) => this.fail('process', `unhandled rejection: ${errorMessage(reason)}`);
    this.node.onFailure(onNodeFailure);
    process.on('unhandledRejection', onUnhandled);
    try {
      this.log(tableHeader(info.workers, mode));
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
      process.off('unhandledRejection', onUnhandled);
    }
  }

  // The end: stop the churn, close everything, drain, settle, judge ---------------

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
    let leftovers = await this.node.leftovers();
    while (leftovers.length > 0 && Date.now() - drainStarted < drainTimeoutMs) {
      await delay(250);
      leftovers = await this.node.leftovers();
    }
    const drainMs = Date.now() - drainStarted;
    if (leftovers.length > 0) leftovers.push(...(await this.node.liveSessions()));
    const final = await this.sample();
    this.log(tableRow(final, 'drained'));
    // Memory after the drain: what the node keeps once idle, after its timers and caches have had a while.
    await delay(this.settleS * 1000);
    const settledSample = await this.sample();
    this.log(tableRow(settledSample, `+${this.settleS}s`));

    const { slopes, slopeWindow } = memorySlopes(this.samples, final);
    const { warm, rows } = afterDrain(this.samples, settledSample);
    const drained = leftovers.length === 0;
    const passed = drained && this.failures.length === 0 && this.workerDeaths === 0;
    const result: SoakResult = {
      mode: this.node.mode,
      seed: this.seed,
      peers: this.peers,
      intervalS: this.intervalS,
      journeys: this.journeysDone,
      journeysByKind: { ...this.journeysByKind },
      outcomes: { ...this.outcomes },
      timings: { ...this.timings },
      skipped: [...this.journeys.skipped].map(([kind, reason]) => `${kind}: ${reason}`),
      failures: [...this.failures],
      workerDeaths: this.workerDeaths,
      samples: [...this.samples],
      start,
      final,
      settled: settledSample,
      settleS: this.settleS,
      warm,
      afterDrain: rows,
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

  /** The node's reading (from its own process in separate mode), with the churn's counts and, when apart, the peers' RSS. */
  private async sample(): Promise<SoakSample> {
    const node = await this.node.sample();
    return {
      ...node,
      elapsedS: this.elapsedS(),
      journeys: this.journeysDone,
      failures: this.failures.length,
      ...(this.node.mode === 'separate' ? { peersRssKb: Math.round(process.memoryUsage().rss / 1024) } : {}),
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

  /**
   * Starts one more journey, its kind and choices from a generator seeded by
   * the run's seed and the journey's number. Once the first peers are under
   * way (publishers for the hardening journeys to pull from), each hardening
   * kind not chosen yet is launched once, so that even a 2-minute run meets
   * every edge; after that the weights alone decide.
   */
  private launch(): void {
    this.sequence += 1;
    const id = this.sequence;
    const r = rng((this.seed + Math.imul(id, 0x9e3779b9)) >>> 0);
    const chosen = pickJourney(r, new Set(this.journeys.skipped.keys()));
    const kind = id > this.peers ? (this.firstOfKind.shift() ?? chosen) : chosen;
    const index = this.firstOfKind.indexOf(kind);
    if (index >= 0) this.firstOfKind.splice(index, 1);
    this.active += 1;
    const journey = this.journeys
      .run(kind, id, r)
      .then((done) => {
        // Found no publisher to pull from: a hardening kind gets another turn.
        if (done !== kind && (HARDENING_KINDS as readonly JourneyKind[]).includes(kind) && !this.firstOfKind.includes(kind) && !this.journeysByKind[kind]) this.firstOfKind.push(kind);
      })
      .finally(() => {
        this.active -= 1;
        this.underWay.delete(journey);
      });
    this.underWay.add(journey);
  }
}
