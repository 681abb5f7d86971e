/**
 * The peers process of bench/quality.ts: a libwebrtc publisher and its
 * subscribers, and the graphql-ws clients of the graphql polling phase, in a
 * process of their own so that their CPU is not counted as the server's.
 * `startPeers` forks this file; the messages below are the two processes'
 * protocol.
 */
import wrtc from '@roamhq/wrtc';
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { TestPeer } from '../../test/helpers/peer.js';
import { askingChild } from '../lib/child.js';

const { RTCVideoSource, RTCVideoSink } = wrtc.nonstandard;

/** How often each sessionStats subscription delivers (ms). */
export const INTERVAL_MS = 1000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntil(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
// --- messages between the bench and its peers process -------------------------

export type ToPeers =
  | { cmd: 'snapshot' }
  | { cmd: 'graphql-start'; sessionIds: string[]; connections: number }
  | { cmd: 'graphql-stop'; fromEpochMs: number; untilEpochMs: number }
  | { cmd: 'stop' };

export interface Snapshot {
  type: 'snapshot';
  /** Decoded frames so far, per subscriber. */
  frames: number[];
  /** Longest time between two decoded frames since the previous snapshot, per subscriber (ms). */
  maxGapMs: number[];
  cameraFrames: number;
  /** CPU time of the peers process so far (ms). */
  cpuMs: number;
}

export interface GraphqlResult {
  type: 'graphql';
  readings: number;
  errors: string[];
  /** A reading's `at` (when the server read it) to its arrival at the client, ms (epoch clocks, 1 ms resolution). */
  deliveryMs: number[];
}

export type FromPeers =
  | { type: 'ready'; publisher: string; subscribers: string[]; setupMs: number }
  | Snapshot
  | { type: 'graphql-started' }
  | GraphqlResult
  | { type: 'stopped' }
  | { type: 'error'; message: string };

// --- the peers process ------------------------------------------------------------

/** A synthetic 320x240 camera like test/helpers/media.ts fakeCamera, counting the frames it produces. */
function countingCamera(width = 320, height = 240, fps = 30) {
  const source = new RTCVideoSource();
  const track = source.createTrack();
  const data = new Uint8Array((width * height * 3) / 2);
  const counter = { frames: 0 };
  const timer = setInterval(() => {
    counter.frames += 1;
    for (let i = 0; i < width * height; i += 1) data[i] = (i + counter.frames * 4) & 0xff;
    data.fill(128, width * height);
    source.onFrame({ width, height, data });
  }, Math.round(1000 / fps));
  return { track, counter, stop: () => { clearInterval(timer); track.stop(); } };
}

/** Counts a received video track's decoded frames (test/helpers/media.ts watchVideo) and the longest gap between two. */
function frameWatch(track: MediaStreamTrack) {
  const sink = new RTCVideoSink(track);
  const stats = { frames: 0, last: 0, maxGap: 0 };
  sink.onframe = () => {
    const now = performance.now();
    if (stats.last) stats.maxGap = Math.max(stats.maxGap, now - stats.last);
    stats.last = now;
    stats.frames += 1;
  };
  return { stats, stop: () => sink.stop() };
}

const STATS_SUBSCRIPTION = `subscription($id: ID!) { sessionStats(sessionId: $id, intervalMs: ${INTERVAL_MS}) {
  at quality score bitrateIn bitrateOut availableOutgoingBitrate roundTripTime
  tracks { mid location kind trackSessionId trackName bitrate packetsLost fractionLost jitter roundTripTime nackCount pliCount score }
} }`;

async function peersProcess(): Promise<void> {
  const url = process.env.BENCH_URL!;
  const SUBSCRIBERS = Number(process.env.SUBSCRIBERS);
  const send = (message: FromPeers) => process.send!(message);
  const started = performance.now();
  const camera = countingCamera();
  const peers: TestPeer[] = [];
  const watches: ReturnType<typeof frameWatch>[] = [];
  let graphql: { clients: Client[]; disposers: (() => void)[]; errors: string[]; arrivals: number[]; deliveryMs: number[] } | undefined;
  try {
    const publisher = new TestPeer(url);
    peers.push(publisher);
    await publisher.createSession();
    const [pushed] = await publisher.push([{ track: camera.track, name: 'camera' }]);
    if (!pushed || pushed.error) throw new Error(`pushTracks: ${JSON.stringify(pushed?.error)}`);
    for (let i = 0; i < SUBSCRIBERS; i += 1) {
      const peer = new TestPeer(url);
      peers.push(peer);
      await peer.createSession();
      const [pulled] = await peer.pull([{ sessionId: publisher.sessionId, trackName: 'camera' }]);
      if (!pulled || pulled.error || !pulled.mid) throw new Error(`pullTracks: ${JSON.stringify(pulled?.error)}`);
      await waitUntil(`subscriber ${i}'s track`, () => peer.received.has(pulled.mid!), 15_000);
      watches.push(frameWatch(peer.received.get(pulled.mid)!));
    }
    await waitUntil('every subscriber to decode frames', () => watches.every((w) => w.stats.frames > 0), 60_000);
    send({ type: 'ready', publisher: publisher.sessionId, subscribers: peers.slice(1).map((p) => p.sessionId), setupMs: performance.now() - started });
  } catch (error) {
    send({ type: 'error', message: String((error as Error)?.stack ?? error) });
    process.exit(1);
  }

  process.on('message', (raw) => {
    const message = raw as ToPeers;
    void (async () => {
      if (message.cmd === 'snapshot') {
        const cpu = process.cpuUsage();
        send({
          type: 'snapshot',
          frames: watches.map((w) => w.stats.frames),
          maxGapMs: watches.map((w) => w.stats.maxGap),
          cameraFrames: camera.counter.frames,
          cpuMs: (cpu.user + cpu.system) / 1000,
        });
        for (const w of watches) w.stats.maxGap = 0;
      } else if (message.cmd === 'graphql-start') {
        const wsUrl = `${url.replace('http', 'ws')}/graphql`;
        const clients = Array.from({ length: message.connections }, () => createClient({ url: wsUrl, webSocketImpl: WebSocket, lazy: false, retryAttempts: 0 }));
        const state = { clients, disposers: [] as (() => void)[], errors: [] as string[], arrivals: [] as number[], deliveryMs: [] as number[] };
        state.disposers = message.sessionIds.map((id, i) =>
          clients[i % clients.length]!.subscribe(
            { query: STATS_SUBSCRIPTION, variables: { id } },
            {
              next: ({ data, errors }) => {
                const now = performance.timeOrigin + performance.now();
                if (errors?.length) {
                  if (state.errors.length < 5) state.errors.push(JSON.stringify(errors));
                  return;
                }
                state.arrivals.push(now);
                state.deliveryMs.push(now - Date.parse((data as { sessionStats: { at: string } }).sessionStats.at));
              },
              error: (error) => {
                if (state.errors.length < 5) state.errors.push(String((error as Error)?.message ?? JSON.stringify(error)));
              },
              complete: () => undefined,
            },
          ),
        );
        graphql = state;
        send({ type: 'graphql-started' });
      } else if (message.cmd === 'graphql-stop') {
        const running = graphql;
        graphql = undefined;
        if (!running) return;
        for (const dispose of running.disposers) dispose();
        await Promise.all(running.clients.map((client) => client.dispose()));
        const inWindow = running.arrivals.flatMap((t, i) => (t >= message.fromEpochMs && t <= message.untilEpochMs ? [running.deliveryMs[i]!] : []));
        send({ type: 'graphql', readings: inWindow.length, errors: running.errors, deliveryMs: inWindow });
      } else if (message.cmd === 'stop') {
        for (const w of watches) w.stop();
        for (const peer of peers) peer.stop();
        camera.stop();
        send({ type: 'stopped' });
        setTimeout(() => process.exit(0), 200);
      }
    })().catch((error: unknown) => send({ type: 'error', message: String((error as Error)?.stack ?? error) }));
  });
}

// --- the bench ----------------------------------------------------------------------

/** The peers process, and a way to ask it things one at a time. */
export function startPeers(url: string, subscribers: number) {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), ['--peers'], {
    env: { ...process.env, BENCH_URL: url, SUBSCRIBERS: String(subscribers) },
  });
  const { next, ask } = askingChild<ToPeers, FromPeers>(child, 'peers process', 120_000);
  return { child, next, ask };
}

export type Peers = ReturnType<typeof startPeers>;
if (process.argv.includes('--peers')) await peersProcess();
