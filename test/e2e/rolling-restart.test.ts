import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../helpers/browser.js';
import { buildOnce, startNodeProcess, type NodeProcess } from '../helpers/nodeProcess.js';
import { freeRtcPortRange } from '../helpers/ports.js';
import { freeTcpPort, startRedis, type TestRedis } from '../helpers/redis.js';
import { serveStatic } from '../helpers/staticSite.js';

/**
 * Sessions outlive their node, in Chromium with the SDK: three node
 * processes on one redis-server, four pages, each connected to one node
 * (A, B, C, A), publishing a camera and playing the three others with
 * pullStream. The pages do nothing about moves: no handler, no retry.
 * - A rolling restart: each node in turn SIGTERMed (it drains: its sessions
 *   get MOVE_REQUESTED and the SDK resumes them on another node), waited
 *   for, and started again on the same ports. The longest freeze every video
 *   element shows (its presented-frame count standing still) is printed per
 *   move; every page plays everyone after each.
 * - A SIGKILL of a node that holds sessions: the SDK notices (its
 *   PeerConnection disconnects and the node does not answer) and resumes on
 *   a fallback URL; every page plays everyone again within 10 s, with the
 *   same session ids.
 */
let redis: TestRedis;
let browser: Browser;
let site: { origin: string; close(): Promise<void> };
const nodes: { name: string; env: Record<string, string>; process: NodeProcess }[] = [];
const pages: Page[] = [];
const NAMES = ['A', 'B', 'C'];

async function startNode(name: string, env: Record<string, string>): Promise<NodeProcess> {
  return startNodeProcess(name, env);
}

beforeAll(async () => {
  await buildOnce();
  redis = await startRedis();
  for (const name of NAMES) {
    const env = {
      REDIS_URL: redis.url,
      WORKERS: '1',
      PORT: String(await freeTcpPort()),
      RTC_PORT: String(await freeRtcPortRange(1)),
      DRAIN_TIMEOUT_MS: '20000',
      SESSION_RESUME_GRACE_MS: '15000',
      CLUSTER_SECRET: 'rolling-restart-test-secret-0123456789abcdef',
    };
    nodes.push({ name, env, process: await startNode(name, env) });
  }
  site = await serveStatic(join(import.meta.dirname, '../../dist/client'));
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await site?.close();
  for (const node of nodes) await node.process.stop().catch(() => undefined);
  await redis?.close();
});

declare global {
  interface Window {
    SwitchyardSdk: any;
    client: any;
    frozen: { mark(): void; report(): Record<string, number>; resumedAfterMark(): number; playing(): Record<string, boolean> };
  }
}

/** One participant: the SDK from the static site, connected to `url`, the other nodes as fallbacks. Application code only. */
async function participant(index: number, url: string, fallbackUrls: string[]): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  page.on('pageerror', (error) => console.error(`[page ${index}] error:`, error));
  // The SDK's moves and background errors, as the page reports them (what a failure needs to be understood).
  page.on('console', (message) => /^(moved|sdk error)/.test(message.text()) && console.log(`[page ${index}] ${message.text()}`));
  // Any page of the application's origin (here the SDK file itself): the script below is the application.
  await page.goto(`${site.origin}/switchyard.js`);
  await page.addScriptTag({ type: 'module', content: "import { Switchyard } from '/switchyard.js'; window.SwitchyardSdk = Switchyard;" });
  await page.waitForFunction(() => 'SwitchyardSdk' in window);
  await page.evaluate(
    async ({ url, fallbackUrls, index }) => {
      const Switchyard = window.SwitchyardSdk;
      const client = await Switchyard.connect({ url, fallbackUrls, correlationId: `page-${index}` });
      const media = await navigator.mediaDevices.getUserMedia({ video: { width: 160, height: 120, frameRate: 15 } });
      await client.push(media.getVideoTracks()[0], { name: 'cam' });
      window.client = client;
      client.on('moved', (e: any) => console.log(`moved to ${e.url} (${e.reason}) in ${e.ms} ms, ${e.moved.size} pulls replaced`));
      client.on('error', (e: any) => console.log(`sdk error ${e.code}: ${e.message}`));
      // What the test measures (not application code): each video's presented frames, sampled every 50 ms.
      // resumedAt: when frames came again after the last stall of 300 ms or more since mark().
      const last = new Map<string, { frames: number; at: number; longest: number; resumedAt: number }>();
      let markAt = performance.now();
      setInterval(() => {
        const now = performance.now();
        for (const video of document.querySelectorAll('video')) {
          const frames = video.getVideoPlaybackQuality().totalVideoFrames;
          const seen = last.get(video.id) ?? { frames: -1, at: now, longest: 0, resumedAt: 0 };
          if (frames !== seen.frames) {
            const stalled = now - seen.at;
            last.set(video.id, { frames, at: now, longest: Math.max(seen.longest, stalled), resumedAt: stalled >= 300 ? now : seen.resumedAt });
          } else if (!last.has(video.id)) last.set(video.id, seen);
        }
      }, 50);
      window.frozen = {
        mark: () => {
          markAt = performance.now();
          last.forEach((v) => {
            v.longest = 0;
            v.resumedAt = 0;
          });
        },
        report: () => Object.fromEntries([...last].map(([id, v]) => [id, Math.round(Math.max(v.longest, performance.now() - v.at))])),
        resumedAfterMark: () => Math.round(Math.max(0, ...[...last.values()].map((v) => (v.resumedAt > markAt ? v.resumedAt - markAt : 0)))),
        playing: () => Object.fromEntries([...last].map(([id, v]) => [id, performance.now() - v.at < 500])),
      };
    },
    { url, fallbackUrls, index },
  );
  return page;
}

/** Every page plays every other page's camera: presented frames advancing on all three of its videos. */
async function everyonePlaysEveryone(timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const playing = await Promise.all(pages.map((page) => page.evaluate(() => window.frozen.playing())));
    if (playing.every((videos) => Object.keys(videos).length === 3 && Object.values(videos).every(Boolean))) return;
    if (Date.now() > deadline) {
      const details = await Promise.all(
        pages.map((page) =>
          page.evaluate(async () => {
            const pc = window.client.pc as RTCPeerConnection;
            const stats = [...(await pc.getStats()).values()].filter((s) => s.type === 'inbound-rtp').map((s) => `${s.mid}:${s.framesDecoded}/${s.packetsReceived}`);
            const videos = [...document.querySelectorAll('video')];
            const before = videos.map((v) => v.getVideoPlaybackQuality().totalVideoFrames);
            await new Promise((r) => setTimeout(r, 500));
            const elements = videos.map((v, i) => {
              const tracks = (v.srcObject as MediaStream).getTracks();
              return `${v.id.slice(0, 8)} paused=${v.paused} ready=${v.readyState} frames ${before[i]}->${v.getVideoPlaybackQuality().totalVideoFrames} tracks=${tracks.map((t) => `${t.id.slice(0, 6)}:${t.readyState}:${t.muted}`).join(',')}`;
            });
            const receivers = pc.getReceivers().map((r) => r.track.id.slice(0, 6));
            return { session: window.client.sessionId, state: pc.connectionState, signaling: pc.signalingState, transceivers: pc.getTransceivers().map((t) => `${t.mid}:${t.currentDirection}`), stats, elements, receivers, hidden: document.hidden };
          }),
        ),
      );
      for (const node of nodes) console.log(`--- node ${node.name}\n${node.process.output().split('\n').filter((l) => /"level":(40|50)/.test(l)).slice(-15).join('\n')}`);
      throw new Error(`not every video plays: ${JSON.stringify(playing)}\n${JSON.stringify(details, null, 1)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const sessionIds = () => Promise.all(pages.map((page) => page.evaluate(() => window.client.sessionId as string)));

describe('sessions outlive their node (Chromium, SDK)', () => {
  it('four pages play each other through a rolling restart of three nodes, the pages doing nothing about it', { timeout: 300_000 }, async () => {
    const urls = nodes.map((n) => n.process.url);
    for (let i = 0; i < 4; i += 1) pages.push(await participant(i, urls[i % 3]!, urls));
    const ids = await sessionIds();
    for (const [i, page] of pages.entries()) {
      await page.evaluate(async (others) => {
        for (const id of others) {
          const stream = await window.client.pullStream(id, 'cam');
          const video = document.createElement('video');
          video.id = id;
          video.muted = true;
          video.autoplay = true;
          video.srcObject = stream;
          document.body.append(video);
        }
      }, ids.filter((_, j) => j !== i));
    }
    await everyonePlaysEveryone(20_000);

    const report: string[] = [];
    for (const node of nodes) {
      await Promise.all(pages.map((page) => page.evaluate(() => window.frozen.mark())));
      const stopped = Date.now();
      await node.process.stop();
      const exitedMs = Date.now() - stopped;
      // The node exits once its sessions left; they publish again and their subscribers follow after: the window covers all of it.
      await new Promise((resolve) => setTimeout(resolve, 4000));
      await everyonePlaysEveryone(10_000);
      const freezes = await Promise.all(pages.map((page) => page.evaluate(() => window.frozen.report())));
      const longest = freezes.map((f) => Math.max(...Object.values(f)));
      report.push(`SIGTERM ${node.name}: its sessions moved and it exited ${exitedMs} ms after the signal; longest freeze per page (any of its 3 videos) ${longest.join(' / ')} ms`);
      node.process = await startNode(node.name, node.env);
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
    console.log(`rolling restart (4 pages, 3 nodes):\n  ${report.join('\n  ')}`);
    expect(await sessionIds()).toEqual(ids);
    await everyonePlaysEveryone(10_000);
  });

  it('SIGKILL of a node: every page plays everyone again within 10 s, same session ids', { timeout: 120_000 }, async () => {
    expect(pages).toHaveLength(4);
    const ids = await sessionIds();
    // The node that holds the most sessions now (after the rolling restart, sessions are spread by where they moved).
    const sessionsOn = async (n: (typeof nodes)[number]) => {
      const text = await fetch(`${n.process.url}/metrics`).then((r) => r.text()).catch(() => "");
      return [...text.matchAll(/^switchyard_sessions\{[^}]*\} (\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
    };
    const holders = await Promise.all(nodes.map(async (n) => ({ n, count: await sessionsOn(n) })));
    const victim = holders.sort((x, y) => y.count - x.count)[0]!.n;
    await Promise.all(pages.map((page) => page.evaluate(() => window.frozen.mark())));
    victim.process.signal('SIGKILL');
    // Long enough for the SDK to notice and move, and for the last frozen video to come back.
    await new Promise((resolve) => setTimeout(resolve, 12_000));
    await everyonePlaysEveryone(3000);
    const freezes = await Promise.all(pages.map((page) => page.evaluate(() => window.frozen.report())));
    const backMs = Math.max(...(await Promise.all(pages.map((page) => page.evaluate(() => window.frozen.resumedAfterMark())))));
    const longest = freezes.map((f) => Math.max(...Object.values(f)));
    console.log(`SIGKILL ${victim.name} (held ${holders[0]!.count} sessions): the last frozen video played again ${backMs} ms after the kill; longest freeze per page ${longest.join(' / ')} ms`);
    expect(holders[0]!.count).toBeGreaterThan(0);
    // The victim's publishers froze for everyone (the kill was felt) and everything plays again within 10 s.
    expect(Math.max(...longest)).toBeGreaterThan(1000);
    expect(backMs).toBeGreaterThan(0);
    expect(backMs).toBeLessThan(10_000);
    expect(await sessionIds()).toEqual(ids);
  });
});
