import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { mintClientToken } from '../../src/auth/tokens.js';
import { errorCode, gql, gqlOk } from '../helpers/graphql.js';
import { fakeCamera } from '../helpers/media.js';
import { TestPeer } from '../helpers/peer.js';
import { startTestServer } from '../helpers/server.js';
import { collect, wsClient } from '../helpers/subscriptions.js';

const APP = { id: 'acme', secret: `acme-${'s'.repeat(40)}` };
const FORCE_CLOSE = `mutation($id: ID!) {
  closeTracks(input: { sessionId: $id, mids: ["99"], force: true }) { tracks { error { code } } }
}`;
const SESSION = 'query($id: ID!) { session(id: $id) { id tracks { mid location track { name } } } }';

describe('limits of a production node', () => {
  let server: Switchyard;
  const stops: (() => unknown)[] = [];

  beforeAll(async () => {
    server = await startTestServer({
      WORKERS: '1',
      NODE_ENV: 'production',
      APPS: `${APP.id}:${APP.secret}`,
      MAX_SUBSCRIPTIONS_PER_CONNECTION: '3',
      MAX_SDP_BYTES: '8192',
      MAX_REQUEST_BYTES: '16384',
      MAX_SESSIONS_PER_SUBJECT: '2',
    });
  });

  afterAll(async () => {
    for (const stop of stops.reverse()) await stop();
    await server?.stop();
  });

  it('allows 50 mutations per second per session, then RATE_LIMITED, and the budget comes back', async () => {
    const busy = new TestPeer(server.url, APP.secret);
    const calm = new TestPeer(server.url, APP.secret);
    stops.push(() => busy.stop(), () => calm.stop());
    await busy.createSession();
    await calm.createSession();
    // A whole fresh second for the burst: the budget is counted per second.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const burst = await Promise.all(Array.from({ length: 60 }, () => gql(server.url, FORCE_CLOSE, { id: busy.sessionId }, APP.secret)));
    const codes = burst.map((r) => errorCode(r) ?? 'ok');
    expect(codes.filter((c) => c === 'ok').length).toBe(50);
    expect(codes.filter((c) => c === 'RATE_LIMITED').length).toBe(10);
    const limited = burst.find((r) => errorCode(r) === 'RATE_LIMITED')!;
    expect(limited.errors![0]!.message).toMatch(/more than 50 mutations of session \S+ in a second; retry in \d+ ms/);
    // Another session's budget is its own.
    expect(errorCode(await gql(server.url, FORCE_CLOSE, { id: calm.sessionId }, APP.secret))).toBeUndefined();
    // Queries are not mutations.
    expect(errorCode(await gql(server.url, SESSION, { id: busy.sessionId }, APP.secret))).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(errorCode(await gql(server.url, FORCE_CLOSE, { id: busy.sessionId }, APP.secret))).toBeUndefined();
  });

  it('caps the live sessions of one client-token subject', async () => {
    const zoe = await mintClientToken({ appId: APP.id, secret: APP.secret, subject: 'zoe', grant: { createSession: true } });
    const create = () => gql(server.url, 'mutation { createSession { session { id } } }', {}, zoe);
    const first = await create();
    expect(errorCode(await create())).toBeUndefined();
    const third = await create();
    expect(errorCode(third)).toBe('LIMIT_EXCEEDED');
    expect(third.errors![0]!.message).toMatch(/already holds 2 sessions/);
    // Another subject has its own cap; closing one makes room.
    const yann = await mintClientToken({ appId: APP.id, secret: APP.secret, subject: 'yann', grant: { createSession: true } });
    expect(errorCode(await gql(server.url, 'mutation { createSession { session { id } } }', {}, yann))).toBeUndefined();
    await gqlOk(server.url, 'mutation($id: ID!) { closeSession(input: { sessionId: $id }) { sessionId } }', { id: first.data!.createSession.session.id }, zoe);
    expect(errorCode(await create())).toBeUndefined();
  });

  it('refuses an SDP over MAX_SDP_BYTES with LIMIT_EXCEEDED and keeps the session as it was', async () => {
    const peer = new TestPeer(server.url, APP.secret);
    stops.push(() => peer.stop());
    await peer.createSession();
    const camera = fakeCamera(160, 120);
    stops.push(camera.stop);
    peer.pc.addTransceiver(camera.track, { direction: 'sendonly' });
    const offer = await peer.pc.createOffer();
    const padded = offer.sdp!.replace('a=group:BUNDLE', `a=x-padding:${'p'.repeat(9000)}\r\na=group:BUNDLE`);
    const result = await gql(
      server.url,
      'mutation($input: PushTracksInput!) { pushTracks(input: $input) { tracks { mid } } }',
      { input: { sessionId: peer.sessionId, sessionDescription: { type: 'OFFER', sdp: padded }, tracks: [{ mid: '1', trackName: 'cam' }] } },
      APP.secret,
    );
    expect(errorCode(result)).toBe('LIMIT_EXCEEDED');
    expect((await gqlOk(server.url, SESSION, { id: peer.sessionId }, APP.secret)).session.tracks).toEqual([]);
  });

  it('refuses track names and tags out of bounds with BAD_REQUEST', async () => {
    const peer = new TestPeer(server.url, APP.secret);
    stops.push(() => peer.stop());
    await peer.createSession();
    const push = (trackName: string, tags: string[]) =>
      gql(
        server.url,
        'mutation($input: PushTracksInput!) { pushTracks(input: $input) { tracks { mid } } }',
        { input: { sessionId: peer.sessionId, tracks: [{ trackName, kind: 'VIDEO', tags }] } },
        APP.secret,
      );
    expect(errorCode(await push('x'.repeat(65), []))).toBe('BAD_REQUEST');
    expect(errorCode(await push('bad\nname', []))).toBe('BAD_REQUEST');
    expect(errorCode(await push('cam', ['t'.repeat(129)]))).toBe('BAD_REQUEST');
    expect(errorCode(await push('cam', Array.from({ length: 17 }, (_, i) => `t${i}`)))).toBe('BAD_REQUEST');
    expect((await gqlOk(server.url, SESSION, { id: peer.sessionId }, APP.secret)).session.tracks).toEqual([]);
  });

  it('refuses a request body over MAX_REQUEST_BYTES before reading it', async () => {
    const response = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${APP.secret}` },
      body: JSON.stringify({ query: '{ tracks { name } }', variables: { pad: 'x'.repeat(20_000) } }),
    });
    expect(response.status).toBe(413);
    expect(((await response.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe('LIMIT_EXCEEDED');
  });

  it('bounds the operations one graphql-ws connection runs at once', async () => {
    const client = wsClient(server.url, APP.secret);
    stops.push(() => client.dispose());
    const query = 'subscription($t: [String!]) { trackEvents(filter: { tags: $t }) { type } }';
    const subs = Array.from({ length: 4 }, (_, i) => collect(client, query, { t: [`room:${i}`] }, (d) => d));
    stops.push(...subs.map((s) => () => s.close()));
    const deadline = Date.now() + 5000;
    while (subs.every((s) => s.errors.length === 0) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    const refused = subs.filter((s) => s.errors.length > 0);
    expect(refused).toHaveLength(1);
    expect(JSON.stringify(refused[0]!.errors)).toMatch(/LIMIT_EXCEEDED/);
    // Completing one makes room for another.
    await subs[0]!.close();
    await new Promise((resolve) => setTimeout(resolve, 200));
    const next = collect(client, query, { t: ['room:next'] }, (d) => d);
    stops.push(() => next.close());
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(next.errors).toEqual([]);
  });

  it('answers no introspection and no field suggestions, and serves no GraphiQL', async () => {
    const introspection = await gql(server.url, '{ __schema { types { name } } }', {}, APP.secret);
    expect(errorCode(introspection)).toBe('BAD_REQUEST');
    expect(introspection.data ?? null).toBeNull();
    const typo = await gql(server.url, '{ trakcs { name } }', {}, APP.secret);
    expect(errorCode(typo)).toBe('BAD_REQUEST');
    expect(typo.errors![0]!.message).not.toMatch(/Did you mean/);
    const page = await fetch(`${server.url}/graphql`, { headers: { accept: 'text/html' } });
    expect((await page.text()).toLowerCase()).not.toContain('graphiql');
  });
});
