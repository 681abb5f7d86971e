/**
 * WebSocket adapter benchmark (npm run bench:adapters): what Cloudflare-style
 * WebSocket adapters cost a node, against the node idle and against plain
 * WebRTC subscribers, and the latency they add, in one run.
 *
 * Two processes. The node (`--node`, a fork of this file: startBenchNode,
 * WORKERS=1) does nothing but serve, so its CPU is the node's: the Node.js
 * process (API, adapters: Opus decoding and encoding with libopus, protobuf,
 * WebSockets), its mediasoup worker and the ffmpeg processes of JPEG adapters,
 * each read from /proc (schedstat, ns, all threads). This process holds the
 * libwebrtc peers and the adapters' WebSocket service: a publisher with a
 * 440 Hz microphone and a 640x480 30 fps camera whose frames carry their
 * capture time (32 black or white blocks, as bench/videoProbe.ts), plain
 * subscribers, and the service, which records what it receives and sends
 * ingest adapters 48 kHz stereo PCM (a tone with noise) in real time, a 20 ms
 * Packet every 20 ms.
 *
 * After a warm-up (one adapter of each kind and a subscriber for a few
 * seconds, unmeasured: loading libopus, JIT), phases of SECONDS (10)
 * after SETTLE_SECONDS (2), in this order, idle phases (the publisher alone)
 * between the groups; each loaded phase is compared with the mean of the idle
 * phases before and after it:
 *  a. PCM egress: N (EGRESS_N: 1,4,16) REMOTE PCM adapters on the mic, then
 *     the same N plain subscribers (libwebrtc sessions pulling the mic);
 *  b. PCM ingest: N (INGEST_N: 1,4,16) LOCAL adapters fed in real time;
 *  c. JPEG egress (once the camera's bitrate is steady): N (JPEG_N: 1,4)
 *     REMOTE JPEG adapters on the camera at 1 and at 5 images a second (own
 *     size), then one plain video subscriber. ffmpeg processes still running
 *     2 s after their adapter closed are counted and killed;
 *  d. latency, with one adapter and one subscriber each:
 *     - PCM egress: the mic switches between silence (710 ms) and the tone
 *       (500 ms); time from the first loud 10 ms chunk handed to libwebrtc to
 *       the first loud Packet at the service, against the first loud chunk a
 *       plain subscriber plays (RTCAudioSink: after its jitter buffer). And,
 *       for every packet of every egress phase, the adapter's own part: its
 *       RTP packet reaching the adapter (the call to its Opus decoder, timed
 *       by a wrapper this file puts on each PcmEgress in the node process) to
 *       its Packet at the service, matched by number (the decoder's call n
 *       makes Packet n while no packet is lost: Packet timestamps check it);
 *       the two processes' clocks are compared over IPC first;
 *     - PCM ingest: the service switches its PCM between silence (700 ms) and
 *       the tone (500 ms); from the send of the first loud Packet to the
 *       first loud chunk at a plain subscriber, split by hooks on PcmIngest in
 *       the node into the WebSocket hop, the wait in the adapter's buffer (it
 *       plays out on its own 20 ms clock) and the rest (Opus encoding, the
 *       worker, the subscriber's jitter buffer); the same tone from a
 *       libwebrtc publisher to a subscriber is the reference;
 *     - JPEG: every image's age, its arrival minus the capture time read back
 *       from the picture (decoded with ffmpeg afterwards), against the same
 *       for frames a plain subscriber decodes.
 * Adapters per core: 100 % over an adapter's CPU above idle (node + worker +
 * ffmpeg), per kind; and per Node.js thread (100 % over the node process's
 * part: PCM adapters all run on its one event loop). This VM's speed varies by up to 2x from one hour to the
 * next: compare figures of the same run (the ratios), not across runs.
 *
 * Settings from the environment or arguments (--seconds=5 is SECONDS=5):
 * SECONDS, SETTLE_SECONDS, EGRESS_N, INGEST_N, JPEG_N, ONSETS (6),
 * PARTS (egress,ingest,jpeg,latency).
 *   npm run bench:adapters -- --seconds=5 --parts=egress,latency
 */
import wrtc from '@roamhq/wrtc';
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { WebSocketServer, type WebSocket } from 'ws';
import { decodePacket, encodePacket } from '../src/adapters/websocket/packet.js';
import { gql, gqlOk } from '../test/helpers/graphql.js';
import { TestPeer } from '../test/helpers/peer.js';
import { encoderState, median, processSchedMs, sleep, waitUntil, warmUp } from './forwarding/raw.js';

const { RTCAudioSource, RTCAudioSink, RTCVideoSource, RTCVideoSink } = wrtc.nonstandard;

// --- settings ----------------------------------------------------------------------

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
const list = (name: string, fallback: string) => {
  const values = setting(name, fallback).split(',').map((v) => v.trim()).filter(Boolean).map(Number);
  if (values.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`${name} must list positive integers`);
  return values;
};
const SECONDS = number('SECONDS', 10);
const SETTLE_SECONDS = number('SETTLE_SECONDS', 2);
const EGRESS_N = list('EGRESS_N', '1,4,16');
const INGEST_N = list('INGEST_N', '1,4,16');
const JPEG_N = list('JPEG_N', '1,4');
const ONSETS = number('ONSETS', 6);
const PARTS = new Set(setting('PARTS', 'egress,ingest,jpeg,latency').split(',').map((p) => p.trim()));

/** Camera and microphone of the publisher. */
const WIDTH = 640;
const HEIGHT = 480;
const FPS = 30;
const TONE_HZ = 440;
const AMPLITUDE = 8000;
/** A 10 ms chunk (or a Packet) whose loudest sample is above this holds the tone. */
const LOUD = 2000;
/** Latency phases: silence, then the tone, in 20 ms Packets (ingest). */
const QUIET_MS = 700;
const TONE_MS = 500;
/**
 * The microphone's silence, in 10 ms chunks: an odd number of chunks a period, so that onsets fall on either half
 * of libwebrtc's 20 ms Opus frames in turn (an onset in a frame's first half waits 10 ms for the frame to fill).
 */
const MIC_QUIET_MS = 710;

/** Wall-clock time in ms with sub-ms precision, comparable between processes of this machine (up to the offset measured). */
const epoch = () => performance.timeOrigin + performance.now();

// --- the node process ---------------------------------------------------------------

type ToNode = { cmd: 'ping' } | { cmd: 'loop' } | { cmd: 'egress'; from: number } | { cmd: 'ingest-hooks'; on: boolean } | { cmd: 'stop' };
type FromNode =
  | { type: 'ready'; url: string; workerPid: number }
  | { type: 'loop'; delay: LoopDelay }
  | { type: 'pong'; epoch: number }
  | { type: 'egress'; count: number; egresses: { times: number[] }[] }
  | { type: 'ingest-hooks'; received: number[]; framed: number[] }
  | { type: 'stopped' }
  | { type: 'error'; message: string };

/** Event-loop delay (ms, the histogram's resolution subtracted) since the last reading. */
interface LoopDelay {
  p99: number;
  max: number;
}
const LOOP_RESOLUTION_MS = 5;
function loopMonitor() {
  const histogram = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  histogram.enable();
  return (): LoopDelay => {
    const delay = { p99: Math.max(0, histogram.percentile(99) / 1e6 - LOOP_RESOLUTION_MS), max: Math.max(0, histogram.max / 1e6 - LOOP_RESOLUTION_MS) };
    histogram.reset();
    return delay;
  };
}

/** Max |sample| of s16le PCM, every 4th sample (enough to tell a tone from silence). */
function peak(pcm: Uint8Array): number {
  const view = new DataView(pcm.buffer, pcm.byteOffset, pcm.byteLength);
  let max = 0;
  for (let at = 0; at + 1 < pcm.byteLength; at += 8) max = Math.max(max, Math.abs(view.getInt16(at, true)));
  return max;
}

async function nodeProcess(): Promise<void> {
  const send = (message: FromNode) => process.send!(message);
  try {
    const { startBenchNode } = await import('./benchNode.js');
    const { PcmEgress } = await import('../src/adapters/websocket/PcmEgress.js');
    const { PcmIngest } = await import('../src/adapters/websocket/PcmIngest.js');
    // Each PcmEgress, in the order they start (adapters are created one at a time): when each RTP packet reached its
    // decoder. Call i makes Packet i while no packet is lost. Wrapped as start() returns it, before any packet can
    // arrive (a UDP message is a macrotask; the constructor attaches its listener in the same turn).
    const egresses: { times: number[] }[] = [];
    const start = PcmEgress.start.bind(PcmEgress);
    PcmEgress.start = async (...params: Parameters<typeof PcmEgress.start>) => {
      const egress = await start(...params);
      const entry = { times: [] as number[] };
      egresses.push(entry);
      const decoder = (egress as unknown as { decoder: { decode(packet: unknown): Buffer[] } }).decoder;
      const decode = decoder.decode.bind(decoder);
      decoder.decode = (packet: unknown) => {
        entry.times.push(epoch());
        return decode(packet);
      };
      return egress;
    };
    // PcmIngest: when a loud Packet arrives from the service, and when a loud frame leaves the buffer for the encoder.
    const hooks = { on: false, received: [] as number[], framed: [] as number[], loudIn: false, loudOut: false };
    const ingest = PcmIngest.prototype as unknown as { receive(data: Buffer, isBinary: boolean): void; nextFrame(now: number): Buffer };
    const receive = ingest.receive;
    ingest.receive = function (this: unknown, data: Buffer, isBinary: boolean) {
      if (hooks.on) {
        const loud = peak(decodePacket(data).payload) > LOUD;
        if (loud && !hooks.loudIn) hooks.received.push(epoch());
        hooks.loudIn = loud;
      }
      return receive.call(this, data, isBinary);
    };
    const nextFrame = ingest.nextFrame;
    ingest.nextFrame = function (this: unknown, now: number) {
      const frame = nextFrame.call(this, now);
      if (hooks.on) {
        const loud = peak(frame) > LOUD;
        if (loud && !hooks.loudOut) hooks.framed.push(epoch());
        hooks.loudOut = loud;
      }
      return frame;
    };
    const server = await startBenchNode({
      MAX_ADAPTERS_PER_SESSION: '100',
      MAX_ADAPTERS_PER_APP: '1000',
      SESSION_CREATIONS_PER_APP_PER_SECOND: '100000',
      RATE_LIMIT_MUTATIONS_PER_SECOND: '100000',
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
    });
    const loop = loopMonitor();
    process.on('message', (raw) => {
      const message = raw as ToNode;
      if (message.cmd === 'ping') send({ type: 'pong', epoch: epoch() });
      else if (message.cmd === 'loop') send({ type: 'loop', delay: loop() });
      else if (message.cmd === 'egress') send({ type: 'egress', count: egresses.length, egresses: egresses.slice(message.from) });
      else if (message.cmd === 'ingest-hooks') {
        send({ type: 'ingest-hooks', received: hooks.received, framed: hooks.framed });
        Object.assign(hooks, { on: message.on, received: [], framed: [], loudIn: false, loudOut: false });
      } else if (message.cmd === 'stop') {
        void server.stop().finally(() => {
          send({ type: 'stopped' });
          setTimeout(() => process.exit(0), 100);
        });
      }
    });
    send({ type: 'ready', url: server.url, workerPid: server.pool.workers[0]!.worker.pid });
  } catch (error) {
    send({ type: 'error', message: String((error as Error)?.stack ?? error) });
    process.exit(1);
  }
}

/** The node process, asked one thing at a time. */
function startNode() {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), ['--node'], { env: process.env });
  const waiting = new Map<string, { resolve: (m: FromNode) => void; reject: (e: Error) => void }>();
  let failure: Error | undefined;
  const failAll = (error: Error) => {
    failure ??= error;
    for (const w of waiting.values()) w.reject(error);
    waiting.clear();
  };
  child.on('message', (raw) => {
    const message = raw as FromNode;
    if (message.type === 'error') return failAll(new Error(`node process: ${message.message}`));
    const w = waiting.get(message.type);
    waiting.delete(message.type);
    w?.resolve(message);
  });
  child.on('exit', (code, signal) => failAll(new Error(`node process exited (${code ?? signal})`)));
  function next<T extends FromNode['type']>(type: T, timeoutMs = 60_000): Promise<Extract<FromNode, { type: T }>> {
    if (failure) return Promise.reject(failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`node process: no ${type} within ${timeoutMs} ms`)), timeoutMs);
      waiting.set(type, {
        resolve: (m) => { clearTimeout(timer); resolve(m as Extract<FromNode, { type: T }>); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
    });
  }
  function ask<T extends FromNode['type']>(message: ToNode, type: T) {
    const answer = next(type);
    child.send(message);
    return answer;
  }
  return { child, next, ask };
}
type NodeHandle = ReturnType<typeof startNode>;

// --- media of the publisher and subscribers ------------------------------------------

/**
 * A microphone (RTCAudioSource) playing the tone in 10 ms chunks by the clock; `pattern` switches it between
 * silence and the tone. `onsets`: when the first loud chunk after silence was handed to libwebrtc.
 */
function microphone() {
  const source = new RTCAudioSource();
  const track = source.createTrack();
  const samples = new Int16Array(480);
  const state = { patternFrom: -1, onsets: [] as number[], loud: true };
  let phase = 0;
  let chunk = 0;
  const started = performance.now();
  const timer = setInterval(() => {
    const due = Math.floor((performance.now() - started) / 10);
    for (; chunk < due; ) {
      chunk += 1;
      const loud = state.patternFrom < 0 || (chunk - state.patternFrom) % ((MIC_QUIET_MS + TONE_MS) / 10) >= MIC_QUIET_MS / 10;
      for (let i = 0; i < samples.length; i += 1) {
        samples[i] = loud ? Math.round(AMPLITUDE * Math.sin(phase)) : 0;
        phase += (2 * Math.PI * TONE_HZ) / 48_000;
      }
      if (loud && !state.loud) state.onsets.push(epoch());
      state.loud = loud;
      source.onData({ samples, sampleRate: 48_000, bitsPerSample: 16, channelCount: 1, numberOfFrames: samples.length });
    }
  }, 10);
  return {
    track,
    state,
    /** From now on: silence, then the tone, over and over. */
    startPattern: () => void ((state.patternFrom = chunk + 1), (state.onsets = [])),
    steady: () => void (state.patternFrom = -1),
    stop: () => { clearInterval(timer); track.stop(); },
  };
}

const STAMP_BITS = 32;
/**
 * The camera: WIDTHxHEIGHT at FPS, a diagonal gradient moving two pixels a frame (bench/forwarding's camera)
 * under a band (the top 1/15) of 32 black or white blocks that hold the low 32 bits of Date.now() at capture.
 */
function stampCamera() {
  const source = new RTCVideoSource();
  const track = source.createTrack();
  const data = new Uint8Array((WIDTH * HEIGHT * 3) / 2);
  data.fill(128, WIDTH * HEIGHT);
  const band = HEIGHT / 15;
  const block = WIDTH / STAMP_BITS;
  const counter = { frames: 0 };
  const timer = setInterval(() => {
    counter.frames += 1;
    const now = Date.now() >>> 0;
    const shift = counter.frames * 2;
    for (let y = 0; y < HEIGHT; y += 1) {
      const row = y * WIDTH;
      if (y < band) {
        for (let x = 0; x < WIDTH; x += 1) data[row + x] = (now >>> (STAMP_BITS - 1 - Math.floor(x / block))) & 1 ? 235 : 16;
      } else {
        for (let x = 0; x < WIDTH; x += 1) data[row + x] = (x + y + shift) & 0xff;
      }
    }
    source.onFrame({ width: WIDTH, height: HEIGHT, data });
  }, Math.round(1000 / FPS));
  return { track, counter, stop: () => { clearInterval(timer); track.stop(); } };
}

/** The capture time in a picture's luma plane (any size: the band and blocks scale with it). */
function readStamp(luma: Uint8Array, width: number, height: number): number {
  const y = Math.floor(height / 30);
  let stamp = 0;
  for (let i = 0; i < STAMP_BITS; i += 1) stamp = stamp * 2 + (luma[y * width + Math.floor(((i + 0.5) * width) / STAMP_BITS)]! > 128 ? 1 : 0);
  return stamp >>> 0;
}
const ageOf = (stamp: number, at: number) => ((at >>> 0) - stamp) >>> 0;

/** Epochs of the loud 10 ms chunks a received audio track plays. */
function listen(track: MediaStreamTrack) {
  const sink = new RTCAudioSink(track);
  const loud: number[] = [];
  let chunks = 0;
  sink.ondata = ({ samples }: { samples: Int16Array }) => {
    chunks += 1;
    let max = 0;
    for (let i = 0; i < samples.length; i += 2) max = Math.max(max, Math.abs(samples[i]!));
    if (max > LOUD) loud.push(epoch());
  };
  return { loud, chunks: () => chunks, stop: () => sink.stop() };
}

/** Ages (ms) of the frames a received video track decodes. */
function watchAges(track: MediaStreamTrack) {
  const sink = new RTCVideoSink(track);
  const ages: { at: number; age: number }[] = [];
  sink.onframe = ({ frame }: { frame: { width: number; height: number; data: Uint8Array } }) => {
    const at = Date.now();
    const age = ageOf(readStamp(frame.data, frame.width, frame.height), at);
    if (age < 5000) ages.push({ at, age });
  };
  return { ages, stop: () => sink.stop() };
}

// --- the service ---------------------------------------------------------------------

interface Connection {
  path: string;
  socket: WebSocket;
  /** Egress: arrival epoch and Packet timestamp by sequence number; PCM loud onsets; JPEG images. */
  arrivals: number[];
  timestamps: number[];
  messages: number;
  bytes: number;
  loud: number[];
  wasLoud: boolean;
  images: { at: number; image: Uint8Array }[];
  closed: boolean;
  /** Ingest: Packets sent, and when the first loud one after silence went. */
  sent: number;
  sentOnsets: number[];
}

/** 1 s of 48 kHz stereo s16le: the tone with some noise (Opus works on it as on a voice, not on a pure sine). */
function ingestSecond(): Buffer {
  const pcm = Buffer.alloc(48_000 * 4);
  let noise = 1;
  for (let i = 0; i < 48_000; i += 1) {
    noise = (noise * 1103515245 + 12345) & 0x7fffffff;
    const value = Math.round(AMPLITUDE * Math.sin((2 * Math.PI * TONE_HZ * i) / 48_000) + ((noise / 0x7fffffff) * 2 - 1) * 1500);
    pcm.writeInt16LE(value, i * 4);
    pcm.writeInt16LE(value, i * 4 + 2);
  }
  return pcm;
}
const FRAME_BYTES = 3840;

async function startService() {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 64 * 1024 * 1024 });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const port = (server.address() as { port: number }).port;
  const connections = new Map<string, Connection>();
  const second = ingestSecond();
  const silence = Buffer.alloc(FRAME_BYTES);
  /** Ingest connections the real-time sender feeds, with the pattern flag (silence and tone) of each. */
  const feeding = new Map<Connection, { started: number; pattern: boolean }>();
  server.on('connection', (socket, request) => {
    const path = new URL(request.url ?? '/', 'http://service').pathname;
    const c: Connection = { path, socket, arrivals: [], timestamps: [], messages: 0, bytes: 0, loud: [], wasLoud: false, images: [], closed: false, sent: 0, sentOnsets: [] };
    connections.set(path, c);
    const jpeg = path.startsWith('/jpeg/');
    const level = path.includes('/latency/');
    socket.on('message', (data: Buffer) => {
      const at = epoch();
      const packet = decodePacket(data);
      c.messages += 1;
      c.bytes += packet.payload.length;
      if (jpeg) {
        c.images.push({ at: Date.now(), image: Uint8Array.from(packet.payload) });
        return;
      }
      c.arrivals[packet.sequenceNumber] = at;
      c.timestamps[packet.sequenceNumber] = packet.timestamp;
      if (level) {
        const loud = peak(packet.payload) > LOUD;
        if (loud && !c.wasLoud) c.loud.push(at);
        c.wasLoud = loud;
      }
    });
    socket.on('close', () => {
      c.closed = true;
      feeding.delete(c);
    });
    if (path.startsWith('/ingest/')) feeding.set(c, { started: performance.now(), pattern: path.includes('/latency/') });
  });
  // Real time: every 5 ms, each ingest socket gets the 20 ms Packets due by the clock.
  const timer = setInterval(() => {
    const now = performance.now();
    for (const [c, feed] of feeding) {
      const due = Math.floor((now - feed.started) / 20) + 1;
      for (; c.sent < due && c.socket.readyState === 1; c.sent += 1) {
        let payload: Buffer;
        if (feed.pattern) {
          const loud = c.sent % ((QUIET_MS + TONE_MS) / 20) >= QUIET_MS / 20;
          payload = loud ? second.subarray((c.sent % 50) * FRAME_BYTES, (c.sent % 50 + 1) * FRAME_BYTES) : silence;
          if (loud && !c.wasLoud) c.sentOnsets.push(epoch());
          c.wasLoud = loud;
        } else {
          payload = second.subarray((c.sent % 50) * FRAME_BYTES, (c.sent % 50 + 1) * FRAME_BYTES);
        }
        c.socket.send(encodePacket({ sequenceNumber: c.sent, timestamp: c.sent * 960, payload }));
      }
    }
  }, 5);
  return {
    url: (path: string) => `ws://127.0.0.1:${port}${path}`,
    get: (path: string) => connections.get(path),
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(timer);
        for (const c of connections.values()) c.socket.terminate();
        server.close(() => resolve());
      }),
  };
}
type Service = Awaited<ReturnType<typeof startService>>;

// --- CPU --------------------------------------------------------------------------------

/** ffmpeg processes whose parent is `parent` (the adapters' decoders), from /proc. */
function ffmpegChildren(parent: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parent && comm === 'ffmpeg') pids.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

const schedMs = (pid: number) => {
  try {
    return processSchedMs(pid);
  } catch {
    return NaN;
  }
};

interface CpuReading {
  at: number;
  node: number;
  worker: number;
  ffmpeg: Map<number, number>;
  bench: number;
}

function readCpu(nodePid: number, workerPid: number): CpuReading {
  const usage = process.cpuUsage();
  return {
    at: performance.now(),
    node: schedMs(nodePid),
    worker: schedMs(workerPid),
    ffmpeg: new Map(ffmpegChildren(nodePid).map((pid) => [pid, schedMs(pid)])),
    bench: (usage.user + usage.system) / 1000,
  };
}

/** % of one core over a window, by process. */
interface Cpu {
  node: number;
  worker: number;
  ffmpeg: number;
  ffmpegProcesses: number;
  bench: number;
}

function cpuBetween(a: CpuReading, b: CpuReading): Cpu {
  const ms = b.at - a.at;
  let ffmpeg = 0;
  for (const [pid, after] of b.ffmpeg) ffmpeg += after - (a.ffmpeg.get(pid) ?? 0);
  const pct = (used: number) => (used / ms) * 100;
  return { node: pct(b.node - a.node), worker: pct(b.worker - a.worker), ffmpeg: pct(ffmpeg), ffmpegProcesses: b.ffmpeg.size, bench: pct(b.bench - a.bench) };
}

// --- phases -----------------------------------------------------------------------------

type Kind = 'idle' | 'pcm-egress' | 'audio-subscribers' | 'pcm-ingest' | 'jpeg-1' | 'jpeg-5' | 'video-subscriber';

interface Phase {
  kind: Kind;
  n: number;
  seconds: number;
  /** The measured window (epoch ms). */
  from: number;
  to: number;
  cpu: Cpu;
  /** Event-loop delay over the window: the node process's and this one's (the service's). */
  loop: { node: LoopDelay; bench: LoopDelay };
  /** What was done, per adapter or subscriber, to check equal work: messages/s, packets/s, images/s. */
  work: string;
  /** Egress PCM: adapter (RTP at its decoder) to service, per Packet (ms); JPEG and video subscriber: image/frame ages (ms). */
  latencies: number[];
  /** Egress PCM: Packets whose timestamp says a packet was lost before them (their number no longer matches the decoder's calls). */
  unmatched?: number;
  /** JPEG: from createWebSocketAdapter to the first image (ms), per adapter. */
  firstImageMs?: number[];
  note?: string;
}

const CREATE = 'mutation($input: CreateWebSocketAdapterInput!) { createWebSocketAdapter(input: $input) { id sessionId state } }';
const CLOSE = 'mutation($id: ID!) { closeWebSocketAdapter(id: $id) { id state bytesProcessed } }';
const CLOSE_SESSION = 'mutation($id: ID!) { closeSession(input: { sessionId: $id }) { sessionId } }';

interface Context {
  url: string;
  node: NodeHandle;
  nodePid: number;
  workerPid: number;
  service: Service;
  publisher: TestPeer;
  mic: ReturnType<typeof microphone>;
  /** The node's clock minus this process's (ms), measured over IPC. */
  clockOffset: number;
}

let phaseCounter = 0;
/** This process's event-loop delay (the service's and the peers' callbacks run on it). */
let benchLoop: () => LoopDelay = () => ({ p99: NaN, max: NaN });

/** Runs `load` (which sets things up and returns what to measure and how to undo it), settles, measures SECONDS. */
async function measurePhase<T>(
  ctx: Context,
  kind: Kind,
  n: number,
  load: (id: number) => Promise<{ state: T; check?: (state: T, seconds: number) => string; finish?: (state: T, from: number, to: number) => Promise<Partial<Phase>>; undo: (state: T) => Promise<void> }>,
): Promise<Phase> {
  const id = (phaseCounter += 1);
  console.error(`phase ${id}: ${kind}${kind === 'idle' ? '' : ` x${n}`}`);
  const { state, check, finish, undo } = await load(id);
  try {
    await sleep(SETTLE_SECONDS * 1000);
    check?.(state, 0);
    await ctx.node.ask({ cmd: 'loop' }, 'loop');
    benchLoop();
    const before = readCpu(ctx.nodePid, ctx.workerPid);
    const from = epoch();
    await sleep(SECONDS * 1000);
    const after = readCpu(ctx.nodePid, ctx.workerPid);
    const to = epoch();
    const loop = { bench: benchLoop(), node: (await ctx.node.ask({ cmd: 'loop' }, 'loop')).delay };
    const seconds = (after.at - before.at) / 1000;
    const work = check?.(state, seconds) ?? '';
    const extra = finish ? await finish(state, from, to) : {};
    return { kind, n, seconds, from, to, cpu: cpuBetween(before, after), loop, work, latencies: [], ...extra };
  } finally {
    await undo(state);
  }
}

const idle = (ctx: Context) => measurePhase(ctx, 'idle', 0, async () => ({ state: null, undo: async () => undefined }));

async function createAdapters(ctx: Context, inputs: Record<string, unknown>[]): Promise<{ id: string; sessionId: string; createdAt: number }[]> {
  const created = [];
  for (const input of inputs) {
    const createdAt = epoch();
    const adapter = (await gqlOk(ctx.url, CREATE, { input })).createWebSocketAdapter as { id: string; sessionId: string };
    created.push({ ...adapter, createdAt });
  }
  return created;
}

async function closeAdapters(ctx: Context, adapters: { id: string }[], paths: string[]): Promise<void> {
  for (const adapter of adapters) await gqlOk(ctx.url, CLOSE, { id: adapter.id });
  await waitUntil("the service's sockets to close", () => paths.every((p) => ctx.service.get(p)?.closed !== false), 10_000).catch((error: unknown) => console.error(String(error)));
}

/** Counts of messages per connection over the window: `check` reads them at its start and end. */
function messageRates(ctx: Context, paths: string[]) {
  let start: number[] = [];
  return (seconds: number) => {
    const counts = paths.map((p) => ctx.service.get(p)?.messages ?? 0);
    if (seconds === 0) {
      start = counts;
      return '';
    }
    const rates = counts.map((c, i) => (c - start[i]!) / seconds);
    return `${Math.min(...rates).toFixed(1)}-${Math.max(...rates).toFixed(1)} msg/s each`;
  };
}

/** a. N PCM egress adapters on the mic. */
function pcmEgress(ctx: Context, n: number) {
  return measurePhase(ctx, 'pcm-egress', n, async (id) => {
    const before = (await ctx.node.ask({ cmd: 'egress', from: Number.MAX_SAFE_INTEGER }, 'egress')).count;
    const paths = Array.from({ length: n }, (_, k) => `/egress/${id}/${k}`);
    const adapters = await createAdapters(ctx, paths.map((path) => ({ location: 'REMOTE', sessionId: ctx.publisher.sessionId, trackName: 'mic', codec: 'PCM', endpoint: ctx.service.url(path) })));
    await waitUntil('PCM at every egress socket', () => paths.every((p) => (ctx.service.get(p)?.messages ?? 0) > 10), 15_000);
    const rates = messageRates(ctx, paths);
    return {
      state: null,
      check: (_: null, seconds: number) => rates(seconds),
      finish: async (_: null, from: number, to: number) => {
        const egresses = (await ctx.node.ask({ cmd: 'egress', from: before }, 'egress')).egresses;
        const latencies: number[] = [];
        let unmatched = 0;
        paths.forEach((path, k) => {
          const c = ctx.service.get(path)!;
          const egress = egresses[k];
          if (!egress) return;
          c.arrivals.forEach((at, seq) => {
            if (at < from || at > to) return;
            const decodedAt = egress.times[seq];
            // Packet `seq` is the decoder's call `seq` while none was lost: its timestamp then counts 960 samples a packet.
            if (decodedAt === undefined || c.timestamps[seq] !== seq * 960) return void (unmatched += 1);
            latencies.push(at - (decodedAt - ctx.clockOffset));
          });
        });
        return { latencies, unmatched };
      },
      undo: () => closeAdapters(ctx, adapters, paths),
    };
  });
}

/** Inbound RTP packets a subscriber received so far. */
async function packetsReceived(pc: RTCPeerConnection): Promise<number> {
  let packets = 0;
  (await pc.getStats()).forEach((s: { type: string; packetsReceived?: number }) => {
    if (s.type === 'inbound-rtp') packets += s.packetsReceived ?? 0;
  });
  return packets;
}

/** N plain subscribers (libwebrtc sessions) pulling `trackName`. */
async function subscribers(ctx: Context, n: number, trackName: string): Promise<TestPeer[]> {
  const peers: TestPeer[] = [];
  for (let i = 0; i < n; i += 1) {
    const peer = new TestPeer(ctx.url);
    peers.push(peer);
    await peer.createSession();
    const [pulled] = await peer.pull([{ sessionId: ctx.publisher.sessionId, trackName }]);
    if (!pulled || pulled.error) throw new Error(`pullTracks: ${JSON.stringify(pulled?.error)}`);
  }
  await waitUntil('media at every subscriber', async () => (await Promise.all(peers.map((p) => packetsReceived(p.pc)))).every((c) => c > 10), 20_000);
  return peers;
}

async function closeSubscribers(ctx: Context, peers: TestPeer[]): Promise<void> {
  for (const peer of peers) {
    if (peer.sessionId) await gql(ctx.url, CLOSE_SESSION, { id: peer.sessionId }).catch(() => undefined);
    peer.stop();
  }
}

/** Packet rates of subscribers over the window. */
function packetRates(peers: TestPeer[]) {
  let start: number[] = [];
  let latest: number[] = [];
  const poll = async () => (latest = await Promise.all(peers.map((p) => packetsReceived(p.pc))));
  return {
    start: async () => void (start = await poll()),
    end: async (seconds: number) => {
      await poll();
      const rates = latest.map((c, i) => (c - start[i]!) / seconds);
      return `${Math.min(...rates).toFixed(1)}-${Math.max(...rates).toFixed(1)} RTP packets/s each`;
    },
  };
}

/** a'. N plain audio subscribers: the baseline for PCM egress. */
async function audioSubscribers(ctx: Context, n: number): Promise<Phase> {
  const peers = await subscribers(ctx, n, 'mic');
  const rates = packetRates(peers);
  try {
    await sleep(SETTLE_SECONDS * 1000);
    await rates.start();
    const phase = await measurePhase(ctx, 'audio-subscribers', n, async () => ({ state: null, undo: async () => undefined }));
    // measurePhase settled again before its window; the packet rate is over both.
    phase.work = await rates.end(phase.seconds + SETTLE_SECONDS);
    return phase;
  } finally {
    await closeSubscribers(ctx, peers);
  }
}

/** b. N PCM ingest adapters, fed in real time by the service. */
function pcmIngest(ctx: Context, n: number) {
  return measurePhase(ctx, 'pcm-ingest', n, async (id) => {
    const paths = Array.from({ length: n }, (_, k) => `/ingest/${id}/${k}`);
    const adapters = await createAdapters(ctx, paths.map((path, k) => ({ location: 'LOCAL', trackName: `ingest-${id}-${k}`, endpoint: ctx.service.url(path) })));
    let sentAt: number[] = [];
    const bytes = async () => Promise.all(adapters.map(async (a) => (await gqlOk(ctx.url, 'query($id: ID!) { webSocketAdapter(id: $id) { bytesProcessed } }', { id: a.id })).webSocketAdapter.bytesProcessed as number));
    return {
      state: null,
      check: (_: null, seconds: number) => {
        const sent = paths.map((p) => ctx.service.get(p)?.sent ?? 0);
        if (seconds === 0) {
          sentAt = sent;
          return '';
        }
        const rates = sent.map((s, i) => (s - sentAt[i]!) / seconds);
        return `${Math.min(...rates).toFixed(1)}-${Math.max(...rates).toFixed(1)} Packets/s sent each`;
      },
      finish: async () => {
        // What each adapter took from its socket (bytesProcessed) since it was created: 192 KB/s is real time.
        const now = epoch();
        const rates = (await bytes()).map((b, i) => b / ((now - adapters[i]!.createdAt) / 1000) / 1000);
        return { note: `adapters took ${Math.min(...rates).toFixed(0)}-${Math.max(...rates).toFixed(0)} KB/s each` };
      },
      undo: () => closeAdapters(ctx, adapters, paths),
    };
  });
}

/** JPEG images (whole phase) to luma at 320x240 with ffmpeg, and each image's age (arrival minus the capture time it shows). */
function jpegAges(images: { at: number; image: Uint8Array }[]): Promise<number[]> {
  if (images.length === 0) return Promise.resolve([]);
  return new Promise((resolve, reject) => {
    const child = spawn('ffmpeg', ['-v', 'error', '-f', 'image2pipe', '-c:v', 'mjpeg', '-i', 'pipe:0', '-vf', 'scale=320:240', '-fps_mode', 'passthrough', '-f', 'rawvideo', '-pix_fmt', 'gray', 'pipe:1'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.stdin.on('error', () => undefined);
    child.once('error', reject);
    child.once('close', (code) => {
      const raw = Buffer.concat(chunks);
      const frame = 320 * 240;
      if (code !== 0 || raw.length !== frame * images.length) return reject(new Error(`ffmpeg decoded ${raw.length / frame} of ${images.length} images (exit ${code}): ${err.trim()}`));
      resolve(images.map((img, i) => ageOf(readStamp(raw.subarray(i * frame, (i + 1) * frame), 320, 240), img.at)).filter((age) => age < 10_000));
    });
    child.stdin.end(Buffer.concat(images.map((i) => i.image)));
  });
}

/** c. N JPEG adapters on the camera at `fps`, at the track's own size. */
function jpegEgress(ctx: Context, n: number, fps: 1 | 5) {
  return measurePhase(ctx, fps === 1 ? 'jpeg-1' : 'jpeg-5', n, async (id) => {
    const paths = Array.from({ length: n }, (_, k) => `/jpeg/${id}/${k}`);
    const adapters = await createAdapters(ctx, paths.map((path) => ({ location: 'REMOTE', sessionId: ctx.publisher.sessionId, trackName: 'cam', codec: 'JPEG', frameRate: fps, endpoint: ctx.service.url(path) })));
    await waitUntil('an image at every JPEG socket', () => paths.every((p) => (ctx.service.get(p)?.messages ?? 0) > 0), 30_000);
    const firstImageMs = paths.map((p, k) => ctx.service.get(p)!.images[0]!.at - (adapters[k]!.createdAt + 0));
    const rates = messageRates(ctx, paths);
    return {
      state: null,
      check: (_: null, seconds: number) => rates(seconds).replace('msg/s', 'images/s'),
      finish: async (_: null, from: number, to: number) => {
        const images = paths.flatMap((p) => ctx.service.get(p)!.images.filter((i) => i.at >= from && i.at <= to));
        const sizes = images.map((i) => i.image.length);
        const encoder = await encoderState(ctx.publisher.pc);
        return {
          latencies: await jpegAges(images),
          firstImageMs,
          note: `JPEGs ${Math.min(...sizes)}-${Math.max(...sizes)} bytes; publisher encoding ${encoder.size} (${encoder.limitation})`,
        };
      },
      undo: async () => {
        await closeAdapters(ctx, adapters, paths);
        // ffmpeg should end with its adapter: any still running 2 s later is counted, then killed (by pid).
        await sleep(2000);
        const left = ffmpegChildren(ctx.nodePid);
        for (const pid of left) process.kill(pid, 'SIGKILL');
        leftFfmpeg.push(left.length);
      },
    };
  });
}
/** Per JPEG phase, in order: ffmpeg processes that outlived their adapters by 2 s. */
const leftFfmpeg: number[] = [];

/** c'. One plain video subscriber: the baseline for JPEG (its CPU, and the age of the frames it decodes). */
async function videoSubscriber(ctx: Context): Promise<Phase> {
  const [peer] = await subscribers(ctx, 1, 'cam');
  const track = [...peer!.received.values()].find((t) => t.kind === 'video')!;
  const ages = watchAges(track);
  try {
    const phase = await measurePhase(ctx, 'video-subscriber', 1, async () => ({ state: null, undo: async () => undefined }));
    const inWindow = ages.ages.filter((a) => a.at >= phase.from && a.at <= phase.to);
    phase.latencies = inWindow.map((a) => a.age);
    const encoder = await encoderState(ctx.publisher.pc);
    phase.work = `${(inWindow.length / phase.seconds).toFixed(1)} frames/s decoded`;
    phase.note = `publisher encoding ${encoder.size} (${encoder.limitation})`;
    return phase;
  } finally {
    ages.stop();
    await closeSubscribers(ctx, [peer!]);
  }
}

// --- latency ------------------------------------------------------------------------------

/** For each onset, the first time in `times` after it (within 1.5 s), minus the onset. */
const after = (onsets: number[], times: number[]) =>
  onsets.map((t) => {
    const hit = times.find((x) => x > t);
    return hit !== undefined && hit - t < 1500 ? hit - t : NaN;
  });

interface EgressLatency {
  onsets: number;
  toService: number[];
  toSubscriber: number[];
  toAdapter: number[];
}

/** d. Tone onsets at the publisher: to the service through a PCM egress adapter, and to a plain subscriber. */
async function egressLatency(ctx: Context): Promise<EgressLatency> {
  console.error('latency: PCM egress against a plain subscriber');
  const [peer] = await subscribers(ctx, 1, 'mic');
  const heard = listen([...peer!.received.values()][0]!);
  const before = (await ctx.node.ask({ cmd: 'egress', from: Number.MAX_SAFE_INTEGER }, 'egress')).count;
  const path = `/egress/latency/${(phaseCounter += 1)}`;
  const adapters = await createAdapters(ctx, [{ location: 'REMOTE', sessionId: ctx.publisher.sessionId, trackName: 'mic', codec: 'PCM', endpoint: ctx.service.url(path) }]);
  try {
    await waitUntil('PCM at the service', () => (ctx.service.get(path)?.messages ?? 0) > 10, 15_000);
    ctx.mic.startPattern();
    await sleep(ONSETS * (MIC_QUIET_MS + TONE_MS) + 300);
    ctx.mic.steady();
    const onsets = ctx.mic.state.onsets;
    const c = ctx.service.get(path)!;
    const egress = (await ctx.node.ask({ cmd: 'egress', from: before }, 'egress')).egresses[0];
    // When the first loud Packet's RTP packet reached the adapter (same number).
    const toAdapter = onsets.map((t) => {
      const seq = c.arrivals.findIndex((at) => at > t && c.loud.includes(at));
      const decodedAt = seq >= 0 ? egress?.times[seq] : undefined;
      return decodedAt !== undefined ? decodedAt - ctx.clockOffset - t : NaN;
    });
    return { onsets: onsets.length, toService: after(onsets, c.loud), toSubscriber: after(onsets, heard.loud), toAdapter };
  } finally {
    heard.stop();
    await closeAdapters(ctx, adapters, [path]);
    await closeSubscribers(ctx, [peer!]);
  }
}

interface IngestLatency {
  onsets: number;
  toSubscriber: number[];
  wsHop: number[];
  buffer: number[];
  rest: number[];
}

/** d. Onsets in the service's PCM: to a plain subscriber through an ingest adapter, split by the node's hooks. */
async function ingestLatency(ctx: Context): Promise<IngestLatency> {
  console.error('latency: PCM ingest to a plain subscriber');
  const path = `/ingest/latency/${(phaseCounter += 1)}`;
  await ctx.node.ask({ cmd: 'ingest-hooks', on: false }, 'ingest-hooks');
  const [adapter] = await createAdapters(ctx, [{ location: 'LOCAL', trackName: 'ingest-latency', endpoint: ctx.service.url(path) }]);
  const peer = new TestPeer(ctx.url);
  try {
    await peer.createSession();
    const [pulled] = await peer.pull([{ sessionId: adapter!.sessionId, trackName: 'ingest-latency' }]);
    if (!pulled || pulled.error) throw new Error(`pullTracks: ${JSON.stringify(pulled?.error)}`);
    await waitUntil('the ingest track at the subscriber', () => peer.received.size > 0, 15_000);
    const heard = listen([...peer.received.values()][0]!);
    await waitUntil('audio at the subscriber', () => heard.chunks() > 50, 15_000);
    const c = ctx.service.get(path)!;
    const onsetsBefore = c.sentOnsets.length;
    await ctx.node.ask({ cmd: 'ingest-hooks', on: true }, 'ingest-hooks');
    await sleep(ONSETS * (QUIET_MS + TONE_MS) + 300);
    const hooks = await ctx.node.ask({ cmd: 'ingest-hooks', on: false }, 'ingest-hooks');
    heard.stop();
    const onsets = c.sentOnsets.slice(onsetsBefore);
    const received = hooks.received.map((t) => t - ctx.clockOffset);
    const framed = hooks.framed.map((t) => t - ctx.clockOffset);
    const toSubscriber = after(onsets, heard.loud);
    const wsHop = after(onsets, received);
    const toFrame = after(onsets, framed);
    return {
      onsets: onsets.length,
      toSubscriber,
      wsHop,
      buffer: toFrame.map((f, i) => f - wsHop[i]!),
      rest: toSubscriber.map((s, i) => s - toFrame[i]!),
    };
  } finally {
    await closeAdapters(ctx, [adapter!], [path]);
    peer.stop();
  }
}

// --- output -----------------------------------------------------------------------------

const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '-');
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : '-');
const quantile = (values: number[], q: number) => {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : NaN;
};
const stats = (values: number[]) => {
  const v = values.filter(Number.isFinite);
  return v.length ? `${f1(median(v))} (${f1(Math.min(...v))}-${f1(Math.max(...v))}, n=${v.length})` : '-';
};
const total = (c: Cpu) => c.node + c.worker + c.ffmpeg;
const LABEL: Record<Kind, string> = {
  idle: 'idle (publisher alone)',
  'pcm-egress': 'PCM egress adapters',
  'audio-subscribers': 'plain audio subscribers',
  'pcm-ingest': 'PCM ingest adapters',
  'jpeg-1': 'JPEG adapters, 1/s',
  'jpeg-5': 'JPEG adapters, 5/s',
  'video-subscriber': 'plain video subscriber',
};

function printCpu(phases: Phase[]): void {
  console.log('| # | phase | N | node % | worker % | ffmpeg % (processes) | node + worker + ffmpeg % | bench % | event-loop delay p99 / max ms: node, bench | work done |');
  console.log('| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |');
  phases.forEach((p, i) => {
    const loop = `${f1(p.loop.node.p99)} / ${f1(p.loop.node.max)}, ${f1(p.loop.bench.p99)} / ${f1(p.loop.bench.max)}`;
    console.log(`| ${i + 1} | ${LABEL[p.kind]} | ${p.kind === 'idle' ? '' : p.n} | ${f1(p.cpu.node)} | ${f1(p.cpu.worker)} | ${f1(p.cpu.ffmpeg)} (${p.cpu.ffmpegProcesses}) | ${f1(total(p.cpu))} | ${f1(p.cpu.bench)} | ${loop} | ${p.work}${p.note ? `; ${p.note}` : ''} |`);
  });

  // Each loaded phase against the mean of the idle phases around it.
  const baseline = (index: number): Cpu => {
    const before = phases.slice(0, index).reverse().find((p) => p.kind === 'idle');
    const next = phases.slice(index + 1).find((p) => p.kind === 'idle');
    const idles = [before, next].filter((p): p is Phase => p !== undefined);
    const mean = (key: keyof Cpu) => idles.reduce((sum, p) => sum + p.cpu[key], 0) / idles.length;
    return { node: mean('node'), worker: mean('worker'), ffmpeg: mean('ffmpeg'), ffmpegProcesses: 0, bench: mean('bench') };
  };
  const per = phases.flatMap((p, i) => {
    if (p.kind === 'idle') return [];
    const b = baseline(i);
    return [{ p, node: (p.cpu.node - b.node) / p.n, worker: (p.cpu.worker - b.worker) / p.n, ffmpeg: (p.cpu.ffmpeg - b.ffmpeg) / p.n }];
  });
  console.log('\nPer adapter or subscriber, above the idle phases around it (% of one core), and how many would fit on one core at that cost:\n');
  console.log('| phase | N | node % | worker % | ffmpeg % | **total %** | per core (100 / total) | per Node.js thread (100 / node %) | adapter / plain subscriber (same N; JPEG: the video subscriber) |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of per) {
    const t = r.node + r.worker + r.ffmpeg;
    const plain = r.p.kind === 'pcm-egress' ? per.find((o) => o.p.kind === 'audio-subscribers' && o.p.n === r.p.n) : r.p.kind.startsWith('jpeg') ? per.find((o) => o.p.kind === 'video-subscriber') : undefined;
    const plainTotal = plain ? plain.node + plain.worker + plain.ffmpeg : NaN;
    const perCore = (pct: number) => (pct > 0 ? String(Math.floor(100 / pct)) : '-');
    console.log(`| ${LABEL[r.p.kind]} | ${r.p.n} | ${f2(r.node)} | ${f2(r.worker)} | ${f2(r.ffmpeg)} | **${f2(t)}** | ${perCore(t)} | ${perCore(r.node)} | ${plain ? f1(t / plainTotal) : ''} |`);
  }
}

function report(phases: Phase[], egress: EgressLatency | undefined, ingest: IngestLatency | undefined, meta: { started: Date; load: number[]; clockOffset: number; nodeSetupMs: number }) {
  const cpu = cpus();
  const date = meta.started.toISOString().replace('T', ' ').slice(0, 16);
  console.log(
    `\nSwitchyard WebSocket adapter benchmark, ${date} UTC: one node (WORKERS=1) in a process of its own; ${cpu.length} CPUs (${cpu[0]?.model.trim() ?? '?'}), ` +
      `${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.versions.node}; load average ${meta.load.map((l) => l.toFixed(2)).join(' ')} at the start, ${loadavg().map((l) => l.toFixed(2)).join(' ')} at the end.\n` +
      `Publisher: libwebrtc (@roamhq/wrtc) in the bench process, ${TONE_HZ} Hz tone (Opus) and a ${WIDTH}x${HEIGHT} ${FPS} fps camera (VP8). Phases of ${SECONDS} s after ${SETTLE_SECONDS} s. ` +
      `CPU in % of one core, from /proc schedstat: node = the Node.js process, worker = its mediasoup worker, ffmpeg = the JPEG adapters' ffmpeg processes; bench = this process (peers and service), not counted.\n`,
  );
  if (phases.length) printCpu(phases);
  const egressPhases = phases.filter((p) => p.kind === 'pcm-egress' && p.latencies.length);
  const videoPhases = phases.filter((p) => (p.kind.startsWith('jpeg') || p.kind === 'video-subscriber') && p.latencies.length);
  if (egressPhases.length || videoPhases.length) {
    console.log('\nLatency per packet or image (ms):\n');
    console.log('| what | N | p50 | p90 | p99 | max | samples |');
    console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const p of egressPhases) {
      console.log(`| PCM egress: RTP packet at the adapter → its Packet at the service | ${p.n} | ${f1(quantile(p.latencies, 0.5))} | ${f1(quantile(p.latencies, 0.9))} | ${f1(quantile(p.latencies, 0.99))} | ${f1(Math.max(...p.latencies))} | ${p.latencies.length}${p.unmatched ? ` (${p.unmatched} unmatched)` : ''} |`);
    }
    for (const p of videoPhases) {
      const what = p.kind === 'video-subscriber' ? 'plain video subscriber: capture → frame decoded' : `${LABEL[p.kind]}: capture → JPEG at the service`;
      console.log(`| ${what} | ${p.n} | ${f1(quantile(p.latencies, 0.5))} | ${f1(quantile(p.latencies, 0.9))} | ${f1(quantile(p.latencies, 0.99))} | ${f1(Math.max(...p.latencies))} | ${p.latencies.length} |`);
    }
    const firsts = phases.filter((p) => p.firstImageMs);
    if (firsts.length) console.log(`\nJPEG: createWebSocketAdapter → first image at the service (ms): ${firsts.map((p) => `${LABEL[p.kind]} x${p.n}: ${p.firstImageMs!.map((ms) => ms.toFixed(0)).join(', ')}`).join('; ')}.`);
  }
  if (egress || ingest) {
    console.log(`\nTone onsets (ms; median (min-max, n)); the node's clock is ${f2(meta.clockOffset)} ms from this process's (measured over IPC, subtracted):\n`);
    console.log('| path | onset → | ms |');
    console.log('| --- | --- | --- |');
    if (egress) {
      console.log(`| publisher (libwebrtc) → PCM egress adapter | its RTP packet reaches the adapter | ${stats(egress.toAdapter)} |`);
      console.log(`| publisher (libwebrtc) → PCM egress adapter | first loud Packet at the service | ${stats(egress.toService)} |`);
      console.log(`| publisher (libwebrtc) → plain subscriber (libwebrtc) | first loud 10 ms chunk played | ${stats(egress.toSubscriber)} |`);
      const diff = egress.toService.map((s, i) => s - egress.toSubscriber[i]!);
      console.log(`| egress adapter − subscriber, same onset | | ${stats(diff)} |`);
    }
    if (ingest) {
      console.log(`| service → PCM ingest adapter → plain subscriber | first loud chunk played | ${stats(ingest.toSubscriber)} |`);
      console.log(`| of which: service send → Packet in the adapter | WebSocket hop | ${stats(ingest.wsHop)} |`);
      console.log(`| of which: in the adapter's buffer | until its 20 ms clock takes it | ${stats(ingest.buffer)} |`);
      console.log(`| of which: frame out → played | Opus, worker, subscriber's jitter buffer | ${stats(ingest.rest)} |`);
      const lessBuffer = ingest.toSubscriber.map((s, i) => s - ingest.buffer[i]!);
      console.log(`| ingest, less its buffer | | ${stats(lessBuffer)} |`);
      if (egress) {
        const ref = median(egress.toSubscriber.filter(Number.isFinite));
        console.log(`| ingest, less its buffer, − publisher → subscriber (${f1(ref)} ms, median) | added by the ingest path | ${stats(lessBuffer.map((v) => v - ref))} |`);
      }
    }
  }
  const leaks = leftFfmpeg.reduce((a, b) => a + b, 0);
  if (leaks) console.log(`\nWARNING: ${leaks} ffmpeg process(es) were still running 2 s after their JPEG adapters closed (the warm-up's, then per JPEG phase: ${leftFfmpeg.join(', ')}); the bench killed them.`);
  console.log(`\nNode process up in ${(meta.nodeSetupMs / 1000).toFixed(1)} s; run took ${((Date.now() - meta.started.getTime()) / 1000).toFixed(0)} s.`);
}

// --- run ----------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = new Date();
  const load = loadavg();
  const watchdog = setTimeout(() => {
    console.error('bench:adapters did not finish within 20 minutes; exiting');
    process.exit(2);
  }, 20 * 60_000);
  watchdog.unref();
  const cleanups: (() => unknown)[] = [];
  const cleanUp = async () => {
    while (cleanups.length) {
      try {
        await cleanups.pop()!();
      } catch (error) {
        console.error('cleanup step failed:', error);
      }
    }
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void cleanUp().finally(() => process.exit(130)));

  benchLoop = loopMonitor();
  const phases: Phase[] = [];
  let egress: EgressLatency | undefined;
  let ingest: IngestLatency | undefined;
  let failed: unknown;
  try {
    const setupStarted = performance.now();
    const node = startNode();
    cleanups.push(async () => {
      if (node.child.exitCode !== null) return;
      await node.ask({ cmd: 'stop' }, 'stopped').catch(() => undefined);
      if (node.child.exitCode === null) node.child.kill('SIGKILL');
    });
    const { url, workerPid } = await node.next('ready');
    const nodeSetupMs = performance.now() - setupStarted;
    // The node's clock against this one: the ping with the shortest round trip, its answer taken as sent halfway.
    let best = { rtt: Infinity, offset: 0 };
    for (let i = 0; i < 20; i += 1) {
      const sent = epoch();
      const pong = await node.ask({ cmd: 'ping' }, 'pong');
      const back = epoch();
      if (back - sent < best.rtt) best = { rtt: back - sent, offset: pong.epoch - (sent + back) / 2 };
    }
    console.error(`node up (${url}, worker ${workerPid}); clock offset ${best.offset.toFixed(2)} ms (IPC round trip ${best.rtt.toFixed(2)} ms)`);
    const service = await startService();
    cleanups.push(() => service.close());
    const mic = microphone();
    const cam = stampCamera();
    cleanups.push(() => mic.stop(), () => cam.stop());
    const publisher = new TestPeer(url);
    cleanups.push(() => publisher.stop());
    await publisher.createSession();
    const pushed = await publisher.push([{ track: mic.track, name: 'mic' }, { track: cam.track, name: 'cam' }]);
    if (pushed.some((t) => t.error)) throw new Error(`pushTracks: ${JSON.stringify(pushed)}`);
    const ctx: Context = { url, node, nodePid: node.child.pid!, workerPid, service, publisher, mic, clockOffset: best.offset };

    // Warm-up, not measured: the first adapter of each kind loads libopus and compiles the code paths.
    console.error('warm-up');
    await measurePhaseless(ctx);

    if (PARTS.has('egress')) {
      phases.push(await idle(ctx));
      for (const n of EGRESS_N) {
        phases.push(await pcmEgress(ctx, n));
        phases.push(await audioSubscribers(ctx, n));
      }
    }
    if (PARTS.has('ingest')) {
      phases.push(await idle(ctx));
      for (const n of INGEST_N) phases.push(await pcmIngest(ctx, n));
    }
    if (PARTS.has('jpeg')) {
      // libwebrtc starts the camera at 300 kbit/s and ramps up for tens of seconds: the JPEG phases decode a steady stream.
      const steady = await warmUp(publisher.pc, 60);
      console.error(`camera steady after ${steady.seconds.toFixed(0)} s: ${steady.kbps.toFixed(0)} kbit/s (${steady.limitation})`);
      phases.push(await idle(ctx));
      for (const n of JPEG_N) {
        phases.push(await jpegEgress(ctx, n, 1));
        phases.push(await jpegEgress(ctx, n, 5));
      }
      phases.push(await videoSubscriber(ctx));
    }
    if (phases.length) phases.push(await idle(ctx));
    if (PARTS.has('latency')) {
      egress = await egressLatency(ctx);
      ingest = await ingestLatency(ctx);
    }
    report(phases, egress, ingest, { started, load, clockOffset: best.offset, nodeSetupMs });
  } catch (error) {
    failed = error;
  } finally {
    await cleanUp();
  }
  if (failed) {
    console.error('bench:adapters failed:', failed);
    process.exit(1);
  }
  process.exit(0);
}

/** One adapter of each kind and a plain subscriber for a few seconds, then closed. */
async function measurePhaseless(ctx: Context): Promise<void> {
  const peers = await subscribers(ctx, 1, 'mic');
  const paths = ['/egress/warm/0', '/ingest/warm/0', '/jpeg/warm/0'];
  const adapters = await createAdapters(ctx, [
    { location: 'REMOTE', sessionId: ctx.publisher.sessionId, trackName: 'mic', codec: 'PCM', endpoint: ctx.service.url(paths[0]!) },
    { location: 'LOCAL', trackName: 'warm', endpoint: ctx.service.url(paths[1]!) },
    { location: 'REMOTE', sessionId: ctx.publisher.sessionId, trackName: 'cam', codec: 'JPEG', frameRate: 5, endpoint: ctx.service.url(paths[2]!) },
  ]);
  await waitUntil('an image from the warm-up JPEG adapter', () => (ctx.service.get(paths[2]!)?.messages ?? 0) > 2, 30_000);
  await sleep(2000);
  await closeAdapters(ctx, adapters, paths);
  await closeSubscribers(ctx, peers);
  await sleep(2000);
  const left = ffmpegChildren(ctx.nodePid);
  for (const pid of left) process.kill(pid, 'SIGKILL');
  leftFfmpeg.push(left.length);
}

if (process.argv.includes('--node')) await nodeProcess();
else await main();
