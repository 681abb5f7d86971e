import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { launchChromium } from '../helpers/browser.js';
import { gqlOk } from '../helpers/graphql.js';
import { expectPlays, rawPublisher, rawSession } from '../helpers/rawPage.js';
import { startTestServer } from '../helpers/server.js';

/**
 * Pull into the transceiver of one's own track (mid "#trackName") in
 * Chromium with plain RTCPeerConnection code: the SFU's offer turns the
 * client's sendrecv m-section two-way (the client's own codecs and header
 * extensions, the SFU's stream), and Chromium must accept that offer and play
 * what arrives on it.
 */
let server: Switchyard;
let browser: Browser;

beforeAll(async () => {
  server = await startTestServer({ WORKERS: '2' });
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

describe('#trackName in Chromium', () => {
  it('plays the pulled track on the m-section that sends the page\'s own camera, which others still receive', { timeout: 90_000 }, async () => {
    const other = await rawPublisher(browser, server.url, 'other', 'cam');
    const own = await rawSession(browser, server.url, 'own');
    const pushed = await own.page.evaluate(async () => {
      const transceiver = window.sy.pc.addTransceiver(await window.sy.camera(), { direction: 'sendrecv' });
      const result = await window.sy.clientOffer('pushTracks', () => ({ tracks: [{ mid: transceiver.mid, trackName: 'mine' }] }));
      return { mid: transceiver.mid as string, errors: (result as { errors?: unknown }).errors ?? null, tracks: result.tracks };
    });
    expect(pushed.errors).toBeNull();
    const pulled = await own.page.evaluate((source) => window.sy.pull([{ sessionId: source, trackName: 'cam', mid: '#mine' }]), other.sessionId);
    expect(pulled.tracks).toEqual([expect.objectContaining({ mid: pushed.mid, error: null })]);
    // The SFU's offer: that m-section sendrecv, with the SFU's stream.
    const section = (pulled.offerSdp as string).split('\r\nm=').find((s) => s.includes(`a=mid:${pushed.mid}\r\n`)) as string;
    expect(section).toContain('a=sendrecv');
    expect(section).toMatch(/a=ssrc:\d+ cname:/);
    expect(pulled.answerSdp).toContain('a=sendrecv');
    expect(await own.page.evaluate(() => window.sy.pc.getTransceivers().length)).toBe(1);
    await expectPlays(own.page, pushed.mid);

    // The page's camera still goes out on that m-section.
    const viewer = await rawSession(browser, server.url, 'viewer');
    const fromOwn = await viewer.page.evaluate((source) => window.sy.pull([{ sessionId: source, trackName: 'mine' }]), own.sessionId);
    await expectPlays(viewer.page, fromOwn.tracks[0]?.mid as string);

    const tracks = async () => (await gqlOk(server.url, 'query($id: ID!) { session(id: $id) { tracks { mid location status } } }', { id: own.sessionId })).session.tracks;
    // ACTIVE once the activity monitor (polling each second) saw the media both ways.
    await expect.poll(tracks, { timeout: 5000 }).toEqual([
      { mid: pushed.mid, location: 'LOCAL', status: 'ACTIVE' },
      { mid: pushed.mid, location: 'REMOTE', status: 'ACTIVE' },
    ]);
    for (const page of [other.page, own.page, viewer.page]) await page.context().close();
  });
});
