import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { launchChromium } from '../helpers/browser.js';
import { gqlOk } from '../helpers/graphql.js';
import { openRawPage, publishSimulcast } from '../helpers/rawPage.js';
import { startTestServer } from '../helpers/server.js';

/**
 * Issue 12, item 1: every simulcast layer reaches its subscribers at the frame
 * rate the publisher sends it. A Chromium publisher sends three layers of a
 * 20 fps camera with plain RTCPeerConnection code; one Chromium subscriber
 * pulls the track three times, one transceiver per layer; each transceiver's
 * decoded frame rate (inbound-rtp) is compared with the publisher's encoded
 * frame rate of that layer (outbound-rtp by rid) over the same seconds,
 * before and after the subscriber switches layers.
 */
const FPS = 20;
const RIDS = ['l', 'm', 'h'];
const UPDATE = `mutation($input: UpdateTracksInput!) { updateTracks(input: $input) { tracks { error { code message } } } }`;
const LAYERS = `query($id: ID!) { session(id: $id) { tracks { mid preferredLayer receivingLayers { rid spatialLayer temporalLayer } } } }`;

let server: Switchyard;
let browser: Browser;
let publisher: Page;
let subscriber: Page;
let publisherId: string;
let subscriberId: string;
/** The subscriber's transceivers: mid -> the RID it pulls now. */
const pulled = new Map<string, string>();


/** Encoded frames per RID (publisher) or decoded frames per mid (subscriber), and the time they were read. */
async function frameCounts(page: Page, side: 'encoded' | 'decoded'): Promise<{ at: number; frames: Record<string, number> }> {
  return page.evaluate(async (side) => {
    const frames: Record<string, number> = {};
    if (side === 'encoded') {
      const stats = await (window as unknown as { camSender: RTCRtpSender }).camSender.getStats();
      stats.forEach((s) => {
        if (s.type === 'outbound-rtp' && s.rid) frames[s.rid] = s.framesEncoded ?? 0;
      });
    } else {
      for (const t of window.sy.pc.getTransceivers()) {
        if (!t.mid || t.receiver.track.kind !== 'video') continue;
        (await t.receiver.getStats()).forEach((s) => {
          if (s.type === 'inbound-rtp') frames[t.mid!] = s.framesDecoded ?? 0;
        });
      }
    }
    return { at: performance.now(), frames };
  }, side);
}

/** Frame rates over `seconds`: the publisher's per RID and the subscriber's per mid. */
async function measureRates(seconds: number) {
  const [sentBefore, receivedBefore] = await Promise.all([frameCounts(publisher, 'encoded'), frameCounts(subscriber, 'decoded')]);
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const [sentAfter, receivedAfter] = await Promise.all([frameCounts(publisher, 'encoded'), frameCounts(subscriber, 'decoded')]);
  const rate = (before: typeof sentBefore, after: typeof sentBefore, key: string) =>
    ((after.frames[key] ?? 0) - (before.frames[key] ?? 0)) / ((after.at - before.at) / 1000);
  return [...pulled].map(([mid, rid]) => ({
    mid,
    rid,
    sentFps: rate(sentBefore, sentAfter, rid),
    receivedFps: rate(receivedBefore, receivedAfter, mid),
  }));
}

/** Waits until every transceiver receives the spatial layer it asked for (the frame rate is what the test then measures). */
async function waitForPreferredLayers(timeoutMs: number): Promise<void> {
  await expect
    .poll(
      async () => {
        const { session } = await gqlOk(server.url, LAYERS, { id: subscriberId });
        return session.tracks.map((t: { mid: string; receivingLayers: { rid: string } | null }) => `${t.mid}:${t.receivingLayers?.rid ?? '-'}`);
      },
      { timeout: timeoutMs, interval: 500, message: 'each subscriber transceiver receives its preferred layer' },
    )
    .toEqual([...pulled].map(([mid, rid]) => `${mid}:${rid}`));
}

/**
 * Right after a switch up, mediasoup forwards fewer temporal layers until the
 * subscriber's bandwidth estimate allows the new layer's full rate (the rule
 * under test: temporal layers go only when bandwidth requires it). Waits for
 * every transceiver to reach temporal layer 2, up to `timeoutMs`; the frame
 * rates measured next decide either way (with one temporal layer declared, as
 * before the fix, it never comes and the rates show a quarter).
 */
async function settleTemporalLayers(label: string, timeoutMs: number): Promise<void> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    const { session } = await gqlOk(server.url, LAYERS, { id: subscriberId });
    if (session.tracks.every((t: { receivingLayers: { temporalLayer: number | null } | null }) => t.receivingLayers?.temporalLayer === 2)) {
      console.log(`${label}: every transceiver at temporal layer 2 after ${Date.now() - started} ms`);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  console.log(`${label}: not every transceiver reached temporal layer 2 within ${timeoutMs} ms`);
}

function report(label: string, rates: Awaited<ReturnType<typeof measureRates>>): void {
  for (const r of rates) {
    console.log(`${label}: mid ${r.mid} pulls ${r.rid}: publisher ${r.sentFps.toFixed(1)} fps, subscriber ${r.receivedFps.toFixed(1)} fps (${((100 * r.receivedFps) / r.sentFps).toFixed(0)}%)`);
  }
}

beforeAll(async () => {
  server = await startTestServer({ WORKERS: '2' });
  browser = await launchChromium();
  publisher = await openRawPage(browser, server.url, 'publisher');
  expect((await publishSimulcast(publisher, RIDS, FPS)).frameRate).toBe(FPS);
  publisherId = await publisher.evaluate(() => window.sy.sessionId);
  subscriber = await openRawPage(browser, server.url, 'subscriber');
  subscriberId = (await subscriber.evaluate(() => window.sy.createSession())).sessionId;
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

describe('simulcast frame rate in Chromium', () => {
  it('delivers every layer at >= 90% of the frame rate the publisher encodes it, before and after switching', { timeout: 150_000 }, async () => {
    const result = await subscriber.evaluate(
      ({ source, rids }) => window.sy.pull(rids.map((rid) => ({ sessionId: source, trackName: 'cam', simulcast: { preferredRid: rid } }))),
      { source: publisherId, rids: RIDS },
    );
    expect(result.tracks.map((t) => t.error)).toEqual([null, null, null]);
    result.tracks.forEach((t, i) => pulled.set(t.mid!, RIDS[i]!));
    for (const mid of pulled.keys()) await subscriber.evaluate((mid) => window.sy.watch(mid), mid);

    // The top layer starts once the publisher's bandwidth estimate allows it.
    await waitForPreferredLayers(60_000);
    await settleTemporalLayers('before switching', 20_000);
    const before = await measureRates(4);
    report('before switching', before);

    // The low and the top transceivers swap layers; the middle one stays.
    const [lowMid, , highMid] = [...pulled.keys()];
    for (const [mid, rid] of [[lowMid!, 'h'], [highMid!, 'l']] as const) {
      const data = await gqlOk(server.url, UPDATE, {
        input: { sessionId: subscriberId, tracks: [{ mid, sessionId: publisherId, trackName: 'cam', simulcast: { preferredRid: rid } }] },
      });
      expect(data.updateTracks.tracks[0].error).toBeNull();
      pulled.set(mid, rid);
    }
    await waitForPreferredLayers(30_000);
    await settleTemporalLayers('after switching', 20_000);
    const after = await measureRates(4);
    report('after switching', after);

    for (const r of [...before, ...after]) {
      expect(r.sentFps, `publisher's ${r.rid} layer`).toBeGreaterThan(FPS * 0.5);
      expect(r.receivedFps, `mid ${r.mid} (${r.rid})`).toBeGreaterThanOrEqual(0.9 * r.sentFps);
    }
  });
});
