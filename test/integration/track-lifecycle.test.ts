import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { gqlOk } from '../helpers/graphql.js';
import { fakeCamera, waitFor } from '../helpers/media.js';
import { TestPeer } from '../helpers/peer.js';
import { startTestServer } from '../helpers/server.js';

const INACTIVE_AFTER_MS = 600;
const UNPUBLISH_AFTER_MS = 2500;

describe('track status: WAITING, ACTIVE, INACTIVE, then unpublished', () => {
  let server: Switchyard;
  const stops: (() => void)[] = [];

  beforeAll(async () => {
    server = await startTestServer({
      WORKERS: '2',
      TRACK_INACTIVE_AFTER_MS: String(INACTIVE_AFTER_MS),
      TRACK_UNPUBLISH_AFTER_MS: String(UNPUBLISH_AFTER_MS),
    });
  });

  afterAll(async () => {
    for (const stop of stops) stop();
    await server?.stop();
  });

  const trackStatus = async (sessionId: string) =>
    (await gqlOk(server.url, 'query($s: ID!) { track(sessionId: $s, name: "camera") { status } }', { s: sessionId })).track?.status ?? null;
  const pulledStatus = async (sessionId: string) =>
    (await gqlOk(server.url, 'query($s: ID!) { session(id: $s) { tracks { status } } }', { s: sessionId })).session.tracks[0]?.status;

  it('follows the media of the track, and garbage-collects it after a long silence', async () => {
    const camera = fakeCamera(160, 120);
    const publisher = new TestPeer(server.url);
    const subscriber = new TestPeer(server.url);
    stops.push(camera.stop, () => publisher.stop(), () => subscriber.stop());
    await publisher.createSession();
    await subscriber.createSession();

    // The answer is not applied yet: nothing can have arrived.
    const offerOnly = publisher.pc.addTransceiver(camera.track, { direction: 'sendonly' });
    await publisher.setLocal(await publisher.pc.createOffer());
    const pushed = await gqlOk(
      server.url,
      'mutation($input: PushTracksInput!) { pushTracks(input: $input) { sessionDescription { sdp } } }',
      { input: { sessionId: publisher.sessionId, sessionDescription: { type: 'OFFER', sdp: publisher.localSdp }, tracks: [{ mid: offerOnly.mid, trackName: 'camera' }] } },
    );
    expect(await trackStatus(publisher.sessionId)).toBe('WAITING');
    await publisher.pc.setRemoteDescription({ type: 'answer', sdp: pushed.pushTracks.sessionDescription.sdp });
    await subscriber.pull([{ sessionId: publisher.sessionId, trackName: 'camera' }]);

    const t0 = Date.now();
    let status = await trackStatus(publisher.sessionId);
    while (status !== 'ACTIVE' && Date.now() - t0 < 10_000) status = await trackStatus(publisher.sessionId);
    expect(status).toBe('ACTIVE');
    await waitFor('subscriber connected', () => subscriber.pc.connectionState === 'connected');
    expect(await pulledStatus(subscriber.sessionId)).toBe('ACTIVE');

    // The camera stops sending frames.
    camera.stop();
    const stoppedAt = Date.now();
    while ((status = await trackStatus(publisher.sessionId)) === 'ACTIVE' && Date.now() - stoppedAt < 5_000) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(status).toBe('INACTIVE');
    expect(Date.now() - stoppedAt).toBeGreaterThanOrEqual(INACTIVE_AFTER_MS - 100);
    expect(await pulledStatus(subscriber.sessionId)).toBe('INACTIVE');

    while ((status = await trackStatus(publisher.sessionId)) !== null && Date.now() - stoppedAt < 10_000) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(status).toBeNull();
    expect(Date.now() - stoppedAt).toBeGreaterThanOrEqual(UNPUBLISH_AFTER_MS - 200);
    const publisherState = await gqlOk(server.url, 'query($s: ID!) { session(id: $s) { tracks { mid } } }', { s: publisher.sessionId });
    expect(publisherState.session.tracks).toEqual([]);
    expect(await pulledStatus(subscriber.sessionId)).toBe('INACTIVE');
  });
});
