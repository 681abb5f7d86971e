import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { launchChromium } from '../helpers/browser.js';
import { gqlOk } from '../helpers/graphql.js';
import {
  expectFramesIncrease,
  expectPlays,
  mLines,
  rawSession,
  sdpAttributes,
  sdpSections,
} from '../helpers/rawPage.js';
import { startTestServer } from '../helpers/server.js';

/**
 * Issue 10, "No dead ends in a real browser": Chromium pages that speak to
 * Switchyard with plain RTCPeerConnection code and fetch() to /graphql
 * (test/helpers/raw-client.js), no SDK, as someone writing their own client
 * or porting Cloudflare's examples would.
 */
let server: Switchyard;
let browser: Browser;
/** The shared publisher: one session pushing the fake camera as cam and cam2. */
let publisher: { page: Page; sessionId: string };
/** Pages a test opened; closed after it. */
const opened: Page[] = [];

beforeAll(async () => {
  server = await startTestServer({ WORKERS: '2' });
  browser = await launchChromium();
  const { page, sessionId } = await rawSession(browser, server.url, 'publisher');
  const pushed = await page.evaluate(async () => {
    const camera = await window.sy.camera();
    return window.sy.push([{ trackName: 'cam', track: camera }, { trackName: 'cam2', track: camera.clone() }]);
  });
  expect(pushed.tracks?.map((t) => t.error)).toEqual([null, null]);
  publisher = { page, sessionId };
}, 60_000);

afterEach(async () => {
  for (const page of opened.splice(0)) await page.context().close().catch(() => undefined);
});

afterAll(async () => {
  await publisher?.page.context().close();
  await browser?.close();
  await server?.stop();
});

async function open(name: string, withOffer = true) {
  const client = await rawSession(browser, server.url, name, withOffer);
  opened.push(client.page);
  return client;
}

/** A session without an offer whose client then pushes camera and microphone with its own offer: media comes first. */
async function clientFirst(name: string) {
  const client = await open(name, false);
  const pushed = await client.page.evaluate(async () =>
    window.sy.push([
      { trackName: 'cam', track: await window.sy.camera() },
      { trackName: 'mic', track: await window.sy.microphone() },
    ]),
  );
  expect(pushed.tracks?.map((t) => t.error)).toEqual([null, null]);
  expect(mLines(pushed.offerSdp)[0]).toMatch(/^m=video /);
  expect(sdpAttributes(pushed.offerSdp, 'group')[0]).toBe(`BUNDLE ${pushed.mids.join(' ')}`);
  return { ...client, camMid: pushed.mids[0]! };
}

const query = (text: string, variables: Record<string, unknown> = {}) => gqlOk(server.url, text, variables);
const sessionState = (id: string) =>
  query('query($id: ID!) { session(id: $id) { connectionState pendingOffer { sdp } tracks { mid location status } } }', { id }).then((d) => d.session);
const trackState = (sessionId: string, name: string) =>
  query('query($s: ID!, $n: String!) { track(sessionId: $s, name: $n) { muted status } }', { s: sessionId, n: name }).then((d) => d.track);

describe('a plain RTCPeerConnection client in Chromium', () => {
  it('pulls the same source twice into one session and plays both', { timeout: 60_000 }, async () => {
    const sub = await open('twice');
    const source = { sessionId: publisher.sessionId, trackName: 'cam' };
    const pulled = await sub.page.evaluate((source) => window.sy.pull([source, source]), source);
    expect(pulled.tracks.map((t) => t.error)).toEqual([null, null]);
    const mids = pulled.tracks.map((t) => t.mid!);
    const msids = sdpSections(pulled.offerSdp!).filter((s) => mids.includes(s.mid!)).map((s) => s.msid);
    console.log('rule 1: a=msid of the two pulls:', msids);
    expect(msids).toHaveLength(2);
    expect(msids[0]!.trackId).not.toBe(msids[1]!.trackId);
    expect(msids.map((m) => m!.streamId)).toEqual([publisher.sessionId, publisher.sessionId]);
    for (const mid of mids) await expectPlays(sub.page, mid);

    // And once more in a call of its own: a third transceiver, still a unique track id.
    const again = await sub.page.evaluate((source) => window.sy.pull([source]), source);
    expect(again.tracks[0]!.error).toBeNull();
    const trackIds = sdpSections(again.offerSdp!).flatMap((s) => (s.msid ? [s.msid.trackId] : []));
    expect(trackIds).toHaveLength(3);
    expect(new Set(trackIds).size).toBe(3);
    await expectPlays(sub.page, again.tracks[0]!.mid!);
    for (const mid of mids) await expectFramesIncrease(sub.page, mid);
  });

  it('withdraws an SFU offer the browser refused (rollbackOffer), then pulls again', { timeout: 60_000 }, async () => {
    const sub = await open('refuses');
    const source = { sessionId: publisher.sessionId, trackName: 'cam' };
    const refused = await sub.page.evaluate(async (source) => {
      const { offerSdp, tracks } = await window.sy.pull([source], { answer: false });
      // A broken offer: the new m-section claims the data channel's mid.
      const newMid = tracks[0]!.mid!;
      const broken = offerSdp!.replace(`a=mid:${newMid}\r\n`, 'a=mid:0\r\n');
      try {
        await window.sy.pc.setRemoteDescription({ type: 'offer', sdp: broken });
        return { newMid, error: null, signalingState: window.sy.pc.signalingState };
      } catch (error) {
        return { newMid, error: String(error), signalingState: window.sy.pc.signalingState };
      }
    }, source);
    console.log('rule 2: Chromium refused the offer:', refused.error);
    expect(refused.error).toMatch(/Failed to .*remote offer/i);
    expect(refused.signalingState).toBe('stable');
    expect((await sessionState(sub.sessionId)).pendingOffer).not.toBeNull();

    const rollback = await sub.page.evaluate(() =>
      window.sy.gqlOk('mutation($id: ID!) { rollbackOffer(input: { sessionId: $id }) { withdrawnMids session { id pendingOffer { sdp } } } }', {
        id: window.sy.sessionId,
      }),
    );
    expect(rollback.rollbackOffer.withdrawnMids).toEqual([refused.newMid]);
    expect(rollback.rollbackOffer.session).toEqual({ id: sub.sessionId, pendingOffer: null });
    const state = await sessionState(sub.sessionId);
    expect(state.pendingOffer).toBeNull();
    expect(state.tracks).toEqual([]);

    const pulled = await sub.page.evaluate((source) => window.sy.pull([source]), source);
    expect(pulled.tracks[0]!.error).toBeNull();
    await expectPlays(sub.page, pulled.tracks[0]!.mid!);
  });

  it('closes the first pulled track of a session created without an offer', { timeout: 60_000 }, async () => {
    const sub = await open('no-offer', false);
    const pulled = await sub.page.evaluate(
      (id) => window.sy.pull([{ sessionId: id, trackName: 'cam' }, { sessionId: id, trackName: 'cam2' }]),
      publisher.sessionId,
    );
    console.log('rule 3: m= lines of the first SFU offer:', mLines(pulled.offerSdp!));
    expect(mLines(pulled.offerSdp!)[0]).toMatch(/^m=application /);
    expect(pulled.tracks.map((t) => t.error)).toEqual([null, null]);
    const [first, second] = pulled.tracks.map((t) => t.mid!) as [string, string];
    await expectPlays(sub.page, first);
    await expectPlays(sub.page, second);

    const closed = await sub.page.evaluate(async (mid) => {
      window.sy.transceiver(mid).stop();
      return window.sy.clientOffer('closeTracks', { mids: [mid] });
    }, first);
    expect(closed.errors).toBeUndefined();
    expect(closed.tracks?.[0]?.error).toBeNull();
    expect(sdpSections(closed.answerSdp!).find((s) => s.mid === first)?.mLine).toMatch(/^m=video 0 /);
    await expectFramesIncrease(sub.page, second);
    expect((await sessionState(sub.sessionId)).tracks.map((t: { mid: string }) => t.mid)).toEqual([second]);

    const later = await sub.page.evaluate((id) => window.sy.pull([{ sessionId: id, trackName: 'cam' }]), publisher.sessionId);
    expect(later.tracks[0]!.error).toBeNull();
    await expectPlays(sub.page, later.tracks[0]!.mid!);
    await expectFramesIncrease(sub.page, second);
    expect((await sessionState(sub.sessionId)).connectionState).toBe('CONNECTED');
  });

  it('client-first media: the first m-section closes by direction inactive, not stop(), and is reused', { timeout: 90_000 }, async () => {
    // As Cloudflare's examples do: a session without an offer, then the client's own offer with camera and microphone.
    const a = await clientFirst('client-first');
    const viewer = await open('viewer');
    const camera = { sessionId: a.sessionId, trackName: 'cam' };
    const viewed = await viewer.page.evaluate((camera) => window.sy.pull([camera]), camera);
    await expectPlays(viewer.page, viewed.tracks[0]!.mid!);

    // stop() would take the BUNDLE transport with it: refused, and the client rolls back (on a session of its own,
    // for a stop() cannot be undone).
    const b = await clientFirst('stops');
    const stopped = await b.page.evaluate(async (mid) => {
      const transceiver = window.sy.transceiver(mid);
      transceiver.stop();
      const result = await window.sy.clientOffer('closeTracks', { mids: [mid] }); // rolls back on the error
      return { ...result, signalingState: window.sy.pc.signalingState, direction: transceiver.direction, currentDirection: transceiver.currentDirection };
    }, b.camMid);
    console.log('rule 4 finding: after stop() of the first m-section Chromium offers', mLines(stopped.offerSdp), sdpAttributes(stopped.offerSdp, 'group'));
    console.log('rule 4 finding: the SFU answers', stopped.errors?.[0]?.extensions?.code, stopped.errors?.[0]?.message);
    console.log(`rule 4 finding: after the rollback signalingState=${stopped.signalingState} direction=${stopped.direction} currentDirection=${stopped.currentDirection}`);
    expect(stopped.errors?.[0]?.extensions?.code).toBe('BAD_REQUEST');
    expect(stopped.errors?.[0]?.message).toMatch(/inactive/);
    expect(stopped.signalingState).toBe('stable');
    // The refused stop() changed nothing: the session connects (it may still be connecting on a loaded machine).
    await expect.poll(async () => (await sessionState(b.sessionId)).connectionState, { timeout: 5000 }).toBe('CONNECTED');
    await expect.poll(() => trackState(b.sessionId, 'mic'), { timeout: 5000 }).toEqual({ muted: false, status: 'ACTIVE' });
    const intoB = await b.page.evaluate((camera) => window.sy.pull([camera]), camera);
    expect(intoB.tracks[0]!.error).toBeNull();
    await expectPlays(b.page, intoB.tracks[0]!.mid!);
    const again = await b.page.evaluate(async () => window.sy.push([{ trackName: 'cam-again', track: await window.sy.camera() }]));
    console.log('rule 4 finding: the next offer of that client (a new push) gets', again.errors?.[0]?.extensions?.code ?? 'no error', mLines(again.offerSdp));
    await b.page.context().close();

    // direction 'inactive' closes the camera and keeps the m-section.
    const closed = await a.page.evaluate(async (mid) => {
      window.sy.transceiver(mid).direction = 'inactive';
      return window.sy.clientOffer('closeTracks', { mids: [mid] });
    }, a.camMid);
    expect(closed.errors).toBeUndefined();
    expect(closed.tracks?.[0]?.error).toBeNull();
    expect(await trackState(a.sessionId, 'cam')).toBeNull();
    await expect.poll(() => trackState(a.sessionId, 'mic')).toEqual({ muted: false, status: 'ACTIVE' });

    // (a) A later push reuses it: sendonly again with a new camera track.
    const republished = await a.page.evaluate(async (mid) => {
      const transceiver = window.sy.transceiver(mid);
      transceiver.direction = 'sendonly';
      await transceiver.sender.replaceTrack(await window.sy.camera());
      return window.sy.clientOffer('pushTracks', { tracks: [{ mid, trackName: 'cam' }] });
    }, a.camMid);
    expect(republished.errors).toBeUndefined();
    expect(republished.tracks).toEqual([{ mid: a.camMid, trackName: 'cam', error: null }]);
    expect(await trackState(a.sessionId, 'cam')).not.toBeNull();
    const second = await open('second-viewer');
    const pulledAgain = await second.page.evaluate((camera) => window.sy.pull([camera]), camera);
    expect(pulledAgain.tracks[0]!.error).toBeNull();
    await expectPlays(second.page, pulledAgain.tracks[0]!.mid!);

    // (b) A pull reuses it: closed again, then pullTracks names its mid and the client turns it recvonly before answering.
    const closedAgain = await a.page.evaluate(async (mid) => {
      window.sy.transceiver(mid).direction = 'inactive';
      return window.sy.clientOffer('closeTracks', { mids: [mid] });
    }, a.camMid);
    expect(closedAgain.errors).toBeUndefined();
    const into = await a.page.evaluate(
      ({ id, mid }) => window.sy.pull([{ sessionId: id, trackName: 'cam', mid }], { recvonly: [mid] }),
      { id: publisher.sessionId, mid: a.camMid },
    );
    expect(into.tracks).toEqual([{ mid: a.camMid, trackName: 'cam', error: null }]);
    expect(sdpSections(into.answerSdp!)[0]).toMatchObject({ mid: a.camMid, direction: 'recvonly' });
    await expectPlays(a.page, a.camMid);
  });

  it('restarts ICE from either side of a call and the video plays on', { timeout: 60_000 }, async () => {
    const pub = await open('ice-publisher');
    const pushed = await pub.page.evaluate(async () => window.sy.push([{ trackName: 'cam', track: await window.sy.camera() }]));
    expect(pushed.tracks?.[0]?.error).toBeNull();
    const sub = await open('ice-subscriber');
    const pulled = await sub.page.evaluate((id) => window.sy.pull([{ sessionId: id, trackName: 'cam' }]), pub.sessionId);
    const mid = pulled.tracks[0]!.mid!;
    await expectPlays(sub.page, mid);

    for (const [side, client] of [['subscriber', sub], ['publisher', pub]] as const) {
      const before = await client.page.evaluate(async () => ({ sdp: window.sy.pc.remoteDescription!.sdp, pair: await window.sy.selectedPair() }));
      const restart = await client.page.evaluate(() => window.sy.clientOffer('renegotiate', {}, { iceRestart: true }));
      expect(restart.errors).toBeUndefined();
      const ufrag = sdpAttributes(restart.answerSdp!, 'ice-ufrag')[0];
      const pwd = sdpAttributes(restart.answerSdp!, 'ice-pwd')[0];
      console.log(`rule 5 (${side}): SFU ice-ufrag ${sdpAttributes(before.sdp, 'ice-ufrag')[0]} -> ${ufrag}`);
      expect(ufrag).toBeDefined();
      expect(ufrag).not.toBe(sdpAttributes(before.sdp, 'ice-ufrag')[0]);
      expect(pwd).not.toBe(sdpAttributes(before.sdp, 'ice-pwd')[0]);
      // Chromium checks the SFU with the new credentials and moves to a new candidate pair that the SFU answers.
      const newUfrag = sdpAttributes(restart.offerSdp, 'ice-ufrag')[0];
      await expect
        .poll(() => client.page.evaluate(() => window.sy.selectedPair()), { timeout: 10_000 })
        .toMatchObject({ localUfrag: newUfrag, state: 'succeeded' });
      const after = await client.page.evaluate(() => window.sy.selectedPair());
      console.log(`rule 5 (${side}): candidate pair ${before.pair?.id} -> ${after?.id}, ${after?.responsesReceived} check responses`);
      expect(after!.id).not.toBe(before.pair!.id);
      expect(after!.responsesReceived).toBeGreaterThan(0);
      await expectFramesIncrease(sub.page, mid);
      expect((await sessionState(client.sessionId)).connectionState).toBe('CONNECTED');
    }
  });
});
