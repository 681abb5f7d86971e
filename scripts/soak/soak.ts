/**
 * The soak: one Switchyard node in this process and a churn of real
 * libwebrtc peers (TestPeer) against it for a while, sampled every interval
 * (sessions, tracks, the mediasoup census, memory, file descriptors), then a
 * drain that must bring every count back to zero. `npm run soak` is the
 * command line; test/integration/soak.test.ts runs it in-process.
 *
 * Each journey is one peer doing one thing, chosen at random from a seed:
 * - publish:        join, publish one or two fake cameras, stay, leave (politely or abruptly);
 * - pull:           join, pull one or two tracks that publishers hold, check that
 *                   frames decode within 10 s, stay, leave (politely or abruptly);
 * - leave-politely: join (sometimes publish), closeSession, then pc.close();
 * - leave-abruptly: join (sometimes publish), pc.close() only: the server must
 *                   close the session at once (DTLS close);
 * - vanish:         createSession with an offer whose answer is never applied,
 *                   stop the media and drop the peer: SESSION_IDLE_TIMEOUT_MS must close it;
 * - never-connect:  createSession without an offer, and nothing else: the same.
 * Some peers also follow trackEvents and their own sessionEvents over graphql-ws;
 * they must see their tracks PUBLISHED and their session CLOSED.
 *
 * Never read pc.localDescription here (@roamhq/wrtc races ICE gathering and
 * segfaults): TestPeer keeps the SDP it created.
 */
import type { Client } from 'graphql-ws';
import type { types } from 'mediasoup';
import { startSwitchyard, type Switchyard } from '../../src/app.js';
import type { MediaWorker } from '../../src/media/workerPool.js';
import { loadConfig } from '../../src/config/config.js';
import { takeCensus, type MediaCensus } from '../../src/media/census.js';
import { rng, type Rng } from '../../test/helpers/fuzz.js';
import { gqlOk } from '../../test/helpers/graphql.js';
import { fakeCamera, watchVideo } from '../../test/helpers/media.js';
import { TestPeer } from '../../test/helpers/peer.js';
import { freeRtcPortRange } from '../../test/helpers/ports.js';
import { collect, wsClient, type Collector } from '../../test/helpers/subscriptions.js';
import { nodeMemoryKb, openFds, processRssKb, slope } from './metrics.js';

export type JourneyKind = 'publish' | 'pull' | 'leave-politely' | 'leave-abruptly' | 'vanish' | 'never-connect';

/** How often each journey is chosen, relative to the others. */
const JOURNEY_WEIGHTS: readonly [JourneyKind, number][] = [
  ['publish', 3],
  ['pull', 3],
  ['leave-politely', 1.5],
  ['leave-abruptly', 1.5],
  ['vanish', 1],
  ['never-connect', 1],
];

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

export interface ApiCensusLike {
  connections: number;
  subscriptions: number;
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
  /** graphql-ws connections and subscriptions, when the node's API exposes census(). */
  api?: ApiCensusLike;
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

const SOAK_TAG = 'room:soak';
const FRAME_DEADLINE_MS = 10_000;
const CONNECT_DEADLINE_MS = 10_000;
/** The server closes a session at once on DTLS close; this much slack for "at once". */
const ABRUPT_CLOSE_MS = 5_000;
/** Slack on top of SESSION_IDLE_TIMEOUT_MS for a never-connected session to be closed. */
const IDLE_SLACK_MS = 3_000;
const SUBSCRIPTION_PROBABILITY = 0.4;

const CREATE_WITH_OFFER =
  'mutation($sdp: String!) { createSession(input: { sessionDescription: { type: OFFER, sdp: $sdp } }) { session { id } sessionDescription { sdp } } }';
const CREATE_WITHOUT_OFFER = 'mutation { createSession { session { id } } }';
const CLOSE_SESSION = 'mutation($id: ID!) { closeSession(input: { sessionId: $id }) { sessionId } }';
const TRACK_EVENTS_CURSOR = '{ trackEventsCursor }';
const TRACK_EVENTS = `subscription($after: String) { trackEvents(after: $after, filter: { tags: ["${SOAK_TAG}"] }) { type track { sessionId name } } }`;
const SESSION_EVENTS = 'subscription($id: ID!) { sessionEvents(sessionId: $id) { type } }';

interface Subscriptions {
  client: Client;
  trackEvents: Collector<{ type: string; track: { sessionId: string; name: string } }>;
  sessionEvents: Collector<{ type: string }>;
}

/** One peer of a journey and everything it holds. */
interface PeerState {
  readonly name: string;
  readonly peer: TestPeer;
  /** Sinks and fake media, stopped before the PeerConnection closes. */
  readonly cleanups: (() => void)[];
  subs?: Subscriptions;
  released: boolean;
}

/** A publishing session whose tracks pull journeys may choose. */
interface Publisher {
  sessionId: string;
  trackNames: string[];
  /** Pull journeys checking frames of these tracks: the publisher stays until they are done. */
  pins: number;
  leaving: boolean;
}

const errorMessage = (error: unknown) => (error instanceof Error ? error.message : String(error)).slice(0, 300);

function pickJourney(r: Rng): JourneyKind {
  const total = JOURNEY_WEIGHTS.reduce((sum, [, weight]) => sum + weight, 0);
  let x = r.next() * total;
  for (const [kind, weight] of JOURNEY_WEIGHTS) {
    x -= weight;
    if (x < 0) return kind;
  }
  return 'publish';
}

const between = (r: Rng, low: number, high: number) => low + Math.floor(r.next() * (high - low));

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

class Soak {
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
  private readonly journeys = new Set<Promise<void>>();
  /** Checks that outlive their journey: the server closing a session the peer left. */
  private readonly checks = new Set<Promise<void>>();
  /** Every peer not yet released, to close whatever is left at the end. */
  private readonly open = new Set<PeerState>();
  private readonly publishers = new Map<string, Publisher>();
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
  }

  private get idleTimeoutMs(): number {
    return this.node.config.sessionIdleTimeoutMs;
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
      this.log(this.header());
      const start = await this.sample();
      this.log(this.row(start, 'start'));
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
    const settled = await settleWithin([...this.journeys], 40_000);
    if (!settled) this.fail('soak', `journeys still running 40 s after the churn stopped (${this.active} left)`);
    if (!(await settleWithin([...this.checks], 20_000))) {
      this.fail('soak', `${this.checks.size} sessions that peers left were still open 20 s after the churn stopped`);
    }
    for (const state of [...this.open]) {
      this.release(state);
      await this.disposeSubscriptions(state);
    }

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
    this.log(this.row(final, 'drained'));

    const usable = this.samples.filter((s) => s.elapsedS >= 60);
    const window = usable.length >= 5 ? usable : this.samples;
    const slopeWindow = usable.length >= 5 ? `${window.length} samples after the first minute` : `all ${window.length} samples`;
    const series = (label: string, value: (s: SoakSample) => number) => ({
      label,
      kbPerMin: slope(window.map((s) => ({ x: s.elapsedS / 60, y: value(s) }))),
    });
    const slopes = [
      series('node heap', (s) => s.heapKb),
      series('node RSS', (s) => s.rssKb),
      ...(final.workers.map((w) => series(`worker ${w.index} RSS`, (s) => s.workers.find((x) => x.index === w.index)?.rssKb ?? Number.NaN))),
    ];
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
    this.report(result);
    return result;
  }

  private report(result: SoakResult): void {
    const kinds = Object.entries(result.journeysByKind)
      .map(([kind, n]) => `${kind} ${n}`)
      .join(', ');
    this.log(`journeys: ${result.journeys} (${kinds})`);
    this.log(
      result.drained
        ? `drain: every count back to zero in ${result.drainMs} ms (sessions, tracks, mediasoup WebRTC transports/producers/consumers${result.final.api ? ', graphql-ws connections/subscriptions' : ''}; ` +
            `${result.final.pipeTransports} pipe transports stay: mediasoup keeps one PipeTransport pair per router pair for reuse)`
        : `drain: INCOMPLETE after ${result.drainMs} ms: ${result.leftovers.join('; ')}`,
    );
    this.log(
      `memory slope (${result.slopeWindow}): ${result.slopes.map((s) => `${s.label} ${Number.isFinite(s.kbPerMin) ? s.kbPerMin.toFixed(0) : 'n/a'} KB/min`).join(', ')}`,
    );
    if (result.failures.length > 0) {
      this.log(`failures: ${result.failures.length}`);
      for (const f of result.failures.slice(0, 30)) this.log(`  ${clock(f.atS)} ${f.journey}: ${f.message}`);
      if (result.failures.length > 30) this.log(`  … and ${result.failures.length - 30} more`);
    }
    this.log(`${result.passed ? 'PASS' : 'FAIL'} (seed ${result.seed})`);
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
    const api = this.apiCensus();
    if (api && api.connections > 0) left.push(`${api.connections} graphql-ws connections`);
    if (api && api.subscriptions > 0) left.push(`${api.subscriptions} graphql-ws subscriptions`);
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

  private apiCensus(): ApiCensusLike | undefined {
    const api = this.node.api as unknown as { census?: () => ApiCensusLike };
    return typeof api.census === 'function' ? api.census() : undefined;
  }

  // Sampling ------------------------------------------------------------------

  private async sampleUntil(deadline: number): Promise<void> {
    for (let k = 1; ; k += 1) {
      const at = this.startedAt + k * this.intervalS * 1000;
      if (at > deadline + 500) return;
      await delay(Math.max(0, at - Date.now()));
      const sample = await this.sample();
      this.samples.push(sample);
      this.log(this.row(sample));
    }
  }

  private async sample(): Promise<SoakSample> {
    const census = await takeCensus(this.node.pool);
    const memory = await nodeMemoryKb();
    const api = this.apiCensus();
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
      ...(api ? { api } : {}),
    };
  }

  private header(): string {
    const workers = this.node.pool.workers;
    return [
      'elapsed'.padStart(8),
      'journeys'.padStart(8),
      'fail'.padStart(5),
      'sess'.padStart(5),
      'trk'.padStart(4),
      'tp/prod/cons'.padStart(13),
      'pipes'.padStart(5),
      'heap MB'.padStart(8),
      'rss MB'.padStart(7),
      ...workers.map((w) => `w${w.index} MB`.padStart(7)),
      `fds node/${workers.map((w) => `w${w.index}`).join('/')}`.padStart(17),
      ...(this.apiCensus() ? ['ws conn/subs'.padStart(12)] : []),
    ].join(' ');
  }

  private row(s: SoakSample, label?: string): string {
    const mb = (kb: number) => (Number.isFinite(kb) ? (kb / 1024).toFixed(1) : '?');
    return [
      (label ?? clock(s.elapsedS)).padStart(8),
      String(s.journeys).padStart(8),
      String(s.failures).padStart(5),
      String(s.sessions).padStart(5),
      String(s.tracks).padStart(4),
      `${s.census.transports}/${s.census.producers}/${s.census.consumers}`.padStart(13),
      String(s.pipeTransports).padStart(5),
      mb(s.heapKb).padStart(8),
      mb(s.rssKb).padStart(7),
      ...s.workers.map((w) => mb(w.rssKb).padStart(7)),
      [s.nodeFds, ...s.workers.map((w) => w.fds)].join('/').padStart(17),
      ...(s.api ? [`${s.api.connections}/${s.api.subscriptions}`.padStart(12)] : []),
    ].join(' ');
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

  private launch(): void {
    this.sequence += 1;
    const id = this.sequence;
    const r = rng((this.seed + Math.imul(id, 0x9e3779b9)) >>> 0);
    const kind = pickJourney(r);
    this.active += 1;
    const journey = this.journey(kind, id, r).finally(() => {
      this.active -= 1;
      this.journeys.delete(journey);
    });
    this.journeys.add(journey);
  }

  private async journey(chosen: JourneyKind, id: number, r: Rng): Promise<void> {
    const state: PeerState = { name: `${chosen}#${id}`, peer: new TestPeer(this.node.url), cleanups: [], released: false };
    this.open.add(state);
    const subscribe = r.next() < SUBSCRIPTION_PROBABILITY;
    let done: JourneyKind | null = chosen;
    try {
      switch (chosen) {
        case 'publish':
          await this.publish(state, r, subscribe);
          break;
        case 'pull':
          done = await this.pull(state, r, subscribe);
          break;
        case 'leave-politely':
        case 'leave-abruptly':
          await this.join(state, subscribe);
          if (r.next() < 0.5) await this.pushCameras(state, 1, `brief${id}`);
          // Connected first: an abrupt leave is then a DTLS close the server must act on at once.
          await this.connected(state);
          await this.sleep(between(r, 1_000, 4_000));
          await this.leave(state, chosen === 'leave-politely' ? 'polite' : 'abrupt');
          break;
        case 'vanish':
          await this.vanish(state, r, subscribe);
          break;
        case 'never-connect':
          await this.neverConnect(state, subscribe);
          break;
      }
    } catch (error) {
      this.fail(state.name, errorMessage(error));
      this.release(state);
      await this.disposeSubscriptions(state);
    } finally {
      this.release(state);
      if (done) {
        this.journeysDone += 1;
        this.journeysByKind[done] = (this.journeysByKind[done] ?? 0) + 1;
      }
    }
  }

  /** createSession with a data-channel offer, the answer applied; optionally the graphql-ws subscriptions. */
  private async join(state: PeerState, subscribe: boolean): Promise<void> {
    await state.peer.createSession();
    if (subscribe) await this.subscribe(state);
  }

  private async connected(state: PeerState): Promise<void> {
    if (!(await until(() => state.peer.pc.connectionState === 'connected', CONNECT_DEADLINE_MS))) {
      throw new Error(`PeerConnection not connected within ${CONNECT_DEADLINE_MS / 1000} s (state ${state.peer.pc.connectionState})`);
    }
  }

  private async pushCameras(state: PeerState, count: number, prefix: string): Promise<string[]> {
    const cameras = Array.from({ length: count }, () => fakeCamera(160, 120, 15));
    for (const camera of cameras) state.cleanups.push(camera.stop);
    const names = cameras.map((_, i) => `${prefix}-cam${i}`);
    const results = await state.peer.push(cameras.map((camera, i) => ({ track: camera.track, name: names[i]!, tags: [SOAK_TAG] })));
    const refused = results.filter((t) => t.error);
    if (refused.length > 0) throw new Error(`pushTracks refused: ${JSON.stringify(refused.map((t) => t.error))}`);
    return names;
  }

  private async publish(state: PeerState, r: Rng, subscribe: boolean): Promise<void> {
    await this.join(state, subscribe);
    const names = await this.pushCameras(state, r.next() < 0.3 ? 2 : 1, state.name.replace('#', ''));
    await this.connected(state);
    const { sessionId } = state.peer;
    const events = state.subs?.trackEvents;
    if (events) {
      const seen = () => names.every((name) => events.items.some((e) => e.type === 'PUBLISHED' && e.track.sessionId === sessionId && e.track.name === name));
      if (!(await until(seen, 5_000))) this.fail(state.name, `trackEvents: no PUBLISHED event for its own tracks within 5 s (${events.items.length} events, errors ${JSON.stringify(events.errors).slice(0, 200)})`);
    }
    const publisher: Publisher = { sessionId, trackNames: names, pins: 0, leaving: false };
    this.publishers.set(sessionId, publisher);
    try {
      await this.sleep(between(r, 10_000, 30_000));
      publisher.leaving = true;
      // Pulls that chose these tracks are checking frames: let them finish.
      await until(() => publisher.pins === 0, 25_000);
    } finally {
      publisher.leaving = true;
      this.publishers.delete(sessionId);
    }
    await this.leave(state, r.next() < 0.5 ? 'polite' : 'abrupt');
  }

  /** Returns the journey done: a pull, or a publish when nobody publishes; null when the churn stopped first. */
  private async pull(state: PeerState, r: Rng, subscribe: boolean): Promise<JourneyKind | null> {
    const waitUntil = Date.now() + 5_000;
    let available = this.availableTracks();
    while (available.length === 0 && !this.stopping && Date.now() < waitUntil) {
      await this.sleep(250);
      available = this.availableTracks();
    }
    if (this.stopping) return null;
    if (available.length === 0) {
      await this.publish(state, r, subscribe);
      return 'publish';
    }
    const wanted = Math.min(available.length, r.next() < 0.4 ? 2 : 1);
    const targets: { publisher: Publisher; trackName: string }[] = [];
    while (targets.length < wanted) {
      const candidate = r.pick(available);
      if (!targets.includes(candidate)) targets.push(candidate);
    }
    for (const t of targets) t.publisher.pins += 1;
    try {
      await this.join(state, subscribe);
      await this.connected(state);
      const started = Date.now();
      const results = await state.peer.pull(targets.map((t) => ({ sessionId: t.publisher.sessionId, trackName: t.trackName })));
      for (const [i, result] of results.entries()) {
        const what = `${targets[i]?.publisher.sessionId.slice(0, 8)}/${targets[i]?.trackName}`;
        if (result.error || !result.mid) {
          this.fail(state.name, `pull of ${what} refused: ${JSON.stringify(result.error)}`);
          continue;
        }
        const mid = result.mid;
        let video: ReturnType<typeof watchVideo> | undefined;
        const decoded = await until(() => {
          if (!video) {
            const track = state.peer.received.get(mid);
            if (track) {
              video = watchVideo(track);
              state.cleanups.unshift(video.stop);
            }
          }
          return (video?.stats.frames ?? 0) >= 3;
        }, Math.max(0, started + FRAME_DEADLINE_MS - Date.now()));
        if (!decoded) {
          this.fail(state.name, `frames of ${what} (mid ${mid}) did not arrive within ${FRAME_DEADLINE_MS / 1000} s (${video ? `${video.stats.frames} frames` : 'no ontrack'})`);
        }
      }
    } finally {
      for (const t of targets) t.publisher.pins -= 1;
    }
    await this.sleep(between(r, 8_000, 20_000));
    await this.leave(state, r.next() < 0.5 ? 'polite' : 'abrupt');
    return 'pull';
  }

  private availableTracks(): { publisher: Publisher; trackName: string }[] {
    return [...this.publishers.values()].filter((p) => !p.leaving).flatMap((publisher) => publisher.trackNames.map((trackName) => ({ publisher, trackName })));
  }

  /** A session whose PeerConnection never connects: the answer is never applied, the media stops, the peer goes. */
  private async vanish(state: PeerState, r: Rng, subscribe: boolean): Promise<void> {
    const camera = fakeCamera(160, 120, 15);
    state.cleanups.push(camera.stop);
    const { peer } = state;
    peer.pc.createDataChannel('switchyard');
    const sdp = await peer.setLocal(await peer.pc.createOffer());
    const data = await gqlOk(this.node.url, CREATE_WITH_OFFER, { sdp });
    peer.sessionId = data.createSession.session.id as string;
    const createdAt = Date.now();
    if (subscribe) await this.subscribe(state);
    await this.sleep(between(r, 500, 2_000));
    this.release(state);
    this.expectClosed(state, createdAt + this.idleTimeoutMs + IDLE_SLACK_MS, 'vanishing (SESSION_IDLE_TIMEOUT_MS)');
  }

  /** createSession without an offer, and nothing else. */
  private async neverConnect(state: PeerState, subscribe: boolean): Promise<void> {
    const data = await gqlOk(this.node.url, CREATE_WITHOUT_OFFER);
    state.peer.sessionId = data.createSession.session.id as string;
    const createdAt = Date.now();
    if (subscribe) await this.subscribe(state);
    this.release(state);
    this.expectClosed(state, createdAt + this.idleTimeoutMs + IDLE_SLACK_MS, 'never connecting (SESSION_IDLE_TIMEOUT_MS)');
  }

  private async leave(state: PeerState, how: 'polite' | 'abrupt'): Promise<void> {
    const { sessionId } = state.peer;
    if (how === 'polite') {
      await gqlOk(this.node.url, CLOSE_SESSION, { id: sessionId });
      if (this.node.sessions.get(sessionId)) this.fail(state.name, 'session still open when closeSession answered');
      this.release(state);
      this.expectClosed(state, Date.now() + 1_000, 'closeSession');
    } else {
      this.release(state);
      this.expectClosed(state, Date.now() + ABRUPT_CLOSE_MS, 'pc.close() (DTLS close)');
    }
  }

  /** In the background: the server must close the session by `deadline`; a subscribed peer must see CLOSED. */
  private expectClosed(state: PeerState, deadline: number, after: string): void {
    const { sessionId } = state.peer;
    const check = (async () => {
      const closed = await until(() => this.node.sessions.get(sessionId) === undefined, Math.max(0, deadline - Date.now()));
      if (!closed) {
        const session = this.node.sessions.get(sessionId);
        this.fail(state.name, `session ${sessionId.slice(0, 8)} still open after ${after} (connectionState ${session?.connectionState ?? '?'})`);
      }
      const events = state.subs?.sessionEvents;
      if (closed && events && !(await until(() => events.items.some((e) => e.type === 'CLOSED'), 3_000))) {
        this.fail(state.name, `sessionEvents: no CLOSED event (got ${JSON.stringify(events.items.map((e) => e.type))}, errors ${JSON.stringify(events.errors).slice(0, 200)})`);
      }
      await this.disposeSubscriptions(state);
    })().finally(() => this.checks.delete(check));
    this.checks.add(check);
  }

  /**
   * trackEvents from the cursor of now (so that the peer's own PUBLISHED is
   * replayed even when its push reaches the server before the subscription
   * does) and the session's sessionEvents, over one graphql-ws connection.
   */
  private async subscribe(state: PeerState): Promise<void> {
    const { trackEventsCursor } = await gqlOk(this.node.url, TRACK_EVENTS_CURSOR);
    const client = wsClient(this.node.url);
    state.subs = {
      client,
      trackEvents: collect(client, TRACK_EVENTS, { after: trackEventsCursor }, (data) => data.trackEvents),
      sessionEvents: collect(client, SESSION_EVENTS, { id: state.peer.sessionId }, (data) => data.sessionEvents),
    };
  }

  private async disposeSubscriptions(state: PeerState): Promise<void> {
    const subs = state.subs;
    if (!subs) return;
    state.subs = undefined;
    const errors = [...subs.trackEvents.errors, ...subs.sessionEvents.errors];
    if (errors.length > 0) this.fail(state.name, `subscription errors: ${JSON.stringify(errors).slice(0, 300)}`);
    await subs.trackEvents.close();
    await subs.sessionEvents.close();
    await subs.client.dispose();
    this.forgetIfDone(state);
  }

  /** Stops sinks and fake media, then closes the PeerConnection. Idempotent. */
  private release(state: PeerState): void {
    if (state.released) return;
    state.released = true;
    for (const cleanup of state.cleanups.splice(0)) {
      try {
        cleanup();
      } catch (error) {
        this.fail(state.name, `cleanup threw: ${errorMessage(error)}`);
      }
    }
    state.peer.stop();
    this.forgetIfDone(state);
  }

  /** A peer leaves `open` once it is released and its subscriptions are disposed. */
  private forgetIfDone(state: PeerState): void {
    if (state.released && !state.subs) this.open.delete(state);
  }
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `check` every 50 ms; true once it holds, false after `timeoutMs`. */
async function until(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (check()) return true;
    if (Date.now() >= deadline) return false;
    await delay(50);
  }
}

/** True when every promise settled within `ms`. */
async function settleWithin(promises: Promise<unknown>[], ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const all = Promise.allSettled(promises).then(() => true as const);
  const result = await Promise.race([all, timeout]);
  clearTimeout(timer);
  return result;
}

function clock(seconds: number): string {
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}
