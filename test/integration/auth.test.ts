import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import type { Switchyard } from '../../src/app.js';
import type { GrantInput } from '../../src/auth/grant.js';
import { mintClientToken } from '../../src/auth/tokens.js';
import { errorCode, gql, gqlOk } from '../helpers/graphql.js';
import { publishCamera, startCall } from '../helpers/call.js';
import { fakeCamera, waitFor } from '../helpers/media.js';
import { TestPeer } from '../helpers/peer.js';
import { startTestServer } from '../helpers/server.js';
import { collect, wsClient } from '../helpers/subscriptions.js';

const ACME = { id: 'acme', secret: `acme-${'s'.repeat(40)}` };
const BETA = { id: 'beta', secret: `beta-${'s'.repeat(40)}` };

const CLOSE_SESSION = 'mutation($id: ID!) { closeSession(input: { sessionId: $id }) { sessionId } }';
const FORCE_CLOSE = `mutation($id: ID!, $mids: [String!]!) {
  closeTracks(input: { sessionId: $id, mids: $mids, force: true }) { tracks { mid error { code } } }
}`;
const PULL = `mutation($input: PullTracksInput!) {
  pullTracks(input: $input) { requiresImmediateRenegotiation tracks { sessionId trackName error { code message } } }
}`;
const SESSION = 'query($id: ID!) { session(id: $id) { id tracks { mid location status track { name } } } }';
const TRACKS = 'query($tags: [String!]) { tracks(filter: { tags: $tags }) { sessionId name tags } }';
const TRACK_EVENTS = 'subscription($tags: [String!]) { trackEvents(filter: { tags: $tags }) { type track { sessionId name } } }';

let server: Switchyard;
const stops: (() => unknown)[] = [];

const token = (grant: GrantInput, subject?: string, app = ACME) =>
  mintClientToken({ appId: app.id, secret: app.secret, grant, ...(subject ? { subject } : {}) });

/** A backend-made call of acme (a camera tagged room:lobby, pulled and decoded), and a track tagged room:secret. */
let call: Awaited<ReturnType<typeof startCall>>;
let publisher: TestPeer;
let subscriber: TestPeer;
let secretPublisher: TestPeer;

/** A session of acme's backend that publishes one camera. */
async function publish(trackName: string, tags: string[]): Promise<TestPeer> {
  const published = await publishCamera(server.url, ACME.secret, trackName, tags);
  stops.push(() => published.stop());
  return published.peer;
}

beforeAll(async () => {
  server = await startTestServer({ WORKERS: '2', APPS: `${ACME.id}:${ACME.secret},${BETA.id}:${BETA.secret}` });
  stops.push(() => server.stop());
  call = await startCall(server.url, { credential: ACME.secret, tags: ['room:lobby'] });
  stops.push(() => call.stop());
  ({ publisher, subscriber } = call);
  secretPublisher = await publish('cam', ['room:secret']);
});

afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
});

/** Media keeps flowing: more frames decoded over the next moment. */
const stillFlowing = () => call.stillFlowing();

describe('credentials', () => {
  it('refuses requests without credentials or with bad ones with UNAUTHENTICATED', async () => {
    expect(errorCode(await gql(server.url, '{ tracks { name } }'))).toBe('UNAUTHENTICATED');
    expect(errorCode(await gql(server.url, 'mutation { createSession { session { id } } }'))).toBe('UNAUTHENTICATED');
    expect(errorCode(await gql(server.url, '{ tracks { name } }', {}, 'not-a-secret'))).toBe('UNAUTHENTICATED');
    const foreign = await mintClientToken({ appId: 'acme', secret: 'x'.repeat(40), grant: { createSession: true } });
    expect(errorCode(await gql(server.url, 'mutation { createSession { session { id } } }', {}, foreign))).toBe('UNAUTHENTICATED');
    const response = await fetch(`${server.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ tracks { name } }"}' });
    expect(response.status).toBe(401);
    expect(server.sessions.sessionCount).toBe(3);
  });

  it('closes a graphql-ws connection without credentials with 4401', async () => {
    const socket = new WebSocket(`${server.url.replace('http', 'ws')}/graphql`, 'graphql-transport-ws');
    await new Promise((resolve) => socket.once('open', resolve));
    socket.send(JSON.stringify({ type: 'connection_init', payload: {} }));
    const [code, reason] = await new Promise<[number, string]>((resolve) => socket.once('close', (c, r) => resolve([c, r.toString()])));
    expect(code).toBe(4401);
    expect(reason).toMatch(/^UNAUTHENTICATED/);
  });
});

describe('a graphql-ws connection opened with a client token', () => {
  it('is closed with 4498 when the token expires, and a client with a token function carries on', async () => {
    const shortLived = await mintClientToken({ appId: ACME.id, secret: ACME.secret, grant: { pull: { tags: ['room:lobby'] } }, ttlSeconds: 2 });
    const client = wsClient(server.url, shortLived);
    stops.push(() => client.dispose());
    const closed = new Promise<{ code: number; reason: string }>((resolve) => client.on('closed', (event) => resolve(event as { code: number; reason: string })));
    const events = collect(client, TRACK_EVENTS, { tags: ['room:lobby'] }, (d) => d.trackEvents);
    stops.push(() => events.close());
    const started = Date.now();
    const { code, reason } = await closed;
    expect(code).toBe(4498);
    expect(reason).toMatch(/token has expired/);
    expect(Date.now() - started).toBeGreaterThan(500);
  });

  it('a graphql-ws client whose connectionParams mint fresh tokens keeps its subscription across expiries', async () => {
    let minted = 0;
    const client = createClient({
      url: `${server.url.replace('http', 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      retryAttempts: 5,
      retryWait: () => new Promise((resolve) => setTimeout(resolve, 100)),
      connectionParams: async () => {
        minted += 1;
        return { token: await mintClientToken({ appId: ACME.id, secret: ACME.secret, grant: { pull: { tags: ['room:renew'] } }, ttlSeconds: 1 }) };
      },
    });
    stops.push(() => client.dispose());
    const events = collect(client, TRACK_EVENTS, { tags: ['room:renew'] }, (d) => d.trackEvents);
    stops.push(() => events.close());
    await waitFor('the token expired and was renewed', () => minted >= 2, 5_000);
    await new Promise((resolve) => setTimeout(resolve, 300)); // subscribed again
    await publish('renewed', ['room:renew']);
    await events.waitFor(1);
    expect(events.items[0]).toMatchObject({ type: 'PUBLISHED', track: { name: 'renewed' } });
  });
});

describe('isolation between apps', () => {
  it('answers for another app\'s session exactly as for one that does not exist', async () => {
    const unknown = randomUUID();
    const onForeign = await gql(server.url, CLOSE_SESSION, { id: publisher.sessionId }, BETA.secret);
    const onUnknown = await gql(server.url, CLOSE_SESSION, { id: unknown }, BETA.secret);
    expect(errorCode(onForeign)).toBe('SESSION_NOT_FOUND');
    expect(onForeign.errors![0]!.message.replace(publisher.sessionId, 'ID')).toBe(onUnknown.errors![0]!.message.replace(unknown, 'ID'));

    const forced = await gql(server.url, FORCE_CLOSE, { id: subscriber.sessionId, mids: ['0', '1'] }, BETA.secret);
    expect(errorCode(forced)).toBe('SESSION_NOT_FOUND');
    expect((await gqlOk(server.url, SESSION, { id: publisher.sessionId }, BETA.secret)).session).toBeNull();
    const track = await gqlOk(server.url, 'query($s: ID!) { track(sessionId: $s, name: "cam") { name } }', { s: publisher.sessionId }, BETA.secret);
    expect(track.track).toBeNull();
    expect((await gqlOk(server.url, TRACKS, { tags: null }, BETA.secret)).tracks).toEqual([]);
    const events = await gql(server.url, 'subscription($id: ID!) { sessionEvents(sessionId: $id) { type } }', { id: publisher.sessionId }, BETA.secret);
    expect(errorCode(events)).toBe('SESSION_NOT_FOUND');
  });

  it('cannot pull another app\'s track: TRACK_NOT_FOUND, as for a track that is not published', async () => {
    const beta = new TestPeer(server.url, BETA.secret);
    stops.push(() => beta.stop());
    await beta.createSession();
    const data = await gqlOk(
      server.url,
      PULL,
      { input: { sessionId: beta.sessionId, tracks: [{ sessionId: publisher.sessionId, trackName: 'cam' }, { sessionId: publisher.sessionId, trackName: 'nope' }] } },
      BETA.secret,
    );
    const [foreign, missing] = data.pullTracks.tracks;
    expect(foreign.error.code).toBe('TRACK_NOT_FOUND');
    expect(foreign.error.message.replace('cam', 'X')).toBe(missing.error.message.replace('nope', 'X'));
    expect(data.pullTracks.requiresImmediateRenegotiation).toBe(false);
  });

  it('delivers none of another app\'s track events', async () => {
    const betaClient = wsClient(server.url, BETA.secret);
    const acmeClient = wsClient(server.url, ACME.secret);
    stops.push(() => betaClient.dispose(), () => acmeClient.dispose());
    const betaEvents = collect(betaClient, TRACK_EVENTS, { tags: ['room:iso'] }, (d) => d.trackEvents);
    const acmeEvents = collect(acmeClient, TRACK_EVENTS, { tags: ['room:iso'] }, (d) => d.trackEvents);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await publish('iso', ['room:iso']);
    await acmeEvents.waitFor(1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(betaEvents.items).toEqual([]);
    expect(betaEvents.errors).toEqual([]);
  });

  it('leaves the attacked sessions and their media untouched', async () => {
    const session = (await gqlOk(server.url, SESSION, { id: subscriber.sessionId }, ACME.secret)).session;
    expect(session.tracks.map((t: { location: string }) => t.location)).toEqual(['REMOTE']);
    await stillFlowing();
  });
});

describe('client tokens', () => {
  it('create sessions only with the createSession grant', async () => {
    const none = await token({});
    expect(errorCode(await gql(server.url, 'mutation { createSession { session { id } } }', {}, none))).toBe('FORBIDDEN');
    const peer = new TestPeer(server.url, await token({ createSession: true }, 'carol'));
    stops.push(() => peer.stop());
    await expect(peer.createSession()).resolves.toMatch(/-/);
  });

  it('act only on sessions their subject created or their grant names', async () => {
    const alice = await token({ createSession: true }, 'alice');
    const peer = new TestPeer(server.url, alice);
    stops.push(() => peer.stop());
    await peer.createSession();
    // The same subject with a fresh token still owns it; another subject does not.
    expect((await gqlOk(server.url, SESSION, { id: peer.sessionId }, await token({}, 'alice'))).session.id).toBe(peer.sessionId);
    const mallory = await token({ createSession: true }, 'mallory');
    expect(errorCode(await gql(server.url, CLOSE_SESSION, { id: peer.sessionId }, mallory))).toBe('FORBIDDEN');
    expect(errorCode(await gql(server.url, SESSION, { id: peer.sessionId }, mallory))).toBe('FORBIDDEN');
    expect(errorCode(await gql(server.url, FORCE_CLOSE, { id: subscriber.sessionId, mids: ['1'] }, alice))).toBe('FORBIDDEN');
    const events = await gql(server.url, 'subscription($id: ID!) { sessionEvents(sessionId: $id) { type } }', { id: subscriber.sessionId }, alice);
    expect(errorCode(events)).toBe('FORBIDDEN');
    const named = await token({ sessions: [peer.sessionId] }, 'support-desk');
    expect((await gqlOk(server.url, SESSION, { id: peer.sessionId }, named)).session.id).toBe(peer.sessionId);
    await stillFlowing();
  });

  it('publish only the names and tags their grant allows, and a refused push changes nothing', async () => {
    const grant = { createSession: true, publish: { names: ['cam-*'], tags: ['room:lobby', 'user:dave'] } };
    const peer = new TestPeer(server.url, await token(grant, 'dave'));
    stops.push(() => peer.stop());
    await peer.createSession();
    const camera = fakeCamera(160, 120);
    stops.push(camera.stop);
    await expect(peer.push([{ track: camera.track, name: 'screen', tags: ['room:lobby'] }])).rejects.toThrow(/FORBIDDEN/);
    await peer.setLocal({ type: 'rollback' } as RTCSessionDescriptionInit);
    await expect(peer.push([{ track: camera.track, name: 'cam-1', tags: ['room:secret'] }])).rejects.toThrow(/FORBIDDEN/);
    await peer.setLocal({ type: 'rollback' } as RTCSessionDescriptionInit);
    expect((await gqlOk(server.url, SESSION, { id: peer.sessionId }, ACME.secret)).session.tracks).toEqual([]);
    const results = await peer.push([{ track: camera.track, name: 'cam-1', tags: ['room:lobby', 'user:dave'] }]);
    expect(results[0]!.error).toBeNull();
  });

  it('pull and see only the tracks their grant allows', async () => {
    const erin = await token({ createSession: true, pull: { tags: ['room:lobby'] } }, 'erin');
    const peer = new TestPeer(server.url, erin);
    stops.push(() => peer.stop());
    await peer.createSession();
    const data = await gqlOk(
      server.url,
      PULL,
      { input: { sessionId: peer.sessionId, tracks: [{ sessionId: publisher.sessionId, trackName: 'cam' }, { sessionId: secretPublisher.sessionId, trackName: 'cam' }] } },
      erin,
    );
    const [lobby, secret] = data.pullTracks.tracks;
    expect(lobby.error).toBeNull();
    expect(secret.error.code).toBe('FORBIDDEN');
    const visible = (await gqlOk(server.url, TRACKS, { tags: null }, erin)).tracks;
    expect(visible.every((t: { tags: string[] }) => t.tags.includes('room:lobby'))).toBe(true);
    expect(visible.some((t: { sessionId: string }) => t.sessionId === publisher.sessionId)).toBe(true);
    expect(errorCode(await gql(server.url, 'query($s: ID!) { track(sessionId: $s, name: "cam") { name } }', { s: secretPublisher.sessionId }, erin))).toBe('FORBIDDEN');
  });

  it('subscribe only to the events of tracks their grant could pull', async () => {
    const frank = await token({ pull: { tags: ['room:open'] } }, 'frank');
    const client = wsClient(server.url, frank);
    stops.push(() => client.dispose());
    const events = collect(client, TRACK_EVENTS, { tags: null }, (d) => d.trackEvents);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const peer = new TestPeer(server.url, ACME.secret);
    const a = fakeCamera(160, 120);
    const b = fakeCamera(160, 120);
    stops.push(() => peer.stop(), a.stop, b.stop);
    await peer.createSession();
    await peer.push([
      { track: a.track, name: 'closed', tags: ['room:closed'] },
      { track: b.track, name: 'open', tags: ['room:open'] },
    ]);
    await events.waitFor(1);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(events.items.map((e: { track: { name: string } }) => e.track.name)).not.toContain('closed');
    expect(events.items[0]).toMatchObject({ type: 'PUBLISHED', track: { name: 'open' } });
  });
});
