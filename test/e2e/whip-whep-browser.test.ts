import wrtc from '@roamhq/wrtc';
import { build } from 'esbuild';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { launchChromium } from '../helpers/browser.js';
import { gqlOk } from '../helpers/graphql.js';
import { fakeCamera, fakeMicrophone, waitFor, watchAudio, watchVideo } from '../helpers/media.js';
import { TestPeer } from '../helpers/peer.js';
import { startTestServer } from '../helpers/server.js';

const { RTCPeerConnection } = wrtc;

/**
 * The Eyevinn browser clients in Chromium against Switchyard's WHIP and WHEP
 * endpoints: @eyevinn/whip-web-client publishes the fake camera and
 * microphone, @eyevinn/webrtc-player plays a stream in a <video>. esbuild
 * bundles each package for the page; the pages come from a static server on
 * another loopback port, so every call is cross-origin (CORS_ORIGINS names
 * that origin): whip-web-client only trickles when it can read the
 * Access-Control-Allow-Methods of its OPTIONS request, which the SFU exposes.
 * Both clients get iceServers: [] (they default to Google's STUN server).
 */
const SECRET = 'browser-whip-whep-app-secret-'.padEnd(48, 'w');
const ROOT = join(import.meta.dirname, '..', '..');

const WHIP_PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>whip-web-client</title></head>
<body>
<script type="module">
  import { WHIPClient } from './whip.js';
  window.whip = {
    async publish(endpoint, authkey) {
      const media = await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240 }, audio: true });
      const client = new WHIPClient({ endpoint, opts: { iceServers: [], authkey } });
      window.whip.client = client;
      await client.ingest(media);
      // After a refused POST, ingest() still resolves and getResourceUrl() never does.
      const resource = await Promise.race([client.getResourceUrl(), new Promise((resolve) => setTimeout(() => resolve(null), 10000))]);
      return { resource, trickle: client.supportTrickleIce() };
    },
    connectionState: () => window.whip.client.peer.connectionState,
    destroy: () => window.whip.client.destroy(),
  };
</script>
</body></html>`;

const WHEP_PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>webrtc-player</title></head>
<body>
<video id="video" autoplay muted playsinline></video>
<script type="module">
  import { WebRTCPlayer } from './whep.js';
  const video = document.getElementById('video');
  window.whep = {
    events: [],
    async play(url, authorization) {
      const player = new WebRTCPlayer({ video, type: 'whep', iceServers: [] });
      window.whep.player = player;
      for (const name of ['initial-connection-failed', 'connect-error', 'peer-connection-failed', 'no-media']) {
        player.on(name, () => window.whep.events.push(name));
      }
      await player.load(new URL(url), authorization);
    },
    async playback() {
      const pc = window.whep.player.peer;
      const inbound = {};
      if (pc) (await pc.getStats()).forEach((r) => { if (r.type === 'inbound-rtp') inbound[r.kind] = { bytes: r.bytesReceived, frames: r.framesDecoded ?? 0 }; });
      return {
        connectionState: pc ? pc.connectionState : 'none',
        width: video.videoWidth,
        height: video.videoHeight,
        time: video.currentTime,
        tracks: video.srcObject ? video.srcObject.getTracks().map((t) => t.kind).sort() : [],
        inbound,
        events: window.whep.events,
      };
    },
    unload: () => window.whep.player.unload(),
  };
</script>
</body></html>`;

interface Playback {
  connectionState: string;
  width: number;
  height: number;
  time: number;
  tracks: string[];
  inbound: Record<string, { bytes: number; frames: number }>;
  events: string[];
}

declare global {
  interface Window {
    whip: {
      publish(endpoint: string, authkey: string): Promise<{ resource: string | null; trickle: boolean }>;
      connectionState(): RTCPeerConnectionState;
      destroy(): Promise<void>;
    };
    whep: {
      play(url: string, authorization: string): Promise<void>;
      playback(): Promise<Playback>;
      unload(): Promise<void>;
    };
  }
}

/** A WHIP or WHEP request as the SFU answered it. */
interface Logged {
  method: string;
  url: string;
  status: number;
  origin: string | undefined;
  allowOrigin: string | undefined;
  location: string | undefined;
}

let dir: string;
let pageServer: Server;
let pageOrigin: string;
let server: Switchyard;
let browser: Browser;
const requests: Logged[] = [];
const cleanups: (() => void | Promise<void>)[] = [];

/** Bundles a package's export for the page: an ES module with everything it imports. */
async function bundle(source: string, file: string): Promise<void> {
  await build({
    stdin: { contents: source, resolveDir: ROOT, loader: 'js' },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2020',
    outfile: join(dir, file),
    logLevel: 'silent',
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'switchyard-whip-whep-pages-'));
  await bundle("export { WHIPClient } from '@eyevinn/whip-web-client';", 'whip.js');
  await bundle("export { WebRTCPlayer } from '@eyevinn/webrtc-player';", 'whep.js');
  await writeFile(join(dir, 'whip.html'), WHIP_PAGE);
  await writeFile(join(dir, 'whep.html'), WHEP_PAGE);
  const types: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8' };
  pageServer = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://page').pathname;
    // Chromium asks for a favicon.
    if (path === '/favicon.ico') return void res.writeHead(204).end();
    if (!/^\/(whip|whep)\.(html|js)$/.test(path)) return void res.writeHead(404).end();
    readFile(join(dir, path.slice(1))).then(
      (body) => res.writeHead(200, { 'content-type': types[extname(path)]! }).end(body),
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => pageServer.listen(0, '127.0.0.1', resolve));
  pageOrigin = `http://127.0.0.1:${(pageServer.address() as AddressInfo).port}`;
  server = await startTestServer({ WORKERS: '1', APPS: `web:${SECRET}`, CORS_ORIGINS: pageOrigin });
  // First in line, so that it sees the headers every answer is written with (writeHead's, which getHeader does not).
  server.api.http.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    if (!/^\/(whip|whep)\//.test(req.url ?? '')) return;
    let written: Record<string, unknown> = {};
    const writeHead = res.writeHead.bind(res) as (...args: unknown[]) => ServerResponse;
    res.writeHead = ((...args: unknown[]) => {
      const last = args[args.length - 1];
      if (last && typeof last === 'object' && !Array.isArray(last)) written = last as Record<string, unknown>;
      return writeHead(...args);
    }) as typeof res.writeHead;
    res.on('finish', () => {
      const header = (name: string) => (written[name] ?? res.getHeader(name))?.toString();
      requests.push({
        method: req.method ?? '',
        url: req.url ?? '',
        status: res.statusCode,
        origin: req.headers.origin,
        allowOrigin: header('access-control-allow-origin'),
        location: header('location'),
      });
    });
  });
  browser = await launchChromium();
}, 60_000);

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  pageServer?.closeAllConnections();
  await new Promise<void>((resolve) => (pageServer ? pageServer.close(() => resolve()) : resolve()));
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function openPage(name: 'whip' | 'whep'): Promise<{ page: Page; problems: string[] }> {
  const context = await browser.newContext();
  cleanups.push(() => context.close().catch(() => undefined));
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  await page.goto(`${pageOrigin}/${name}.html`);
  // The module script has run (its import loaded) once it set window.whip or window.whep.
  await page.waitForFunction((name) => name in window, name);
  return { page, problems };
}

const query = (text: string, variables: Record<string, unknown> = {}) => gqlOk(server.url, text, variables, SECRET);
const sessionIdOf = (location: string) => location.split('/').pop() as string;

describe('Eyevinn WHIP and WHEP clients in Chromium', () => {
  it('@eyevinn/whip-web-client publishes camera and microphone; a libwebrtc session plays them; destroy() ends the session', { timeout: 60_000 }, async () => {
    const since = requests.length;
    const ours = () => requests.slice(since);
    const { page, problems } = await openPage('whip');
    const published = await page.evaluate(
      ({ endpoint, secret }) => window.whip.publish(endpoint, secret),
      { endpoint: `${server.url}/whip/browser-cam?tags=browser`, secret: SECRET },
    );
    expect(published.resource, JSON.stringify({ requests: ours(), problems })).toMatch(new RegExp(`^${server.url}/whip/resources/[0-9a-f-]+$`));
    // It read Access-Control-Allow-Methods (PATCH) from its OPTIONS request across origins: trickle mode.
    expect(published.trickle).toBe(true);
    const sessionId = sessionIdOf(published.resource!);
    const post = ours().find((r) => r.method === 'POST');
    expect(post).toEqual({ method: 'POST', url: '/whip/browser-cam?tags=browser', status: 201, origin: pageOrigin, allowOrigin: pageOrigin, location: `/whip/resources/${sessionId}` });
    expect(ours().filter((r) => r.method === 'OPTIONS').every((r) => r.status === 204 && r.allowOrigin === pageOrigin)).toBe(true);

    // One trickle PATCH per candidate (with an ETag request header, no If-Match): accepted and not needed.
    await waitFor('the trickle PATCHes', () => ours().some((r) => r.method === 'PATCH'));
    for (const patch of ours().filter((r) => r.method === 'PATCH')) {
      expect(patch).toMatchObject({ url: `/whip/resources/${sessionId}`, status: 204, allowOrigin: pageOrigin });
    }
    await expect.poll(() => page.evaluate(() => window.whip.connectionState()), { timeout: 15_000 }).toBe('connected');

    const { tracks } = await query('query { tracks(filter: { tags: ["stream:browser-cam"] }) { sessionId name kind tags } }');
    expect(tracks).toHaveLength(2);
    expect(tracks).toEqual(
      expect.arrayContaining([
        { sessionId, name: 'audio', kind: 'AUDIO', tags: ['stream:browser-cam', 'browser'] },
        { sessionId, name: 'video', kind: 'VIDEO', tags: ['stream:browser-cam', 'browser'] },
      ]),
    );

    // A libwebrtc session pulls both through GraphQL and decodes them.
    const player = new TestPeer(server.url, SECRET);
    cleanups.push(() => player.stop());
    await player.createSession();
    const pulled = await player.pull([
      { sessionId, trackName: 'video' },
      { sessionId, trackName: 'audio' },
    ]);
    expect(pulled.map((t) => t.error)).toEqual([null, null]);
    const [videoMid, audioMid] = pulled.map((t) => t.mid!) as [string, string];
    await waitFor('both tracks at the player', () => player.received.has(videoMid) && player.received.has(audioMid));
    const video = watchVideo(player.received.get(videoMid)!);
    const audio = watchAudio(player.received.get(audioMid)!);
    cleanups.push(video.stop, audio.stop);
    await waitFor('video frames at the player', () => video.stats.frames > 20, 20_000);
    // Chromium's encoder may scale down under load, never change the shape.
    expect(video.stats.width).toBeGreaterThan(0);
    expect(video.stats.width * 3).toBe(video.stats.height * 4);
    await waitFor('audio at the player', () => audio.stats.chunks > 50 && audio.stats.peak > 0, 20_000);

    // destroy(): DELETE the resource (across origins too), which ends the session and its tracks.
    await page.evaluate(() => window.whip.destroy());
    expect(ours().filter((r) => r.method === 'DELETE')).toEqual([expect.objectContaining({ url: `/whip/resources/${sessionId}`, status: 200, allowOrigin: pageOrigin })]);
    expect(await query('query($id: ID!) { session(id: $id) { id } tracks(filter: { tags: ["stream:browser-cam"] }) { name } }', { id: sessionId })).toEqual({ session: null, tracks: [] });
    expect(problems).toEqual([]);
  });

  it('@eyevinn/webrtc-player plays /whep/{stream} in a <video> (one POST, answered 201); unload() ends its session', { timeout: 60_000 }, async () => {
    // The stream: a libwebrtc WHIP publisher.
    const camera = fakeCamera(320, 240);
    const microphone = fakeMicrophone();
    const publisher = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
    cleanups.push(() => {
      camera.stop();
      microphone.stop();
      publisher.close();
    });
    publisher.addTransceiver(microphone.track, { direction: 'sendonly' });
    publisher.addTransceiver(camera.track, { direction: 'sendonly' });
    const offer = await publisher.createOffer();
    await publisher.setLocalDescription(offer);
    const whip = await fetch(`${server.url}/whip/lib-cam`, { method: 'POST', headers: { 'content-type': 'application/sdp', authorization: `Bearer ${SECRET}` }, body: offer.sdp });
    const answer = await whip.text();
    expect(whip.status, answer).toBe(201);
    await publisher.setRemoteDescription({ type: 'answer', sdp: answer });
    const publisherId = sessionIdOf(whip.headers.get('location')!);

    const since = requests.length;
    const ours = () => requests.slice(since);
    const { page, problems } = await openPage('whep');
    await page.evaluate(({ url, authorization }) => window.whep.play(url, authorization), { url: `${server.url}/whep/lib-cam`, authorization: `Bearer ${SECRET}` });
    let state: Playback | undefined;
    const playback = async () => (state = await page.evaluate(() => window.whep.playback()));
    await expect
      .poll(async () => (await playback()).width, { timeout: 20_000, message: JSON.stringify({ requests: ours(), problems }) })
      .toBeGreaterThan(0);
    const first = state!;
    await expect.poll(async () => (await playback()).time, { timeout: 10_000 }).toBeGreaterThan(first.time + 1);
    expect(state).toMatchObject({ connectionState: 'connected', width: 320, height: 240, tracks: ['audio', 'video'], events: [] });
    expect(state!.inbound.audio?.bytes).toBeGreaterThan(0);

    // The draft's first answer, 201: the player does not implement the 406 counter-offer (it would loop on POSTs).
    const posts = ours().filter((r) => r.method === 'POST');
    expect(posts).toEqual([expect.objectContaining({ url: '/whep/lib-cam', status: 201, origin: pageOrigin, allowOrigin: pageOrigin })]);
    const playerId = sessionIdOf(posts[0]!.location!);
    const { session } = await query('query($id: ID!) { session(id: $id) { connectionState tracks { location track { sessionId name } } } }', { id: playerId });
    expect(session.connectionState).toBe('CONNECTED');
    expect(session.tracks.map((t: { location: string; track: { sessionId: string; name: string } }) => [t.location, t.track.sessionId, t.track.name]).sort()).toEqual([
      ['REMOTE', publisherId, 'audio'],
      ['REMOTE', publisherId, 'video'],
    ]);

    // unload(): DELETE the resource, which ends the player's session; the stream stays published.
    await page.evaluate(() => window.whep.unload());
    expect(ours().filter((r) => r.method === 'DELETE')).toEqual([expect.objectContaining({ url: `/whep/resources/${playerId}`, status: 200, allowOrigin: pageOrigin })]);
    const after = await query('query($id: ID!) { session(id: $id) { id } tracks(filter: { tags: ["stream:lib-cam"] }) { name } }', { id: playerId });
    expect(after.session).toBeNull();
    expect(after.tracks).toHaveLength(2);
    expect(problems).toEqual([]);
  });
});
