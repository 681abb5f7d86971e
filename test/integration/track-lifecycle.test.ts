import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { gqlOk } from '../helpers/graphql.js';
import { fakeCamera, waitFor, watchVideo } from '../helpers/media.js';
import { TestPeer } from '../helpers/peer.js';
import { startTestServer } from '../helpers/server.js';
import { collect, wsClient } from '../helpers/subscriptions.js';

const INACTIVE_AFTER_MS = 600;
/** Longer than any quiet period that used to unpublish a track in the tests' settings. */
const LONG_SILENCE_MS = 3000;

describe('track status: WAITING, ACTIVE, INACTIVE while silent, ACTIVE again; never lost to silence', () => {
  let server: Switchyard;
  const stops: (() => void)[] = [];

  beforeAll(async () => {
    server = await startTestServer({ WORKERS: '2', TRACK_INACTIVE_AFTER_MS: String(INACTIVE_AFTER_MS) });
  });

  afterAll(async () => {
    for (const stop of stops) stop();
    await server?.stop();
  });

  const trackState = async (sessionId: string) =>
    (await gqlOk(server.url, 'query($s: ID!) { track(sessionId: $s, name: "camera") { status muted } }', { s: sessionId })).track as
      | { status: string; muted: boolean }
      | null;
  const trackStatus = async (sessionId: string) => (await trackState(sessionId))?.status ?? null;
  const pulledStatus = async (sessionId: string) =>
    (await gqlOk(server.url, 'query($s: ID!) { session(id: $s) { tracks { status } } }', { s: sessionId })).session.tracks[0]?.status;
  const untilStatus = async (sessionId: string, wanted: string, timeoutMs: number) => {
    const t0 = Date.now();
    let status = await trackStatus(sessionId);
    while (status !== wanted && Date.now() - t0 < timeoutMs) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      status = await trackStatus(sessionId);
    }
    return status;
  };

  it('follows the media of the track, keeps it through a long silence and carries it again when media returns', async () => {
    const camera = fakeCamera(160, 120);
    const publisher = new TestPeer(server.url);
    const subscriber = new TestPeer(server.url);
    stops.push(camera.stop, () => publisher.stop(), () => subscriber.stop());
    await publisher.createSession();
    await subscriber.createSession();

    // The answer is not applied yet: nothing can have arrived.
    const sending = publisher.pc.addTransceiver(camera.track, { direction: 'sendonly' });
    await publisher.setLocal(await publisher.pc.createOffer());
    const pushed = await gqlOk(
      server.url,
      'mutation($input: PushTracksInput!) { pushTracks(input: $input) { sessionDescription { sdp } } }',
      { input: { sessionId: publisher.sessionId, sessionDescription: { type: 'OFFER', sdp: publisher.localSdp }, tracks: [{ mid: sending.mid, trackName: 'camera' }] } },
    );
    expect(await trackStatus(publisher.sessionId)).toBe('WAITING');
    await publisher.pc.setRemoteDescription({ type: 'answer', sdp: pushed.pushTracks.sessionDescription.sdp });
    await subscriber.pull([{ sessionId: publisher.sessionId, trackName: 'camera' }]);

    expect(await untilStatus(publisher.sessionId, 'ACTIVE', 10_000)).toBe('ACTIVE');
    await waitFor('subscriber connected', () => subscriber.pc.connectionState === 'connected');
    expect(await pulledStatus(subscriber.sessionId)).toBe('ACTIVE');
    await waitFor('the subscriber receives the track', () => subscriber.received.size === 1);
    const video = watchVideo([...subscriber.received.values()][0]!);
    stops.push(video.stop);
    await waitFor('frames decoded', () => video.stats.frames > 5);

    // Muted the way the SDK advises: the sender sends nothing.
    await sending.sender.replaceTrack(null);
    const mutedAt = Date.now();
    expect(await untilStatus(publisher.sessionId, 'INACTIVE', 5_000)).toBe('INACTIVE');
    expect(Date.now() - mutedAt).toBeGreaterThanOrEqual(INACTIVE_AFTER_MS - 100);
    expect(await pulledStatus(subscriber.sessionId)).toBe('INACTIVE');

    // A long silence: still published, still pulled.
    await new Promise((resolve) => setTimeout(resolve, LONG_SILENCE_MS));
    expect(await trackStatus(publisher.sessionId)).toBe('INACTIVE');
    const subscriberState = await gqlOk(server.url, 'query($s: ID!) { session(id: $s) { tracks { mid location } } }', { s: subscriber.sessionId });
    expect(subscriberState.session.tracks).toHaveLength(1);

    // Media again, on the same transceivers: no new pull, no renegotiation.
    const framesBefore = video.stats.frames;
    const again = fakeCamera(160, 120);
    stops.push(again.stop);
    await sending.sender.replaceTrack(again.track);
    expect(await untilStatus(publisher.sessionId, 'ACTIVE', 5_000)).toBe('ACTIVE');
    expect(await pulledStatus(subscriber.sessionId)).toBe('ACTIVE');
    await waitFor('frames decoded again on the same received track', () => video.stats.frames > framesBefore + 5);
  });

  it('a publisher says a track is muted and unmuted; subscribers see it at once, the track stays', async () => {
    const camera = fakeCamera(160, 120);
    const publisher = new TestPeer(server.url);
    stops.push(camera.stop, () => publisher.stop());
    await publisher.createSession();
    await publisher.push([{ track: camera.track, name: 'camera', tags: ['mute-test'] }]);
    const ws = wsClient(server.url);
    stops.push(() => void ws.dispose());
    const events = collect(ws, 'subscription { trackEvents(filter: { tags: ["mute-test"] }) { type track { name muted } } }', {}, (d) => d.trackEvents);
    await new Promise((resolve) => setTimeout(resolve, 200));

    const mute = (muted: boolean) =>
      gqlOk(server.url, 'mutation($input: SetTrackMutedInput!) { setTrackMuted(input: $input) { track { name muted } } }', {
        input: { sessionId: publisher.sessionId, trackName: 'camera', muted },
      });
    const t0 = Date.now();
    expect((await mute(true)).setTrackMuted.track).toEqual({ name: 'camera', muted: true });
    await waitFor('a MUTED event', () => events.items.some((e) => e.type === 'MUTED'), 1000);
    const mutedEvent = events.items.find((e) => e.type === 'MUTED');
    expect(mutedEvent.track).toEqual({ name: 'camera', muted: true });
    expect(Date.now() - t0).toBeLessThan(1000);
    expect((await trackState(publisher.sessionId))?.muted).toBe(true);
    // Saying it twice changes nothing and announces nothing.
    await mute(true);
    await mute(false);
    await waitFor('an UNMUTED event', () => events.items.some((e) => e.type === 'UNMUTED'), 1000);
    expect(events.items.filter((e) => e.type === 'MUTED' || e.type === 'UNMUTED').map((e) => e.type)).toEqual(['MUTED', 'UNMUTED']);
    expect((await trackState(publisher.sessionId))?.muted).toBe(false);

    const unknown = await import('../helpers/graphql.js').then(({ gql }) =>
      gql(server.url, 'mutation { setTrackMuted(input: { sessionId: "' + publisher.sessionId + '", trackName: "nope", muted: true }) { track { name } } }'),
    );
    expect(unknown.errors?.[0]?.extensions?.code).toBe('TRACK_NOT_FOUND');
    await events.close();
  });
});
