import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
// @ts-expect-error: a plain ESM build script without type declarations
import { buildClient } from '../../scripts/build-client.mjs';
import { launchChromium } from '../helpers/browser.js';
import { enterDemo, everyRemoteVideoPlays, remoteNames } from '../helpers/demoPage.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { startTestServer } from '../helpers/server.js';

/**
 * The room demo with its participants on different nodes of a cluster: each
 * page is served by, and talks only to, its own node; the room, the tracks
 * and the media cross between the nodes by themselves.
 */
let redis: TestRedis;
let nodes: Switchyard[] = [];
let browser: Browser;

beforeAll(async () => {
  await (buildClient as (options: { quiet: boolean }) => Promise<string>)({ quiet: true });
  redis = await startRedis();
  nodes = [];
  for (let i = 0; i < 3; i += 1) nodes.push(await startTestServer({ WORKERS: '1', DEMO: 'true', REDIS_URL: redis.url }));
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  for (const node of nodes) await node.stop();
  await redis?.close();
});

describe('the room demo on a cluster', () => {
  it('three people on three nodes see and play each other', { timeout: 90_000 }, async () => {
    const names = ['Ada Lovelace', 'Grace Hopper', 'Alan Turing'];
    const pages: Page[] = [];
    for (const [i, name] of names.entries()) pages.push(await enterDemo(browser, nodes[i]!.url, 'distributed', name));
    for (const [i, page] of pages.entries()) {
      await expect.poll(() => remoteNames(page), { timeout: 20_000 }).toEqual(names.filter((_, j) => j !== i).sort());
      await everyRemoteVideoPlays(page, 2);
    }
    // Each node holds its own participant's session, and pipes in the others' tracks (camera, microphone) and chat channels.
    for (const node of nodes) {
      expect(node.sessions.sessionCount).toBe(1);
      await expect.poll(() => node.pipes!.remote.size, { timeout: 10_000 }).toBe(6);
    }
    // The chat crosses nodes: what Ada (node 0) says reaches Grace and Alan (nodes 1 and 2).
    await expect.poll(() => pages[0]!.isEnabled('#chat-send'), { timeout: 10_000 }).toBe(true);
    await pages[0]!.fill('#chat-input', 'hello from node 0');
    await pages[0]!.click('#chat-send');
    for (const page of pages.slice(1)) {
      await expect
        .poll(() => page.$$eval('#chat-log [data-testid="chat-message"] .text', (items) => items.map((item) => item.textContent)), { timeout: 10_000 })
        .toEqual(['hello from node 0']);
    }
    // Simulcast layers are chosen on the subscriber's node: thumbnails get the lowest layer through the pipe,
    // and a clicked tile the top one.
    const [ada] = pages;
    const overlay = (name: string) => ada!.$eval(`.tile[data-name="${name}"] .layers`, (e) => (e as HTMLElement).textContent ?? '');
    await expect.poll(() => overlay('Grace Hopper'), { timeout: 20_000 }).toMatch(/^l T\d 320x180/);
    await ada!.click('.tile[data-name="Grace Hopper"]');
    await expect.poll(() => overlay('Grace Hopper'), { timeout: 60_000, interval: 500 }).toMatch(/^h T\d 1280x720/);
    expect((await overlay('Alan Turing')).split(' ')[0]).toBe('l');
  });
});
