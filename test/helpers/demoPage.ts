import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect } from 'vitest';
import type { Switchyard } from '../../src/app.js';
// @ts-expect-error: a plain ESM build script without type declarations
import { buildClient } from '../../scripts/build-client.mjs';
import { launchChromium } from './browser.js';
import { startTestServer } from './server.js';

/**
 * For a test file of the room demo: the client bundle built, one node that
 * serves the demo (2 workers) and Chromium, started before its tests and
 * stopped after them.
 */
export function useDemoServer(): { readonly server: Switchyard; readonly browser: Browser } {
  const file = {} as { server: Switchyard; browser: Browser };
  beforeAll(async () => {
    await (buildClient as (options: { quiet: boolean }) => Promise<string>)({ quiet: true });
    file.server = await startTestServer({ WORKERS: '2', DEMO: 'true' });
    file.browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await file.browser?.close();
    await file.server?.stop();
  });
  return file;
}

/**
 * A participant of the room demo served by the node at `url`: its own browser context (camera, session), joined to `room`.
 * `init` runs in the page before its scripts (to observe what the demo does).
 */
export async function enterDemo(browser: Browser, url: string, room: string, name: string, init?: () => void): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 760 } });
  if (init) await context.addInitScript(init);
  const page = await context.newPage();
  page.on('pageerror', (error) => console.error(`[${name}] page error:`, error));
  await page.goto(`${url}/demo/`);
  await page.fill('#room', room);
  await page.fill('#name', name);
  await page.click('#join-button');
  await page.waitForSelector('#room-view:not([hidden])', { timeout: 15_000 });
  return page;
}

/** Names on the other participants' tiles. */
export const remoteNames = (page: Page) => page.$$eval('.tile:not(.self)', (tiles) => tiles.map((t) => (t as HTMLElement).dataset.name).sort());

/** Every remote tile's video has decoded frames and its playback time moves on. */
export async function everyRemoteVideoPlays(page: Page, expected: number): Promise<void> {
  const sample = () =>
    page.$$eval('.tile:not(.self) video', (videos) => videos.map((v) => ({ width: (v as HTMLVideoElement).videoWidth, time: (v as HTMLVideoElement).currentTime })));
  await expect.poll(async () => (await sample()).filter((v) => v.width > 0).length, { timeout: 15_000 }).toBe(expected);
  const before = await sample();
  await page.waitForTimeout(1000);
  const after = await sample();
  expect(after).toHaveLength(expected);
  after.forEach((video, i) => {
    expect(video.width).toBeGreaterThan(0);
    expect(video.time).toBeGreaterThan(before[i]!.time);
  });
}
