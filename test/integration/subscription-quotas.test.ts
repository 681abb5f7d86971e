import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { CLOSE_TOKEN_EXPIRED, CLOSE_TOO_MANY_CONNECTIONS } from '../../src/api/websocket.js';
import type { GrantInput } from '../../src/auth/grant.js';
import { mintClientToken } from '../../src/auth/tokens.js';
import type { TrackView } from '../../src/tracks/PublishedTrack.js';
import { waitFor } from '../helpers/media.js';
import { startTestServer } from '../helpers/server.js';

/**
 * Connections and subscriptions are bounded per token subject and per app
 * across connections, graphql-ws and HTTP (SSE) alike, and given back however
 * they end (issue 23); a connection lives no longer than its token may.
 */
const ACME = { id: 'acme', secret: `acme-${'s'.repeat(40)}` };
const BETA = { id: 'beta', secret: `beta-${'s'.repeat(40)}` };
const TRACK_EVENTS = 'subscription { trackEvents(filter: { tags: ["room:q"] }) { type track { name } } }';

let server: Switchyard;

beforeAll(async () => {
  server = await startTestServer({
    WORKERS: '1',
    NODE_ENV: 'production',
    APPS: `${ACME.id}:${ACME.secret},${BETA.id}:${BETA.secret}`,
    MAX_CONNECTIONS_PER_SUBJECT: '3',
    MAX_SUBSCRIPTIONS_PER_SUBJECT: '4',
    MAX_CONNECTIONS_PER_APP: '6',
    MAX_SUBSCRIPTIONS_PER_APP: '8',
  });
});

afterAll(async () => {
  await server?.stop();
});

const census = () => server.api.census();
const token = (subject: string | undefined, grant: GrantInput = { pull: { tags: ['room:q'] } }) =>
  mintClientToken({ appId: ACME.id, secret: ACME.secret, grant, ...(subject ? { subject } : {}) });

/** A graphql-transport-ws connection: acknowledged, or refused with a close code and reason. */
interface Connection {
  readonly socket: WebSocket;
  /** Set once the server refused the connection or closed it. */
  closed: { code: number; reason: string } | undefined;
  /** Per operation id: the errors it ended with (a refusal), if any. */
  readonly refusals: Map<string, { message: string; extensions?: { code?: string } }[]>;
  subscribe(id: string, query?: string): void;
  complete(id: string): void;
}

async function connect(credential: string): Promise<Connection> {
  const socket = new WebSocket(`${server.url.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
  const connection: Connection = {
    socket,
    closed: undefined,
    refusals: new Map(),
    subscribe: (id, query = TRACK_EVENTS) => socket.send(JSON.stringify({ id, type: 'subscribe', payload: { query } })),
    complete: (id) => socket.send(JSON.stringify({ id, type: 'complete' })),
  };
  socket.on('message', (data) => {
    const message = JSON.parse(String(data)) as { id?: string; type: string; payload?: unknown };
    const errors = message.type === 'error' ? message.payload : (message.payload as { errors?: unknown } | undefined)?.errors;
    if (message.id && errors) connection.refusals.set(message.id, errors as { message: string }[]);
  });
  await new Promise<void>((resolve) => {
    socket.once('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${credential}` } })));
    socket.on('message', (data) => JSON.parse(String(data)).type === 'connection_ack' && resolve());
    socket.once('close', (code, reason) => {
      connection.closed = { code, reason: reason.toString() };
      resolve();
    });
  });
  return connection;
}

/** An HTTP subscription over server-sent events: its results, until it ends or is closed. */
async function sse(credential: string, query = TRACK_EVENTS) {
  const controller = new AbortController();
  const response = await fetch(`${server.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${credential}` },
    body: JSON.stringify({ query }),
    signal: controller.signal,
  });
  const results: { errors?: { message: string; extensions?: { code?: string } }[] }[] = [];
  const reader = response.body!.getReader();
  void (async () => {
    let buffer = '';
    const decoder = new TextDecoder();
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (/^event: next$/m.test(block) && data) results.push(JSON.parse(data));
      }
    }
  })();
  return { results, close: () => controller.abort() };
}

const firstError = (errors: { message: string; extensions?: { code?: string } }[] | undefined) => errors?.[0];

async function refusalOf(connection: Connection, id: string) {
  await waitFor(`operation ${id} refused`, () => connection.refusals.has(id), 5000);
  return firstError(connection.refusals.get(id));
}

async function closeAll(connections: Connection[]): Promise<void> {
  connections.forEach((c, i) => (i % 2 ? c.socket.terminate() : c.socket.close(1000)));
  await waitFor('every connection and subscription released', () => census().connections === 0 && census().subscriptions === 0, 5000);
}

describe('graphql-ws connections', () => {
  it('past MAX_CONNECTIONS_PER_SUBJECT are closed with 4429 naming it; the subject counts, not the token; closing gives the slot back (three rounds)', async () => {
    for (let round = 1; round <= 3; round += 1) {
      const held = [await connect(await token('zoe')), await connect(await token('zoe')), await connect(await token('zoe'))];
      expect(held.map((c) => c.closed)).toEqual([undefined, undefined, undefined]);
      // Another token of the same subject is refused; another subject is not.
      const refused = await connect(await token('zoe'));
      expect(refused.closed?.code).toBe(CLOSE_TOO_MANY_CONNECTIONS);
      expect(refused.closed?.reason).toMatch(/^LIMIT_EXCEEDED: .*\(MAX_CONNECTIONS_PER_SUBJECT\)/);
      const other = await connect(await token('yann'));
      expect(other.closed).toBeUndefined();
      // Half close cleanly, half drop their TCP connection: all come back.
      await closeAll([...held, other]);
    }
  });

  it('of a token without a subject count against that token alone', async () => {
    const [first, second] = [await token(undefined), await token(undefined)];
    const held = [await connect(first), await connect(first), await connect(first)];
    expect((await connect(first)).closed?.code).toBe(CLOSE_TOO_MANY_CONNECTIONS);
    const fresh = await connect(second);
    expect(fresh.closed).toBeUndefined();
    await closeAll([...held, fresh]);
  });

  it('past MAX_CONNECTIONS_PER_APP are refused, the backend and client tokens counted together; another app is not', async () => {
    const held = [await connect(await token('ann')), await connect(await token('bob'))];
    for (let i = 0; i < 4; i += 1) held.push(await connect(ACME.secret));
    expect(held.every((c) => c.closed === undefined)).toBe(true);
    for (const credential of [ACME.secret, await token('carl')]) {
      const refused = await connect(credential);
      expect(refused.closed?.code).toBe(CLOSE_TOO_MANY_CONNECTIONS);
      expect(refused.closed?.reason).toMatch(/^LIMIT_EXCEEDED: .*\(MAX_CONNECTIONS_PER_APP\)/);
    }
    const beta = await connect(BETA.secret);
    expect(beta.closed).toBeUndefined();
    await closeAll([...held, beta]);
    const again = await connect(ACME.secret);
    expect(again.closed).toBeUndefined();
    await closeAll([again]);
  });
});

describe('subscriptions', () => {
  it('past MAX_SUBSCRIPTIONS_PER_SUBJECT are refused with LIMIT_EXCEEDED, counted across graphql-ws connections and SSE', async () => {
    const ann = await token('ann');
    const [one, two] = [await connect(ann), await connect(await token('ann'))];
    one.subscribe('a');
    one.subscribe('b');
    two.subscribe('c');
    const overHttp = await sse(ann);
    await waitFor('four subscriptions', () => census().subscriptions === 4, 5000);
    two.subscribe('d');
    const refused = await refusalOf(two, 'd');
    expect(refused?.extensions?.code).toBe('LIMIT_EXCEEDED');
    expect(refused?.message).toMatch(/MAX_SUBSCRIPTIONS_PER_SUBJECT/);
    const refusedOverHttp = await sse(ann);
    await waitFor('the SSE refusal', () => refusedOverHttp.results.length > 0, 5000);
    expect(firstError(refusedOverHttp.results[0]!.errors)?.extensions?.code).toBe('LIMIT_EXCEEDED');
    expect(firstError(refusedOverHttp.results[0]!.errors)?.message).toMatch(/MAX_SUBSCRIPTIONS_PER_SUBJECT/);
    refusedOverHttp.close();
    // Another subject of the app has its own count.
    const other = await connect(await token('bob'));
    other.subscribe('x');
    await waitFor('five subscriptions', () => census().subscriptions === 5, 5000);
    expect(other.refusals.size).toBe(0);
    overHttp.close();
    await closeAll([one, two, other]);
  });

  it('are given back however they end: completed, an SSE request closed, their connection closed, or refused for another reason', async () => {
    const ann = await token('ann');
    const connection = await connect(ann);
    for (const id of ['a', 'b', 'c']) connection.subscribe(id);
    let overHttp = await sse(ann);
    await waitFor('four subscriptions', () => census().subscriptions === 4, 5000);
    // Each way out makes room for exactly one more.
    const endings: [string, () => void][] = [
      ['completed', () => connection.complete('a')],
      ['SSE closed', () => overHttp.close()],
    ];
    for (const [how, end] of endings) {
      end();
      await waitFor(`three subscriptions after ${how}`, () => census().subscriptions === 3, 5000);
      if (how === 'SSE closed') overHttp = await sse(ann);
      else connection.subscribe(`after ${how}`);
      await waitFor(`four subscriptions again after ${how}`, () => census().subscriptions === 4, 5000);
    }
    expect(connection.refusals.size).toBe(0);
    // Subscriptions refused by their resolver (a stale cursor) hold nothing once answered: twenty of them, then still room for one.
    // (Those in flight at once count while they run, so some may be refused for the limit instead.)
    connection.complete('b');
    await waitFor('three subscriptions', () => census().subscriptions === 3, 5000);
    const stale = Array.from({ length: 20 }, (_, i) => `stale${i}`);
    for (const id of stale) connection.subscribe(id, 'subscription { trackEvents(after: "stale") { type } }');
    await waitFor('twenty refusals', () => stale.every((id) => connection.refusals.has(id)), 5000);
    const codes = new Set(stale.map((id) => firstError(connection.refusals.get(id))?.extensions?.code));
    expect(codes.has('BAD_REQUEST')).toBe(true);
    expect([...codes].every((code) => code === 'BAD_REQUEST' || code === 'LIMIT_EXCEEDED')).toBe(true);
    connection.subscribe('fourth');
    await waitFor('four subscriptions', () => census().subscriptions === 4, 5000);
    expect(connection.refusals.has('fourth')).toBe(false);
    // A closed connection gives back all of its subscriptions.
    overHttp.close();
    await closeAll([connection]);
    const next = await connect(ann);
    for (const id of ['a', 'b', 'c', 'd']) next.subscribe(id);
    await waitFor('four subscriptions on a new connection', () => census().subscriptions === 4, 5000);
    expect(next.refusals.size).toBe(0);
    await closeAll([next]);
  });

  it('past MAX_SUBSCRIPTIONS_PER_APP are refused for the app backend, over graphql-ws and SSE; another app is not', async () => {
    const backend = await connect(ACME.secret);
    for (let i = 0; i < 6; i += 1) backend.subscribe(`s${i}`);
    const overHttp = [await sse(ACME.secret), await sse(ACME.secret)];
    await waitFor('eight subscriptions', () => census().subscriptions === 8, 5000);
    backend.subscribe('ninth');
    const refused = await refusalOf(backend, 'ninth');
    expect(refused?.extensions?.code).toBe('LIMIT_EXCEEDED');
    expect(refused?.message).toMatch(/MAX_SUBSCRIPTIONS_PER_APP/);
    const beta = await connect(BETA.secret);
    beta.subscribe('b');
    await waitFor('nine subscriptions', () => census().subscriptions === 9, 5000);
    expect(beta.refusals.size).toBe(0);
    overHttp.forEach((s) => s.close());
    await closeAll([backend, beta]);
  });
});

describe('a connection opened with a client token whose exp is far away', () => {
  /** A token signed by hand: mintClientToken caps lifetimes at 24 hours. */
  const handMade = (issuedAt: number, expiresAt: number) =>
    new SignJWT({ grant: { pull: { tags: ['room:q'] } } })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(ACME.id)
      .setAudience('switchyard')
      .setJti(randomUUID())
      .setSubject('far')
      .setIssuedAt(Math.floor(issuedAt / 1000))
      .setExpirationTime(Math.floor(expiresAt / 1000))
      .sign(new TextEncoder().encode(ACME.secret));
  const DAY_MS = 24 * 60 * 60 * 1000;

  it('is not closed at once (the timer does not overflow) and gets its events', async () => {
    const connection = await connect(await handMade(Date.now(), Date.now() + 30 * DAY_MS));
    expect(connection.closed).toBeUndefined();
    const received: unknown[] = [];
    connection.socket.on('message', (data) => JSON.parse(String(data)).type === 'next' && received.push(data));
    connection.subscribe('t');
    await waitFor('the subscription', () => census().subscriptions === 1, 5000);
    const view: TrackView = { appId: ACME.id, owner: null, sessionId: 's', name: 'cam', kind: 'video', status: 'ACTIVE', tags: ['room:q'], simulcastRids: [], publishedAt: new Date(), muted: false };
    await server.sessions.trackEvents.publish('PUBLISHED', view);
    await waitFor('the event', () => received.length === 1, 5000);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(connection.closed).toBeUndefined();
    await closeAll([connection]);
  });

  it('is closed with 4498 24 hours after the token was issued, however far its exp', async () => {
    const issuedAt = Date.now() - DAY_MS + 2000;
    const connection = await connect(await handMade(issuedAt, Date.now() + 30 * DAY_MS));
    expect(connection.closed).toBeUndefined();
    await waitFor('the close at iat + 24 h', () => connection.closed !== undefined, 6000);
    expect(connection.closed?.code).toBe(CLOSE_TOKEN_EXPIRED);
    expect(Date.now()).toBeGreaterThanOrEqual(Math.floor(issuedAt / 1000) * 1000 + DAY_MS);
    await waitFor('released', () => census().connections === 0, 5000);
  });
});
