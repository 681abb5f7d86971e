/**
 * Data channel benchmark (npm run bench:data): messages per second and
 * latency from one publisher to N subscribers through the SFU, against a
 * direct libwebrtc PeerConnection pair (no SFU, N=1) measured the same way in
 * the same run.
 *
 * One node with WORKERS=2; the publisher's session is created first, so it
 * lands on worker 0, and subscribers alternate between the workers (the
 * server puts each session on the least-loaded one): for them the publisher's
 * channel is piped to the other worker. Subscriber sessions are created one at
 * a time and kept from one N to the next; each N gets a channel of its own,
 * unpublished (closeDataChannels) when done. Every message is MESSAGE_BYTES
 * (100) of binary data carrying a phase, a sequence number and
 * performance.now() at send; each subscriber records the time of its message
 * event (publisher and subscribers share this process, so one clock).
 *
 * Per N (N, default 1,10,50), on one ordered reliable channel:
 * 1. paced: RATE (200) messages/s for PACED_SECONDS (10); latency p50/p99/max
 *    over every message at every subscriber;
 * 2. throughput: as fast as send() goes for THROUGHPUT_SECONDS (10), at most
 *    BATCH (32) per event-loop turn, keeping bufferedAmount under
 *    HIGH_WATER_BYTES and resuming once it is down to LOW_WATER_BYTES
 *    (bufferedamountlow where the library has it; @roamhq/wrtc has neither the
 *    event nor the threshold, so there bufferedAmount is polled every
 *    millisecond); delivered messages/s per subscriber and in total.
 * After each phase the bench waits until every subscriber has every message,
 * or nothing arrived for DRAIN_IDLE_MS (3000); whatever is missing then is
 * reported as lost (an ordered reliable channel must lose nothing), with the
 * SFU's DataConsumer "sctpsendbufferfull" drops beside it. CPU columns: this
 * process (all the PeerConnections) and the SFU's workers while sending.
 *
 * Settings come from the environment or from arguments (--paced-seconds=2 is
 * PACED_SECONDS=2); BASELINE=0 skips the direct pair:
 *   npm run bench:data -- --n=1,10 --paced-seconds=2 --throughput-seconds=2
 */
import wrtc from '@roamhq/wrtc';
import * as mediasoup from 'mediasoup';
import type { types } from 'mediasoup';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import type { Switchyard } from '../src/app.js';
import { CLOSE_DATA, openNegotiated, opened, publishData, subscribeData } from '../test/helpers/dataChannels.js';
import { gqlOk } from '../test/helpers/graphql.js';
import { TestPeer } from '../test/helpers/peer.js';
import { startTestServer } from '../test/helpers/server.js';

const { RTCPeerConnection } = wrtc;

// --- settings ----------------------------------------------------------------

const args = new Map(
  process.argv.slice(2).flatMap((arg) => {
    const match = /^--([a-z-]+)=(.*)$/.exec(arg);
    return match ? [[match[1]!.toUpperCase().replaceAll('-', '_'), match[2]!] as const] : [];
  }),
);
const setting = (name: string, fallback: string) => args.get(name) ?? process.env[name] ?? fallback;
const number = (name: string, fallback: number) => {
  const value = Number(setting(name, String(fallback)));
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a non-negative number`);
  return value;
};

/** Subscriber counts, smallest first (subscriber sessions are kept from one to the next). */
const N_LIST = [...new Set(setting('N', '1,10,50').split(',').map((n) => Number(n.trim())))].sort((a, b) => a - b);
if (N_LIST.length === 0 || N_LIST.some((n) => !Number.isInteger(n) || n < 1)) throw new Error('N must list positive integers, like 1,10,50');
const WORKERS = number('WORKERS', 2);
const MESSAGE_BYTES = number('MESSAGE_BYTES', 100);
const RATE = number('RATE', 200);
const PACED_SECONDS = number('PACED_SECONDS', 10);
const THROUGHPUT_SECONDS = number('THROUGHPUT_SECONDS', 10);
const HIGH_WATER = number('HIGH_WATER_BYTES', 256 * 1024);
const LOW_WATER = number('LOW_WATER_BYTES', 64 * 1024);
const DRAIN_IDLE_MS = number('DRAIN_IDLE_MS', 3000);
/** Messages sent per event-loop turn in the throughput phase: the receivers wait for the turn to end. */
const BATCH = Math.max(1, number('BATCH', 32));
const BASELINE = setting('BASELINE', '1') !== '0';
const HEADER_BYTES = 16;
if (MESSAGE_BYTES < HEADER_BYTES) throw new Error(`MESSAGE_BYTES must be at least ${HEADER_BYTES}`);
if (LOW_WATER >= HIGH_WATER) throw new Error('LOW_WATER_BYTES must be below HIGH_WATER_BYTES');

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// --- messages ------------------------------------------------------------------

const enum Phase {
  Warmup = 0,
  Paced = 1,
  Throughput = 2,
}

/** A message: [phase u8][pad x3][seq u32][sent at f64 ms][zeros to MESSAGE_BYTES]. A fresh buffer each: send() may hold on to it. */
function message(phase: Phase, seq: number): ArrayBuffer {
  const buffer = new ArrayBuffer(MESSAGE_BYTES);
  const view = new DataView(buffer);
  view.setUint8(0, phase);
  view.setUint32(4, seq);
  view.setFloat64(8, performance.now());
  return buffer;
}

/** What one subscriber received in one phase. */
interface PhaseInbox {
  count: number;
  /** The sequence number the next message should carry (ordered channel). */
  next: number;
  /** Messages that came after a later one. */
  outOfOrder: number;
  /** Times a message came with messages before it missing. */
  gaps: number;
  duplicates: number;
  latencies: number[];
  lastAt: number;
  seen: Uint8Array;
}

const emptyInbox = (): PhaseInbox => ({ count: 0, next: 0, outOfOrder: 0, gaps: 0, duplicates: 0, latencies: [], lastAt: 0, seen: new Uint8Array(1 << 16) });

/** The phase being sent now: a subscription that ends is put down to it. */
let currentPhase: Phase = Phase.Warmup;

/** Records every message a channel receives, by phase. */
class Receiver {
  readonly phases = new Map<Phase, PhaseInbox>();
  /**
   * The phase during which the SFU ended this subscription, if it did: a
   * reliable channel whose subscriber cannot keep up ends with
   * DATA_CHANNEL_ENDED (OVERFLOW) rather than lose messages silently.
   */
  endedIn: Phase | undefined;

  constructor(channel: RTCDataChannel) {
    channel.binaryType = 'arraybuffer';
    channel.addEventListener('close', () => {
      this.endedIn ??= currentPhase;
    });
    channel.addEventListener('message', (event: MessageEvent) => {
      const now = performance.now();
      const data = event.data;
      if (!(data instanceof ArrayBuffer) || data.byteLength !== MESSAGE_BYTES) {
        this.malformed += 1;
        return;
      }
      const view = new DataView(data);
      const phase = view.getUint8(0) as Phase;
      const seq = view.getUint32(4);
      const inbox = this.inbox(phase);
      if (seq >= inbox.seen.length) {
        const grown = new Uint8Array(Math.max(seq + 1, inbox.seen.length * 2));
        grown.set(inbox.seen);
        inbox.seen = grown;
      }
      if (inbox.seen[seq]) {
        inbox.duplicates += 1;
        return;
      }
      inbox.seen[seq] = 1;
      if (seq < inbox.next) inbox.outOfOrder += 1;
      else {
        if (seq > inbox.next) inbox.gaps += 1;
        inbox.next = seq + 1;
      }
      inbox.count += 1;
      inbox.lastAt = now;
      inbox.latencies.push(now - view.getFloat64(8));
    });
  }

  malformed = 0;

  inbox(phase: Phase): PhaseInbox {
    let inbox = this.phases.get(phase);
    if (!inbox) this.phases.set(phase, (inbox = emptyInbox()));
    return inbox;
  }
}

// --- sending -----------------------------------------------------------------

/** Resolves once the channel's bufferedAmount is at most LOW_WATER: on bufferedamountlow where there is one, else by polling. */
function bufferedLow(channel: RTCDataChannel): Promise<void> {
  if (channel.bufferedAmount <= LOW_WATER) return Promise.resolve();
  if (hasBufferedAmountLow(channel)) {
    return new Promise((resolve) => channel.addEventListener('bufferedamountlow', () => resolve(), { once: true }));
  }
  return new Promise((resolve) => {
    const poll = () => (channel.readyState !== 'open' || channel.bufferedAmount <= LOW_WATER ? resolve() : setTimeout(poll, 1));
    setTimeout(poll, 1);
  });
}

function hasBufferedAmountLow(channel: RTCDataChannel): boolean {
  return 'bufferedAmountLowThreshold' in channel;
}

/** RATE messages a second for `seconds`, sent on a 5 ms tick (catching up on late ticks). */
async function sendPaced(channel: RTCDataChannel, seconds: number): Promise<number> {
  const total = Math.round(RATE * seconds);
  const started = performance.now();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * RATE) + 1);
    while (sent < due) channel.send(message(Phase.Paced, sent++));
    await sleep(5);
  }
  return sent;
}

/** As fast as the channel takes them for `seconds`, bufferedAmount kept under HIGH_WATER. */
async function sendFlatOut(channel: RTCDataChannel, seconds: number): Promise<{ sent: number; seconds: number; maxBuffered: number; usedEvent: boolean }> {
  if (hasBufferedAmountLow(channel)) channel.bufferedAmountLowThreshold = LOW_WATER;
  const started = performance.now();
  const until = started + seconds * 1000;
  let sent = 0;
  let maxBuffered = 0;
  while (performance.now() < until && channel.readyState === 'open') {
    // At most BATCH per turn: the receivers share this event loop (a message
    // waits for the turn to end), and bufferedAmount may only change between turns.
    let batch = 0;
    while (channel.bufferedAmount < HIGH_WATER && batch < BATCH) {
      channel.send(message(Phase.Throughput, sent++));
      batch += 1;
    }
    maxBuffered = Math.max(maxBuffered, channel.bufferedAmount);
    if (channel.bufferedAmount >= HIGH_WATER) await bufferedLow(channel);
    else await new Promise((resolve) => setImmediate(resolve));
  }
  return { sent, seconds: (performance.now() - started) / 1000, maxBuffered, usedEvent: hasBufferedAmountLow(channel) };
}

/** Waits until every receiver has `sent` messages of the phase, or none arrived for DRAIN_IDLE_MS. */
async function drain(receivers: Receiver[], phase: Phase, sent: number): Promise<void> {
  let last = -1;
  let lastChange = performance.now();
  for (;;) {
    const total = receivers.reduce((sum, r) => sum + r.inbox(phase).count, 0);
    if (total >= sent * receivers.length) return;
    if (total !== last) {
      last = total;
      lastChange = performance.now();
    } else if (performance.now() - lastChange > DRAIN_IDLE_MS) return;
    await sleep(20);
  }
}

// --- results -----------------------------------------------------------------

const quantile = (sorted: Float64Array, q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : NaN);

function latencies(receivers: Receiver[], phase: Phase): Float64Array {
  const all = new Float64Array(receivers.reduce((sum, r) => sum + r.inbox(phase).latencies.length, 0));
  let i = 0;
  for (const r of receivers) for (const value of r.inbox(phase).latencies) all[i++] = value;
  return all.sort();
}

interface Loss {
  /** Messages missing at subscribers whose subscription stayed open: a silent loss, which a reliable channel must never have. */
  lost: number;
  gaps: number;
  outOfOrder: number;
  duplicates: number;
  /** Subscriptions the SFU ended in this phase (OVERFLOW): what they missed is not counted as lost. */
  ended: number;
}

function loss(receivers: Receiver[], phase: Phase, sent: number): Loss {
  let lost = 0;
  let gaps = 0;
  let outOfOrder = 0;
  let duplicates = 0;
  let ended = 0;
  for (const r of receivers) {
    const inbox = r.inbox(phase);
    // Ended in an earlier phase: nothing of this one was due.
    if (r.endedIn !== undefined && r.endedIn < phase) continue;
    if (r.endedIn === phase) ended += 1;
    else lost += sent - inbox.count;
    gaps += inbox.gaps;
    outOfOrder += inbox.outOfOrder;
    duplicates += inbox.duplicates;
  }
  return { lost, gaps, outOfOrder, duplicates, ended };
}

/** Messages the SFU dropped because an SCTP send buffer was full, by the transport that dropped them. */
interface Drops {
  webrtc: number;
  pipe: number;
}

/** CPU over a phase, in % of one core: this process (all the PeerConnections) and the SFU's workers together. */
interface Cpu {
  bench: number;
  workers: number | undefined;
}

/** CPU time so far (ms) of this process and of the workers; `since` gives the % of one core from an earlier reading. */
async function cpuReading(workerCpu?: () => Promise<number>) {
  const at = performance.now();
  const bench = process.cpuUsage();
  const workers = workerCpu ? await workerCpu() : undefined;
  return {
    since: async (): Promise<Cpu> => {
      const seconds = (performance.now() - at) / 1000;
      const used = process.cpuUsage(bench);
      const workersNow = workerCpu ? await workerCpu() : undefined;
      return {
        bench: (used.user + used.system) / 1000 / seconds / 10,
        workers: workersNow !== undefined && workers !== undefined ? (workersNow - workers) / seconds / 10 : undefined,
      };
    },
  };
}

/** UDP datagrams the kernel dropped for a full socket receive buffer, host-wide (Linux; undefined elsewhere). */
function udpReceiveBufferErrors(): number | undefined {
  try {
    const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((line) => line.startsWith('Udp: '));
    const [names, values] = lines.map((line) => line.split(/\s+/).slice(1));
    const at = names?.indexOf('RcvbufErrors') ?? -1;
    return at >= 0 && values?.[at] !== undefined ? Number(values[at]) : undefined;
  } catch {
    return undefined;
  }
}

function udpErrorsSince(before: number | undefined): number | undefined {
  const now = udpReceiveBufferErrors();
  return now !== undefined && before !== undefined ? now - before : undefined;
}

interface Row {
  setup: string;
  n: number;
  placement: string;
  paced: { sent: number; latencies: Float64Array; loss: Loss; sfuDrops: Drops | undefined; cpu: Cpu; udpDrops: number | undefined };
  throughput: {
    cpu: Cpu;
    udpDrops: number | undefined;
    sent: number;
    sendSeconds: number;
    sendRate: number;
    perSubscriber: number[];
    total: number;
    latencies: Float64Array;
    loss: Loss;
    maxBuffered: number;
    usedEvent: boolean;
    sfuDrops: Drops | undefined;
  };
}

/**
 * Both phases on an open channel to open receivers. With an SFU, `drops`
 * counts its drops and `workerCpu` reads its workers' CPU time (ms).
 */
async function measure(sending: RTCDataChannel, receivers: Receiver[], drops?: Drops, workerCpu?: () => Promise<number>): Promise<Pick<Row, 'paced' | 'throughput'>> {
  const dropsSince = (before: Drops | undefined) => (drops && before ? { webrtc: drops.webrtc - before.webrtc, pipe: drops.pipe - before.pipe } : undefined);
  // Warm-up: every subscriber gets messages before anything is timed.
  currentPhase = Phase.Warmup;
  for (let i = 0; i < 20; i += 1) sending.send(message(Phase.Warmup, i));
  await drain(receivers, Phase.Warmup, 20);

  let before = drops && { ...drops };
  let udpBefore = udpReceiveBufferErrors();
  let cpu = await cpuReading(workerCpu);
  currentPhase = Phase.Paced;
  const pacedSent = await sendPaced(sending, PACED_SECONDS);
  const pacedCpu = await cpu.since();
  await drain(receivers, Phase.Paced, pacedSent);
  const pacedDrops = dropsSince(before);
  const pacedUdp = udpErrorsSince(udpBefore);

  before = drops && { ...drops };
  udpBefore = udpReceiveBufferErrors();
  cpu = await cpuReading(workerCpu);
  currentPhase = Phase.Throughput;
  const started = performance.now();
  const flat = await sendFlatOut(sending, THROUGHPUT_SECONDS);
  const throughputCpu = await cpu.since();
  await drain(receivers, Phase.Throughput, flat.sent);
  const perSubscriber = receivers.map((r) => {
    const inbox = r.inbox(Phase.Throughput);
    return inbox.count ? inbox.count / ((inbox.lastAt - started) / 1000) : 0;
  });
  return {
    paced: { sent: pacedSent, latencies: latencies(receivers, Phase.Paced), loss: loss(receivers, Phase.Paced, pacedSent), sfuDrops: pacedDrops, cpu: pacedCpu, udpDrops: pacedUdp },
    throughput: {
      cpu: throughputCpu,
      udpDrops: udpErrorsSince(udpBefore),
      sent: flat.sent,
      sendSeconds: flat.seconds,
      sendRate: flat.sent / flat.seconds,
      perSubscriber,
      total: perSubscriber.reduce((a, b) => a + b, 0),
      latencies: latencies(receivers, Phase.Throughput),
      loss: loss(receivers, Phase.Throughput, flat.sent),
      maxBuffered: flat.maxBuffered,
      usedEvent: flat.usedEvent,
      sfuDrops: dropsSince(before),
    },
  };
}

// --- baseline: a direct PeerConnection pair ------------------------------------

async function baseline(): Promise<Row> {
  const a = new RTCPeerConnection();
  const b = new RTCPeerConnection();
  try {
    // Trickle ICE both ways, and descriptions from the created offer and
    // answer: reading pc.localDescription in @roamhq/wrtc races ICE gathering
    // and can crash the process (see TestPeer.setLocal).
    a.onicecandidate = (event: RTCPeerConnectionIceEvent) => void (event.candidate && b.addIceCandidate(event.candidate).catch(() => undefined));
    b.onicecandidate = (event: RTCPeerConnectionIceEvent) => void (event.candidate && a.addIceCandidate(event.candidate).catch(() => undefined));
    const sending = a.createDataChannel('bench', { negotiated: true, id: 0, ordered: true });
    const receiving = b.createDataChannel('bench', { negotiated: true, id: 0, ordered: true });
    sending.binaryType = 'arraybuffer';
    const receiver = new Receiver(receiving);
    const offer = await a.createOffer();
    await a.setLocalDescription(offer);
    await b.setRemoteDescription(offer);
    const answer = await b.createAnswer();
    await b.setLocalDescription(answer);
    await a.setRemoteDescription(answer);
    await opened(sending);
    await opened(receiving);
    const result = await measure(sending, [receiver]);
    return { setup: 'direct pair (no SFU)', n: 1, placement: '-', ...result };
  } finally {
    a.close();
    b.close();
  }
}

// --- the SFU ------------------------------------------------------------------

/** Counts the SFU's DataConsumer "sctpsendbufferfull" events (a message dropped because a transport's SCTP send buffer was full). */
function watchSfuDrops(): Drops {
  const drops: Drops = { webrtc: 0, pipe: 0 };
  mediasoup.observer.on('newworker', (worker: types.Worker) =>
    worker.observer.on('newrouter', (router: types.Router) =>
      router.observer.on('newtransport', (transport: types.Transport) =>
        transport.observer.on('newdataconsumer', (consumer: types.DataConsumer) =>
          consumer.on('sctpsendbufferfull', () => {
            if (transport.type === 'pipe') drops.pipe += 1;
            else drops.webrtc += 1;
          }),
        ),
      ),
    ),
  );
  return drops;
}

async function sfuRuns(rows: Row[], drops: Drops): Promise<void> {
  // A node as the tests start one: loopback, free ports.
  const server: Switchyard = await startTestServer({
    WORKERS: String(WORKERS),
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
    // The bench creates and subscribes its sessions back to back: no rate limits in the way.
    SESSION_CREATIONS_PER_APP_PER_SECOND: '100000',
    RATE_LIMIT_MUTATIONS_PER_SECOND: '100000',
  });
  const peers: TestPeer[] = [];
  const connect = async () => {
    const peer = new TestPeer(server.url);
    peers.push(peer);
    await peer.createSession();
    return peer;
  };
  const workerOf = (peer: TestPeer) => server.sessions.get(peer.sessionId)!.worker.index;
  const workerCpu = async () => {
    const usages = await Promise.all(server.pool.workers.map((w) => w.worker.getResourceUsage()));
    return usages.reduce((sum, u) => sum + u.ru_utime + u.ru_stime, 0);
  };
  try {
    const publisher = await connect();
    const subscribers: TestPeer[] = [];
    for (const n of N_LIST) {
      const createStarted = performance.now();
      while (subscribers.length < n) subscribers.push(await connect());
      const createMs = performance.now() - createStarted;
      const name = `bench-${n}`;
      const [published] = await publishData(publisher, [{ name, ordered: true }]);
      if (!published || published.error) throw new Error(`publishDataChannels: ${JSON.stringify(published?.error)}`);
      const sending = openNegotiated(publisher, published);
      const receivers: Receiver[] = [];
      const subscribeStarted = performance.now();
      for (const subscriber of subscribers.slice(0, n)) {
        const [result] = await subscribeData(subscriber, [{ sessionId: publisher.sessionId, name }]);
        if (!result || result.error) throw new Error(`subscribeDataChannels: ${JSON.stringify(result?.error)}`);
        const channel = openNegotiated(subscriber, result);
        receivers.push(new Receiver(channel));
        await opened(channel);
      }
      await opened(sending);
      const subscribeMs = performance.now() - subscribeStarted;
      const home = workerOf(publisher);
      const local = subscribers.slice(0, n).filter((s) => workerOf(s) === home).length;
      console.error(`N=${n}: ${subscribers.length} subscriber sessions (${createMs.toFixed(0)} ms creating new ones), subscribed and open in ${subscribeMs.toFixed(0)} ms; measuring`);
      const result = await measure(sending, receivers, drops, workerCpu);
      const malformed = receivers.reduce((sum, r) => sum + r.malformed, 0);
      if (malformed) console.error(`N=${n}: ${malformed} malformed messages`);
      rows.push({
        setup: `SFU, ${WORKERS} workers`,
        n,
        placement: `${local} / ${n - local}`,
        ...result,
      });
      // Unpublish: the subscribers' channels end; their sessions stay for the next N.
      await gqlOk(server.url, CLOSE_DATA, { input: { sessionId: publisher.sessionId, ids: [published.id] } });
    }
  } finally {
    for (const peer of peers) peer.stop();
    await server.stop();
  }
}

// --- run ----------------------------------------------------------------------

const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '-');
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : '-');
const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-');
const dropText = (d: Drops | undefined) => (d ? String(d.webrtc + d.pipe) + (d.pipe ? ` (${d.pipe} at pipes)` : '') : '-');
const cpuText = (c: Cpu) => `${c.bench.toFixed(0)}% / ${c.workers === undefined ? '-' : `${c.workers.toFixed(0)}%`}`;
const lossText = (l: Loss) =>
  [
    l.lost && l.gaps ? `**${l.lost}** in ${l.gaps} gap${l.gaps === 1 ? '' : 's'}` : String(l.lost),
    l.outOfOrder ? `${l.outOfOrder} out of order` : '',
    l.duplicates ? `${l.duplicates} duplicates` : '',
    l.ended ? `${l.ended} subscription${l.ended === 1 ? '' : 's'} ended (OVERFLOW)` : '',
  ]
    .filter(Boolean)
    .join(', ');

const startedAt = performance.now();
// Whatever happens (a stalled channel, a server that does not stop), the process ends.
const watchdogSeconds = number('TIMEOUT_SECONDS', 120 + (N_LIST.length + 1) * (PACED_SECONDS + THROUGHPUT_SECONDS + 3 * (DRAIN_IDLE_MS / 1000) + 30));
setTimeout(() => {
  console.error(`bench:data did not finish within ${watchdogSeconds.toFixed(0)} s (TIMEOUT_SECONDS); exiting`);
  process.exit(2);
}, watchdogSeconds * 1000).unref();
const drops = watchSfuDrops();
const rows: Row[] = [];
let failed: unknown;
try {
  if (BASELINE) {
    console.error('direct pair: measuring');
    rows.push(await baseline());
  }
  await sfuRuns(rows, drops);
} catch (error) {
  failed = error;
}

const cpu = cpus();
const lowWater = rows.length && !rows.every((r) => r.throughput.usedEvent) ? 'polled every 1 ms: @roamhq/wrtc has no bufferedamountlow' : 'on bufferedamountlow';
console.log(
  `\nSwitchyard data channel benchmark, ${new Date().toISOString().slice(0, 10)}: ${MESSAGE_BYTES}-byte binary messages on one ordered reliable channel, ` +
    `one node with WORKERS=${WORKERS}, ${cpu.length} CPU${cpu.length === 1 ? '' : 's'} (${cpu[0]?.model.trim() ?? 'unknown'}).\n\n` +
    `The publisher and every subscriber are @roamhq/wrtc (libwebrtc) PeerConnections in this one bench process, which shares ${cpu.length === 1 ? 'the CPU' : `the ${cpu.length} CPUs`} with the SFU's workers: ` +
    `the clients' own cost is in every number (see the CPU columns), latency includes each message's wait for this process's event loop, ` +
    `and @roamhq/wrtc's send() is synchronous, so the publisher's send rate is bounded by this process's CPU, not by the channel.\n\n` +
    `Paced: ${RATE} msg/s for ${PACED_SECONDS} s. Throughput: ${THROUGHPUT_SECONDS} s as fast as send() goes, at most ${BATCH} messages per event-loop turn, bufferedAmount kept under ${HIGH_WATER} bytes and resumed at ${LOW_WATER} (${lowWater}). ` +
    `Latency: performance.now() at send (in the message) to the subscriber's message event, every message at every subscriber. ` +
    `Lost: messages sent x subscribers - messages received, once all arrived or nothing arrived for ${DRAIN_IDLE_MS} ms, at subscribers whose subscription stayed open; ` +
    `a subscription the SFU ended because its subscriber could not keep up (DATA_CHANNEL_ENDED, OVERFLOW) is counted apart. ` +
    `CPU: % of one core while sending, this process / the SFU's workers together.\n`,
);
if (rows.length === 0) {
  console.error('bench failed before any run:', failed);
  process.exit(1);
}
console.log('Paced (latency):\n');
console.log("| setup | N | subscribers on publisher's worker / other | sent | p50 ms | p99 ms | max ms | lost | SFU send-buffer drops | CPU bench / SFU |");
console.log('| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const row of rows) {
  const p = row.paced;
  const l = p.latencies;
  console.log(
    `| ${row.setup} | ${row.n} | ${row.placement} | ${p.sent} | ${f2(quantile(l, 0.5))} | ${f2(quantile(l, 0.99))} | ${f2(l[l.length - 1] ?? NaN)} | ${lossText(p.loss)} | ${dropText(p.sfuDrops)} | ${cpuText(p.cpu)} |`,
  );
}
console.log("\nThroughput (as fast as the publisher sends):\n");
console.log('| setup | N | sent msg/s | delivered msg/s per subscriber (median / min) | delivered msg/s total | p50 / p99 ms under load | max bufferedAmount | lost | SFU send-buffer drops | CPU bench / SFU |');
console.log('| --- | ---: | ---: | --- | ---: | --- | ---: | ---: | ---: | ---: |');
for (const row of rows) {
  const t = row.throughput;
  const sorted = Float64Array.from(t.perSubscriber).sort();
  console.log(
    `| ${row.setup} | ${row.n} | ${int(t.sendRate)} | ${int(quantile(sorted, 0.5))} / ${int(sorted[0] ?? NaN)} | ${int(t.total)} | ${f1(quantile(t.latencies, 0.5))} / ${f1(quantile(t.latencies, 0.99))} | ${int(t.maxBuffered)} | ${lossText(t.loss)} | ${dropText(t.sfuDrops)} | ${cpuText(t.cpu)} |`,
  );
}
const notes: string[] = [];
if (rows.length && rows.every((r) => r.throughput.maxBuffered === 0)) {
  notes.push('bufferedAmount never rose above 0 on the publisher\'s channel: send() returns once libwebrtc has taken the message, so the water marks never engaged; the publisher cannot see the SFU\'s buffers toward subscribers.');
}
for (const row of rows) {
  for (const [phase, { loss: l, sfuDrops: drops, udpDrops }] of [['paced', row.paced], ['throughput', row.throughput]] as const) {
    if (l.ended) {
      notes.push(
        `${row.setup}, N=${row.n}, ${phase}: the SFU ended ${l.ended} subscription${l.ended === 1 ? '' : 's'} with OVERFLOW (its SCTP send buffer toward a subscriber that could not keep up was full)` +
          `${udpDrops !== undefined ? `; meanwhile the kernel dropped ${udpDrops} UDP datagrams for full socket receive buffers (RcvbufErrors, whole host)` : ''}.`,
      );
    }
    if (l.lost || l.outOfOrder || l.duplicates) {
      notes.push(
        `WARNING: ${row.setup}, N=${row.n}, ${phase}: the ordered reliable channel lost ${l.lost} message${l.lost === 1 ? '' : 's'} (${l.gaps} gap${l.gaps === 1 ? '' : 's'})` +
          `${l.outOfOrder ? `, ${l.outOfOrder} out of order` : ''}${l.duplicates ? `, ${l.duplicates} duplicated` : ''}` +
          `${drops ? `; the SFU reported ${drops.webrtc + drops.pipe} dropped for a full SCTP send buffer (${drops.webrtc} toward subscribers, ${drops.pipe} at pipes)` : ''}` +
          `${udpDrops !== undefined ? `; meanwhile the kernel dropped ${udpDrops} UDP datagrams for full socket receive buffers (RcvbufErrors, whole host)` : ''}.`,
      );
    }
  }
}
const udp = rows.flatMap((row) => (row.throughput.udpDrops ? [`${row.setup} N=${row.n}: ${row.throughput.udpDrops}`] : []));
if (udp.length) notes.push(`UDP datagrams the kernel dropped for full socket receive buffers during the throughput phases (RcvbufErrors, whole host, other load included): ${udp.join('; ')}.`);
if (notes.length) console.log(`\n${notes.join('\n')}`);
console.log(`\n${rows.length} runs in ${((performance.now() - startedAt) / 1000).toFixed(0)} s.`);
if (failed) {
  console.error('bench failed:', failed);
  process.exit(1);
}
process.exit(0);
