import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { launchChromium } from '../helpers/browser.js';
import { gqlOk } from '../helpers/graphql.js';
import { firstVideoPacketIsKey, probe } from '../helpers/probe.js';
import { firstMatching, rawSession, timedCollect } from '../helpers/rawPage.js';
import { startTestServer } from '../helpers/server.js';
import { wsClient } from '../helpers/subscriptions.js';

/**
 * Recording a real browser: a Chromium page publishes its fake camera and
 * microphone with a plain RTCPeerConnection (test/helpers/raw-client.js),
 * the session is recorded through GraphQL for 10 s into one file, and the
 * file is checked against what the page itself reports: the codecs its
 * senders use, the camera's size (getSettings), and the frames its video
 * sender sent while the recording ran (outbound-rtp framesSent). Audio and
 * video start together, on a key frame, and the file lasts the 10 s.
 */
const RECORD_MS = 10_000;
const FIELDS = 'id state reason format location sizeBytes durationMs trackNames';

let server: Switchyard;
let browser: Browser;
let page: Page;
let sessionId: string;
const dir = mkdtempSync(join(tmpdir(), 'switchyard-recordings-browser-'));

beforeAll(async () => {
  server = await startTestServer({ WORKERS: '1', RECORDINGS_DIR: dir });
  browser = await launchChromium();
  ({ page, sessionId } = await rawSession(browser, server.url, 'publisher'));
}, 60_000);

afterAll(async () => {
  await page?.context().close();
  await browser?.close();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** The page's senders as getStats tells them: the video's frames and size, the audio's packets, each sender's codec. */
interface SenderStats {
  framesEncoded: number;
  framesSent: number;
  frameWidth: number;
  frameHeight: number;
  audioPackets: number;
  codecs: string[];
}

const senderStats = () =>
  page.evaluate(async () => {
    const stats = new Map<string, any>();
    (await window.sy.pc.getStats()).forEach((s) => stats.set(s.id, s));
    const out = { framesEncoded: 0, framesSent: 0, frameWidth: 0, frameHeight: 0, audioPackets: 0, codecs: [] as string[] };
    for (const s of stats.values()) {
      if (s.type !== 'outbound-rtp') continue;
      if (s.codecId) out.codecs.push(String(stats.get(s.codecId)?.mimeType));
      if (s.kind === 'video') Object.assign(out, { framesEncoded: s.framesEncoded ?? 0, framesSent: s.framesSent ?? 0, frameWidth: s.frameWidth ?? 0, frameHeight: s.frameHeight ?? 0 });
      else out.audioPackets = s.packetsSent ?? 0;
    }
    out.codecs.sort();
    return out;
  }) as Promise<SenderStats>;

/**
 * Each stream's packet timing in the file: the first and last timestamps, the largest step between packets, and
 * whether timestamps only go forward. ffmpeg's RTP input maps the streams onto one clock when the first RTCP sender
 * reports arrive; a stream shifted then would show as a step or a step back here.
 */
function packetTiming(path: string) {
  const out = execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'packet=stream_index,pts_time', '-of', 'csv=p=0', path]).toString().trim();
  const streams = new Map<number, number[]>();
  for (const line of out.split('\n')) {
    const [index, time] = line.split(',');
    if (time === undefined || time === 'N/A') continue;
    streams.set(Number(index), [...(streams.get(Number(index)) ?? []), Number(time)]);
  }
  return [...streams].map(([index, times]) => ({
    index,
    packets: times.length,
    first: times[0]!,
    last: times.at(-1)!,
    maxStep: Math.max(...times.slice(1).map((t, i) => t - times[i]!)),
    monotonic: times.every((t, i) => i === 0 || t >= times[i - 1]!),
  }));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('recording a browser', () => {
  it('records Chromium\'s camera and microphone for 10 s into one file that matches what the page sent', { timeout: 90_000 }, async () => {
    const published = await page.evaluate(async () => {
      const media = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480, frameRate: 30 }, audio: true });
      const [camera] = media.getVideoTracks();
      const [mic] = media.getAudioTracks();
      const pushed = await window.sy.push([{ trackName: 'camera', track: camera! }, { trackName: 'mic', track: mic! }]);
      return { settings: camera!.getSettings(), errors: pushed.errors, tracks: pushed.tracks };
    });
    expect(published.errors).toBeUndefined();
    expect(published.tracks?.map((t) => t.error)).toEqual([null, null]);
    const { width, height, frameRate } = published.settings;
    console.log(`camera getSettings: ${width}x${height} at ${frameRate} fps`);
    // Media flows, and the sender has settled at the camera's size (the bandwidth estimate ramps up first).
    await expect.poll(async () => { const s = await senderStats(); return s.framesSent > 30 && s.frameWidth === width && s.frameHeight === height; }, { timeout: 20_000, interval: 250 }).toBe(true);
    await sleep(1000);

    const client = wsClient(server.url);
    const events = timedCollect(client, 'subscription($s: ID!) { recordingEvents(sessionId: $s) { type recording { id } } }', { s: sessionId }, (d) => ({ type: d.recordingEvents.type as string }));
    await sleep(300);
    try {
      const asked = Date.now();
      const started = (await gqlOk(server.url, `mutation($input: StartRecordingInput!) { startRecording(input: $input) { ${FIELDS} } }`, { input: { sessionId } })).startRecording;
      const answered = Date.now();
      const atAnswer = await senderStats();
      expect([...started.trackNames].sort()).toEqual(['camera', 'mic']);
      const recording = await firstMatching(events, (e) => e.type === 'RECORDING', 10_000);
      const atStart = await senderStats();
      console.log(`startRecording answered in ${answered - asked} ms; RECORDING ${recording.at - answered} ms after the answer`);

      await sleep(answered + RECORD_MS - Date.now());
      const atStop = await senderStats();
      const stopAsked = Date.now();
      const stopped = (await gqlOk(server.url, `mutation($id: ID!) { stopRecording(id: $id) { ${FIELDS} } }`, { id: started.id })).stopRecording;
      expect(['RECORDING', 'FINISHING', 'DONE']).toContain(stopped.state);
      const done = await firstMatching(events, (e) => e.type === 'DONE' || e.type === 'FAILED', 20_000);
      const finished = (await gqlOk(server.url, `query($id: ID!) { recording(id: $id) { ${FIELDS} } }`, { id: started.id })).recording;
      console.log(`stopped; ${done.type} ${done.at - stopAsked} ms after stopRecording`);
      expect(finished.state).toBe('DONE');
      expect(finished.format).toBe('webm');

      // What the page sent while the file was written: from the first key frame (RECORDING) to the stop.
      const sent = atStop.framesSent - atStart.framesSent;
      const sentFromAnswer = atStop.framesSent - atAnswer.framesSent;
      const probed = probe(finished.location);
      const video = probed.streams.find((s) => s.kind === 'video')!;
      const audio = probed.streams.find((s) => s.kind === 'audio')!;
      console.log(`ffprobe ${finished.location.split('/').at(-1)} (${finished.sizeBytes} bytes, durationMs ${finished.durationMs}):`, JSON.stringify(probed, null, 1));
      console.log(
        `page sent: codecs ${atStop.codecs.join(' + ')}; video framesSent ${sent} from RECORDING to stop (${sentFromAnswer} from the answer; framesEncoded ${atStop.framesEncoded - atStart.framesEncoded}), ` +
          `${atStop.frameWidth}x${atStop.frameHeight} at stop; audio packets ${atStop.audioPackets - atStart.audioPackets}. ` +
          `File: ${video.frames} video frames (${(((video.frames - sent) / sent) * 100).toFixed(1)} %), ${probed.duration} s, starts video ${video.start} s / audio ${audio.start} s`,
      );

      const timing = packetTiming(finished.location);
      console.log('packet timing per stream (s):', JSON.stringify(timing));

      // The codecs the senders use, copied as they are.
      const sentCodecs = atStop.codecs.map((mime) => mime.split('/')[1]!.toLowerCase()).sort();
      expect([audio.codec, video.codec].sort()).toEqual(sentCodecs);
      expect(video).toMatchObject({ width, height });
      expect(Math.abs(probed.duration - RECORD_MS / 1000)).toBeLessThan(0.5);
      expect(Math.abs(video.frames - sent) / sent).toBeLessThan(0.05);
      expect(Math.abs(video.start - audio.start)).toBeLessThan(0.1);
      expect(firstVideoPacketIsKey(finished.location)).toBe(true);
      // No stream jumps when the streams are put on one clock: 20 fps video steps 50 ms, Opus 20 ms (twice that allowed).
      for (const t of timing) expect(t.monotonic && t.maxStep < (t.index === probed.streams.indexOf(video) ? 0.1 : 0.04), JSON.stringify(t)).toBe(true);
      // And both end together, as they started.
      expect(Math.abs(timing[0]!.last - timing[1]!.last)).toBeLessThan(0.1);
    } finally {
      await events.close();
      await client.dispose();
    }
  });
  it('records Chromium\'s H.264 camera into Matroska, without transcoding', { timeout: 60_000 }, async () => {
    const published = await page.evaluate(async () => {
      const media = await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240, frameRate: 30 } });
      const [camera] = media.getVideoTracks();
      const pushed = await window.sy.push([{ trackName: 'h264', track: camera!, codec: 'video/H264' }]);
      return { errors: pushed.errors, tracks: pushed.tracks, codecs: RTCRtpSender.getCapabilities('video')!.codecs.map((c) => c.mimeType) };
    });
    expect(published.errors).toBeUndefined();
    expect(published.codecs).toContain('video/H264');
    await sleep(2000);
    const started = (await gqlOk(server.url, `mutation($input: StartRecordingInput!) { startRecording(input: $input) { ${FIELDS} } }`, { input: { sessionId, trackName: 'h264' } })).startRecording;
    expect(started.format).toBe('mkv');
    await sleep(4000);
    await gqlOk(server.url, 'mutation($id: ID!) { stopRecording(id: $id) { id } }', { id: started.id });
    let done = started;
    for (let i = 0; i < 100 && done.state !== 'DONE' && done.state !== 'FAILED'; i += 1) {
      await sleep(100);
      done = (await gqlOk(server.url, `query($id: ID!) { recording(id: $id) { ${FIELDS} } }`, { id: started.id })).recording;
    }
    expect(done.state).toBe('DONE');
    const probed = probe(done.location);
    console.log(`H.264 recording: ${JSON.stringify(probed)}`);
    expect(probed.format).toContain('matroska');
    expect(probed.streams[0]).toMatchObject({ codec: 'h264', width: 320, height: 240 });
    expect(probed.duration).toBeGreaterThan(3.5);
    expect(firstVideoPacketIsKey(done.location)).toBe(true);
  });
});
