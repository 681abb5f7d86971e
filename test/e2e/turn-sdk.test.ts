import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
// @ts-expect-error: a plain ESM build script without type declarations
import { buildClient } from '../../scripts/build-client.mjs';
import { launchChromium } from '../helpers/browser.js';
import { startCoturn, type TestCoturn } from '../helpers/coturn.js';
import { startTestServer } from '../helpers/server.js';

/**
 * The SDK takes the deployment's TURN relays by itself: in Chromium, a page
 * whose PeerConnection may only use relays (iceTransportPolicy 'relay', as a
 * browser behind a firewall that blocks everything but the TURN server)
 * connects through Debian's coturn, and a second page plays what it sends.
 * With `turn: false` the same page has no relay and never connects.
 */
const TURN_SECRET = 'coturn-shared-secret-for-the-browser-test';

let coturn: TestCoturn;
let server: Switchyard;
let browser: Browser;

declare global {
  interface Window {
    SwitchyardSdk: any;
  }
}

async function sdkPage(): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  page.on('pageerror', (error) => console.error('[page] error:', error));
  await page.goto(`${server.url}/healthz`);
  await page.addScriptTag({ type: 'module', content: "import { Switchyard } from '/sdk/switchyard.js'; window.SwitchyardSdk = Switchyard;" });
  await page.waitForFunction(() => 'SwitchyardSdk' in window);
  return page;
}

beforeAll(async () => {
  await (buildClient as (options: { quiet: boolean }) => Promise<string>)({ quiet: true });
  coturn = await startCoturn(TURN_SECRET);
  server = await startTestServer({ WORKERS: '1', TURN_URLS: coturn.url, TURN_SECRET });
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await coturn?.stop();
});

describe('the SDK and TURN in Chromium', () => {
  it('a relay-only page connects through coturn with the credentials the SDK fetched, and another page plays its camera', { timeout: 60_000 }, async () => {
    const publisher = await sdkPage();
    const sent = await publisher.evaluate(async () => {
      const sfu = await window.SwitchyardSdk.connect({ url: location.origin, rtcConfiguration: { iceTransportPolicy: 'relay' } });
      const media = await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240 } });
      await sfu.push(media.getVideoTracks()[0], { name: 'cam' });
      (window as any).sfu = sfu;
      const servers = sfu.pc.getConfiguration().iceServers as RTCIceServer[];
      return { sessionId: sfu.sessionId as string, servers: servers.map((s) => ({ urls: s.urls, username: s.username })) };
    });
    expect(sent.servers).toEqual([{ urls: [coturn.url], username: expect.stringMatching(/^\d+:dev$/) }]);

    // The candidate pair in use: ours is a relay (coturn), the SFU's its host candidate.
    const pair = await publisher.evaluate(async () => {
      const pc = (window as any).sfu.pc as RTCPeerConnection;
      for (let i = 0; i < 100 && pc.connectionState !== 'connected'; i += 1) await new Promise((r) => setTimeout(r, 100));
      const stats = [...(await pc.getStats()).values()];
      const transport = stats.find((s) => s.type === 'transport');
      const selected = stats.find((s) => s.id === transport?.selectedCandidatePairId);
      const local = stats.find((s) => s.id === selected?.localCandidateId);
      const remote = stats.find((s) => s.id === selected?.remoteCandidateId);
      return { state: pc.connectionState, local: local?.candidateType, relayProtocol: local?.relayProtocol, remote: remote?.candidateType };
    });
    expect(pair).toEqual({ state: 'connected', local: 'relay', relayProtocol: 'udp', remote: 'host' });
    expect(coturn.log()).toContain(sent.servers[0]!.username!);

    const viewer = await sdkPage();
    const played = await viewer.evaluate(async (source) => {
      const sfu = await window.SwitchyardSdk.connect({ url: location.origin });
      const track = await sfu.pull(source, 'cam');
      const video = document.createElement('video');
      video.muted = true;
      video.autoplay = true;
      video.srcObject = new MediaStream([track]);
      document.body.append(video);
      for (let i = 0; i < 100 && !(video.videoWidth > 0 && video.currentTime > 0.5); i += 1) await new Promise((r) => setTimeout(r, 100));
      return { width: video.videoWidth, time: video.currentTime };
    }, sent.sessionId);
    expect(played.width).toBe(320);
    expect(played.time).toBeGreaterThan(0.5);
    console.log(`TURN in Chromium: relay-only publisher on a ${pair.local}/${pair.relayProtocol} candidate; viewer played ${played.width} px, ${played.time.toFixed(2)} s`);
  });

  it('with turn: false the same relay-only page gets no relay and never connects', { timeout: 30_000 }, async () => {
    const page = await sdkPage();
    const outcome = await page.evaluate(async () => {
      const sfu = await window.SwitchyardSdk.connect({ url: location.origin, turn: false, rtcConfiguration: { iceTransportPolicy: 'relay' } });
      await new Promise((r) => setTimeout(r, 4000));
      return { servers: (sfu.pc.getConfiguration().iceServers as RTCIceServer[]).length, state: sfu.pc.connectionState as string };
    });
    expect(outcome.servers).toBe(0);
    expect(outcome.state).not.toBe('connected');
  });
});
