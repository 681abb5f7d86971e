import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
// @ts-expect-error: a plain ESM build script without type declarations
import { buildClientPackage } from '../../scripts/build-client.mjs';
import { launchChromium } from '../helpers/browser.js';
import { everyRemoteVideoPlays, remoteNames } from '../helpers/demoPage.js';
import { startTestServer } from '../helpers/server.js';
import { serveStatic } from '../helpers/staticSite.js';

/**
 * examples/react-room in real Chromium: a Vite + React app whose room state
 * comes from Apollo Client (trackSnapshot, then trackEvents over graphql-ws)
 * and whose media goes through @switchyard/client. The test builds it as CI
 * and a developer would (the SDK package, `npm install`, `npm run build` in
 * the example), serves dist/ on an origin of its own and starts a node that
 * allows that origin (CORS_ORIGINS).
 */
const EXAMPLE = join(import.meta.dirname, '../../examples/react-room');
const run = promisify(execFile);

interface Participant {
  page: Page;
  /** Text of every WebSocket message the page received (Apollo's and the SDK's graphql-ws connections). */
  frames: string[];
  /** RoomSnapshot queries the page sent. */
  snapshots: number;
  errors: string[];
}

let browser: Browser;
let server: Switchyard;
let site: Awaited<ReturnType<typeof serveStatic>>;
const people = new Map<string, Participant>();

beforeAll(async () => {
  const started = Date.now();
  // The example depends on file:../../client, whose exports point at client/dist.
  await (buildClientPackage as () => Promise<string>)();
  // Up to date after the first run: npm only checks the tree (about a second).
  await run('npm', ['install', '--prefix', EXAMPLE, '--prefer-offline', '--no-audit', '--no-fund']);
  // tsc (strict, against the package's .d.ts) and vite build.
  await run('npm', ['run', 'build', '--prefix', EXAMPLE]);
  console.log(`react-room: SDK package, npm install and build of the example in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  site = await serveStatic(join(EXAMPLE, 'dist'));
  server = await startTestServer({ WORKERS: '2', CORS_ORIGINS: site.origin });
  browser = await launchChromium();
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await site?.close();
});

/** Someone opens the example (pointed at the test's node with ?sfu=), types a room and a name, and joins. */
async function enter(room: string, name: string): Promise<Participant> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 760 } });
  const page = await context.newPage();
  const person: Participant = { page, frames: [], snapshots: 0, errors: [] };
  page.on('pageerror', (error) => person.errors.push(String(error)));
  page.on('websocket', (socket) => socket.on('framereceived', ({ payload }) => person.frames.push(String(payload))));
  page.on('request', (request) => {
    if (request.method() === 'POST' && request.url().endsWith('/graphql') && request.postData()?.includes('RoomSnapshot')) person.snapshots += 1;
  });
  await page.goto(`${site.origin}/?sfu=${encodeURIComponent(server.url)}`);
  await page.fill('#room', room);
  await page.fill('#name', name);
  await page.click('#join');
  await page.waitForSelector('.tile.self', { timeout: 15_000 });
  people.set(name, person);
  return person;
}

const sessionOf = (person: Participant) => person.page.getAttribute('.tile.self', 'data-session-id') as Promise<string>;

describe('the React room example in Chromium', () => {
  it('two people join one room and each plays the other\'s camera', { timeout: 60_000 }, async () => {
    const ada = await enter('react', 'Ada Lovelace');
    const grace = await enter('react', 'Grace Hopper');
    await expect.poll(() => remoteNames(ada.page), { timeout: 15_000 }).toEqual(['Grace Hopper']);
    await expect.poll(() => remoteNames(grace.page), { timeout: 15_000 }).toEqual(['Ada Lovelace']);
    // Frames decode (videoWidth) and playback moves on (currentTime), on both sides.
    await everyRemoteVideoPlays(ada.page, 1);
    await everyRemoteVideoPlays(grace.page, 1);
    for (const person of [ada, grace]) {
      // The other's microphone plays in the same tile.
      const kinds = await person.page.$eval('.tile:not(.self) video', (v) => ((v as HTMLVideoElement).srcObject as MediaStream).getTracks().map((t) => t.kind).sort());
      expect(kinds).toEqual(['audio', 'video']);
      await expect.poll(() => person.page.textContent('.state')).toBe('connected');
      expect(person.snapshots).toBe(1);
      expect(person.errors).toEqual([]);
    }
    // The pages' sessions are the node's: each pushes two tracks and pulls the other's two.
    for (const person of [ada, grace]) {
      const session = server.sessions.get(await sessionOf(person));
      expect(session?.transceivers.filter((t) => t.pulled).length).toBe(2);
    }
  });

  it('one leaves and her tile goes from the other page at the UNPUBLISHED events, with no new snapshot', { timeout: 60_000 }, async () => {
    const ada = people.get('Ada Lovelace')!;
    const grace = people.get('Grace Hopper')!;
    const adaSession = await sessionOf(ada);
    const graceSession = await sessionOf(grace);
    const seen = grace.frames.length;

    await ada.page.click('#leave');
    const left = Date.now();
    await expect.poll(() => remoteNames(grace.page), { timeout: 5000, interval: 50 }).toEqual([]);
    console.log(`react-room: Ada's tile left Grace's page ${Date.now() - left} ms after she clicked Leave`);
    expect(await ada.page.isVisible('#join')).toBe(true);

    // What removed it: trackEvents told Grace's page that Ada's camera and mic were unpublished...
    const unpublished = grace.frames
      .slice(seen)
      .map((frame) => JSON.parse(frame) as { type: string; payload?: { data?: { trackEvents?: { type: string; track: { sessionId: string; name: string } } } } })
      .flatMap((message) => message.payload?.data?.trackEvents ?? [])
      .filter((event) => event.type === 'UNPUBLISHED' && event.track.sessionId === adaSession)
      .map((event) => event.track.name)
      .sort();
    expect(unpublished).toEqual(['camera', 'mic']);
    // ...and the page read no snapshot again (no polling, no refetch).
    expect(grace.snapshots).toBe(1);
    // Grace's page closed its pulls of Ada's tracks, freeing their transceivers.
    await expect.poll(() => server.sessions.get(graceSession)?.transceivers.filter((t) => t.pulled).length, { timeout: 5000 }).toBe(0);
    // Ada's session is gone from the node.
    await expect.poll(() => server.sessions.get(adaSession), { timeout: 5000 }).toBeUndefined();
    expect(grace.errors).toEqual([]);
  });
});
