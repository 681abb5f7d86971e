import { routePartyTracksRequest } from 'partytracks/server';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { mintClientToken } from '../../src/auth/tokens.js';
import { turnPassword } from '../../src/turn/iceServers.js';
import { startCoturn, type TestCoturn } from '../helpers/coturn.js';
import { fakeCamera, pullVideo, waitFor } from '../helpers/media.js';
import { TestPeer } from '../helpers/peer.js';
import { startTestServer } from '../helpers/server.js';

/**
 * Cloudflare's TURN credential API on Switchyard: POST
 * /v1/turn/keys/{keyId}/credentials/generate-ice-servers, where the key id is
 * an app id and its API token the app's secret. Debian's coturn runs beside
 * the node (as in turn.test.ts); a libwebrtc client that may use relays only
 * connects with what the route hands out, including when PartyTracks' own
 * server proxy asks for it.
 */
const SECRET = 'turn-key-test-app-secret-0123456789-abcdef';
const OTHER_SECRET = 'turn-key-test-beta-secret-0123456789-abcdef';
const TURN_SECRET = 'coturn-shared-secret-for-the-turn-key-test';
const APP_ORIGIN = 'https://app.example.com';

let coturn: TestCoturn;
let server: Switchyard;
const cleanups: (() => void)[] = [];

beforeAll(async () => {
  coturn = await startCoturn(TURN_SECRET);
  server = await startTestServer({
    WORKERS: '1',
    APPS: `acme:${SECRET},beta:${OTHER_SECRET}`,
    CORS_ORIGINS: APP_ORIGIN,
    TURN_URLS: `stun:127.0.0.1:${coturn.port},${coturn.url}`,
    TURN_SECRET,
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

const generate = (node: Switchyard, keyId: string, token: string | undefined, body: string | undefined = '{"ttl": 86400}', path = 'generate-ice-servers') =>
  fetch(`${node.url}/v1/turn/keys/${keyId}/credentials/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
    ...(body === undefined ? {} : { body }),
  });

type IceServerJson = { urls: string[]; username?: string; credential?: string };

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

/** Publishes a camera from a relay-only peer and checks that it connected through coturn, with media reaching a subscriber. */
async function connectThroughRelay(iceServers: IceServerJson[], name: string) {
  const { peer, candidates } = relayPeer(iceServers);
  const cam = fakeCamera(160, 120);
  cleanups.push(cam.stop);
  await peer.createSession();
  await peer.push([{ track: cam.track, name }]);
  await waitFor('the relayed publisher connects', () => peer.pc.connectionState === 'connected', 15_000);
  expect(candidates.length).toBeGreaterThan(0);
  expect(candidates.every((c) => / typ relay /.test(c))).toBe(true);
  const subscriber = new TestPeer(server.url, SECRET);
  cleanups.push(() => subscriber.stop());
  await subscriber.createSession();
  const { video } = await pullVideo(subscriber, { sessionId: peer.sessionId, trackName: name }, cleanups, 10, 'frames sent through the relay');
  return { candidates: candidates.length, frames: video.stats.frames };
}

describe('POST /v1/turn/keys/{appId}/credentials/generate-ice-servers with coturn', () => {
  it('answers Cloudflare\'s 201 { iceServers } with working credentials: a relay-only client connects through coturn', { timeout: 40_000 }, async () => {
    const before = Date.now();
    const response = await generate(server, 'acme', SECRET);
    expect(response.status).toBe(201);
    expect(response.headers.get('content-type')).toBe('application/json');
    const body = (await response.json()) as { iceServers: IceServerJson[] };
    expect(body).toEqual({
      iceServers: [
        { urls: [`stun:127.0.0.1:${coturn.port}`] },
        { urls: [coturn.url], username: expect.stringMatching(/^\d+:acme$/), credential: expect.any(String) },
      ],
    });
    const relay = body.iceServers[1]!;
    const expiry = Number(relay.username!.split(':')[0]);
    expect(expiry * 1000).toBeGreaterThanOrEqual(before + 86_400_000 - 1000);
    expect(expiry * 1000).toBeLessThanOrEqual(Date.now() + 86_400_000);
    expect(relay.credential).toBe(turnPassword(TURN_SECRET, relay.username!));

    const relayed = await connectThroughRelay(body.iceServers, 'cam');
    expect(coturn.log()).toContain(relay.username);
    console.log(`Cloudflare TURN route: relay-only publisher connected (${relayed.candidates} relay candidates), subscriber decoded ${relayed.frames} frames`);
  });

  it('PartyTracks\' server proxy (routePartyTracksRequest with turnServerAppId/Token) gets credentials its client uses as they are', { timeout: 40_000 }, async () => {
    // What the browser's partytracks client fetches from the app's server: `${prefix}/generate-ice-servers`.
    const response = await routePartyTracksRequest({
      appId: 'acme',
      token: SECRET,
      realtimeApiBaseUrl: `${server.url}/v1`,
      request: new Request('https://app.example.com/partytracks/generate-ice-servers'),
      turnServerAppId: 'acme',
      turnServerAppToken: SECRET,
      turnServerCredentialTTL: 3600,
    });
    expect(response.status).toBe(201);
    // The partytracks client reads it as `res.json().then(({ iceServers }) => iceServers)`.
    const { iceServers } = (await response.json()) as { iceServers: IceServerJson[] };
    expect(iceServers).toHaveLength(2);
    const expiry = Number(iceServers[1]!.username!.split(':')[0]);
    expect(Math.abs(expiry * 1000 - (Date.now() + 3_600_000))).toBeLessThan(5000);
    await connectThroughRelay(iceServers, 'partytracks-cam');
  });

  it('the older /credentials/generate answers one object with every URL', async () => {
    const response = await generate(server, 'acme', SECRET, '{"ttl": 600}', 'generate');
    expect(response.status).toBe(201);
    const { iceServers } = (await response.json()) as { iceServers: IceServerJson };
    expect(iceServers).toEqual({ urls: [`stun:127.0.0.1:${coturn.port}`, coturn.url], username: expect.stringMatching(/^\d+:acme$/), credential: expect.any(String) });
    expect(iceServers.credential).toBe(turnPassword(TURN_SECRET, iceServers.username!));
  });

  it('ttl is optional (TURN_CREDENTIAL_TTL_S), the body may come without Content-Type, and client tokens with a grant to connect may ask', async () => {
    const plain = await fetch(`${server.url}/v1/turn/keys/acme/credentials/generate-ice-servers`, { method: 'POST', headers: { authorization: `Bearer ${SECRET}` } });
    expect(plain.status).toBe(201);
    const { iceServers } = (await plain.json()) as { iceServers: IceServerJson[] };
    expect(Math.abs(Number(iceServers[1]!.username!.split(':')[0]) * 1000 - (Date.now() + 86_400_000))).toBeLessThan(5000);
    // As PartyTracks sends it: fetch with a string body, so text/plain.
    const text = await fetch(`${server.url}/v1/turn/keys/acme/credentials/generate-ice-servers`, { method: 'POST', headers: { authorization: `Bearer ${SECRET}` }, body: JSON.stringify({ ttl: 120 }) });
    expect(text.status).toBe(201);

    const viewer = await mintClientToken({ appId: 'acme', secret: SECRET, subject: 'viewer-7', grant: { createSession: true, pull: { tags: ['room:a'] } } });
    const granted = await generate(server, 'acme', viewer);
    expect(granted.status).toBe(201);
    expect(((await granted.json()) as { iceServers: IceServerJson[] }).iceServers[1]!.username).toMatch(/^\d+:acme\/viewer-7$/);
    const reader = await mintClientToken({ appId: 'acme', secret: SECRET, subject: 'reader', grant: {} });
    const refused = await generate(server, 'acme', reader);
    expect(refused.status).toBe(403);
    expect(await refused.json()).toEqual({ errorCode: 'unauthorized', errorDescription: 'this token may not connect a session, so it gets no TURN credentials' });
  });
});

describe('refusals, in Cloudflare\'s error shape', () => {
  const refusal = async (response: Response) => ({ status: response.status, body: (await response.json()) as { errorCode: string; errorDescription: string } });

  it('a wrong token and an unknown key get the same 401: the answer never tells whether a key exists', async () => {
    const wrongToken = await refusal(await generate(server, 'acme', 'not-the-api-token'));
    expect(wrongToken.status).toBe(401);
    expect(wrongToken.body.errorCode).toBe('unauthorized');
    // The same wrong token on a key that does not exist: the same answer.
    expect(await refusal(await generate(server, 'no-such-key', 'not-the-api-token'))).toEqual(wrongToken);
    // A real token on a key that is not its own: the same answer whether that key exists (beta) or not.
    const otherKey = await refusal(await generate(server, 'beta', SECRET));
    const unknownKey = await refusal(await generate(server, 'no-such-key', SECRET));
    expect(otherKey.status).toBe(401);
    expect({ ...unknownKey, body: { ...unknownKey.body, errorDescription: unknownKey.body.errorDescription.replace('no-such-key', 'beta') } }).toEqual(otherKey);
    expect((await refusal(await generate(server, 'acme', undefined))).status).toBe(401);
  });

  it('a bad ttl or body is 400: out of 60 to TURN_CREDENTIAL_MAX_TTL_S, not an integer, not JSON', async () => {
    for (const ttl of [0, 59, 172_801, 10 ** 12]) {
      const answer = await refusal(await generate(server, 'acme', SECRET, JSON.stringify({ ttl })));
      expect(answer, `ttl ${ttl}`).toEqual({ status: 400, body: { errorCode: 'invalid_params', errorDescription: 'ttl must be from 60 to 172800' } });
    }
    for (const ttl of ['86400', 1.5]) {
      expect(await refusal(await generate(server, 'acme', SECRET, JSON.stringify({ ttl })))).toEqual({ status: 400, body: { errorCode: 'invalid_params', errorDescription: 'ttl must be an integer' } });
    }
    expect((await refusal(await generate(server, 'acme', SECRET, '{"ttl": '))).body.errorCode).toBe('decoding_error');
  });

  it('revoke is refused with why; other methods and paths are not_found', async () => {
    const revoke = await refusal(await fetch(`${server.url}/v1/turn/keys/acme/credentials/1800000000%3Aacme/revoke`, { method: 'POST', headers: { authorization: `Bearer ${SECRET}` } }));
    expect(revoke.status).toBe(400);
    expect(revoke.body).toMatchObject({ errorCode: 'invalid_params', errorDescription: expect.stringContaining('cannot be revoked') });
    // Revoking needs the key too.
    expect((await fetch(`${server.url}/v1/turn/keys/acme/credentials/x/revoke`, { method: 'POST' })).status).toBe(401);
    const get = await refusal(await fetch(`${server.url}/v1/turn/keys/acme/credentials/generate-ice-servers`, { headers: { authorization: `Bearer ${SECRET}` } }));
    expect(get).toMatchObject({ status: 404, body: { errorCode: 'not_found' } });
  });

  it('CORS as the other Cloudflare routes: the allowed origin\'s preflight and answer carry its origin', async () => {
    const preflight = await fetch(`${server.url}/v1/turn/keys/acme/credentials/generate-ice-servers`, {
      method: 'OPTIONS',
      headers: { origin: APP_ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
    expect(preflight.headers.get('access-control-allow-methods')).toMatch(/POST/);
    expect(preflight.headers.get('access-control-allow-headers')).toMatch(/Authorization/);
    const answer = await fetch(`${server.url}/v1/turn/keys/acme/credentials/generate-ice-servers`, { method: 'POST', headers: { origin: APP_ORIGIN, authorization: `Bearer ${SECRET}` } });
    expect(answer.status).toBe(201);
    expect(answer.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
    const other = await fetch(`${server.url}/v1/turn/keys/acme/credentials/generate-ice-servers`, { method: 'OPTIONS', headers: { origin: 'https://evil.example.com', 'access-control-request-method': 'POST' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('without TURN configured: 404 not_found saying what to set, after the key is checked; a bad ttl is still 400', async () => {
    const plain = await startTestServer({ WORKERS: '1', APPS: `acme:${SECRET}` });
    try {
      expect(await refusal(await generate(plain, 'acme', SECRET))).toEqual({
        status: 404,
        body: { errorCode: 'not_found', errorDescription: 'this deployment hands out no TURN relays: its operator sets TURN_URLS and TURN_SECRET (docs/turn.md)' },
      });
      expect((await refusal(await generate(plain, 'acme', 'not-the-api-token'))).status).toBe(401);
      expect((await refusal(await generate(plain, 'acme', SECRET, '{"ttl": 30}'))).status).toBe(400);
    } finally {
      await plain.stop();
    }
  });
});
