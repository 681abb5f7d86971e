import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { enterDemo, useDemoServer, everyRemoteVideoPlays, remoteNames } from '../helpers/demoPage.js';

/**
 * The room demo in real Chromium: every participant is a browser context of
 * its own (its own camera, session and PeerConnection), driven like a user.
 */
const SCREENSHOT = process.env.DEMO_SCREENSHOT ?? join(import.meta.dirname, '../../dist/room-demo.png');

const demo = useDemoServer();
const pages = new Map<string, Page>();


async function enter(room: string, name: string): Promise<Page> {
  const page = await enterDemo(demo.browser, demo.server.url, room, name);
  pages.set(name, page);
  return page;
}

/** Frames decoded so far by the video element of someone's tile. */
const framesOf = (page: Page, name: string) =>
  page.$eval(`.tile[data-name="${name}"] video`, (v) => (v as HTMLVideoElement).getVideoPlaybackQuality().totalVideoFrames);

/** Grace's video frames keep arriving on this page (within 10 s, then for a second more). */
async function graceFramesArrive(page: Page): Promise<void> {
  const before = await framesOf(page, 'Grace Hopper');
  await expect.poll(() => framesOf(page, 'Grace Hopper'), { timeout: 10_000 }).toBeGreaterThan(before);
  const then = await framesOf(page, 'Grace Hopper');
  await page.waitForTimeout(1000);
  expect(await framesOf(page, 'Grace Hopper')).toBeGreaterThan(then);
}

describe('the room demo in Chromium', () => {
  it('two people in a room see and play each other', { timeout: 60_000 }, async () => {
    const ada = await enter('studio', 'Ada Lovelace');
    const grace = await enter('studio', 'Grace Hopper');
    await expect.poll(() => remoteNames(ada), { timeout: 15_000 }).toEqual(['Grace Hopper']);
    await expect.poll(() => remoteNames(grace), { timeout: 15_000 }).toEqual(['Ada Lovelace']);
    await everyRemoteVideoPlays(ada, 1);
    await everyRemoteVideoPlays(grace, 1);
    await expect.poll(() => ada.textContent('#status-text')).toBe('Connected');
    // The connection-quality badge: the first level is read (no event comes for it), on loopback excellent.
    for (const page of [ada, grace]) {
      await expect.poll(() => page.textContent('#quality'), { timeout: 15_000 }).toBe('Excellent connection');
      expect(await page.isVisible('#quality')).toBe(true);
    }
  });

  it('a third joins and everyone sees two tiles', { timeout: 60_000 }, async () => {
    const alan = await enter('studio', 'Alan Turing');
    for (const page of pages.values()) {
      await expect.poll(async () => (await remoteNames(page)).length, { timeout: 15_000 }).toBe(2);
      await everyRemoteVideoPlays(page, 2);
    }
    expect(await remoteNames(alan)).toEqual(['Ada Lovelace', 'Grace Hopper']);
    expect(await alan.textContent('#room-title')).toContain('3 people');
    await mkdir(join(SCREENSHOT, '..'), { recursive: true });
    await pages.get('Ada Lovelace')!.screenshot({ path: SCREENSHOT });
  });

  it('small tiles pull the lowest layer, a clicked tile the top one, and each publisher sends only what is watched', { timeout: 90_000 }, async () => {
    const ada = pages.get('Ada Lovelace')!;
    const grace = pages.get('Grace Hopper')!;
    const overlay = (page: Page, name: string) => page.$eval(`.tile[data-name="${name}"] .layers`, (e) => (e as HTMLElement).textContent ?? '');
    const ownOverlay = (page: Page) => page.$eval('.tile.self .layers', (e) => (e as HTMLElement).textContent ?? '');
    // Everyone watches thumbnails: every tile receives l, every publisher sends only l.
    for (const page of pages.values()) {
      await expect.poll(() => page.$$eval('.tile:not(.self) .layers', (es) => es.map((e) => e.textContent?.split(' ')[0])), { timeout: 20_000 }).toEqual(['l', 'l']);
      await expect.poll(() => ownOverlay(page), { timeout: 10_000 }).toBe('sending l');
    }
    // Ada clicks Grace's tile: it grows, and Grace sends and Ada receives the top layer.
    await ada.click('.tile[data-name="Grace Hopper"]');
    expect(await ada.getAttribute('.tile[data-name="Grace Hopper"]', 'class')).toContain('focused');
    await expect.poll(() => ownOverlay(grace), { timeout: 5000 }).toBe('sending l m h');
    await expect.poll(() => overlay(ada, 'Grace Hopper'), { timeout: 60_000, interval: 500 }).toMatch(/^h T\d 1280x720/);
    expect((await overlay(ada, 'Alan Turing')).split(' ')[0]).toBe('l');
    console.log(`room demo: Ada's overlays: Grace "${await overlay(ada, 'Grace Hopper')}", Alan "${await overlay(ada, 'Alan Turing')}"`);
    // A second click: back to a thumbnail, and Grace stops sending m and h.
    await ada.click('.tile[data-name="Grace Hopper"]');
    await expect.poll(() => overlay(ada, 'Grace Hopper'), { timeout: 20_000, interval: 500 }).toMatch(/^l /);
    await expect.poll(() => ownOverlay(grace), { timeout: 10_000 }).toBe('sending l');
  });

  it('someone in another room sees none of them, and they do not see her', { timeout: 60_000 }, async () => {
    const katherine = await enter('elsewhere', 'Katherine Johnson');
    await katherine.waitForTimeout(1500);
    expect(await remoteNames(katherine)).toEqual([]);
    for (const name of ['Ada Lovelace', 'Grace Hopper', 'Alan Turing']) {
      expect(await remoteNames(pages.get(name)!)).not.toContain('Katherine Johnson');
    }
  });

  it('muting the camera shows the others a placeholder at once; unmuted, even after more than 30 s, her video plays again', { timeout: 70_000 }, async () => {
    const grace = pages.get('Grace Hopper')!;
    const ada = pages.get('Ada Lovelace')!;
    const alan = pages.get('Alan Turing')!;
    const placeholder = (page: Page) => page.locator('.tile[data-name="Grace Hopper"]').getAttribute('class');

    await grace.click('#toggle-camera');
    const clicked = Date.now();
    // setMuted: the room hears MUTED at once, long before the SFU would call the silent track INACTIVE (5 s).
    for (const page of [ada, alan]) await expect.poll(() => placeholder(page), { timeout: 2000, interval: 50 }).toContain('camera-off');
    expect(Date.now() - clicked).toBeLessThan(2000);
    await grace.click('#toggle-camera');
    for (const page of [ada, alan]) {
      await expect.poll(() => placeholder(page), { timeout: 10_000 }).not.toContain('camera-off');
      await graceFramesArrive(page);
    }

    // Muted for longer than the 30 s after which a silent track used to be unpublished: it stays, and comes back.
    await grace.click('#toggle-camera');
    for (const page of [ada, alan]) await expect.poll(() => placeholder(page), { timeout: 2000, interval: 50 }).toContain('camera-off');
    await grace.waitForTimeout(32_000);
    for (const page of [ada, alan]) {
      expect(await remoteNames(page)).toContain('Grace Hopper');
      expect(await placeholder(page)).toContain('camera-off');
    }

    await grace.click('#toggle-camera');
    for (const page of [ada, alan]) {
      await expect.poll(() => placeholder(page), { timeout: 10_000 }).not.toContain('camera-off');
      await graceFramesArrive(page);
      await everyRemoteVideoPlays(page, 2);
    }
  });

  it('one leaves and the others lose her tile within 2 seconds', { timeout: 60_000 }, async () => {
    const grace = pages.get('Grace Hopper')!;
    await grace.click('#leave');
    const left = Date.now();
    for (const name of ['Ada Lovelace', 'Alan Turing']) {
      await expect.poll(() => remoteNames(pages.get(name)!), { timeout: 2000, interval: 50 }).toEqual(name === 'Ada Lovelace' ? ['Alan Turing'] : ['Ada Lovelace']);
    }
    expect(Date.now() - left).toBeLessThan(2000);
    await expect.poll(() => grace.isVisible('#join')).toBe(true);
    expect(await grace.isVisible('#quality')).toBe(false);
    // The others stopped the transceivers that carried her (one closeTracks each, from Chromium's own offer).
    for (const name of ['Ada Lovelace', 'Alan Turing']) {
      const sessionId = await pages.get(name)!.getAttribute('.tile.self', 'data-session-id');
      const pulling = () => demo.server.sessions.get(sessionId!)!.transceivers.filter((t) => t.pulled).length;
      await expect.poll(pulling, { timeout: 5000 }).toBe(2);
    }
  });
});
