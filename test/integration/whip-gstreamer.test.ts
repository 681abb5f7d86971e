import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { launchChromium } from '../helpers/browser.js';
import { gqlOk } from '../helpers/graphql.js';
import { watchAudio, watchVideo } from '../helpers/media.js';
import { makeTestHosts, type TestHosts } from '../helpers/netns.js';
import { TestPeer } from '../helpers/peer.js';
import { startTestServer } from '../helpers/server.js';

const run = promisify(execFile);

/**
 * WHIP from GStreamer: Debian's simple-whip-client (`whip-client`, webrtcbin
 * and libnice) publishes test sources (VP8 or H.264, and Opus) to POST
 * /whip/{stream}, a libwebrtc session pulls what it published through GraphQL
 * and decodes it (H.264, which libwebrtc in Node cannot decode, Chromium
 * plays through WHEP), and SIGINT makes the client DELETE its resource, which
 * ends the session.
 *
 * Two things this machine's Debian needs (see test/support/gupnp-igd-stub.c):
 * - whip-client aborts at start (libsoup2 and libsoup3 in one process) unless
 *   a stub libgupnp-igd-1.0.so.4 comes first on its LD_LIBRARY_PATH; the test
 *   compiles it into a temporary directory;
 * - libnice never gathers loopback addresses, so whip-client cannot reach an
 *   SFU on 127.0.0.1: it runs on a test host (a network namespace on a
 *   bridge), and Switchyard listens for HTTP (HOST) and media (RTC_LISTEN_IP,
 *   which it also announces) on the bridge's address.
 * whip-client exits 0 after HTTP and ICE errors, so the test judges by what
 * the server saw and holds, never by the client's exit code.
 */
const SECRET = 'gstreamer-whip-app-secret-'.padEnd(48, 'g');
const STUB_SOURCE = join(import.meta.dirname, '..', 'support', 'gupnp-igd-stub.c');

const OPUS = 'audiotestsrc is-live=true wave=sine freq=440 ! audioconvert ! audioresample ! queue ! opusenc ! rtpopuspay pt=111 ssrc=1 ! queue ! application/x-rtp,media=audio,encoding-name=OPUS,payload=111';
const TEST_PICTURE = 'videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=15/1 ! videoconvert ! queue';
// rtpvp8pay's default: no extended VP8 payload descriptor (no picture ids; RFC 7741 allows that). mediasoup 3.18's
// VP8 parser found no key frame in it, so subscribers never got a picture; 3.19.3 fixed that, and this test would
// catch it coming back. keyframe-max-dist (and x264's key-int-max): a new subscriber's first picture waits for the
// encoder's next periodic key frame (measured: this pipeline does not answer the SFU's PLI), every 2 s here.
const VP8 = `${TEST_PICTURE} ! vp8enc deadline=1 keyframe-max-dist=30 ! rtpvp8pay pt=96 ssrc=2 ! queue ! application/x-rtp,media=video,encoding-name=VP8,payload=96`;
const H264 =
  `${TEST_PICTURE} ! x264enc tune=zerolatency speed-preset=ultrafast bitrate=300 key-int-max=30 ! video/x-h264,profile=constrained-baseline` +
  ' ! rtph264pay pt=102 ssrc=2 config-interval=-1 aggregate-mode=zero-latency ! queue ! application/x-rtp,media=video,encoding-name=H264,payload=102';

/** A request to /whip/… as the server answered it. */
interface Logged {
  method: string;
  url: string;
  status: number;
  ifMatch: string | undefined;
  authorization: string | undefined;
  from: string | undefined;
}

/** The absolute path of whip-client, or the error that says how to get it. */
function findWhipClient(): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, 'whip-client');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  throw new Error(
    "whip-client is not installed: install Debian's simple-whip-client (apt-get install --no-install-recommends simple-whip-client; .ci/run does) to run the WHIP tests with GStreamer",
  );
}

/** whip-client running on the test host: its output so far, and its end. */
interface WhipClient {
  child: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

let hosts: TestHosts;
let server: Switchyard;
let stubDir: string;
let whipClient: string;
/** Set when whip-client is missing: then every test fails with it (this test is never skipped). */
let missing: Error | undefined;
/** Chromium, for the H.264 case only (libwebrtc in Node cannot decode H.264). */
let browser: Browser | undefined;
const requests: Logged[] = [];
const clients: WhipClient[] = [];
const cleanups: (() => void | Promise<void>)[] = [];

beforeAll(async () => {
  try {
    whipClient = findWhipClient();
  } catch (error) {
    missing = error as Error;
    return;
  }
  stubDir = await mkdtemp(join(tmpdir(), 'switchyard-gupnp-igd-'));
  await run('cc', ['-shared', '-fPIC', '-O2', '-Wl,-soname,libgupnp-igd-1.0.so.4', '-o', join(stubDir, 'libgupnp-igd-1.0.so.4'), STUB_SOURCE]);
  hosts = await makeTestHosts(1);
  server = await startTestServer({
    WORKERS: '1',
    // HTTP and media on the bridge, which the test host reaches (and this process too); loopback would not do for libnice.
    HOST: hosts.bridgeIp,
    RTC_LISTEN_IP: hosts.bridgeIp,
    APPS: `gst:${SECRET}`,
    // A WHIP session is judged by its media (GStreamer sends no ICE consent checks): a client that vanishes
    // is closed after TRACK_INACTIVE_AFTER_MS (5 s) + this; shorter than the default to keep the test short.
    RECONNECT_GRACE_MS: '3000',
  });
  server.api.http.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (!req.url?.startsWith('/whip/')) return;
    res.on('finish', () =>
      requests.push({
        method: req.method ?? '',
        url: req.url ?? '',
        status: res.statusCode,
        ifMatch: req.headers['if-match'],
        authorization: req.headers.authorization,
        from: req.socket.remoteAddress,
      }),
    );
  });
}, 60_000);

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  // SIGINT lets whip-client DELETE its session; one that hangs (its DELETE has no timeout) is killed.
  for (const client of clients.splice(0)) await stopClient(client, 5_000);
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await hosts?.remove();
  if (stubDir) await rm(stubDir, { recursive: true, force: true });
});

/** Starts whip-client on the test host, publishing to `path` (/whip/{stream}?…). */
function startWhipClient(path: string, video: string): WhipClient {
  const env: NodeJS.ProcessEnv = { ...process.env, LD_LIBRARY_PATH: [stubDir, process.env.LD_LIBRARY_PATH].filter(Boolean).join(delimiter) };
  // Headless: GStreamer needs no display here.
  delete env.DISPLAY;
  delete env.WAYLAND_DISPLAY;
  const args = ['netns', 'exec', hosts.hosts[0]!.netns, whipClient, '-u', `${server.url}${path}`, '-t', SECRET, '-o', '-l', '4', '-A', OPUS, '-V', video];
  // `ip netns exec` execs the command itself: the child is whip-client, and signals reach it.
  const child = spawn('ip', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', (error) => {
      text += `\nspawn failed: ${error.message}`;
      resolve({ code: null, signal: null });
    });
  });
  const client = { child, output: () => text, exited };
  clients.push(client);
  return client;
}

/** SIGINT, then SIGKILL when it has not exited after `graceMs`. */
async function stopClient(client: WhipClient, graceMs: number): Promise<void> {
  if (client.child.exitCode !== null || client.child.signalCode !== null) return;
  client.child.kill('SIGINT');
  const timer = setTimeout(() => client.child.kill('SIGKILL'), graceMs);
  await client.exited;
  clearTimeout(timer);
}

/** Waits for a condition about the server, failing with whip-client's output (it explains most failures). */
async function expectSoon(client: WhipClient, what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}\nrequests: ${JSON.stringify(requests, null, 1)}\nwhip-client output:\n${client.output()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const query = (text: string, variables: Record<string, unknown> = {}) => gqlOk(server.url, text, variables, SECRET);

/** A libwebrtc session that pulls the named tracks of the publisher through GraphQL and watches what it decodes. */
async function libwebrtcPlayer(client: WhipClient, sessionId: string, names: ('video' | 'audio')[]) {
  const player = new TestPeer(server.url, SECRET);
  cleanups.push(() => player.stop());
  await player.createSession();
  const pulled = await player.pull(names.map((trackName) => ({ sessionId, trackName })));
  expect(pulled.map((t) => t.error)).toEqual(names.map(() => null));
  const mids = pulled.map((t) => t.mid!);
  await expectSoon(client, 'the pulled tracks at the player', () => mids.every((mid) => player.received.has(mid)));
  const track = (name: 'video' | 'audio') => (names.includes(name) ? player.received.get(mids[names.indexOf(name)]!) : undefined);
  const video = track('video') && watchVideo(track('video')!);
  const audio = track('audio') && watchAudio(track('audio')!);
  if (video) cleanups.push(video.stop);
  if (audio) cleanups.push(audio.stop);
  return { video, audio };
}

interface Inbound {
  mimeType: string;
  framesDecoded: number;
  frameWidth: number;
  frameHeight: number;
  packetsReceived: number;
}

/**
 * Plays a WHEP endpoint in Chromium with plain RTCPeerConnection code on a
 * page of the SFU's origin: POST the offer, apply the 201's answer, wait for
 * decoded video, DELETE the resource. Returns what the receivers decoded.
 */
async function playInChromium(client: WhipClient, path: string): Promise<{ video: Inbound; audio: Inbound }> {
  browser ??= await launchChromium();
  const context = await browser.newContext();
  cleanups.push(() => context.close().catch(() => undefined));
  const page = await context.newPage();
  await page.goto(`${server.url}/healthz`);
  const posted = await page.evaluate(
    async ({ path, secret }) => {
      const pc = new RTCPeerConnection({ iceServers: [] });
      (window as unknown as { pc: RTCPeerConnection }).pc = pc;
      pc.addTransceiver('video', { direction: 'recvonly' });
      pc.addTransceiver('audio', { direction: 'recvonly' });
      await pc.setLocalDescription(await pc.createOffer());
      const response = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/sdp', authorization: `Bearer ${secret}` }, body: pc.localDescription!.sdp });
      const body = await response.text();
      if (response.status === 201) await pc.setRemoteDescription({ type: 'answer', sdp: body });
      return { status: response.status, body, location: response.headers.get('location') };
    },
    { path, secret: SECRET },
  );
  expect(posted.status, posted.body).toBe(201);
  const inbound = () =>
    page.evaluate(async () => {
      const stats = await (window as unknown as { pc: RTCPeerConnection }).pc.getStats();
      const byKind: Record<string, Inbound> = {};
      stats.forEach((report) => {
        if (report.type !== 'inbound-rtp') return;
        byKind[report.kind] = {
          mimeType: stats.get(report.codecId)?.mimeType ?? '',
          framesDecoded: report.framesDecoded ?? 0,
          frameWidth: report.frameWidth ?? 0,
          frameHeight: report.frameHeight ?? 0,
          packetsReceived: report.packetsReceived ?? 0,
        };
      });
      return byKind as { video?: Inbound; audio?: Inbound };
    });
  let last: { video?: Inbound; audio?: Inbound } = {};
  await expectSoon(client, 'video decoded in Chromium', async () => {
    last = await inbound();
    return (last.video?.framesDecoded ?? 0) > 20 && (last.audio?.packetsReceived ?? 0) > 50;
  }, 20_000).catch((error: Error) => {
    throw new Error(`Chromium's receivers: ${JSON.stringify(last)}\n${error.message}`);
  });
  const deleted = await page.evaluate(
    async ({ location, secret }) => {
      const response = await fetch(location, { method: 'DELETE', headers: { authorization: `Bearer ${secret}` } });
      (window as unknown as { pc: RTCPeerConnection }).pc.close();
      return response.status;
    },
    { location: posted.location!, secret: SECRET },
  );
  expect(deleted).toBe(200);
  const playerId = posted.location!.split('/').pop();
  expect((await query('query($id: ID!) { session(id: $id) { id } }', { id: playerId })).session).toBeNull();
  return last as { video: Inbound; audio: Inbound };
}

describe.each([
  { codec: 'VP8', video: VP8, mimeType: 'video/VP8' },
  { codec: 'H264', video: H264, mimeType: 'video/H264' },
])("Debian's simple-whip-client publishing $codec and Opus", ({ codec, video, mimeType }) => {
  const stream = `gst-${codec.toLowerCase()}`;

  it('publishes tagged tracks a libwebrtc session plays, and ends the session with DELETE on SIGINT', { timeout: 90_000 }, async () => {
    if (missing) throw missing;
    const since = requests.length;
    const ours = () => requests.slice(since);
    // The tags query stays on the resource URL: this client keeps the endpoint's query when it follows a path-absolute Location.
    const client = startWhipClient(`/whip/${stream}?tags=gstreamer,${codec.toLowerCase()}`, video);

    // The offer: 201 with the answer and the resource.
    await expectSoon(client, 'the POST', () => ours().some((r) => r.method === 'POST'));
    const post = ours().find((r) => r.method === 'POST')!;
    expect(post, client.output()).toMatchObject({ url: `/whip/${stream}?tags=gstreamer,${codec.toLowerCase()}`, status: 201, authorization: `Bearer ${SECRET}`, from: hosts.hosts[0]!.ip });
    const { tracks } = await query('query($tags: [String!]) { tracks(filter: { tags: $tags }) { sessionId name kind tags } }', { tags: [`stream:${stream}`] });
    expect(tracks).toHaveLength(2);
    const sessionId = tracks[0].sessionId as string;
    expect(tracks).toEqual(
      expect.arrayContaining([
        { sessionId, name: 'audio', kind: 'AUDIO', tags: [`stream:${stream}`, 'gstreamer', codec.toLowerCase()] },
        { sessionId, name: 'video', kind: 'VIDEO', tags: [`stream:${stream}`, 'gstreamer', codec.toLowerCase()] },
      ]),
    );
    const resource = `/whip/resources/${sessionId}`;

    // Its candidates, trickled with the ETag of the 201 as If-Match: accepted.
    await expectSoon(client, 'the trickle PATCH', () => ours().some((r) => r.method === 'PATCH'));
    const atResource = expect.stringMatching(new RegExp(`^${resource}(\\?|$)`));
    for (const patch of ours().filter((r) => r.method === 'PATCH')) {
      expect(patch).toMatchObject({ url: atResource, status: 204, ifMatch: `"${sessionId}"`, authorization: `Bearer ${SECRET}` });
    }

    // ICE (to the bridge address) and DTLS up, media arriving in the codec the client sent.
    await expectSoon(client, 'the publisher to connect', async () => (await query('query($id: ID!) { session(id: $id) { connectionState } }', { id: sessionId })).session?.connectionState === 'CONNECTED');
    expect(server.sessions.tracks.get(sessionId, 'video')!.producer.rtpParameters.codecs[0]!.mimeType).toBe(mimeType);
    expect(server.sessions.tracks.get(sessionId, 'audio')!.producer.rtpParameters.codecs[0]!.mimeType.toLowerCase()).toBe('audio/opus');

    if (codec === 'VP8') {
      // A libwebrtc session pulls both through GraphQL and decodes them.
      const player = await libwebrtcPlayer(client, sessionId, ['video', 'audio']);
      await expectSoon(client, 'decoded video', () => player.video!.stats.frames > 20, 20_000);
      expect(player.video!.stats).toMatchObject({ width: 320, height: 240 });
      await expectSoon(client, 'decoded audio', () => player.audio!.stats.chunks > 50 && player.audio!.stats.peak > 1000, 20_000);
    } else {
      // libwebrtc in Node has no H.264 decoder (its answer rejects the m-section): it decodes the audio, and
      // Chromium plays the stream through WHEP (the SFU answers its offer, 201) and decodes the H.264.
      const player = await libwebrtcPlayer(client, sessionId, ['audio']);
      await expectSoon(client, 'decoded audio', () => player.audio!.stats.chunks > 50 && player.audio!.stats.peak > 1000, 20_000);
      const played = await playInChromium(client, `/whep/${stream}`);
      expect(played.video).toMatchObject({ mimeType: 'video/H264', frameWidth: 320, frameHeight: 240 });
      expect(played.video.framesDecoded).toBeGreaterThan(20);
      expect(played.audio.mimeType.toLowerCase()).toBe('audio/opus');
      expect(played.audio.packetsReceived).toBeGreaterThan(50);
    }

    // SIGINT: the client DELETEs its resource (sending If-Match, which DELETE ignores) and exits.
    await stopClient(client, 10_000);
    expect(client.child.signalCode, client.output()).toBeNull();
    expect(client.output()).toContain('Bye!');
    const deleted = ours().filter((r) => r.method === 'DELETE');
    // 200, not 404: the DELETE, not the DTLS close that follows it, ended the session.
    expect(deleted).toEqual([expect.objectContaining({ url: atResource, status: 200, ifMatch: `"${sessionId}"`, authorization: `Bearer ${SECRET}` })]);
    const after = await query('query($id: ID!, $tags: [String!]) { session(id: $id) { id } tracks(filter: { tags: $tags }) { name } }', { id: sessionId, tags: [`stream:${stream}`] });
    expect(after).toEqual({ session: null, tracks: [] });
  });
});

describe('a GStreamer publisher over time', () => {
  it('stays connected past the ICE consent timeout (it sends no consent checks), and a client that vanishes is closed by its silence', { timeout: 90_000 }, async () => {
    if (missing) throw missing;
    const since = requests.length;
    const ours = () => requests.slice(since);
    const client = startWhipClient('/whip/gst-long', VP8);
    await expectSoon(client, 'the POST', () => ours().some((r) => r.method === 'POST' && r.status === 201));
    const { tracks } = await query('query { tracks(filter: { tags: ["stream:gst-long"] }) { sessionId } }');
    const sessionId = tracks[0].sessionId as string;
    const state = async () => (await query('query($id: ID!) { session(id: $id) { connectionState } }', { id: sessionId })).session?.connectionState ?? null;
    await expectSoon(client, 'the publisher to connect', async () => (await state()) === 'CONNECTED');
    const connectedAt = Date.now();
    const player = await libwebrtcPlayer(client, sessionId, ['video']);
    await expectSoon(client, 'decoded video', () => player.video!.stats.frames > 20, 20_000);

    // Past ICE_CONSENT_TIMEOUT_S (10 s) + RECONNECT_GRACE_MS (3 s), where a session with consent checks would be gone.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, connectedAt + 16_000 - Date.now())));
    expect(await state(), client.output()).toBe('CONNECTED');
    const survivedMs = Date.now() - connectedAt;
    const frames = player.video!.stats.frames;
    await expectSoon(client, 'video still arriving', () => player.video!.stats.frames > frames + 10);

    // The client vanishes: no DELETE, no DTLS close alert. Its silence ends the session.
    client.child.kill('SIGKILL');
    await client.exited;
    const killedAt = Date.now();
    await expectSoon(client, 'the silent session closed', async () => (await state()) === null, 20_000);
    const closedAfter = Date.now() - killedAt;
    console.log(`whip liveness: GStreamer still CONNECTED ${survivedMs} ms after connecting (ICE consent timeout 10 s), media flowing; SIGKILLed, its session closed ${closedAfter} ms later`);
    expect(closedAfter).toBeGreaterThan(3_000);
    expect(ours().filter((r) => r.method === 'DELETE')).toEqual([]);
    expect((await query('query { tracks(filter: { tags: ["stream:gst-long"] }) { name } }')).tracks).toEqual([]);
  });
});
