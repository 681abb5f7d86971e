import { EventEmitter } from 'node:events';
import { ffmpegOnTap, type FfmpegProcess } from './ffmpeg.js';
import type { RtpTap } from './RtpTap.js';

export interface JpegOptions {
  /** Frames per second (Cloudflare: 1). */
  frameRate: number;
  /** Scaled to this width and/or height (the other follows the aspect ratio); the track's own size when both are absent. */
  width?: number | undefined;
  height?: number | undefined;
}

const SOI = Buffer.from([0xff, 0xd8]);
const EOI = Buffer.from([0xff, 0xd9]);
/** Asked again while no frame came out: ffmpeg cannot start decoding before a key frame. */
const KEY_FRAME_RETRY_MS = 1000;
const KEY_FRAME_MIN_GAP_MS = 250;

/**
 * A video track as JPEG images at a set rate: ffmpeg decodes the tap's
 * VP8, VP9 or H.264 and encodes one JPEG per 1/frameRate s of the track's
 * time (its fps filter repeats or drops frames to hold the rate). Images are
 * split from ffmpeg's stdout at their end markers (JPEG's entropy-coded data
 * stuffs 0xFF, so 0xFFD9 only ends an image; ffmpeg writes no thumbnails).
 */
export class JpegFrames extends EventEmitter<{ jpeg: [image: Buffer]; close: [reason: string] }> {
  private pending: Buffer = Buffer.alloc(0);
  private keyFrames: NodeJS.Timeout | undefined;
  private stderr = '';
  private keyFrameAskedAt = -Infinity;
  frames = 0;

  private constructor(
    private readonly tap: RtpTap,
    ffmpeg: FfmpegProcess,
  ) {
    super();
    ffmpeg.stdout.on('data', (chunk: Buffer) => this.read(chunk));
    ffmpeg.stderr.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      this.stderr = (this.stderr + text).slice(-2000);
      // ffmpeg says when it waits for a key frame: once it listens (the one asked for before may have come too early), and after loss.
      if (/Keyframe missing|without a prior keyframe/.test(text)) this.askKeyFrame();
    });
    ffmpeg.once('error', (error) => {
      clearInterval(this.keyFrames);
      this.emit('close', `ffmpeg could not run (${error.message}): install Debian's ffmpeg or set FFMPEG_PATH`);
    });
    ffmpeg.once('exit', (code, signal) => {
      clearInterval(this.keyFrames);
      // The tap closed first (the track ended, or the adapter closed): ffmpeg was ended on purpose.
      const why = tap.closed || code === 0 ? 'the track ended' : `ffmpeg exited (${code ?? signal})`;
      this.emit('close', why);
    });
    // No key frame asked for yet: one that came before ffmpeg listens is lost, and the publisher gives one per second at most
    // (KEY_FRAME_REQUEST_DELAY_MS). ffmpeg's "Keyframe missing" asks; this is in case it does not say so.
    this.keyFrames = setInterval(() => {
      if (this.frames > 0) return clearInterval(this.keyFrames);
      this.askKeyFrame();
    }, KEY_FRAME_RETRY_MS);
  }

  /** A key frame from the publisher, at most every KEY_FRAME_MIN_GAP_MS: each one costs every subscriber of the track bandwidth. */
  private askKeyFrame(): void {
    const now = performance.now();
    if (now - this.keyFrameAskedAt < KEY_FRAME_MIN_GAP_MS) return;
    this.keyFrameAskedAt = now;
    void this.tap.requestKeyFrame().catch(() => undefined);
  }

  static async start(tap: RtpTap, options: JpegOptions): Promise<JpegFrames> {
    const filters = [`fps=${options.frameRate}`];
    if (options.width || options.height) filters.push(`scale=${options.width ?? -2}:${options.height ?? -2}`);
    // One encoding thread too: the MJPEG encoder's frame threads held each image back until the next (an image interval late).
    const ffmpeg = await ffmpegOnTap(tap, ['-an', '-vf', filters.join(','), '-c:v', 'mjpeg', '-q:v', '5', '-threads', '1', '-f', 'image2pipe', 'pipe:1']);
    return new JpegFrames(tap, ffmpeg);
  }

  close(): void {
    this.tap.close();
  }

  private read(chunk: Buffer): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    for (;;) {
      const start = this.pending.indexOf(SOI);
      if (start < 0) {
        this.pending = Buffer.alloc(0);
        return;
      }
      const end = this.pending.indexOf(EOI, start + 2);
      if (end < 0) {
        this.pending = this.pending.subarray(start);
        return;
      }
      const image = Buffer.from(this.pending.subarray(start, end + 2));
      this.pending = this.pending.subarray(end + 2);
      this.frames += 1;
      this.emit('jpeg', image);
    }
  }
}
