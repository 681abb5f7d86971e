import { describe, expect, it } from 'vitest';
import { InvalidRequest } from '../../src/api/cloudflare/errors.js';
import { OperationFailed } from '../../src/api/cloudflare/tracks.js';
import { turnKeyCall } from '../../src/api/cloudflare/turnKeys.js';
import type { ExecuteOperation, OperationResult } from '../../src/api/http/inProcessGraphQL.js';
import { IceServerIssuer, turnPassword } from '../../src/turn/iceServers.js';

/**
 * The shapes of Cloudflare's TURN credential API over what the GraphQL
 * iceServers query answers (here: what the real issuer makes, as the query
 * returns it). The integration test (cloudflare-turn.test.ts) runs the route
 * on a node with coturn.
 */
const SECRET = 'coturn-shared-secret-for-the-unit';
const NOW = 1_800_000_000_000;
const issuer = new IceServerIssuer(
  { urls: ['stun:turn.example.com:3478', 'turn:turn.example.com:3478?transport=udp', 'turns:turn.example.com:443?transport=tcp'], secret: SECRET, defaultTtlS: 86_400, maxTtlS: 172_800 },
  () => NOW,
);

/** The iceServers query as GraphQL answers it: absent fields are null. */
function graphqlAnswer(ttl: number | null, from = issuer) {
  const grant = from.issue('acme', ttl);
  return { iceServers: { iceServers: grant.iceServers.map((s) => ({ urls: s.urls, username: s.username ?? null, credential: s.credential ?? null })) } };
}

function executor(answer: (variables: Record<string, unknown>) => OperationResult<unknown>) {
  const calls: { query: string; variables: Record<string, unknown>; authorization: string | undefined }[] = [];
  const execute = (async (query: string, variables: Record<string, unknown>, authorization: string | undefined) => {
    calls.push({ query, variables, authorization });
    return answer(variables);
  }) as ExecuteOperation;
  return { execute, calls };
}

const PATH = '/v1/turn/keys/acme/credentials/generate-ice-servers';
const run = (path: string, body: Record<string, unknown>, execute: ExecuteOperation) =>
  turnKeyCall('POST', path).run({ execute, authorization: 'Bearer app-secret', body });

describe('POST /v1/turn/keys/{keyId}/credentials/generate-ice-servers', () => {
  it('answers 201 { iceServers: [STUN { urls }, TURN { urls, username, credential }] } for the ttl asked', async () => {
    const { execute, calls } = executor((v) => ({ data: graphqlAnswer(v.ttl as number | null) }));
    const answer = await run(PATH, { ttl: 7200 }, execute);
    expect(answer.status).toBe(201);
    const username = `${NOW / 1000 + 7200}:acme`;
    expect(answer.body).toEqual({
      iceServers: [
        { urls: ['stun:turn.example.com:3478'] },
        { urls: ['turn:turn.example.com:3478?transport=udp', 'turns:turn.example.com:443?transport=tcp'], username, credential: turnPassword(SECRET, username) },
      ],
    });
    // The GraphQL iceServers query, with the caller's credentials.
    expect(calls).toEqual([{ query: expect.stringContaining('iceServers(ttlSeconds: $ttl)'), variables: { ttl: 7200 }, authorization: 'Bearer app-secret' }]);
    // Nothing else: the body passes to new RTCPeerConnection({ iceServers }) as it is.
    expect(JSON.stringify(answer.body)).not.toContain('null');
  });

  it('without ttl (or with null, or an empty body) the deployment\'s default lifetime', async () => {
    const { execute, calls } = executor((v) => ({ data: graphqlAnswer(v.ttl as number | null) }));
    for (const body of [{}, { ttl: null }]) expect((await run(PATH, body, execute)).status).toBe(201);
    expect(calls.map((c) => c.variables)).toEqual([{ ttl: null }, { ttl: null }]);
  });

  it('the older /credentials/generate answers one object with every URL, as Cloudflare first documented it', async () => {
    const { execute } = executor((v) => ({ data: graphqlAnswer(v.ttl as number | null) }));
    const answer = await run('/v1/turn/keys/acme/credentials/generate', { ttl: 600 }, execute);
    const username = `${NOW / 1000 + 600}:acme`;
    expect(answer).toEqual({
      status: 201,
      body: {
        iceServers: {
          urls: ['stun:turn.example.com:3478', 'turn:turn.example.com:3478?transport=udp', 'turns:turn.example.com:443?transport=tcp'],
          username,
          credential: turnPassword(SECRET, username),
        },
      },
    });
  });

  it('a ttl that is not an integer is invalid_params before any query; one out of range is the query\'s BAD_REQUEST, named ttl', async () => {
    const { execute, calls } = executor(() => ({ error: { code: 'BAD_REQUEST' as never, message: 'ttlSeconds must be from 60 to 172800' } }));
    for (const ttl of ['86400', 1.5, true]) {
      await expect(run(PATH, { ttl }, execute)).rejects.toMatchObject({ status: 400, errorCode: 'invalid_params', message: 'ttl must be an integer' });
    }
    expect(calls).toHaveLength(0);
    const refused = run(PATH, { ttl: 30 }, execute);
    await expect(refused).rejects.toBeInstanceOf(OperationFailed);
    await expect(refused).rejects.toMatchObject({ code: 'BAD_REQUEST', message: 'ttl must be from 60 to 172800' });
    // Past GraphQL's Int the query would fail validation (an INTERNAL error): clamped, it is out of range like any other.
    await expect(run(PATH, { ttl: 1e12 }, execute)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(run(PATH, { ttl: -1e12 }, execute)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    expect(calls.slice(1).map((c) => c.variables.ttl)).toEqual([2_147_483_647, -2_147_483_647]);
  });

  it('a deployment without TURN relays (none, or STUN only) answers 404 not_found, saying what to configure', async () => {
    const stunOnly = new IceServerIssuer({ urls: ['stun:turn.example.com:3478'], secret: SECRET, defaultTtlS: 600, maxTtlS: 600 });
    for (const from of [new IceServerIssuer(undefined), stunOnly]) {
      const { execute } = executor((v) => ({ data: graphqlAnswer(v.ttl as number | null, from) }));
      for (const path of [PATH, '/v1/turn/keys/acme/credentials/generate']) {
        await expect(run(path, {}, execute)).rejects.toMatchObject({ status: 404, errorCode: 'not_found', message: expect.stringContaining('TURN_URLS') });
      }
    }
  });

  it('the caller\'s refusal (FORBIDDEN, UNAUTHENTICATED) is passed on with its code', async () => {
    const { execute } = executor(() => ({ error: { code: 'FORBIDDEN' as never, message: 'this token may not connect a session, so it gets no TURN credentials' } }));
    await expect(run(PATH, {}, execute)).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });
});

describe('the TURN key paths', () => {
  it('names the key (still percent-encoded) for the router to authenticate', () => {
    expect(turnKeyCall('POST', PATH).keyId).toBe('acme');
    expect(turnKeyCall('POST', '/v1/turn/keys/my%20app/credentials/generate').keyId).toBe('my%20app');
  });

  it('anything else is Cloudflare\'s 404 not_found: other methods, other paths', () => {
    for (const [method, path] of [
      ['GET', PATH],
      ['PUT', PATH],
      ['POST', '/v1/turn/keys/acme/credentials'],
      ['POST', '/v1/turn/keys/acme/credentials/generate-ice-servers/extra'],
      ['POST', '/v1/turn/keys//credentials/generate'],
      ['POST', '/v1/turn/something'],
    ] as const) {
      expect(() => turnKeyCall(method, path), `${method} ${path}`).toThrow(InvalidRequest);
      try {
        turnKeyCall(method, path);
      } catch (error) {
        expect(error).toMatchObject({ status: 404, errorCode: 'not_found' });
      }
    }
  });

  it('revoke is refused with why, never a 204 that would say a credential is dead', async () => {
    const { execute, calls } = executor(() => ({ data: {} }));
    const call = turnKeyCall('POST', '/v1/turn/keys/acme/credentials/1800000600%3Aacme/revoke');
    expect(call.keyId).toBe('acme');
    await expect(call.run({ execute, authorization: undefined, body: {} })).rejects.toMatchObject({
      status: 400,
      errorCode: 'invalid_params',
      message: expect.stringContaining('cannot be revoked'),
    });
    expect(calls).toHaveLength(0);
  });
});
