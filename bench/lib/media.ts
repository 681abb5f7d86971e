/**
 * Media of the benches' libwebrtc (@roamhq/wrtc) peers: a microphone playing
 * a tone, a camera whose frames carry their capture time, and sinks that
 * read them back at a subscriber.
 */
import wrtc from '@roamhq/wrtc';
import { epoch } from './settings.js';

const { RTCAudioSource, RTCAudioSink, RTCVideoSource, RTCVideoSink } = wrtc.nonstandard;

/** Camera and microphone of the publisher. */
export const WIDTH = 640;
export const HEIGHT = 480;
export const FPS = 30;
export const TONE_HZ = 440;
export const AMPLITUDE = 8000;
/** A 10 ms chunk (or a Packet) whose loudest sample is above this holds the tone. */
export const LOUD = 2000;
/** The microphone's pattern: silence, then the tone. */
export const TONE_MS = 500;
/**
 * The microphone's silence, in 10 ms chunks: an odd number of chunks a period, so that onsets fall on either half
 * of libwebrtc's 20 ms Opus frames in turn (an onset in a frame's first half waits 10 ms for the frame to fill).
 */
export const MIC_QUIET_MS = 710;

/** Max |sample| of s16le PCM, every 4th sample (enough to tell a tone from silence). */
export function peak(pcm: Uint8Array): number {
  const view = new DataView(pcm.buffer, pcm.byteOffset, pcm.byteLength);
  let max = 0;
  for (let at = 0; at + 1 < pcm.byteLength; at += 8) max = Math.max(max, Math.abs(view.getInt16(at, true)));
  return max;
}

/**
 * A microphone (RTCAudioSource) playing the tone in 10 ms chunks by the clock; `pattern` switches it between
 * silence and the tone. `onsets`: when the first loud chunk after silence was handed to libwebrtc.
 */
export function microphone() {
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
export type Microphone = ReturnType<typeof microphone>;

const STAMP_BITS = 32;
/**
 * The camera: WIDTHxHEIGHT at FPS, a diagonal gradient moving two pixels a frame (bench/forwarding's camera)
 * under a band (the top 1/15) of 32 black or white blocks that hold the low 32 bits of Date.now() at capture.
 */
export function stampCamera() {
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
export function readStamp(luma: Uint8Array, width: number, height: number): number {
  const y = Math.floor(height / 30);
  let stamp = 0;
  for (let i = 0; i < STAMP_BITS; i += 1) stamp = stamp * 2 + (luma[y * width + Math.floor(((i + 0.5) * width) / STAMP_BITS)]! > 128 ? 1 : 0);
  return stamp >>> 0;
}
export const ageOf = (stamp: number, at: number) => ((at >>> 0) - stamp) >>> 0;

/** Epochs of the loud 10 ms chunks a received audio track plays. */
export function listen(track: MediaStreamTrack) {
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
export function watchAges(track: MediaStreamTrack) {
  const sink = new RTCVideoSink(track);
  const ages: { at: number; age: number }[] = [];
  sink.onframe = ({ frame }: { frame: { width: number; height: number; data: Uint8Array } }) => {
    const at = Date.now();
    const age = ageOf(readStamp(frame.data, frame.width, frame.height), at);
    if (age < 5000) ages.push({ at, age });
  };
  return { ages, stop: () => sink.stop() };
}
