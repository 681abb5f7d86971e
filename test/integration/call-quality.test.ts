import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { gql, gqlOk } from '../helpers/graphql.js';
import { fakeCamera, waitFor } from '../helpers/media.js';
import { sentBitrate, sleep, startVideoCall, STATS, type TrackStats } from '../helpers/quality.js';
import { startTestServer } from '../helpers/server.js';
import { collect, wsClient } from '../helpers/subscriptions.js';

/**
 * Call quality through the API with libwebrtc peers on loopback: Session.stats
 * matches what the publisher sends and shows no loss; throttling the
 * publisher lowers the bitrate; a publisher that stops sending gets
 * QUALITY_CHANGED (LOST); the sessionStats subscription keeps its bounds.
 */
let server: Switchyard;
const cleanups: (() => void)[] = [];
beforeAll(async () => {
  server = await startTestServer({ WORKERS: '2' });
});
afterEach(() => {
  for (const cleanup of cleanups.reverse()) cleanup();
  cleanups.length = 0;
});
afterAll(async () => {
  await server?.stop();
});

describe('call quality in the API', () => {
  it('reads bitrate near the sent rate and no loss on loopback; throttling lowers it; a publisher that stops gets QUALITY_CHANGED LOST', { timeout: 60_000 }, async () => {
    const { publisher, subscriber, mid } = await startVideoCall(server.url, cleanups);
    const ws = wsClient(server.url);
    cleanups.push(() => void ws.dispose());
    const publisherEvents = collect(ws, 'subscription($id: ID!) { sessionEvents(sessionId: $id) { type quality at } }', { id: publisher.sessionId }, (d) => d.sessionEvents);
    await sleep(2000);

    const sent = await sentBitrate(publisher, 2000);
    const pub = (await gqlOk(server.url, STATS, { id: publisher.sessionId })).session;
    const sub = (await gqlOk(server.url, STATS, { id: subscriber.sessionId })).session;
    const local = (pub.stats.tracks as TrackStats[]).find((t) => t.location === 'LOCAL')!;
    const remote = (sub.stats.tracks as TrackStats[]).find((t) => t.location === 'REMOTE' && t.mid === mid)!;
    console.log(
      `quality: publisher sends ${Math.round(sent / 1000)} kbit/s; SFU reads in ${Math.round(local.bitrate / 1000)} kbit/s (session ${Math.round(pub.stats.bitrateIn / 1000)}), ` +
        `out to the subscriber ${Math.round(remote.bitrate / 1000)} kbit/s; lost ${local.packetsLost}/${remote.packetsLost}; scores ${local.score}/${remote.score}; ` +
        `rtt ${remote.roundTripTime} ms; jitter ${local.jitter?.toFixed(2)} ms; BWE to subscriber ${sub.stats.availableOutgoingBitrate}`,
    );
    expect(local.bitrate).toBeGreaterThan(sent * 0.6);
    expect(local.bitrate).toBeLessThan(sent * 1.5);
    expect(remote.bitrate).toBeGreaterThan(sent * 0.6);
    expect(remote.bitrate).toBeLessThan(sent * 1.5);
    expect(pub.stats.bitrateIn).toBeGreaterThanOrEqual(local.bitrate * 0.9);
    expect(sub.stats.bitrateOut).toBeGreaterThanOrEqual(remote.bitrate * 0.9);
    expect([local.packetsLost, local.fractionLost, remote.packetsLost, remote.fractionLost]).toEqual([0, 0, 0, 0]);
    expect(local.packets).toBeGreaterThan(100);
    expect([local.score, remote.score]).toEqual([10, 10]);
    expect([pub.quality, pub.stats.quality, sub.quality, sub.stats.quality]).toEqual(['EXCELLENT', 'EXCELLENT', 'EXCELLENT', 'EXCELLENT']);
    expect(local.jitter).not.toBeNull();
    expect(remote.roundTripTime).toBeGreaterThanOrEqual(0);
    expect(sub.stats.availableOutgoingBitrate).toBeGreaterThan(0);

    // The publisher throttles: a 64x48 source at 5 fps (libwebrtc in Node refuses RTCRtpSender.setParameters
    // with "modified SSRC" for any change, so maxBitrate cannot be set here; Chromium would).
    const sender = publisher.pc.getSenders().find((s: RTCRtpSender) => s.track?.kind === 'video')!;
    const small = fakeCamera(64, 48, 5);
    cleanups.push(small.stop);
    await sender.replaceTrack(small.track);
    let throttled = Infinity;
    await waitFor(
      'the SFU reads the throttled bitrate',
      () => {
        void gqlOk(server.url, STATS, { id: publisher.sessionId }).then((d) => (throttled = (d.session.stats.tracks as TrackStats[])[0]!.bitrate));
        return throttled < 100_000;
      },
      10_000,
    );
    console.log(`quality: after throttling to 64x48 at 5 fps the SFU reads ${Math.round(throttled / 1000)} kbit/s in`);

    // The publisher stops sending: its uplink's score falls to 0, and it hears so.
    const stoppedAt = Date.now();
    await sender.replaceTrack(null);
    await waitFor('QUALITY_CHANGED LOST', () => publisherEvents.items.some((e) => e.type === 'QUALITY_CHANGED' && e.quality === 'LOST'), 10_000);
    console.log(`quality: publisher stopped sending -> QUALITY_CHANGED LOST after ${Date.now() - stoppedAt} ms`);
    expect((await gqlOk(server.url, 'query($id: ID!) { session(id: $id) { quality } }', { id: publisher.sessionId })).session.quality).toBe('LOST');
    // The subscriber's own link is fine: its quality does not drop with the source.
    expect((await gqlOk(server.url, 'query($id: ID!) { session(id: $id) { quality } }', { id: subscriber.sessionId })).session.quality).not.toBe('LOST');

    // Sending again: it recovers.
    const cam = fakeCamera(320, 240);
    cleanups.push(cam.stop);
    await sender.replaceTrack(cam.track);
    await waitFor('QUALITY_CHANGED back up', () => publisherEvents.items.some((e, i, all) => e.type === 'QUALITY_CHANGED' && e.quality !== 'LOST' && all.slice(0, i).some((p) => p.quality === 'LOST')), 10_000);
    await publisherEvents.close();
  });

  it('sessionStats delivers at the chosen interval within its bounds, counts as a subscription, and ends with the session', { timeout: 60_000 }, async () => {
    const { subscriber } = await startVideoCall(server.url, cleanups);
    const ws = wsClient(server.url);
    cleanups.push(() => void ws.dispose());
    const tooFast = collect(ws, 'subscription($id: ID!) { sessionStats(sessionId: $id, intervalMs: 500) { at } }', { id: subscriber.sessionId }, (d) => d.sessionStats);
    await waitFor('refused', () => tooFast.errors.length > 0, 5000);
    expect(JSON.stringify(tooFast.errors)).toContain('intervalMs must be from 1000 to 60000');

    const stats = collect(ws, 'subscription($id: ID!) { sessionStats(sessionId: $id, intervalMs: 1000) { at quality bitrateOut tracks { location bitrate } } }', { id: subscriber.sessionId }, (d) => d.sessionStats);
    await waitFor('four readings', () => stats.items.length >= 4, 10_000);
    expect(server.api.census().subscriptions).toBe(1);
    const times = stats.items.map((s) => new Date(s.at).getTime());
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    console.log(`quality: sessionStats every 1000 ms -> gaps ${gaps.join(', ')} ms`);
    for (const gap of gaps) {
      expect(gap).toBeGreaterThan(800);
      expect(gap).toBeLessThan(1500);
    }
    expect(stats.items.at(-1)!.tracks[0].location).toBe('REMOTE');
    expect(stats.items.at(-1)!.bitrateOut).toBeGreaterThan(50_000);

    // Unknown session: the same error as the other session calls.
    const unknown = collect(ws, 'subscription { sessionStats(sessionId: "nope") { at } }', {}, (d) => d.sessionStats);
    await waitFor('refused', () => unknown.errors.length > 0, 5000);
    expect(JSON.stringify(unknown.errors)).toContain('SESSION_NOT_FOUND');

    // Readings are shared: callers within the same second get the same one (one set of worker requests).
    const AT = 'query($id: ID!) { session(id: $id) { stats { at } } }';
    const [first, second] = await Promise.all([gqlOk(server.url, AT, { id: subscriber.sessionId }), gqlOk(server.url, AT, { id: subscriber.sessionId })]);
    expect(second.session.stats.at).toBe(first.session.stats.at);
    await sleep(1000);
    expect((await gqlOk(server.url, AT, { id: subscriber.sessionId })).session.stats.at).not.toBe(first.session.stats.at);

    // A stream at the longest interval still ends as soon as its session does, not at its next tick.
    const slow = collect(ws, 'subscription($id: ID!) { sessionStats(sessionId: $id, intervalMs: 60000) { at } }', { id: subscriber.sessionId }, (d) => d.sessionStats);
    await waitFor('the first slow reading', () => slow.items.length === 1, 5000);
    const closedAt = Date.now();
    await gql(server.url, 'mutation($id: ID!) { closeSession(input: { sessionId: $id }) { sessionId } }', { id: subscriber.sessionId });
    await waitFor('the stream ends with the session', () => stats.done, 5000);
    await waitFor('the 60 s stream ends with the session', () => slow.done, 2000);
    console.log(`quality: sessionStats at 60000 ms ended ${Date.now() - closedAt} ms after closeSession`);
    await waitFor('no subscription left', () => server.api.census().subscriptions === 0, 5000);
  });
});
