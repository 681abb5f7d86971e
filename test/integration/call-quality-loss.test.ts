import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { gqlOk } from '../helpers/graphql.js';
import { fakeCamera, waitFor } from '../helpers/media.js';
import { dropUdp, selectedLocalPort, type PacketLoss } from '../helpers/packetLoss.js';
import { sleep, startVideoCall, STATS, type TrackStats } from '../helpers/quality.js';
import { startTestServer } from '../helpers/server.js';
import { collect, wsClient } from '../helpers/subscriptions.js';

/**
 * Call quality under real packet loss: nftables drops a share of one peer's
 * UDP packets at random (test/helpers/packetLoss.ts), first on the
 * publisher's way in, then on the way to the subscriber. The loss must show
 * in Session.stats (packets lost, fraction lost, NACKs, score) of the session
 * whose link loses, its quality must drop with a QUALITY_CHANGED event, the
 * other session must not be blamed more than it, and both must recover when
 * the loss stops.
 */
let server: Switchyard;
const cleanups: (() => void)[] = [];
const losses: PacketLoss[] = [];
beforeAll(async () => {
  server = await startTestServer();
});
afterEach(async () => {
  for (const loss of losses.splice(0)) await loss.remove();
  for (const cleanup of cleanups.reverse()) cleanup();
  cleanups.length = 0;
});
afterAll(async () => {
  for (const loss of losses.splice(0)) await loss.remove();
  await server?.stop();
});

const LOSS_PERCENT = 30;
/** Connection quality levels, worst first. */
const LEVELS = ['LOST', 'POOR', 'GOOD', 'EXCELLENT'];
type Stats = { quality: string; stats: { quality: string; score: number; tracks: TrackStats[] } };
const read = async (sessionId: string): Promise<Stats> => (await gqlOk(server.url, STATS, { id: sessionId })).session;
const describeStats = (s: Stats) =>
  `${s.quality} score ${s.stats.score}; ` +
  s.stats.tracks.map((t) => `${t.location} ${t.mid}: ${Math.round(t.bitrate / 1000)} kbit/s, lost ${t.packetsLost} (fraction ${t.fractionLost.toFixed(3)}), NACKs ${t.nackCount}, score ${t.score}`).join('; ');

describe('call quality under packet loss', () => {
  it(`${LOSS_PERCENT} % loss on the publisher's uplink, then on the subscriber's downlink: stats, score and QUALITY_CHANGED follow, and recover`, { timeout: 90_000 }, async () => {
    const { publisher, subscriber, mid, video } = await startVideoCall(server.url, cleanups);
    /** Frames per second the subscriber decodes over `ms`. */
    const decodedFps = async (ms: number) => {
      const start = video.stats.frames;
      await sleep(ms);
      return (video.stats.frames - start) / (ms / 1000);
    };
    const ws = wsClient(server.url);
    cleanups.push(() => void ws.dispose());
    const events = (id: string) => collect(ws, 'subscription($id: ID!) { sessionEvents(sessionId: $id) { type quality } }', { id }, (d) => d.sessionEvents);
    const publisherEvents = events(publisher.sessionId);
    const subscriberEvents = events(subscriber.sessionId);
    console.log(`loss: no loss: the subscriber decodes ${(await decodedFps(2000)).toFixed(1)} fps`);
    const changes = (list: typeof publisherEvents) => list.items.filter((e) => e.type === 'QUALITY_CHANGED').map((e) => e.quality as string);

    // Uplink: drop a share of what the publisher sends.
    const before = await read(publisher.sessionId);
    expect(before.quality).toBe('EXCELLENT');
    const publisherPort = await selectedLocalPort(publisher.pc);
    const uplinkLossAt = Date.now();
    losses.push(await dropUdp({ port: publisherPort, match: 'from', percent: LOSS_PERCENT }));
    await waitFor('the publisher hears its quality drop', () => changes(publisherEvents).some((q) => q !== 'EXCELLENT'), 20_000);
    console.log(`loss: ${LOSS_PERCENT} % from the publisher -> QUALITY_CHANGED ${changes(publisherEvents).join(', ')} after ${Date.now() - uplinkLossAt} ms`);
    const uplinkFps = await decodedFps(3000);
    const lossy = await read(publisher.sessionId);
    console.log(`loss: publisher under uplink loss: ${describeStats(lossy)}; the subscriber decodes ${uplinkFps.toFixed(1)} fps`);
    const local = lossy.stats.tracks.find((t) => t.location === 'LOCAL')!;
    const beforeLocal = before.stats.tracks.find((t) => t.location === 'LOCAL')!;
    expect(local.packetsLost).toBeGreaterThan(beforeLocal.packetsLost);
    expect(local.nackCount).toBeGreaterThan(beforeLocal.nackCount);
    expect(local.score).toBeLessThan(9);
    expect(lossy.quality).not.toBe('EXCELLENT');
    // The subscriber's own link does not lose. What the publisher could not repair reaches it too
    // (mediasoup scores what the subscriber reports), so its level may dip, but never below the publisher's.
    const worst = (levels: string[]) => Math.min(...levels.map((q) => LEVELS.indexOf(q)));
    console.log(`loss: meanwhile the subscriber: ${changes(subscriberEvents).join(', ') || 'no change'}`);
    expect(worst(['EXCELLENT', ...changes(subscriberEvents)])).toBeGreaterThanOrEqual(worst(changes(publisherEvents)));

    // The loss stops: the publisher's quality comes back.
    await losses.pop()!.remove();
    const healedAt = Date.now();
    await waitFor('the publisher recovers', () => changes(publisherEvents).at(-1) === 'EXCELLENT', 20_000);
    console.log(`loss: uplink loss removed -> EXCELLENT after ${Date.now() - healedAt} ms`);
    await waitFor('the subscriber at EXCELLENT', () => (changes(subscriberEvents).at(-1) ?? 'EXCELLENT') === 'EXCELLENT', 20_000);
    const subscriberChangesBefore = changes(subscriberEvents).length;
    const downlinkChanges = () => changes(subscriberEvents).slice(subscriberChangesBefore);

    // Downlink: drop a share of what the SFU sends to the subscriber.
    const subscriberBefore = await read(subscriber.sessionId);
    const subscriberPort = await selectedLocalPort(subscriber.pc);
    const downlinkLossAt = Date.now();
    losses.push(await dropUdp({ port: subscriberPort, match: 'to', percent: LOSS_PERCENT }));
    await waitFor('the subscriber hears its quality drop', () => downlinkChanges().some((q) => q !== 'EXCELLENT'), 20_000);
    console.log(`loss: ${LOSS_PERCENT} % to the subscriber -> QUALITY_CHANGED ${downlinkChanges().join(', ')} after ${Date.now() - downlinkLossAt} ms`);
    const downlinkFps = await decodedFps(3000);
    const down = await read(subscriber.sessionId);
    console.log(`loss: subscriber under downlink loss: ${describeStats(down)}; it decodes ${downlinkFps.toFixed(1)} fps`);
    const remote = down.stats.tracks.find((t) => t.location === 'REMOTE' && t.mid === mid)!;
    const remoteBefore = subscriberBefore.stats.tracks.find((t) => t.location === 'REMOTE' && t.mid === mid)!;
    expect(remote.packetsLost).toBeGreaterThan(remoteBefore.packetsLost);
    expect(remote.fractionLost).toBeGreaterThan(0);
    expect(remote.nackCount).toBeGreaterThan(remoteBefore.nackCount);
    expect(remote.score).toBeLessThan(9);
    expect(down.quality).not.toBe('EXCELLENT');
    // The publisher's uplink is fine now: its last word stays EXCELLENT.
    expect(changes(publisherEvents).at(-1)).toBe('EXCELLENT');

    await losses.pop()!.remove();
    await waitFor('the subscriber recovers', () => downlinkChanges().at(-1) === 'EXCELLENT', 20_000);
    await publisherEvents.close();
    await subscriberEvents.close();
  });
  it('closing the one lossy track of a session is a recovery: QUALITY_CHANGED EXCELLENT while the loss goes on', { timeout: 60_000 }, async () => {
    const { subscriber, mid } = await startVideoCall(server.url, cleanups);
    // The subscriber sends a camera of its own: its uplink is not dropped, so it keeps a good link after the pull closes.
    const own = fakeCamera(320, 240);
    cleanups.push(own.stop);
    const [pushed] = await subscriber.push([{ track: own.track, name: 'own' }]);
    expect(pushed!.error).toBeFalsy();
    const ws = wsClient(server.url);
    cleanups.push(() => void ws.dispose());
    const events = collect(ws, 'subscription($id: ID!) { sessionEvents(sessionId: $id) { type quality } }', { id: subscriber.sessionId }, (d) => d.sessionEvents);
    const changes = () => events.items.filter((e) => e.type === 'QUALITY_CHANGED').map((e) => e.quality as string);
    await sleep(2000);
    expect((await read(subscriber.sessionId)).quality).toBe('EXCELLENT');

    losses.push(await dropUdp({ port: await selectedLocalPort(subscriber.pc), match: 'to', percent: LOSS_PERCENT }));
    await waitFor('the subscriber drops', () => changes().some((q) => q !== 'EXCELLENT'), 20_000);
    // A reading just before the close: shared readings (under a second old) must not outlive the track.
    expect((await read(subscriber.sessionId)).stats.tracks.map((t) => t.location).sort()).toEqual(['LOCAL', 'REMOTE']);
    const [closed] = await subscriber.close([mid]);
    expect(closed!.error).toBeFalsy();
    const closedAt = Date.now();
    await waitFor('QUALITY_CHANGED EXCELLENT after the close', () => changes().at(-1) === 'EXCELLENT', 5000);
    console.log(`loss: the lossy pull closed -> ${changes().join(', ')}; EXCELLENT ${Date.now() - closedAt} ms after closeTracks, loss still on`);
    const after = await read(subscriber.sessionId);
    expect(after.quality).toBe('EXCELLENT');
    expect(after.stats.tracks.map((t) => t.location)).toEqual(['LOCAL']);
    await events.close();
  });
});
