import wrtc from '@roamhq/wrtc';
import type { TestPeer } from './peer.js';
import { rng } from './random.js';

const { RTCVideoSource, RTCVideoSink, RTCAudioSource, RTCAudioSink } = wrtc.nonstandard;

/** A synthetic camera: I420 frames of a fixed size with a moving gradient, at `fps` (30 by default). */
export function fakeCamera(width = 320, height = 240, fps = 30) {
  const source = new RTCVideoSource();
  const track = source.createTrack();
  const data = new Uint8Array((width * height * 3) / 2);
  let tick = 0;
  const timer = setInterval(() => {
    tick += 1;
    for (let i = 0; i < width * height; i += 1) data[i] = (i + tick * 4) & 0xff;
    data.fill(128, width * height);
    source.onFrame({ width, height, data });
  }, Math.round(1000 / fps));
  return { track, stop: () => { clearInterval(timer); track.stop(); } };
}

/** A synthetic microphone: a 440 Hz tone, 10 ms chunks at 48 kHz mono. */
export function fakeMicrophone() {
  return toneMicrophone(440, 8000);
}

/**
 * A synthetic microphone playing a tone at `frequency` Hz; `setAmplitude`
 * makes it louder, softer or silent (0). `talking`: its loudness follows
 * speechEnvelope, syllables and pauses, as speech does: active speaker
 * detection takes the quietest level it hears as background noise, so a
 * steady tone (or one that is only on or off) never counts as speech.
 */
export function toneMicrophone(frequency: number, amplitude: number, options: { talking?: boolean } = {}) {
  const source = new RTCAudioSource();
  const track = source.createTrack();
  const sampleRate = 48000;
  const samples = new Int16Array(sampleRate / 100);
  let phase = 0;
  let level = amplitude;
  let chunk = 0;
  const startedAt = performance.now();
  const envelope = speechEnvelope(frequency);
  // Each tick sends the chunks due by the clock: setInterval alone runs a little slow (about 1.5 % here), and so would the audio.
  const timer = setInterval(() => {
    const due = Math.floor((performance.now() - startedAt) / 10);
    for (; chunk < due; ) {
      chunk += 1;
      const gain = options.talking ? envelope() : 1;
      for (let i = 0; i < samples.length; i += 1) {
        samples[i] = Math.round(gain * level * Math.sin(phase));
        phase += (2 * Math.PI * frequency) / sampleRate;
      }
      source.onData({ samples, sampleRate, bitsPerSample: 16, channelCount: 1, numberOfFrames: samples.length });
    }
  }, 10);
  return {
    track,
    setAmplitude: (value: number) => void (level = value),
    stop: () => {
      clearInterval(timer);
      track.stop();
    },
  };
}

/**
 * The loudness of someone talking, one value (0 to 1) per 10 ms: syllables
 * of 100 to 280 ms at 0.6 to 1, short dips between them, and now and then a
 * pause between words, in an order drawn from `seed`.
 *
 * Not periodic, on purpose. mediasoup's ActiveSpeakerObserver decides only
 * at its interval (300 ms here), from the last second of 20 ms levels in
 * blocks of five; the 3 Hz swell these tests used repeats every 500 ms, so
 * the observer saw only five phases of it, and for some alignments none
 * passed its test: a talker was then never named (a replay of captured
 * levels through a port of the algorithm stayed stuck in a quarter of
 * such turns; with this envelope, in none of 4,050).
 */
export function speechEnvelope(seed: number): () => number {
  // Seeded: a test hears the same voice every run.
  const random = rng(Math.floor(seed * 1000)).next;
  const between = (low: number, high: number) => low + random() * (high - low);
  const queue: number[] = [];
  return () => {
    if (queue.length === 0) {
      if (random() < 0.15) for (let i = Math.round(between(15, 35)); i > 0; i -= 1) queue.push(0.03);
      const length = Math.round(between(10, 28));
      const peak = between(0.6, 1);
      // Rising over 30 ms, falling over 40 ms.
      for (let i = 0; i < length; i += 1) queue.push(peak * Math.min(1, (i + 1) / 3, (length - i) / 4));
      for (let i = Math.round(between(3, 8)); i > 0; i -= 1) queue.push(0.1);
    }
    return queue.shift()!;
  };
}

/** Counts decoded frames of a received video track and remembers their size. */
export function watchVideo(track: MediaStreamTrack) {
  const sink = new RTCVideoSink(track);
  const stats = { frames: 0, width: 0, height: 0 };
  sink.onframe = ({ frame }: { frame: { width: number; height: number } }) => {
    stats.frames += 1;
    stats.width = frame.width;
    stats.height = frame.height;
  };
  return { stats, stop: () => sink.stop() };
}

/** Measures a received audio track: chunks and the loudest sample seen. */
export function watchAudio(track: MediaStreamTrack) {
  const sink = new RTCAudioSink(track);
  const stats = { chunks: 0, peak: 0 };
  sink.ondata = ({ samples }: { samples: Int16Array }) => {
    stats.chunks += 1;
    for (const sample of samples) stats.peak = Math.max(stats.peak, Math.abs(sample));
  };
  return { stats, stop: () => sink.stop() };
}

/** Listens to a received audio track: its 10 ms chunks as mono samples, each with its arrival time. */
export function listenAudio(track: MediaStreamTrack) {
  const sink = new RTCAudioSink(track);
  const chunks: { at: number; samples: Float64Array }[] = [];
  sink.ondata = ({ samples, channelCount }: { samples: Int16Array; channelCount: number }) => {
    const mono = new Float64Array(samples.length / channelCount);
    for (let i = 0; i < mono.length; i += 1) mono[i] = samples[i * channelCount]!;
    chunks.push({ at: performance.now(), samples: mono });
  };
  return { chunks, stop: () => sink.stop() };
}

/** Resolves when `check` holds, polling; rejects after `timeoutMs` with `what`. */
export async function waitFor(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Pulls a video track into `peer`, waits for it to arrive and for more than
 * `minFrames` decoded frames; the frame watch's stop goes to `cleanups`.
 */
export async function pullVideo(peer: TestPeer, source: { sessionId: string; trackName: string }, cleanups: (() => void)[], minFrames: number, what = 'frames') {
  const [pulled] = await peer.pull([source]);
  await waitFor('the pulled track', () => peer.received.has(pulled!.mid!));
  const video = watchVideo(peer.received.get(pulled!.mid!)!);
  cleanups.push(video.stop);
  await waitFor(what, () => video.stats.frames > minFrames, 15_000);
  return { mid: pulled!.mid!, video };
}
