import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { mintClientToken } from '../../src/auth/tokens.js';
import { errorCode, gql, gqlOk } from '../helpers/graphql.js';
import { fakeCamera, waitFor } from '../helpers/media.js';
import { dropUdp, localUdpPorts, type PacketLoss } from '../helpers/packetLoss.js';
import { TestPeer } from '../helpers/peer.js';
import { startTestServer } from '../helpers/server.js';

/**
 * Sessions without ICE consent checks (issue: "A session that never ends"):
 * only WHIP ingest and app backends may ask for them, and one whose client
 * vanishes is closed whatever it publishes, because nothing arrives from it.
 */
const APP = { id: 'acme', secret: 'acme-secret-0123456789abcdef-0123456789' };
const CREATE = 'mutation($input: CreateSessionInput) { createSession(input: $input) { session { id } sessionDescription { sdp } } }';
// TRACK_INACTIVE_AFTER_MS + RECONNECT_GRACE_MS: the silence after which such a session is gone.
const SILENCE_MS = 1_000 + 2_000;

describe('sessions without ICE consent checks', () => {
  let server: Switchyard;
  const cleanups: (() => unknown)[] = [];

  beforeAll(async () => {
    server = await startTestServer({ WORKERS: '1', APPS: `${APP.id}:${APP.secret}`, TRACK_INACTIVE_AFTER_MS: '1000', RECONNECT_GRACE_MS: '2000', RTC_TCP: 'false' });
  });

  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await server?.stop();
  });

  it('are refused to a client token (FORBIDDEN), and allowed to the app secret', async () => {
    const token = await mintClientToken({ appId: APP.id, secret: APP.secret, grant: { createSession: true }, subject: 'alice' });
    const refused = await gql(server.url, CREATE, { input: { iceConsentChecks: false } }, token);
    expect(errorCode(refused)).toBe('FORBIDDEN');
    expect(refused.errors?.[0]?.message).toMatch(/WHIP ingest and app backends/);
    expect(server.sessions.sessionCount).toBe(0);
    // The same token with consent checks, and the backend without: both fine.
    await gqlOk(server.url, CREATE, { input: { iceConsentChecks: true } }, token);
    await gqlOk(server.url, CREATE, { input: { iceConsentChecks: false } }, APP.secret);
    for (const id of server.sessions.sessionIds()) await server.sessions.closeSession(id);
  });

  it('one that only pulls stays while its client is there, and is closed once nothing arrives from it', async () => {
    const publisher = new TestPeer(server.url, APP.secret);
    const camera = fakeCamera(160, 120, 15);
    cleanups.push(() => camera.stop(), () => publisher.stop());
    await publisher.createSession();
    await publisher.push([{ track: camera.track, name: 'cam' }]);

    // A subscriber that publishes nothing, without consent checks (created by hand: TestPeer checks consent).
    const subscriber = new TestPeer(server.url, APP.secret);
    cleanups.push(() => subscriber.stop());
    subscriber.pc.createDataChannel('switchyard');
    const offer = await subscriber.setLocal(await subscriber.pc.createOffer());
    const created = await gqlOk(server.url, CREATE, { input: { iceConsentChecks: false, sessionDescription: { type: 'OFFER', sdp: offer } } }, APP.secret);
    await subscriber.pc.setRemoteDescription({ type: 'answer', sdp: created.createSession.sessionDescription.sdp });
    subscriber.sessionId = created.createSession.session.id;
    await subscriber.pull([{ sessionId: publisher.sessionId, trackName: 'cam' }]);
    await waitFor('the subscriber connects', () => server.sessions.get(subscriber.sessionId)?.connectionState === 'CONNECTED');

    // Twice the silence window with its client there (RTCP receiver reports keep arriving): kept.
    await new Promise((resolve) => setTimeout(resolve, 2 * SILENCE_MS + 1_000));
    expect(server.sessions.get(subscriber.sessionId)?.connectionState).toBe('CONNECTED');

    // The client vanishes without closing anything: every packet from each of its candidates' ports is dropped
    // (with only the selected one dropped, libwebrtc carries on from another). RTC_TCP is off: no TCP pairs to fall back on.
    for (const port of await localUdpPorts(subscriber.pc)) {
      const loss: PacketLoss = await dropUdp({ port, match: 'from', percent: 100 });
      cleanups.push(() => loss.remove());
    }
    const vanishedAt = Date.now();
    await waitFor('the vanished session is closed', () => server.sessions.get(subscriber.sessionId) === undefined, SILENCE_MS + 6_000);
    const closedAfter = Date.now() - vanishedAt;
    console.log(`no-consent session closed ${closedAfter} ms after its client vanished (silence window ${SILENCE_MS} ms, sampled every 2.5 s)`);
    expect(closedAfter).toBeGreaterThanOrEqual(SILENCE_MS - 500);
    // The publisher, which checks consent and still sends, is untouched.
    expect(server.sessions.get(publisher.sessionId)?.connectionState).toBe('CONNECTED');
  }, 40_000);
});
