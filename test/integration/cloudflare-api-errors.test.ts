import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { CloudflareApi } from '../helpers/cloudflareApi.js';
import { cloudflareClients, DOCUMENTED_DIFFERENCES } from '../helpers/cloudflareClients.js';
import { expectCovered, expectEveryOperationCovered } from '../helpers/cloudflareCoverage.js';
import { startTestServer, useTestServer } from '../helpers/server.js';

/**
 * The Cloudflare Realtime SFU ("Calls") HTTPS API under /v1/apps/{appId},
 * driven exactly as Cloudflare's examples drive it: plain fetch with a JSON
 * string body and no Content-Type, libwebrtc PeerConnections, SFU offers
 * answered through /renegotiate. Every JSON body the API answers is checked
 * against the OpenAPI fixture (test/helpers/openapiShape.ts) by CloudflareApi.
 *
 * This file: what is not the happy path, and who may call. Request errors
 * answer Cloudflare's status and errorCode (and Switchyard's differences are
 * refused with a reason rather than half done), JSON bodies go as text/plain
 * or with no Content-Type as Cloudflare's echo sends them, a malformed path
 * or a client hanging up mid-body leaves the node serving; with APPS, the
 * app secret is the Bearer credential of its app only, and CORS allows the
 * configured origins.
 *
 * Each cloudflare-api-*.test.ts file states the operations of the fixture it
 * covers (COVERS below, its entry of test/helpers/cloudflareCoverage.ts) and
 * checks at its end that each answered its success status with a body the
 * walker checked.
 * This file also checks that the files' lists together are every operation
 * of the document but datachannels/update.
 */

/** The operations whose success this file shows (its entry of COVERAGE_BY_FILE). */
const COVERS = [
  'POST /apps/{appId}/sessions/new',
  'GET /apps/{appId}/sessions/{sessionId}',
  'POST /apps/{appId}/sessions/{sessionId}/tracks/new',
];

const checked = new Set<string>();
const usedDifferences = new Set<string>();

const SECRET_ACME = 'acme-secret-'.padEnd(40, 'a');
const SECRET_BETA = 'beta-secret-'.padEnd(40, 'b');
const ALLOWED_ORIGIN = 'http://app.example.test';

describe('the Cloudflare-compatible API, development mode (no apps: any appId)', () => {
  const file = useTestServer();
  const { api, newPc, newSession, getSession } = cloudflareClients(file, { checked, usedDifferences });

  it('request errors: unknown session 404 session_error, bad JSON 400 decoding_error, mixed tracks 400 invalid_params, out-of-order answer, too large, unknown paths 404; JSON as text/plain or with no Content-Type works', async () => {
    const cf = api();
    const unknownGet = await cf.call('GET', '/sessions/00000000-0000-0000-0000-000000000000');
    expect(unknownGet.status).toBe(404);
    expect(unknownGet.body).toEqual({ errorCode: 'session_error', errorDescription: expect.any(String) });
    const unknownPull = await cf.call('POST', '/sessions/no-such-session/tracks/new', { tracks: [{ location: 'remote', sessionId: 'x', trackName: 'y' }] });
    expect(unknownPull.status).toBe(404);
    expect(unknownPull.body.errorCode).toBe('session_error');

    const client = await newSession(cf);
    const badJson = await cf.call('POST', `/sessions/${client.sessionId}/tracks/new`, undefined, { raw: '{"tracks": [', contentType: 'application/json' });
    expect(badJson.status).toBe(400);
    expect(badJson.body).toEqual({ errorCode: 'decoding_error', errorDescription: expect.any(String) });

    const mixed = await cf.call('POST', `/sessions/${client.sessionId}/tracks/new`, {
      tracks: [{ location: 'local', trackName: 'a', kind: 'audio' }, { location: 'remote', sessionId: client.sessionId, trackName: 'b' }],
    });
    expect(mixed.status).toBe(400);
    expect(mixed.body).toEqual({ errorCode: 'invalid_params', errorDescription: expect.stringContaining('local') });
    expect((await getSession(cf, client.sessionId)).tracks).toEqual([]);

    // An answer with no SFU offer waiting is out of order.
    const { pc } = newPc();
    pc.createDataChannel('x');
    const stray = await pc.createOffer();
    const answer = await cf.call('PUT', `/sessions/${client.sessionId}/renegotiate`, { sessionDescription: { sdp: stray.sdp, type: 'answer' } });
    expect(answer.status).toBe(400);
    expect(answer.body.errorCode).toBe('invalid_session_description');

    // Switchyard's differences, refused with a reason rather than half done: establish with an answer; no thirdparty sessions.
    const ask = await cf.call('POST', `/sessions/${client.sessionId}/datachannels/establish`, { dataChannel: { location: 'remote', dataChannelName: 'server-events' }, sessionDescription: { type: 'answer', sdp: 'v=0' } });
    expect(ask.status).toBe(400);
    expect(ask.body).toEqual({ errorCode: 'invalid_params', errorDescription: expect.stringContaining('offer') });
    const thirdparty = await cf.newSession(undefined, '?thirdparty=true');
    expect(thirdparty.status).toBe(400);
    expect(thirdparty.body).toEqual({ errorCode: 'invalid_params', errorDescription: expect.stringContaining('ICE-lite') });

    const huge = await cf.call('POST', `/sessions/${client.sessionId}/tracks/new`, { tracks: [], padding: 'x'.repeat(300 * 1024) });
    expect(huge.status).toBe(413);
    expect(huge.body.errorCode).toBe('payload_too_large');

    for (const [method, path] of [
      ['GET', '/nothing-here'],
      ['POST', `/sessions/${client.sessionId}/tracks/nothing`],
      ['GET', `/sessions/${client.sessionId}/tracks/new`],
      ['DELETE', `/sessions/${client.sessionId}`],
      ['GET', '/sessions/new'],
    ] as const) {
      const response = await cf.call(method, path);
      expect(response.status, `${method} ${path}`).toBe(404);
      expect(response.body.errorCode).toBe('not_found');
    }

    // fetch labels a string body text/plain (what Cloudflare's echo sends); a byte body goes with no Content-Type at all.
    const plain = await cf.call('POST', `/sessions/${client.sessionId}/tracks/new`, { tracks: [{ location: 'local', trackName: 'a', kind: 'audio' }] }, { contentType: 'text/plain;charset=UTF-8' });
    expect(plain.status).toBe(200);
    expect(plain.body.tracks).toEqual([{ trackName: 'a', mid: expect.any(String) }]);
    const bytes = new TextEncoder().encode(JSON.stringify({ tracks: [{ location: 'remote', sessionId: client.sessionId, trackName: 'nobody' }] }));
    const untyped = await cf.call('POST', `/sessions/${client.sessionId}/tracks/new`, undefined, { raw: bytes });
    expect(untyped.status).toBe(200);
    expect(untyped.body.tracks[0].errorCode).toBe('not_found_track_error');
  });

  it('a malformed path or a client that hangs up mid-body is answered, and the node goes on (neither may escape as an unhandled rejection)', async () => {
    const cf = api();
    for (const [method, path] of [
      ['POST', '/sessions/%E0%A4%A/tracks/new'],
      ['GET', '/sessions/%E0%A4%A'],
    ] as const) {
      const response = await cf.call(method, path);
      expect(response.status, path).toBe(404);
      expect(response.body.errorCode).toBe('not_found');
    }
    const badApp = await fetch(`${file.server.url}/v1/apps/%E0%A4%A/sessions/new`, { method: 'POST' });
    expect(badApp.status).toBe(404);

    // A body announced as 1000 bytes, cut off after a few: vitest fails the run on an unhandled rejection.
    const { port } = new URL(file.server.url);
    await new Promise<void>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () => {
        socket.write('POST /v1/apps/my-app/sessions/new HTTP/1.1\r\nHost: switchyard\r\nContent-Length: 1000\r\n\r\n{"sessionDescription":');
        setTimeout(() => {
          socket.destroy();
          resolve();
        }, 200);
      });
      socket.on('error', reject);
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await cf.newSession()).status).toBe(201);
  });
});

describe('the Cloudflare-compatible API with apps configured (APPS)', () => {
  let server: Switchyard;
  beforeAll(async () => {
    server = await startTestServer({ WORKERS: '1', APPS: `acme:${SECRET_ACME},beta:${SECRET_BETA}`, CORS_ORIGINS: ALLOWED_ORIGIN });
  });
  afterAll(async () => {
    await server?.stop();
  });
  const as = (appId: string, secret: string | undefined) => new CloudflareApi(server.url, appId, secret, DOCUMENTED_DIFFERENCES, checked, usedDifferences);

  it('Authorization: Bearer <app secret> of the app in the path: 201; none, a wrong one or another app\'s is 401 unauthorized', async () => {
    const acme = as('acme', SECRET_ACME);
    const created = await acme.newSession();
    expect(created.status).toBe(201);
    const sessionId = created.body.sessionId as string;

    for (const [appId, secret] of [
      ['acme', undefined],
      ['acme', 'not-the-secret-of-any-app-0123456789abcdef'],
      ['acme', SECRET_BETA],
      ['nobody', SECRET_ACME],
    ] as const) {
      const refused = await as(appId, secret).newSession();
      expect(refused.status, `${appId} with ${secret ?? 'no credentials'}`).toBe(401);
      expect(refused.body).toEqual({ errorCode: 'unauthorized', errorDescription: expect.any(String) });
    }
    const wrongScheme = await acme.call('GET', `/sessions/${sessionId}`, undefined, { authorization: `Basic ${SECRET_ACME}` });
    expect(wrongScheme.status).toBe(401);
    expect((await acme.call('GET', `/sessions/${sessionId}`)).status).toBe(200);
    // Another app's session ids answer as ids that do not exist.
    const foreign = await as('beta', SECRET_BETA).call('GET', `/sessions/${sessionId}`);
    expect(foreign.status).toBe(404);
    expect(foreign.body.errorCode).toBe('session_error');
  });

  it('CORS: a preflight from an allowed origin allows PUT and the Authorization header; other origins get no CORS headers', async () => {
    const preflight = (origin: string) =>
      fetch(`${server.url}/v1/apps/acme/sessions/some-session/renegotiate`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'PUT', 'access-control-request-headers': 'authorization' },
      });
    const allowed = await preflight(ALLOWED_ORIGIN);
    expect(allowed.status).toBeLessThan(300);
    expect(allowed.headers.get('access-control-allow-origin')).toBe(ALLOWED_ORIGIN);
    expect(allowed.headers.get('access-control-allow-methods')?.split(/,\s*/)).toContain('PUT');
    expect(allowed.headers.get('access-control-allow-headers')?.toLowerCase().split(/,\s*/)).toContain('authorization');
    expect(allowed.headers.get('vary')).toMatch(/origin/i);

    const other = await preflight('http://elsewhere.example.test');
    expect(other.headers.get('access-control-allow-origin')).toBeNull();

    // The actual request from the allowed origin carries the CORS header too (and Vary: Origin, as the document declares).
    const acme = as('acme', SECRET_ACME);
    const created = await acme.call('POST', '/sessions/new', undefined, { headers: { origin: ALLOWED_ORIGIN } });
    expect(created.status).toBe(201);
    expect(created.headers.get('access-control-allow-origin')).toBe(ALLOWED_ORIGIN);
    expect(created.headers.get('vary')).toMatch(/origin/i);
  });
});

describe('what the checks above covered', () => {
  it('every operation this file covers answered its success status with a body the walker checked', () => {
    // Only meaningful when the whole file ran; a filtered run (-t) skips this test with the others.
    expectCovered('cloudflare-api-errors.test.ts', COVERS, checked);
    expect([...usedDifferences]).toEqual([]);
  });

  it('the cloudflare-api-*.test.ts files together cover every operation of the document but the canReply update', () => {
    expectEveryOperationCovered();
  });
});
