import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { startAdapterService, type ServiceConnection } from '../helpers/adapterService.js';
import { launchChromium } from '../helpers/browser.js';
import { gqlOk } from '../helpers/graphql.js';
import { waitFor } from '../helpers/media.js';
import { rawSession } from '../helpers/rawPage.js';
import { startTestServer } from '../helpers/server.js';

/**
 * JPEG egress of a real browser's camera: Chromium publishes its fake camera
 * (640x480, plain RTCPeerConnection and GraphQL, test/helpers/raw-client.js),
 * and two REMOTE JPEG adapters send it to a WebSocket service this test runs:
 * one at the default 1 image per second and the track's own size, one at 5 per
 * second scaled to 320 pixels wide. Every message must be a protobuf Packet
 * holding one whole JPEG that ffprobe (Debian's ffmpeg) reads as mjpeg of the
 * expected size, at the asked rate, numbered 0, 1, 2... with rising
 * timestamps. Closing the adapters closes the service's sockets and ends
 * their ffmpeg processes.
 */
let server: Switchyard;
let browser: Browser;
let service: Awaited<ReturnType<typeof startAdapterService>>;
let page: Page;
/** The adapters' ffmpeg processes found before the test: any other found at the end is killed, so that a failure leaks none. */
let ffmpegBefore: number[] = [];

const CREATE = `mutation($input: CreateWebSocketAdapterInput!) { createWebSocketAdapter(input: $input) { id state codec frameRate } }`;
const CLOSE = `mutation($id: ID!) { closeWebSocketAdapter(id: $id) { id state bytesProcessed } }`;
/** How long the service collects images from the first one on. */
const WINDOW_MS = 5000;

beforeAll(async () => {
  server = await startTestServer({ WORKERS: '1' });
  browser = await launchChromium();
  service = await startAdapterService();
}, 60_000);

afterAll(async () => {
  for (const pid of await ffmpegChildren()) {
    if (!ffmpegBefore.includes(pid)) process.kill(pid, 'SIGKILL');
  }
  await page?.context().close().catch(() => undefined);
  await browser?.close();
  await service?.close();
  await server?.stop();
});

/**
 * ffmpeg processes reading an SDP (the adapters' decoders, `ffmpeg ... -f sdp -i pipe:0`) that are children of
 * this process (the node runs in it): other test files on this machine may run ffmpeg of their own meanwhile.
 */
async function ffmpegChildren(): Promise<number[]> {
  try {
    const { stdout } = await promisify(execFile)('pgrep', ['-P', String(process.pid), '-f', 'ffmpeg.*sdp']);
    return stdout.split('\n').filter(Boolean).map(Number);
  } catch (error) {
    if ((error as { code?: number }).code === 1) return []; // pgrep: nothing matched
    throw error;
  }
}

/** What ffprobe says of one image, read from its stdin. */
function ffprobe(image: Uint8Array): Promise<{ codec: string; width: number; height: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,width,height', '-of', 'json', '-i', 'pipe:0'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.stdin.on('error', () => undefined);
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) return reject(new Error(`ffprobe exited ${code}: ${err.trim()}`));
      const stream = (JSON.parse(out) as { streams?: { codec_name: string; width: number; height: number }[] }).streams?.[0];
      if (!stream) return reject(new Error(`ffprobe found no video stream: ${out} ${err}`));
      resolve({ codec: stream.codec_name, width: stream.width, height: stream.height });
    });
    child.stdin.end(image);
  });
}

/** Images per second over the messages of the window: intervals between the first and last arrival. */
function rateOf(window: ServiceConnection['packets']): number {
  return (window.length - 1) / ((window.at(-1)!.at - window[0]!.at) / 1000);
}

describe('JPEG egress from a Chromium camera', () => {
  it('sends whole JPEGs of the right size at 1 and 5 per second, numbered, and stops on close', { timeout: 90_000 }, async () => {
    ffmpegBefore = await ffmpegChildren();
    const session = await rawSession(browser, server.url, 'camera');
    page = session.page;
    const published = await page.evaluate(async () => {
      const media = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } });
      const track = media.getVideoTracks()[0]!;
      // Keep the size: a loaded machine would otherwise have libwebrtc scale the stream down (CPU adaptation).
      track.contentHint = 'detail';
      const pushed = await window.sy.push([{ trackName: 'cam', track }]);
      const sender = window.sy.local.get('cam')!.transceiver.sender;
      const parameters = sender.getParameters();
      parameters.degradationPreference = 'maintain-resolution';
      await sender.setParameters(parameters).catch(() => undefined);
      const settings = track.getSettings();
      return { errors: pushed.errors, tracks: pushed.tracks, width: settings.width!, height: settings.height!, frameRate: settings.frameRate };
    });
    expect(published.errors).toBeUndefined();
    expect(published.tracks?.[0]?.error).toBeNull();
    const { width, height } = published;
    // Scaled to 320 wide: the height follows the aspect ratio, rounded to even pixels (ffmpeg's scale=320:-2).
    const scaledHeight = Math.round((320 * height) / width / 2) * 2;
    console.log(`camera: ${width}x${height} at ${published.frameRate} fps (Chromium's fake device)`);

    const created = performance.now();
    const slow = (await gqlOk(server.url, CREATE, { input: { location: 'REMOTE', sessionId: session.sessionId, trackName: 'cam', codec: 'JPEG', endpoint: service.url('/one') } })).createWebSocketAdapter;
    const fast = (await gqlOk(server.url, CREATE, { input: { location: 'REMOTE', sessionId: session.sessionId, trackName: 'cam', codec: 'JPEG', frameRate: 5, width: 320, endpoint: service.url('/five') } }))
      .createWebSocketAdapter;
    expect(slow).toMatchObject({ state: 'CONNECTED', codec: 'JPEG', frameRate: 1 });
    expect(fast).toMatchObject({ state: 'CONNECTED', codec: 'JPEG', frameRate: 5 });
    const one = service.latest('/one')!;
    const five = service.latest('/five')!;
    expect((await ffmpegChildren()).length).toBe(ffmpegBefore.length + 2);

    // ~5 s of images after each adapter's first one (ffmpeg waits for a key frame first).
    await waitFor('a first image on both sockets', () => one.packets.length > 0 && five.packets.length > 0, 20_000);
    const firstAt = { one: one.packets[0]!.at - created, five: five.packets[0]!.at - created };
    const until = Math.max(one.packets[0]!.at, five.packets[0]!.at) + WINDOW_MS + 300;
    await new Promise((resolve) => setTimeout(resolve, until - performance.now()));
    const inWindow = (c: ServiceConnection) => c.packets.filter((p) => p.at <= c.packets[0]!.at + WINDOW_MS + 100);
    const windows = { one: inWindow(one), five: inWindow(five) };

    // Closing: the service's sockets close, and the ffmpeg processes are gone.
    for (const adapter of [slow, fast]) {
      const closed = (await gqlOk(server.url, CLOSE, { id: adapter.id })).closeWebSocketAdapter;
      expect(closed.state).toBe('CLOSED');
      expect(closed.bytesProcessed).toBeGreaterThan(0);
    }
    await waitFor("the service's sockets to close", () => one.closeCode !== undefined && five.closeCode !== undefined, 5000);
    let ffmpegAfter = await ffmpegChildren();
    for (const deadline = Date.now() + 5000; ffmpegAfter.length > ffmpegBefore.length && Date.now() < deadline; ffmpegAfter = await ffmpegChildren()) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    const report: string[] = [];
    for (const [name, connection, window, expected] of [
      ['1 per second, own size', one, windows.one, { rate: 1, tolerance: 0.2, width, height }],
      ['5 per second, 320 wide', five, windows.five, { rate: 5, tolerance: 0.5, width: 320, height: scaledHeight }],
    ] as const) {
      const packets = connection.packets;
      const probed = [];
      for (const { packet } of packets) {
        const image = packet.payload;
        expect(image.length).toBeGreaterThan(4);
        expect([image[0], image[1]]).toEqual([0xff, 0xd8]);
        expect([image.at(-2), image.at(-1)]).toEqual([0xff, 0xd9]);
        probed.push(await ffprobe(image));
      }
      const sizes = [...new Set(probed.map((p) => `${p.codec} ${p.width}x${p.height}`))];
      const bytes = packets.map((p) => p.packet.payload.length);
      const rate = rateOf(window);
      const timestamps = packets.map((p) => p.packet.timestamp);
      report.push(
        `${name}: ${window.length} images in the ${WINDOW_MS / 1000} s window, ${rate.toFixed(2)}/s (${packets.length} in all); ${sizes.join(', ')}; ` +
          `${Math.min(...bytes)}-${Math.max(...bytes)} bytes; timestamps ${timestamps.slice(0, 8).join(', ')}${timestamps.length > 8 ? ', ...' : ''} ms; ` +
          `first image ${(name.startsWith('1') ? firstAt.one : firstAt.five).toFixed(0)} ms after createWebSocketAdapter`,
      );
      expect(sizes).toEqual([`mjpeg ${expected.width}x${expected.height}`]);
      expect(Math.abs(rate - expected.rate)).toBeLessThanOrEqual(expected.tolerance);
      expect(packets.map((p) => p.packet.sequenceNumber)).toEqual(packets.map((_, i) => i));
      for (let i = 1; i < timestamps.length; i += 1) expect(timestamps[i]).toBeGreaterThan(timestamps[i - 1]!);
    }
    console.log(report.join('\n'));
    console.log(`ffmpeg children reading an SDP: ${ffmpegBefore.length} before, ${ffmpegBefore.length + 2} with the adapters, ${ffmpegAfter.length} after closing`);
    expect(ffmpegAfter).toEqual(ffmpegBefore);
    expect([one.closeCode, five.closeCode]).toEqual([1000, 1000]);
  });
});
