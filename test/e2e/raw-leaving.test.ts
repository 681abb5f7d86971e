import type { Client } from 'graphql-ws';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { launchChromium } from '../helpers/browser.js';
import { gqlOk } from '../helpers/graphql.js';
import {
  expectFramesIncrease,
  expectPlays,
  firstMatching,
  rawPublisher,
  rawSession,
  SESSION_EVENTS,
  timedCollect,
  TRACK_EVENTS,
} from '../helpers/rawPage.js';
import { startTestServer } from '../helpers/server.js';
import { wsClient } from '../helpers/subscriptions.js';

/**
 * Issue 10, "No dead ends in a real browser": leaving and muting, timed, with
 * Chromium pages that use plain RTCPeerConnection code (test/helpers/raw-client.js)
 * and graphql-ws from Node to watch what the others are told. The server runs
 * with the defaults: ICE consent timeout 10 s, RECONNECT_GRACE_MS 10 s,
 * TRACK_INACTIVE_AFTER_MS 5 s (silence no longer unpublishes a track; it used to after 30 s).
 */
let server: Switchyard;
let browser: Browser;
const opened: Page[] = [];
const clients: Client[] = [];

beforeAll(async () => {
  server = await startTestServer({ WORKERS: '2' });
  browser = await launchChromium();
}, 60_000);

afterEach(async () => {
  for (const client of clients.splice(0)) await client.dispose();
  for (const page of opened.splice(0)) await page.context().close().catch(() => undefined);
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

/** A publisher of the fake camera and a subscriber whose <video> plays it. */
async function call(name: string) {
  const publisher = await rawPublisher(browser, server.url, `${name}-publisher`);
  const subscriber = await rawSession(browser, server.url, `${name}-subscriber`);
  opened.push(publisher.page, subscriber.page);
  const pulled = await subscriber.page.evaluate((id) => window.sy.pull([{ sessionId: id, trackName: 'cam' }]), publisher.sessionId);
  const mid = pulled.tracks[0]!.mid!;
  await expectPlays(subscriber.page, mid);
  return { publisher, subscriber, mid };
}

/** A graphql-ws client whose subscriptions are live once `ready` resolves. */
function events() {
  const client = wsClient(server.url);
  clients.push(client);
  const ready = new Promise<void>((resolve) => {
    const off = client.on('connected', () => {
      off();
      // The subscribe messages follow the connection ack: give the server a moment to start them.
      setTimeout(resolve, 300);
    });
  });
  return { client, ready };
}

const trackState = (sessionId: string, name: string) =>
  gqlOk(server.url, 'query($s: ID!, $n: String!) { track(sessionId: $s, name: $n) { muted status } }', { s: sessionId, n: name }).then((d) => d.track);

describe('leaving is seen at once', () => {
  it('a publisher that closes its PeerConnection: TRACK_ENDED at its subscriber in under 1 s', { timeout: 40_000 }, async () => {
    const { publisher, subscriber, mid } = await call('close');
    const { client, ready } = events();
    const sessionEvents = timedCollect(client, SESSION_EVENTS, { id: subscriber.sessionId }, (d) => d.sessionEvents);
    await ready;

    const closedAt = Date.now();
    await publisher.page.evaluate(() => window.sy.pc.close());
    const ended = await firstMatching(sessionEvents, (e) => e.type === 'TRACK_ENDED', 5000);
    const ms = ended.at - closedAt;
    console.log(`rule 6: pc.close() -> TRACK_ENDED at the subscriber in ${ms} ms`);
    expect(ended.mid).toBe(mid);
    expect(ms).toBeLessThan(1000);
    expect(await trackState(publisher.sessionId, 'cam')).toBeNull();
  });

  it('a publisher tab that vanishes without closing: INACTIVE within ~10 s, TRACK_ENDED within 20 s', { timeout: 40_000 }, async () => {
    const { publisher, subscriber, mid } = await call('crash');
    const { client, ready } = events();
    const trackEvents = timedCollect(client, TRACK_EVENTS, { ids: [publisher.sessionId] }, (d) => d.trackEvents);
    const publisherEvents = timedCollect(
      client,
      'subscription($id: ID!) { sessionEvents(sessionId: $id) { type session { connectionState } } }',
      { id: publisher.sessionId },
      (d) => ({ type: d.sessionEvents.type, state: d.sessionEvents.session.connectionState }),
    );
    const sessionEvents = timedCollect(client, SESSION_EVENTS, { id: subscriber.sessionId }, (d) => d.sessionEvents);
    await ready;

    // The renderer dies: no DTLS close alert, no more ICE consent checks.
    const cdp = await publisher.page.context().newCDPSession(publisher.page);
    const crashedAt = Date.now();
    cdp.send('Page.crash').catch(() => undefined);
    const inactive = await firstMatching(trackEvents, (e) => e.type === 'INACTIVE', 15_000);
    const ended = await firstMatching(sessionEvents, (e) => e.type === 'TRACK_ENDED', 25_000);
    const after = (at: number) => `${at - crashedAt} ms`;
    console.log(`rule 6: renderer crashed -> INACTIVE after ${after(inactive.at)}, TRACK_ENDED at the subscriber after ${after(ended.at)}`);
    console.log(`rule 6: the publisher's session events: ${publisherEvents.items.map((e) => `${e.type}${e.state ? ` ${e.state}` : ''} +${e.at - crashedAt} ms`).join(', ')}`);
    const lost = publisherEvents.items.find((e) => e.state === 'DISCONNECTED');
    expect(ended.mid).toBe(mid);
    // ICE consent lost (10 s without a check) is seen as such, not only as media going quiet.
    expect(lost, 'a CONNECTION_STATE_CHANGED to DISCONNECTED').toBeDefined();
    expect(lost!.at - crashedAt).toBeLessThan(11_000);
    expect(inactive.at - crashedAt).toBeLessThan(11_000);
    expect(ended.at - crashedAt).toBeLessThan(21_000);
  });
});

describe('muting', () => {
  it('keeps a muted track published past the unpublish timer and resumes it on the same transceiver', { timeout: 60_000 }, async () => {
    const { publisher, subscriber, mid } = await call('mute');
    const { client, ready } = events();
    const trackEvents = timedCollect(client, TRACK_EVENTS, { ids: [publisher.sessionId] }, (d) => d.trackEvents);
    const sessionEvents = timedCollect(client, SESSION_EVENTS, { id: subscriber.sessionId }, (d) => d.sessionEvents);
    await ready;
    const setMuted = (muted: boolean) =>
      publisher.page.evaluate(async (muted) => {
        const { track, transceiver } = window.sy.local.get('cam')!;
        await transceiver.sender.replaceTrack(muted ? null : track);
        return window.sy.gqlOk('mutation($input: SetTrackMutedInput!) { setTrackMuted(input: $input) { track { muted } } }', {
          input: { sessionId: window.sy.sessionId, trackName: 'cam', muted },
        });
      }, muted);

    const mutedAt = Date.now();
    expect((await setMuted(true)).setTrackMuted.track).toEqual({ muted: true });
    const mutedEvent = await firstMatching(trackEvents, (e) => e.type === 'MUTED', 1000);
    console.log(`rule 7: MUTED event after ${mutedEvent.at - mutedAt} ms`);
    expect(mutedEvent.at - mutedAt).toBeLessThan(1000);
    expect(await trackState(publisher.sessionId, 'cam')).toMatchObject({ muted: true });
    const transceivers = await subscriber.page.evaluate(() => window.sy.pc.getTransceivers().length);

    // Longer than the 30 s a track without media used to get before it was unpublished.
    await new Promise((resolve) => setTimeout(resolve, 32_000 - (Date.now() - mutedAt)));
    expect(await trackState(publisher.sessionId, 'cam')).toEqual({ muted: true, status: 'INACTIVE' });
    console.log(`rule 7: track events while muted: ${trackEvents.items.map((e) => `${e.type} +${e.at - mutedAt} ms`).join(', ')}`);
    expect(trackEvents.items.map((e) => e.type)).not.toContain('UNPUBLISHED');
    expect(sessionEvents.items.map((e) => e.type)).not.toContain('TRACK_ENDED');

    const unmutedAt = Date.now();
    expect((await setMuted(false)).setTrackMuted.track).toEqual({ muted: false });
    const unmuted = await firstMatching(trackEvents, (e) => e.type === 'UNMUTED', 1000);
    await expectFramesIncrease(subscriber.page, mid, 5000);
    console.log(`rule 7: UNMUTED after ${unmuted.at - unmutedAt} ms, frames again on mid ${mid} within ${Date.now() - unmutedAt} ms`);
    expect(await subscriber.page.evaluate(() => window.sy.pc.getTransceivers().length)).toBe(transceivers);
    await expect.poll(() => trackState(publisher.sessionId, 'cam'), { timeout: 10_000 }).toEqual({ muted: false, status: 'ACTIVE' });
  });
});
