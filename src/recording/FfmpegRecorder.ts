import { EventEmitter } from 'node:events';
import type { types } from 'mediasoup';
import { freeRtpPort, sdpFor, spawnFfmpeg, whenBound, type FfmpegProcess } from '../mediaout/ffmpeg.js';
import { RtpForward } from '../mediaout/RtpForward.js';
import { containerFor, muxerArgs, type Container } from './containers.js';

/** One track to record: the producer on a router of this node. */
export interface RecorderSource {
  readonly router: types.Router;
  readonly producerId: string;
}

/** How ffmpeg ended: asked to (stop), or on its own (a crash, a kill, the sources gone). */
export interface RecorderEnd {
  readonly stopped: boolean;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** ffmpeg's last words, for the log. */
  readonly stderr: string;
}

/** How long a muxer may wait for every stream's parameters (a video's size comes with its first key frame). */
const PROBE_MS = 5_000;
/** Asked again while no key frame went out: one asked for before ffmpeg listened is lost. */
const KEY_FRAME_RETRY_MS = 500;
/** Audio waits this long at most for the video's first key frame: a camera that sends nothing must not cost the sound. */
const AUDIO_WAITS_MS = 2_000;
/** How long ffmpeg has to finish between packets before a second SIGINT interrupts its read. */
const SECOND_SIGINT_MS = 300;

/**
 * One recording's muxer: ffmpeg copies the tracks' RTP into a file (no
 * transcoding), fed straight from the workers (RtpForward). The file starts
 * together: video forwarding starts once ffmpeg listens (the key frame it
 * then gets is the file's first frame; ffmpeg drops what comes before a key
 * frame when it copies), and audio starts with that key frame, so neither
 * stream begins before the other. stop() asks ffmpeg to finish the file
 * (SIGINT); any other end leaves the file as far as it was written.
 */
export class FfmpegRecorder extends EventEmitter<{ recording: []; ended: [end: RecorderEnd] }> {
  private stopping = false;
  /** ffmpeg could not be run at all (not installed). */
  private spawnFailed = false;
  private stderr = '';
  private keyFrames: NodeJS.Timeout | undefined;
  /** True once media flows into the file (the video's first key frame, or audio). */
  started = false;

  private constructor(
    private readonly ffmpeg: FfmpegProcess,
    private readonly forwards: RtpForward[],
    readonly container: Container,
  ) {
    super();
    ffmpeg.stderr.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-4000);
    });
    const ended = (code: number | null, signal: NodeJS.Signals | null) => {
      clearInterval(this.keyFrames);
      for (const forward of this.forwards) forward.close();
      this.emit('ended', { stopped: this.stopping, code, signal, stderr: this.stderr.trim().split('\n').slice(-3).join(' | ') });
    };
    ffmpeg.once('exit', ended);
    ffmpeg.once('error', (error) => {
      this.spawnFailed = true;
      this.stderr += `\n${error.message}: install Debian's ffmpeg or set FFMPEG_PATH`;
      ended(null, null);
    });
    // A source that ends (unpublished, its session closed) ends the recording: ffmpeg finishes the file.
    for (const forward of forwards) forward.once('close', () => this.stop());
  }

  /** Starts ffmpeg writing `path`; resolves once it listens and the sources flow to it. */
  static async start(sources: readonly RecorderSource[], path: string, options: { spatialLayer?: number | undefined } = {}): Promise<FfmpegRecorder> {
    const forwards: RtpForward[] = [];
    const ports: number[] = [];
    try {
      for (const source of sources) {
        const port = await freeRtpPort();
        ports.push(port);
        forwards.push(await RtpForward.open(source.router, source.producerId, { ip: '127.0.0.1', port, rtcpPort: port + 1, paused: true, spatialLayer: options.spatialLayer }));
      }
    } catch (error) {
      for (const forward of forwards) forward.close();
      throw error;
    }
    const mimeTypes = forwards.map((f) => f.codec.mimeType);
    const container = containerFor(mimeTypes);
    const streams = forwards.map((forward, i) => ({ codec: forward.codec, port: ports[i]! }));
    const ffmpeg = spawnFfmpeg(sdpFor(streams), muxerArgs(container, path, mimeTypes), { probeMs: PROBE_MS });
    const recorder = new FfmpegRecorder(ffmpeg, forwards, container);
    if (!(await whenBound(streams[0]!.port, 5_000, () => recorder.exited))) {
      recorder.kill();
      // 127: setpriv (or a shell) could not find the program to run.
      if (recorder.spawnFailed || ffmpeg.exitCode === 127) throw new Error('ENOENT: ffmpeg is not installed (FFMPEG_PATH)');
      throw new Error(`ffmpeg did not start: ${recorder.stderr.trim().split('\n').at(-1) ?? ''}`);
    }
    await recorder.flow();
    return recorder;
  }

  /**
   * Asks ffmpeg to finish the file (it writes what it holds and exits). Once
   * it has started, ffmpeg's first SIGINT only stops it between packets: with
   * its sources gone it would wait in a read for its input timeout (~10 s),
   * so a second one, shortly after, interrupts the read; it still finishes
   * the file (it exits at once only from the fourth).
   */
  stop(): void {
    if (this.stopping || this.exited) return;
    this.stopping = true;
    this.ffmpeg.kill('SIGINT');
    setTimeout(() => {
      if (!this.exited) this.ffmpeg.kill('SIGINT');
    }, SECOND_SIGINT_MS).unref();
  }

  get exited(): boolean {
    return this.spawnFailed || this.ffmpeg.exitCode !== null || this.ffmpeg.signalCode !== null;
  }

  /** Ends ffmpeg at once (the node stops): the file stays as far as it was written. */
  kill(): void {
    if (!this.exited) this.ffmpeg.kill('SIGKILL');
  }

  /** The consumers feeding ffmpeg, in the order of the sources. */
  get consumers(): readonly types.Consumer[] {
    return this.forwards.map((f) => f.consumer);
  }

  get pid(): number | undefined {
    return this.ffmpeg.pid;
  }

  /** Video first, with a key frame; audio once that key frame went out. */
  private async flow(): Promise<void> {
    const video = this.forwards.filter((f) => f.kind === 'video');
    const audio = this.forwards.filter((f) => f.kind === 'audio');
    if (video.length === 0) {
      await Promise.all(audio.map((f) => f.resume()));
      this.markStarted();
      return;
    }
    const first = video[0]!;
    const startAudio = () => {
      if (this.started) return;
      clearTimeout(audioAnyway);
      void Promise.all(audio.map((f) => f.resume())).catch(() => undefined);
      this.markStarted();
    };
    // No key frame in time (a camera that is off): the file starts with the sound, and the picture joins at its first key frame.
    const audioAnyway = setTimeout(startAudio, audio.length > 0 ? AUDIO_WAITS_MS : 24 * 3600_000);
    await first.consumer.enableTraceEvent(['keyframe']);
    first.consumer.on('trace', (trace) => {
      if (trace.type !== 'keyframe') return;
      clearInterval(this.keyFrames);
      startAudio();
    });
    this.once('ended', () => clearTimeout(audioAnyway));
    await Promise.all(video.map((f) => f.resume()));
    this.keyFrames = setInterval(() => void first.requestKeyFrame().catch(() => undefined), KEY_FRAME_RETRY_MS);
  }

  private markStarted(): void {
    if (this.started) return;
    this.started = true;
    this.emit('recording');
  }
}
