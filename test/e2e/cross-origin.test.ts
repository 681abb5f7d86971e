import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { mintClientToken } from '../../src/auth/tokens.js';
// @ts-expect-error: a plain ESM build script without type declarations
import { buildClient } from '../../scripts/build-client.mjs';
import { launchChromium } from '../helpers/browser.js';
import { startTestServer } from '../helpers/server.js';

/**
 * The README's `import { Switchyard } from 'https://sfu…/sdk/switchyard.js'`
 * from a page of another origin, in real Chromium: the page is served by a
 * plain HTTP server on another port (another origin), imports the SDK from
 * Switchyard, pushes a fake camera and pulls it back into a <video>.
 */
const SECRET = 'x'.repeat(40);

/** The application's page: the SFU's URL (and a token in production) baked in, as an application would. */
function page(sfu: string, token: string | undefined): string {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>An app on another origin</title></head>
<body>
<video id="remote" autoplay muted playsinline width="320" height="240"></video>
<script>
  window.report = { stage: 'loading' };
  // A module script whose import fails to load fires error on its element.
  addEventListener('error', (event) => {
    if (event.target instanceof HTMLScriptElement) window.report = { stage: 'import failed' };
  }, true);
</script>
<script type="module">
  import { Switchyard } from ${JSON.stringify(`${sfu}/sdk/switchyard.js`)};
  const options = { url: ${JSON.stringify(sfu)}, ${token ? `token: ${JSON.stringify(token)}` : ''} };
  window.report = { stage: 'imported' };
  try {
    const publisher = await Switchyard.connect(options);
    const subscriber = await Switchyard.connect(options);
    window.report = { stage: 'connected' };
    const media = await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240 } });
    await publisher.push(media.getVideoTracks()[0], { name: 'camera', tags: ['room:cross'] });
    window.report = { stage: 'pushed' };
    const track = await subscriber.pull(publisher.sessionId, 'camera');
    document.getElementById('remote').srcObject = new MediaStream([track]);
    window.report = { stage: 'pulled' };
  } catch (error) {
    window.report = { stage: 'failed', error: String(error && error.code ? error.code + ': ' + error.message : error) };
  }
</script>
</body></html>`;
}

/** A second origin: serves the page at /?sfu=<url>&token=<token>. */
async function startPageServer(): Promise<{ origin: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://page');
    if (url.pathname !== '/') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(page(url.searchParams.get('sfu') ?? '', url.searchParams.get('token') ?? undefined));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

let browser: Browser;
let development: Switchyard;
let production: Switchyard;
let pageServer: Awaited<ReturnType<typeof startPageServer>>;
let allowedPageServer: Awaited<ReturnType<typeof startPageServer>>;

beforeAll(async () => {
  await (buildClient as (options: { quiet: boolean }) => Promise<string>)({ quiet: true });
  pageServer = await startPageServer();
  allowedPageServer = await startPageServer();
  development = await startTestServer({ WORKERS: '1' });
  production = await startTestServer({
    WORKERS: '1',
    NODE_ENV: 'production',
    APPS: `acme:${SECRET}`,
    CORS_ORIGINS: allowedPageServer.origin,
  });
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await development?.stop();
  await production?.stop();
  await pageServer?.close();
  await allowedPageServer?.close();
});

/** Opens the page of `origin` against Switchyard at `sfu`; collects console errors. */
async function open(origin: string, sfu: string, token?: string): Promise<{ page: Page; console: string[] }> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const console: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') console.push(message.text());
  });
  const query = new URLSearchParams({ sfu, ...(token ? { token } : {}) });
  await page.goto(`${origin}/?${query}`);
  return { page, console };
}

const stage = (page: Page) => page.evaluate(() => (window as unknown as { report: { stage: string; error?: string } }).report);

/** What the page's script came to: pulled, failed (with the error) or import failed. */
async function outcome(page: Page, timeout: number) {
  const done = new Set(['pulled', 'failed', 'import failed']);
  await expect.poll(async () => done.has((await stage(page)).stage), { timeout }).toBe(true);
  return stage(page);
}

/** The pulled video decodes frames (videoWidth > 0) and its playback time moves on. */
async function expectVideoPlaying(page: Page): Promise<void> {
  const sample = () =>
    page.$eval('#remote', (v) => ({ width: (v as HTMLVideoElement).videoWidth, time: (v as HTMLVideoElement).currentTime }));
  await expect.poll(async () => (await sample()).width, { timeout: 15_000 }).toBeGreaterThan(0);
  const before = await sample();
  await page.waitForTimeout(1000);
  const after = await sample();
  expect(after.width).toBeGreaterThan(0);
  expect(after.time).toBeGreaterThan(before.time);
}

describe('a page of another origin imports the SDK from Switchyard', () => {
  it('development mode (any origin): it connects, pushes a camera, pulls it back and plays it', { timeout: 60_000 }, async () => {
    expect(new URL(pageServer.origin).origin).not.toBe(new URL(development.url).origin);
    const { page, console } = await open(pageServer.origin, development.url);
    expect(await outcome(page, 20_000)).toEqual({ stage: 'pulled' });
    await expectVideoPlaying(page);
    expect(console.filter((line) => /CORS|blocked/i.test(line))).toEqual([]);
    await page.context().close();
  });

  it('production mode: a page of an origin in CORS_ORIGINS works with a client token', { timeout: 60_000 }, async () => {
    const token = await mintClientToken({
      appId: 'acme',
      secret: SECRET,
      subject: 'page-user',
      grant: { createSession: true, publish: { names: ['camera'], tags: ['room:cross'] }, pull: { tags: ['room:cross'] } },
    });
    const { page } = await open(allowedPageServer.origin, production.url, token);
    expect(await outcome(page, 20_000)).toEqual({ stage: 'pulled' });
    await expectVideoPlaying(page);
    await page.context().close();
  });

  it('production mode: the browser refuses the import to a page of an origin not in CORS_ORIGINS', { timeout: 30_000 }, async () => {
    const sessionsBefore = production.sessions.sessionCount;
    const { page, console } = await open(pageServer.origin, production.url);
    expect(await outcome(page, 10_000)).toEqual({ stage: 'import failed' });
    expect(console.join('\n')).toMatch(/blocked by CORS policy/);
    expect(production.sessions.sessionCount).toBe(sessionsBefore);
    await page.context().close();
  });
});
