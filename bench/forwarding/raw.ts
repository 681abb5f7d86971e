/**
 * What bench/forwarding.ts and its raw-mediasoup child process share: the
 * synthetic camera, raw mediasoup peers (a libwebrtc PeerConnection wired to a
 * WebRtcTransport by SDP written here, with nothing of src/session or the
 * API), and the measures (worker CPU from /proc, decoded frames from getStats,
 * RTP counts from mediasoup's getStats).
 *
 * Only mediasoup API that 3.18.1 and 3.32.2 both have is used, and mediasoup
 * is never imported at run time here: the child process hands in a router of
 * whichever mediasoup it loaded (the types are the project's; the shapes used
 * are the same in both versions).
 */
import wrtc from '@roamhq/wrtc';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import type { types } from 'mediasoup';
import { parseDescription } from '../../src/sdp/parse.js';
import { mapProducer } from '../../src/sdp/rtpMapping.js';
import type { RemoteDescription } from '../../src/sdp/types.js';
import { sendingSection, writeDescription, type LocalTransport } from '../../src/sdp/write.js';

const { RTCPeerConnection } = wrtc;
const { RTCVideoSource } = wrtc.nonstandard;

/** parseDescription's size cap; our own descriptions are a few KB. */
const MAX_SDP_BYTES = 64 * 1024;
/** mediasoup's defaults apart from where to listen: the baseline is mediasoup as its docs show it. */
const LISTEN_INFOS: types.TransportListenInfo[] = [{ protocol: 'udp', ip: '127.0.0.1' }];

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function waitUntil(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

export const median = (values: number[]) => {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

// --- the camera ---------------------------------------------------------------------

/**
 * A synthetic camera (RTCVideoSource): a diagonal gradient moving two pixels
 * a frame. At 640x360 libwebrtc's VP8 encoder spends about 1.75 Mbit/s (its
 * cap) on it at the full 30 fps once its bandwidth estimate has ramped up
 * (16-30 s on loopback, depending on the mediasoup version), a real camera's
 * order of magnitude. Content with noise in it kept the encoder
 * bandwidth-limited at 10 fps for the first tens of seconds: a stream that
 * changes while it is measured.
 */
export function camera(width = 640, height = 360, fps = 30) {
  const source = new RTCVideoSource();
  const track = source.createTrack();
  const data = new Uint8Array((width * height * 3) / 2);
  data.fill(128, width * height);
  const counter = { frames: 0 };
  const timer = setInterval(() => {
    counter.frames += 1;
    const shift = counter.frames * 2;
    for (let y = 0; y < height; y += 1) {
      const row = y * width;
      for (let x = 0; x < width; x += 1) data[row + x] = (x + y + shift) & 0xff;
    }
    source.onFrame({ width, height, data });
  }, Math.round(1000 / fps));
  return { track, counter, width, height, fps, stop: () => { clearInterval(timer); track.stop(); } };
}
export type Camera = ReturnType<typeof camera>;

// --- measures -----------------------------------------------------------------------

let clockTicks: number | undefined;
/** CPU time (user + system, all threads) a process has used so far, ms: /proc/<pid>/stat utime + stime. */
export function processCpuMs(pid: number): number {
  clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces; the fields after its ')' start with field 3 (state).
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks;
}

/**
 * The same from the scheduler, in ns: the sum of sum_exec_runtime
 * (/proc/<pid>/task/<tid>/schedstat) over the process's threads. stat's
 * figure is truncated to clock ticks (10 ms) at each reading, ±1 ms/s over a
 * 10 s window, a tenth of what one consumer costs; this one is exact, but
 * misses a thread that ends within the window (a worker's threads live as
 * long as it does).
 */
export function processSchedMs(pid: number): number {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return ns / 1e6;
}

/** Frames a subscriber's PeerConnection decoded so far (inbound-rtp framesDecoded). */
export async function framesDecoded(pc: RTCPeerConnection): Promise<number> {
  let frames = 0;
  (await pc.getStats()).forEach((s: { type: string; kind?: string; mediaType?: string; framesDecoded?: number }) => {
    if (s.type === 'inbound-rtp' && (s.kind ?? s.mediaType) === 'video') frames += s.framesDecoded ?? 0;
  });
  return frames;
}

/** The publisher's video encoder as libwebrtc reports it (outbound-rtp). */
export async function encoderState(pc: RTCPeerConnection): Promise<{ framesEncoded: number; limitation: string; size: string }> {
  let state = { framesEncoded: 0, limitation: '?', size: '?' };
  type Outbound = { type: string; kind?: string; mediaType?: string; framesEncoded?: number; qualityLimitationReason?: string; frameWidth?: number; frameHeight?: number };
  (await pc.getStats()).forEach((s: Outbound) => {
    if (s.type !== 'outbound-rtp' || (s.kind ?? s.mediaType) !== 'video') return;
    state = { framesEncoded: s.framesEncoded ?? 0, limitation: s.qualityLimitationReason ?? '?', size: `${s.frameWidth}x${s.frameHeight}` };
  });
  return state;
}

/**
 * Waits until the publisher's stream is steady: its encoder no longer held
 * back by the bandwidth estimate (qualityLimitationReason "none") and its
 * bitrate within 5 % of the 2 s before, at most `maxSeconds`. libwebrtc
 * starts at 300 kbit/s and ramps up by some 8 % a second to its own cap
 * (1.7 Mbit/s at 640x360); before that the stream grows while it is measured.
 */
export async function warmUp(pc: RTCPeerConnection, maxSeconds: number): Promise<{ seconds: number; limitation: string; kbps: number }> {
  const started = performance.now();
  const bytesSent = async () => {
    let bytes = 0;
    (await pc.getStats()).forEach((s: { type: string; bytesSent?: number }) => {
      if (s.type === 'outbound-rtp') bytes += s.bytesSent ?? 0;
    });
    return bytes;
  };
  let previousKbps = NaN;
  let kbps = NaN;
  let limitation = '?';
  let last = await bytesSent();
  while (performance.now() - started < maxSeconds * 1000) {
    await sleep(2000);
    const now = await bytesSent();
    kbps = ((now - last) * 8) / 2000;
    last = now;
    limitation = (await encoderState(pc)).limitation;
    if (limitation === 'none' && Math.abs(kbps - previousKbps) < 0.05 * previousKbps) break;
    previousKbps = kbps;
  }
  return { seconds: (performance.now() - started) / 1000, limitation, kbps };
}

/** RTP packets and bytes a producer received (its inbound-rtp streams; RTX included) or a consumer sent. */
export async function rtpCounts(endpoint: types.Producer | types.Consumer): Promise<{ packets: number; bytes: number }> {
  // A consumer's getStats lists its producer's inbound stream too: count only what it sent.
  const type = 'producerId' in endpoint ? 'outbound-rtp' : 'inbound-rtp';
  const stats = (await endpoint.getStats()) as { type: string; packetCount?: number; byteCount?: number }[];
  let packets = 0;
  let bytes = 0;
  for (const s of stats) {
    if (s.type !== type) continue;
    packets += s.packetCount ?? 0;
    bytes += s.byteCount ?? 0;
  }
  return { packets, bytes };
}

/**
 * What a consumer's transport sent in all (bytes): RTP, RTX and probation
 * padding, which the consumer's own counts leave out. mediasoup probes the
 * downlink with padding on the transport's own SSRC while its estimate is
 * below what the consumers send, work that differs with transport options
 * (Switchyard starts the estimate at 1.5 Mbit/s, mediasoup's default is 600k).
 */
export async function transportBytes(transport: types.WebRtcTransport): Promise<{ sent: number; probation: number; rtx: number }> {
  const [stats] = await transport.getStats();
  return { sent: stats?.bytesSent ?? 0, probation: stats?.probationBytesSent ?? 0, rtx: stats?.rtxBytesSent ?? 0 };
}

/** What a phase measured, per second over its window. */
export interface PhaseMeasure {
  seconds: number;
  /** Worker CPU from /proc/<pid>/stat (utime + stime), ms per second. */
  workerCpuMsPerS: number;
  /** The same from the threads' schedstat (ns resolution), ms per second. */
  workerSchedMsPerS: number;
  /** Decoded frames per second, each subscriber's (empty when there are none). */
  fps: number[];
  /** What the camera produced, and what the publisher's encoder made of it, frames per second. */
  cameraFps: number;
  encodedFps: number;
  /** The encoder's picture size and qualityLimitationReason at the window's end. */
  encodedSize: string;
  limitation: string;
  /** What the producer received. */
  inKbps: number;
  inPacketsPerS: number;
  /** What the consumers sent, per consumer (mean). */
  outPacketsPerSPerConsumer: number;
  /** What their transports sent, per consumer (mean), kbit/s: everything, and of it probation padding and RTX. */
  transportKbpsPerConsumer: number;
  probationKbpsPerConsumer: number;
  rtxKbpsPerConsumer: number;
}

/** Worker CPU, decoded frames and RTP counts over `seconds`, read at both ends of the window. */
export async function measure(
  workerPid: number,
  seconds: number,
  cam: Camera,
  producer: types.Producer,
  consumers: types.Consumer[],
  subscribers: RTCPeerConnection[],
  publisher: RTCPeerConnection,
  transports: types.WebRtcTransport[],
): Promise<PhaseMeasure> {
  const read = async () => {
    const [frames, input, outputs, encoder, sent] = await Promise.all([
      Promise.all(subscribers.map(framesDecoded)),
      rtpCounts(producer),
      Promise.all(consumers.map(rtpCounts)),
      encoderState(publisher),
      Promise.all(transports.map(transportBytes)),
    ]);
    return { at: performance.now(), cpu: processCpuMs(workerPid), sched: processSchedMs(workerPid), camera: cam.counter.frames, frames, input, outputs, encoder, sent };
  };
  const before = await read();
  await sleep(seconds * 1000);
  const after = await read();
  const s = (after.at - before.at) / 1000;
  const sentPackets = after.outputs.reduce((sum, o, i) => sum + o.packets - before.outputs[i]!.packets, 0);
  const kbpsPerConsumer = (key: 'sent' | 'probation' | 'rtx') =>
    transports.length ? (after.sent.reduce((sum, t, i) => sum + t[key] - before.sent[i]![key], 0) * 8) / s / 1000 / transports.length : 0;
  return {
    seconds: s,
    workerCpuMsPerS: (after.cpu - before.cpu) / s,
    workerSchedMsPerS: (after.sched - before.sched) / s,
    fps: after.frames.map((f, i) => (f - before.frames[i]!) / s),
    cameraFps: (after.camera - before.camera) / s,
    encodedFps: (after.encoder.framesEncoded - before.encoder.framesEncoded) / s,
    encodedSize: after.encoder.size,
    limitation: after.encoder.limitation,
    inKbps: ((after.input.bytes - before.input.bytes) * 8) / s / 1000,
    inPacketsPerS: (after.input.packets - before.input.packets) / s,
    outPacketsPerSPerConsumer: consumers.length ? sentPackets / s / consumers.length : 0,
    transportKbpsPerConsumer: kbpsPerConsumer('sent'),
    probationKbpsPerConsumer: kbpsPerConsumer('probation'),
    rtxKbpsPerConsumer: kbpsPerConsumer('rtx'),
  };
}

// --- raw peers ----------------------------------------------------------------------

function localTransport(transport: types.WebRtcTransport, setup: LocalTransport['setup']): LocalTransport {
  return {
    iceParameters: transport.iceParameters,
    iceCandidates: transport.iceCandidates,
    fingerprints: transport.dtlsParameters.fingerprints,
    setup,
  };
}

/** transport.connect with the client's DTLS identity; mediasoup takes the role opposite the client's. */
async function connect(transport: types.WebRtcTransport, remote: RemoteDescription): Promise<void> {
  if (!remote.transport) throw new Error('the client described no transport');
  const { fingerprint, setup } = remote.transport;
  await transport.connect({
    dtlsParameters: {
      // actpass (an offer) leaves the choice to us: we answer active, so the client is the DTLS server.
      role: setup === 'active' ? 'client' : 'server',
      fingerprints: [{ algorithm: fingerprint.algorithm as types.FingerprintAlgorithm, value: fingerprint.value }],
    },
  });
}

/** Both ends of a raw link: a WebRtcTransport with mediasoup's defaults and a libwebrtc PeerConnection; close() ends both. */
async function rawPeer(router: types.Router): Promise<{ transport: types.WebRtcTransport; pc: RTCPeerConnection; close(): void }> {
  const transport = await router.createWebRtcTransport({ listenInfos: LISTEN_INFOS });
  const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
  return {
    transport,
    pc,
    close: () => {
      pc.close();
      transport.close();
    },
  };
}

export interface RawSubscriber {
  pc: RTCPeerConnection;
  transport: types.WebRtcTransport;
  consumer: types.Consumer;
  close(): void;
}

/**
 * A subscriber the way mediasoup's documentation wires one: a WebRtcTransport
 * with default options, a consumer created unpaused with the router's own
 * capabilities (what a client that supports everything the router does would
 * send; Switchyard's pull uses the same for a session that has described no
 * media), and a PeerConnection that answers our offer. Nothing of
 * src/session or the API.
 */
export async function rawSubscriber(router: types.Router, producerId: string): Promise<RawSubscriber> {
  const { transport, pc, close } = await rawPeer(router);
  try {
    const consumer = await transport.consume({ producerId, rtpCapabilities: router.rtpCapabilities, paused: false });
    const mid = consumer.rtpParameters.mid;
    const section =
      mid === undefined
        ? undefined
        : sendingSection(consumer.rtpParameters, { mid, kind: consumer.kind, cname: 'raw', streamId: 'raw', trackId: `raw-${consumer.id.slice(0, 8)}` });
    if (!section) throw new Error('consumer has no SSRC or MID');
    const offer = writeDescription({ originId: String(Date.now()), version: 1, transport: localTransport(transport, 'actpass'), sections: [section] });
    await pc.setRemoteDescription({ type: 'offer', sdp: offer });
    const answer = await pc.createAnswer();
    // Never pc.localDescription (it races ICE gathering in @roamhq/wrtc and segfaults): the created answer is what to read.
    await pc.setLocalDescription(answer);
    await connect(transport, parseDescription('answer', answer.sdp ?? '', MAX_SDP_BYTES));
    return { pc, transport, consumer, close };
  } catch (error) {
    close();
    throw error;
  }
}

export interface RawPublisher {
  pc: RTCPeerConnection;
  transport: types.WebRtcTransport;
  producer: types.Producer;
  close(): void;
}

/**
 * The camera published straight to a router: the PeerConnection offers, the
 * offer is mapped onto the router (src/sdp mapProducer: the client's first
 * codec the router has, its RTX, the shared header extensions), a producer is
 * created with mediasoup's defaults and the answer written back.
 */
export async function rawPublisher(router: types.Router, track: MediaStreamTrack): Promise<RawPublisher> {
  const { transport, pc, close } = await rawPeer(router);
  try {
    pc.addTransceiver(track, { direction: 'sendonly' });
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    const remote = parseDescription('offer', offer.sdp ?? '', MAX_SDP_BYTES);
    const section = remote.sections[0];
    const mapping = section && mapProducer(section, router.rtpCapabilities);
    if (!section || !mapping) throw new Error('the publisher offered no codec the router has');
    await connect(transport, remote);
    const producer = await transport.produce({ kind: mapping.kind, rtpParameters: mapping.rtpParameters });
    const answer = writeDescription({
      originId: String(Date.now()),
      version: 1,
      transport: localTransport(transport, 'active'),
      sections: [{ mid: section.mid, kind: mapping.kind, direction: 'recvonly', rejected: false, codecs: mapping.codecs, headerExtensions: mapping.headerExtensions }],
    });
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    return { pc, transport, producer, close };
  } catch (error) {
    close();
    throw error;
  }
}

/** Adds raw subscribers one by one and waits until each has decoded a frame. */
export async function rawSubscribers(router: types.Router, producerId: string, count: number, timeoutMs: number): Promise<RawSubscriber[]> {
  const subscribers: RawSubscriber[] = [];
  try {
    for (let i = 0; i < count; i += 1) subscribers.push(await rawSubscriber(router, producerId));
    await waitUntil('every raw subscriber to decode a frame', async () => (await Promise.all(subscribers.map((s) => framesDecoded(s.pc)))).every((f) => f > 0), timeoutMs);
    return subscribers;
  } catch (error) {
    for (const s of subscribers) s.close();
    throw error;
  }
}
