import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { createSocket } from 'node:dgram';
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

/** The SDP that tells ffmpeg what arrives on `port`: the tap's codec, payload type and parameters. */
export function sdpFor(codec: types.RtpCodecParameters, port: number): string {
  const [kind, name] = codec.mimeType.split('/') as [string, string];
  const rtpmap = `${name}/${codec.clockRate}${codec.channels && codec.channels > 1 ? `/${codec.channels}` : ''}`;
  const fmtp = Object.entries(codec.parameters ?? {}).map(([key, value]) => `${key}=${String(value)}`).join(';');
  return [
    'v=0',
    'o=- 0 0 IN IP4 127.0.0.1',
    's=switchyard',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=${kind} ${port} RTP/AVP ${codec.payloadType}`,
    `a=rtpmap:${codec.payloadType} ${rtpmap}`,
    ...(fmtp ? [`a=fmtp:${codec.payloadType} ${fmtp}`] : []),
    'a=recvonly',
    '',
  ].join('\r\n');
}

/** A free even UDP port on loopback whose odd neighbour (ffmpeg's RTCP) is free too, as far as binding tells. */
async function freeRtpPort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt += 1) {
    const probe = createSocket('udp4');
    const port = await new Promise<number>((resolve, reject) => {
      probe.once('error', reject);
      probe.bind(0, '127.0.0.1', () => resolve(probe.address().port));
    });
    probe.close();
    const even = port % 2 === 0 ? port : port + 1;
    if (even + 1 < 65536) return even;
  }
  throw new Error('no free UDP port for ffmpeg');
}

/**
 * Starts ffmpeg on the tap's stream with `outputArgs` (what to make of it,
 * ending in an output such as `pipe:1`) and forwards the tap's RTP to it.
 * ffmpeg exits when the tap closes (its stdin is closed and it is sent
 * SIGTERM); the caller reads stdout.
 */
export async function ffmpegOnTap(tap: RtpTap, outputArgs: readonly string[]): Promise<FfmpegProcess> {
  const port = await freeRtpPort();
  const child = spawn(
    ffmpegPath(),
    [
      ...['-hide_banner', '-nostats', '-loglevel', 'info', '-protocol_whitelist', 'pipe,udp,rtp'],
      // Probe as little as possible (an analyzeduration of 0 means ffmpeg's default, 5 s). Not -fflags nobuffer: it drops
      // the packets probed, the key frame among them, and decoding would wait for another one.
      ...['-probesize', '32', '-analyzeduration', '1', '-max_delay', '0'],
      // One decoding thread: frame threads would each hold a frame back (latency), and an adapter's stream is small.
      ...['-threads', '1', '-f', 'sdp', '-i', 'pipe:0', ...outputArgs],
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  child.stdin.on('error', () => undefined);
  child.stdin.end(sdpFor(tap.codec, port));
  const sender = createSocket('udp4');
  sender.on('error', () => undefined);
  tap.on('rtp', (packet) => sender.send(writeRtp(packet), port, '127.0.0.1'));
  const stop = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
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
