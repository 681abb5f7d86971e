import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
// @ts-expect-error: a plain ESM build script without type declarations
import { buildClient } from '../../scripts/build-client.mjs';
import { launchChromium } from '../helpers/browser.js';
import { gqlOk } from '../helpers/graphql.js';
import { openRawPage } from '../helpers/rawPage.js';
import { startTestServer } from '../helpers/server.js';

/**
 * Issue 12, item 3: publishers send only what is watched. A Chromium page
 * publishes a three-layer camera with the SDK (which follows LAYERS_IN_DEMAND
 * and turns encodings off and on); a plain-WebRTC subscriber page pulls it
 * and changes the layer it wants. The publisher's own outbound-rtp stats per
 * RID show which layers it encodes and what it uploads.
 */
const OFF_DELAY_MS = 1000;
const RIDS = ['l', 'm', 'h'];
const UPDATE = `mutation($input: UpdateTracksInput!) { updateTracks(input: $input) { tracks { error { code message } } } }`;
const LAYERS = `query($id: ID!) { session(id: $id) { tracks { receivingLayers { rid } } } }`;

let server: Switchyard;
let browser: Browser;
let publisher: Page;
let subscriber: Page;
let publisherId: string;
let subscriberId: string;
let subscriberMid: string;

declare global {
  interface Window {
    camSender: RTCRtpSender;
  }
}

/** The publisher's sender: per RID, frames encoded, bytes sent and whether the encoding is on; with the time read. */
async function senderStats(): Promise<{ at: number; byRid: Record<string, { frames: number; bytes: number; active: boolean }> }> {
  return publisher.evaluate(async () => {
    const byRid: Record<string, { frames: number; bytes: number; active: boolean }> = {};
    const active = new Map(window.camSender.getParameters().encodings.map((e) => [e.rid, e.active !== false]));
    (await window.camSender.getStats()).forEach((s) => {
      if (s.type === 'outbound-rtp' && s.rid) byRid[s.rid] = { frames: s.framesEncoded ?? 0, bytes: s.bytesSent ?? 0, active: active.get(s.rid) ?? true };
    });
    return { at: performance.now(), byRid };
  });
}

/** Over `seconds`: frames encoded per second of each layer and the upload bitrate of all of them (kbit/s). */
async function upload(seconds: number): Promise<{ fps: Record<string, number>; kbps: number }> {
  const before = await senderStats();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const after = await senderStats();
  const elapsed = (after.at - before.at) / 1000;
  const fps: Record<string, number> = {};
  let bytes = 0;
  for (const rid of RIDS) {
    fps[rid] = ((after.byRid[rid]?.frames ?? 0) - (before.byRid[rid]?.frames ?? 0)) / elapsed;
    bytes += (after.byRid[rid]?.bytes ?? 0) - (before.byRid[rid]?.bytes ?? 0);
  }
  return { fps, kbps: (bytes * 8) / elapsed / 1000 };
}

async function prefer(rid: string): Promise<void> {
  const data = await gqlOk(server.url, UPDATE, {
    input: { sessionId: subscriberId, tracks: [{ mid: subscriberMid, sessionId: publisherId, trackName: 'cam', simulcast: { preferredRid: rid } }] },
  });
  expect(data.updateTracks.tracks[0].error).toBeNull();
}

async function receiving(): Promise<string | null> {
  const { session } = await gqlOk(server.url, LAYERS, { id: subscriberId });
  return session.tracks[0]?.receivingLayers?.rid ?? null;
}

beforeAll(async () => {
  await (buildClient as (options: { quiet: boolean }) => Promise<string>)({ quiet: true });
  server = await startTestServer({ WORKERS: '2', LAYER_OFF_DELAY_MS: String(OFF_DELAY_MS) });
  browser = await launchChromium();
  publisher = await (await browser.newContext()).newPage();
  publisher.on('pageerror', (error) => console.error('[publisher] page error:', error));
  await publisher.goto(`${server.url}/healthz`);
  // The built SDK as an application loads it (a module script), not through the test's own bundler.
  await publisher.addScriptTag({ type: 'module', content: "import { Switchyard } from '/sdk/switchyard.js'; window.SwitchyardSdk = Switchyard;" });
  await publisher.waitForFunction(() => 'SwitchyardSdk' in window);
  publisherId = await publisher.evaluate(async (rids) => {
    const Switchyard = (window as unknown as { SwitchyardSdk: any }).SwitchyardSdk;
    const sfu = await Switchyard.connect({ url: location.origin });
    const media = await navigator.mediaDevices.getUserMedia({ video: { width: 1280, height: 720, frameRate: 20 } });
    const scale = [4, 2, 1];
    const maxBitrate = [150_000, 500_000, 1_500_000];
    const local = await sfu.push(media.getVideoTracks()[0], {
      name: 'cam',
      sendEncodings: rids.map((rid: string, i: number) => ({ rid, scaleResolutionDownBy: scale[i], maxBitrate: maxBitrate[i] })),
    });
    window.camSender = local.transceiver.sender;
    return sfu.sessionId as string;
  }, RIDS);
  subscriber = await openRawPage(browser, server.url, 'subscriber');
  subscriberId = (await subscriber.evaluate(() => window.sy.createSession())).sessionId;
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

describe('a publisher sends only the layers someone watches', () => {
  it('turns unwatched layers off, and a layer back on within a second of a subscriber asking for it', { timeout: 150_000 }, async () => {
    const pulled = await subscriber.evaluate(
      (source) => window.sy.pull([{ sessionId: source, trackName: 'cam', simulcast: { preferredRid: 'h' } }]),
      publisherId,
    );
    expect(pulled.tracks[0]?.error).toBeNull();
    subscriberMid = pulled.tracks[0]!.mid!;
    await subscriber.evaluate((mid) => window.sy.watch(mid), subscriberMid);
    // The top layer arrives once the publisher's bandwidth estimate allows it.
    await expect.poll(receiving, { timeout: 60_000, interval: 500 }).toBe('h');
    const all = await upload(3);
    expect(all.fps.h).toBeGreaterThan(10);

    // The only subscriber moves to the low layer: after the delay the publisher stops encoding m and h.
    await prefer('l');
    await expect
      .poll(async () => { const { byRid } = await senderStats(); return RIDS.map((rid) => byRid[rid]?.active); }, { timeout: OFF_DELAY_MS + 5000, interval: 200 })
      .toEqual([true, false, false]);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const low = await upload(3);
    console.log(`adaptive simulcast: upload with a subscriber on h ${all.kbps.toFixed(0)} kbit/s (fps ${fmt(all.fps)}), with only l watched ${low.kbps.toFixed(0)} kbit/s (fps ${fmt(low.fps)})`);
    expect(low.fps.h).toBe(0);
    expect(low.fps.m).toBe(0);
    expect(low.fps.l).toBeGreaterThan(10);
    expect(low.kbps).toBeLessThan(all.kbps / 2);

    // The subscriber asks for the top layer again: the publisher encodes it again within a second.
    const framesBefore = (await senderStats()).byRid.h!.frames;
    const asked = Date.now();
    await prefer('h');
    let resumedAfter = Infinity;
    while (Date.now() - asked < 5000) {
      if ((await senderStats()).byRid.h!.frames > framesBefore) {
        resumedAfter = Date.now() - asked;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    await expect.poll(receiving, { timeout: 15_000, interval: 200 }).toBe('h');
    const backAt = Date.now() - asked;
    console.log(`adaptive simulcast: h encoded again ${resumedAfter} ms after the subscriber asked; the subscriber receives h after ${backAt} ms`);
    expect(resumedAfter).toBeLessThan(1000);
  });
});

const fmt = (fps: Record<string, number>) => RIDS.map((rid) => `${rid} ${fps[rid]!.toFixed(0)}`).join(', ');
