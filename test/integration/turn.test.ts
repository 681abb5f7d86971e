import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { mintClientToken } from '../../src/auth/tokens.js';
import { turnPassword } from '../../src/turn/iceServers.js';
import { startCoturn, type TestCoturn } from '../helpers/coturn.js';
import { errorCode, gql, gqlOk } from '../helpers/graphql.js';
import { fakeCamera, pullVideo, waitFor } from '../helpers/media.js';
import { TestPeer } from '../helpers/peer.js';
import { whepPlay, whipPublish } from '../helpers/whipClients.js';
import { startTestServer } from '../helpers/server.js';

/**
 * TURN: Debian's coturn beside Switchyard, sharing a secret (use-auth-secret).
 * A libwebrtc client that may only use relays (iceTransportPolicy 'relay')
 * connects with the credentials Switchyard hands out; forged and expired
 * ones get no relay, so such a client never connects.
 */
const SECRET = 'turn-test-app-secret-0123456789-abcdef';
const TURN_SECRET = 'coturn-shared-secret-for-the-test';
const ICE_SERVERS = 'query($ttl: Int) { iceServers(ttlSeconds: $ttl) { iceServers { urls username credential } expiresAt } }';

let coturn: TestCoturn;
let server: Switchyard;
const cleanups: (() => void)[] = [];

beforeAll(async () => {
  coturn = await startCoturn(TURN_SECRET);
  server = await startTestServer({
    WORKERS: '1',
    APPS: `acme:${SECRET}`,
    TURN_URLS: `stun:127.0.0.1:${coturn.port},${coturn.url}`,
    TURN_SECRET,
    TURN_CREDENTIAL_TTL_S: '600',
  });
});

afterEach(() => {
  for (const cleanup of cleanups.reverse()) cleanup();
  cleanups.length = 0;
});

afterAll(async () => {
  await server?.stop();
  await coturn?.stop();
});

type IceServerData = { urls: string[]; username: string | null; credential: string | null };

const asRtc = (servers: IceServerData[]): RTCIceServer[] =>
  servers.map((s) => ({ urls: s.urls, ...(s.username ? { username: s.username, credential: s.credential as string } : {}) }));

/** A relay-only peer: every candidate it gathers is a relay, so connecting at all means through coturn. */
function relayPeer(iceServers: RTCIceServer[]) {
  const peer = new TestPeer(server.url, SECRET, { iceServers, iceTransportPolicy: 'relay' });
  cleanups.push(() => peer.stop());
  const candidates: string[] = [];
  peer.pc.addEventListener('icecandidate', (event: RTCPeerConnectionIceEvent) => {
    if (event.candidate?.candidate) candidates.push(event.candidate.candidate);
  });
  return { peer, candidates };
}

describe('TURN credentials (query iceServers) with coturn', () => {
  it('a relay-only client connects through coturn with them, and its video reaches a subscriber', { timeout: 30_000 }, async () => {
    const before = Date.now();
    const { iceServers } = await gqlOk(server.url, ICE_SERVERS, {}, SECRET);
    expect(iceServers.iceServers).toEqual([
      { urls: [`stun:127.0.0.1:${coturn.port}`], username: null, credential: null },
      { urls: [coturn.url], username: expect.stringMatching(/^\d+:acme$/), credential: expect.any(String) },
    ]);
    const expiry = Number((iceServers.iceServers[1].username as string).split(':')[0]);
    expect(expiry * 1000).toBeGreaterThanOrEqual(before + 600_000 - 1000);
    expect(expiry * 1000).toBeLessThanOrEqual(Date.now() + 600_000);
    expect(new Date(iceServers.expiresAt).getTime()).toBe(expiry * 1000);

    const { peer, candidates } = relayPeer(asRtc(iceServers.iceServers));
    const cam = fakeCamera(160, 120);
    cleanups.push(cam.stop);
    await peer.createSession();
    await peer.push([{ track: cam.track, name: 'cam' }]);
    await waitFor('the relayed publisher connects', () => peer.pc.connectionState === 'connected', 15_000);
    expect(candidates.length).toBeGreaterThan(0);
    expect(candidates.every((c) => / typ relay /.test(c))).toBe(true);
    // coturn allocated a relay for the username Switchyard made.
    expect(coturn.log()).toContain(iceServers.iceServers[1].username);

    const subscriber = new TestPeer(server.url, SECRET);
    cleanups.push(() => subscriber.stop());
    await subscriber.createSession();
    const { video } = await pullVideo(subscriber, { sessionId: peer.sessionId, trackName: 'cam' }, cleanups, 10, 'frames sent through the relay');
    console.log(`TURN: relay-only publisher connected; candidates ${candidates.length} (all relay); subscriber decoded ${video.stats.frames} frames`);
  });

  it('forged and expired credentials get no relay: a relay-only client never connects', { timeout: 30_000 }, async () => {
    const { iceServers } = await gqlOk(server.url, ICE_SERVERS, {}, SECRET);
    const good = iceServers.iceServers[1] as IceServerData;
    const forged: RTCIceServer = { urls: good.urls, username: good.username as string, credential: turnPassword('not-the-shared-secret', good.username as string) };
    // Signed with the right secret, but its expiry is a minute ago.
    const pastUsername = `${Math.floor(Date.now() / 1000) - 60}:acme`;
    const expired: RTCIceServer = { urls: good.urls, username: pastUsername, credential: turnPassword(TURN_SECRET, pastUsername) };

    for (const [what, server_] of [['forged', forged], ['expired', expired]] as const) {
      const { peer, candidates } = relayPeer([server_]);
      await peer.createSession();
      const cam = fakeCamera(160, 120);
      cleanups.push(cam.stop);
      await peer.push([{ track: cam.track, name: `cam-${what}` }]);
      await waitFor(`${what}: ICE gathering ends`, () => peer.pc.iceGatheringState === 'complete', 15_000);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(candidates, `${what} credentials`).toEqual([]);
      expect(peer.pc.connectionState, `${what} credentials`).not.toBe('connected');
      expect(server.sessions.get(peer.sessionId)?.connectionState).not.toBe('CONNECTED');
    }
    // coturn said why.
    expect(coturn.log()).toMatch(/401/);
  });

  it('ttlSeconds within bounds; client tokens get credentials only with a grant to connect', async () => {
    const short = await gqlOk(server.url, ICE_SERVERS, { ttl: 120 }, SECRET);
    const expiry = Number((short.iceServers.iceServers[1].username as string).split(':')[0]);
    expect(Math.abs(expiry * 1000 - (Date.now() + 120_000))).toBeLessThan(2000);
    for (const ttl of [59, 172_801]) {
      const refused = await gql(server.url, ICE_SERVERS, { ttl }, SECRET);
      expect(errorCode(refused)).toBe('BAD_REQUEST');
      expect(refused.errors?.[0]?.message).toBe('ttlSeconds must be from 60 to 172800');
    }

    const viewer = await mintClientToken({ appId: 'acme', secret: SECRET, subject: 'viewer-7', grant: { createSession: true, pull: { tags: ['room:a'] } } });
    const granted = await gqlOk(server.url, ICE_SERVERS, {}, viewer);
    expect(granted.iceServers.iceServers[1].username).toMatch(/^\d+:acme\/viewer-7$/);
    const nothing = await mintClientToken({ appId: 'acme', secret: SECRET, subject: 'reader', grant: {} });
    const refused = await gql(server.url, ICE_SERVERS, {}, nothing);
    expect(errorCode(refused)).toBe('FORBIDDEN');
    expect(errorCode(await gql(server.url, ICE_SERVERS, {}))).toBe('UNAUTHENTICATED');
  });

  it('without TURN configured: no relays and no expiry, and a bad ttlSeconds is still BAD_REQUEST', async () => {
    const plain = await startTestServer({ WORKERS: '1' });
    try {
      expect((await gqlOk(plain.url, ICE_SERVERS, { ttl: 600 })).iceServers).toEqual({ iceServers: [], expiresAt: null });
      const refused = await gql(plain.url, ICE_SERVERS, { ttl: 30 });
      expect(errorCode(refused)).toBe('BAD_REQUEST');
      expect(refused.errors?.[0]?.message).toBe('ttlSeconds must be from 60 to 172800');
    } finally {
      await plain.stop();
    }
  });

  it('WHIP and WHEP answers carry the relays as RFC 9725 Link headers, with credentials for the caller', { timeout: 30_000 }, async () => {
    const publisher = await whipPublish(server.url, 'turn-stream', '', { authorization: `Bearer ${SECRET}` });
    cleanups.push(publisher.close);
    expect(publisher.response.status).toBe(201);
    const links = (publisher.response.headers.get('link') ?? '').split(/,\s*(?=<)/);
    expect(links).toHaveLength(2);
    expect(links[0]).toBe(`<stun:127.0.0.1:${coturn.port}>; rel="ice-server"`);
    const turn = /^<(turn:[^>]+)>; rel="ice-server"; username="(\d+:acme)"; credential="([^"]+)"; credential-type="password"$/.exec(links[1]!);
    expect(turn, links[1]).not.toBeNull();
    expect(turn![1]).toBe(coturn.url);
    expect(turn![3]).toBe(turnPassword(TURN_SECRET, turn![2]!));
    await publisher.pc.setRemoteDescription({ type: 'answer', sdp: publisher.answer });

    const player = await whepPlay(server.url, '/whep/turn-stream', { headers: { authorization: `Bearer ${SECRET}` } });
    cleanups.push(player.close);
    expect([201, 406]).toContain(player.response.status);
    expect(player.response.headers.get('link')).toContain('rel="ice-server"; username="');
  });
});
