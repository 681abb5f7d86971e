import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import type { types } from 'mediasoup';
import { writeRtp } from './rtp.js';
import type { RtpTap } from './RtpTap.js';

/**
 * A tapped track read by ffmpeg (Debian's package, `ffmpeg` on the PATH or
 * FFMPEG_PATH): it decodes and re-encodes what no JavaScript library does
 * well (VP8, VP9 and H.264 to JPEG here; muxing for recordings). The tap's
 * RTP goes on to a loopback UDP port ffmpeg reads, described to it by an SDP
 * on its stdin; its output comes on stdout.
 */
export type FfmpegProcess = ChildProcessByStdio<Writable, Readable, Readable>;

export const ffmpegPath = () => process.env.FFMPEG_PATH ?? 'ffmpeg';

/**
 * ffmpeg dies with the node: util-linux's setpriv (in every Debian) sets the
 * parent-death signal before it runs ffmpeg. Otherwise a node that is
 * SIGKILLed leaves its ffmpegs running until their input times out (~10 s),
 * still writing the files the node's next start finishes.
 */
const withParentDeath = (() => {
  let setpriv: string | null | undefined;
  return (command: string, args: string[]): [string, string[]] => {
    if (setpriv === undefined) setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((path) => existsSync(path)) ?? null;
    return setpriv ? [setpriv, ['--pdeathsig', 'KILL', '--', command, ...args]] : [command, args];
  };
})();

/** One RTP stream ffmpeg reads: its codec (payload type, parameters) and the port it arrives on (RTCP on the next one). */
export interface SdpStream {
  readonly codec: types.RtpCodecParameters;
  readonly port: number;
}

/** The SDP that tells ffmpeg what arrives where: one m-line per stream. */
export function sdpFor(streams: readonly SdpStream[]): string {
  const lines = ['v=0', 'o=- 0 0 IN IP4 127.0.0.1', 's=switchyard', 'c=IN IP4 127.0.0.1', 't=0 0'];
  for (const { codec, port } of streams) {
    const [kind, name] = codec.mimeType.split('/') as [string, string];
    const rtpmap = `${name}/${codec.clockRate}${codec.channels && codec.channels > 1 ? `/${codec.channels}` : ''}`;
    const fmtp = Object.entries(codec.parameters ?? {}).map(([key, value]) => `${key}=${String(value)}`).join(';');
    lines.push(`m=${kind} ${port} RTP/AVP ${codec.payloadType}`, `a=rtpmap:${codec.payloadType} ${rtpmap}`);
    if (fmtp) lines.push(`a=fmtp:${codec.payloadType} ${fmtp}`);
    lines.push('a=recvonly');
  }
  return [...lines, ''].join('\r\n');
}

const bindProbe = (port: number) =>
  new Promise<number | undefined>((resolve) => {
    const probe = createSocket('udp4');
    probe.once('error', () => resolve(undefined));
    probe.bind(port, '127.0.0.1', () => {
      const bound = probe.address().port;
      probe.close(() => resolve(bound));
    });
  });

/** Resolves once something (ffmpeg) has bound `port` on loopback; false if nothing did within `timeoutMs`, or once `gone()` says the process ended. */
export async function whenBound(port: number, timeoutMs: number, gone: () => boolean = () => false): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline && !gone()) {
    if ((await bindProbe(port)) === undefined) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return false;
}

/**
 * Ports handed to an ffmpeg that may not have bound them yet: the kernel
 * would hand a probed and released port to the next probe as well, and two
 * recorders starting together then raced for it ("bind failed: Address
 * already in use", 3 in ~900 starts in the bench). Kept for a while after.
 */
const handedOut = new Set<number>();
const HANDED_OUT_MS = 30_000;

/** A free even UDP port on loopback whose odd neighbour (ffmpeg's RTCP) is free too, and not handed out by this process lately. */
export async function freeRtpPort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const port = await bindProbe(0);
    if (port === undefined) continue;
    const even = port % 2 === 0 ? port : port + 1;
    if (even + 1 >= 65536 || handedOut.has(even)) continue;
    if ((await bindProbe(even)) !== undefined && (await bindProbe(even + 1)) !== undefined && !handedOut.has(even)) {
      handedOut.add(even);
      setTimeout(() => handedOut.delete(even), HANDED_OUT_MS).unref();
      return even;
    }
  }
  throw new Error('no free UDP port pair for ffmpeg');
}

/**
 * How long ffmpeg reads its input before it starts: as little as it can for a live picture (JPEG), while a
 * muxer that must know every stream's parameters first (a recording's video size) takes up to `probeMs`.
 */
export type Probe = 'least' | { probeMs: number };

/** ffmpeg reading the streams an SDP describes, with `outputArgs` after its input; the SDP goes on its stdin. */
export function spawnFfmpeg(sdp: string, outputArgs: readonly string[], probe: Probe = 'least'): FfmpegProcess {
  const probing = probe === 'least' ? ['-probesize', '32', '-analyzeduration', '1'] : ['-probesize', String(50 * 1024 * 1024), '-analyzeduration', String(probe.probeMs * 1000)];
  const [command, args] = withParentDeath(ffmpegPath(), [
      ...['-hide_banner', '-nostats', '-loglevel', 'info', '-protocol_whitelist', 'pipe,udp,rtp'],
      // Probe as little as possible (an analyzeduration of 0 means ffmpeg's default, 5 s). Not -fflags nobuffer: it drops
      // the packets probed, the key frame among them, and decoding would wait for another one.
      ...probing,
      ...['-max_delay', '0'],
      // One decoding thread: frame threads would each hold a frame back (latency), and an adapter's stream is small.
      ...['-threads', '1', '-f', 'sdp', '-i', 'pipe:0', ...outputArgs],
  ]);
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.on('error', () => undefined);
  child.stdin.end(sdp);
  return child;
}

/**
 * Starts ffmpeg on the tap's stream with `outputArgs` (what to make of it,
 * ending in an output such as `pipe:1`) and forwards the tap's RTP to it.
 * ffmpeg exits when the tap closes (its stdin is closed and it is sent
 * SIGTERM); the caller reads stdout.
 */
export async function ffmpegOnTap(tap: RtpTap, outputArgs: readonly string[]): Promise<FfmpegProcess> {
  const port = await freeRtpPort();
  const child = spawnFfmpeg(sdpFor([{ codec: tap.codec, port }]), outputArgs);
  const sender = createSocket('udp4');
  sender.on('error', () => undefined);
  tap.on('rtp', (packet) => sender.send(writeRtp(packet), port, '127.0.0.1'));
  // Nothing to finish in a stream of images: killed at once (a SIGTERM waits for a packet that no longer comes, ~10 s).
  const stop = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  tap.once('close', stop);
  const ended = () => {
    try {
      sender.close();
    } catch {
      // Already closed.
    }
    tap.close();
  };
  child.once('exit', ended);
  child.once('error', ended);
  return child;
}
