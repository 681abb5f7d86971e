import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Switchyard } from '../../src/app.js';
import { fakeCamera, toneMicrophone, waitFor } from '../helpers/media.js';
import { TestPeer } from '../helpers/peer.js';
import { useTestServer } from '../helpers/server.js';
import { gql, gqlOk } from '../helpers/graphql.js';
import { collect, wsClient } from '../helpers/subscriptions.js';
import { packetOf, startAdapterService, tonePcm } from '../helpers/adapterService.js';

/**
 * WebSocket adapters given bad input: a service that sends what is not a
 * Packet, or too much at once; endpoints that refuse the handshake or never
 * answer it; requests the API must refuse before connecting anywhere. Each
 * answers with a clear error or state, and leaves nothing open: no track,
 * no adapter, no PlainTransport, no socket.
 */
const file = useTestServer({ WORKERS: '1', ADAPTER_HANDSHAKE_TIMEOUT_MS: '800', MAX_ADAPTERS_PER_SESSION: '1' });
let service: Awaited<ReturnType<typeof startAdapterService>>;
let publisher: TestPeer;
const stops: (() => void)[] = [];

const CREATE = `mutation($input: CreateWebSocketAdapterInput!) { createWebSocketAdapter(input: $input) { id sessionId state } }`;
const ADAPTER = `query($id: ID!) { webSocketAdapter(id: $id) { id state reason bytesProcessed closedAt } }`;
const CLOSE = `mutation($id: ID!) { closeWebSocketAdapter(id: $id) { id state reason } }`;
const EVENTS = `subscription($sessionId: ID!) { webSocketAdapterEvents(sessionId: $sessionId) { type reason adapter { id state } } }`;
const LISTED = `query($id: ID!) { session(id: $id) { webSocketAdapters { id } } }`;

interface ApiError {
  message: string;
  extensions?: { code?: string; adapterErrorCode?: string };
}

beforeAll(async () => {
  service = await startAdapterService();
  const microphone = toneMicrophone(440, 8000);
  const camera = fakeCamera(160, 120, 15);
  publisher = new TestPeer(file.server.url);
  stops.push(() => publisher.stop(), () => camera.stop(), () => microphone.stop());
  await publisher.createSession();
  await publisher.push([
    { track: microphone.track, name: 'mic' },
    { track: camera.track, name: 'cam' },
  ]);
});

afterAll(async () => {
  for (const stop of stops.reverse()) stop();
  await service.close();
});

/** PlainTransports and WebRtcTransports on the node's routers: an adapter that leaks leaves one behind. */
async function transportCount(server: Switchyard): Promise<number> {
  let count = 0;
  for (const worker of server.pool.workers) count += (await worker.router.dump()).transportIds.length;
  return count;
}

/** The first error of a createWebSocketAdapter that must fail (and answer no adapter). */
async function refusal(input: Record<string, unknown>): Promise<ApiError> {
  const result = await gql(file.server.url, CREATE, { input });
  expect(result.data?.createWebSocketAdapter ?? null).toBeNull();
  expect(result.errors?.length).toBe(1);
  return result.errors![0] as ApiError;
}

/** webSocketAdapterEvents of one session, subscribed (graphql-ws connected and the subscription set up). */
async function adapterEvents(sessionId: string) {
  const client = wsClient(file.server.url);
  const connected = new Promise<void>((resolve) => client.on('connected', () => resolve()));
  const events = collect(client, EVENTS, { sessionId }, (d) => d.webSocketAdapterEvents as { type: string; reason: string | null; adapter: { id: string; state: string } });
  await connected;
  await new Promise((resolve) => setTimeout(resolve, 300));
  file.cleanups.push(() => void client.dispose());
  return events;
}

/** A listening server's port on loopback. */
async function listen(server: HttpServer | NetServer): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

describe('an ingest service that sends what is not audio', () => {
  const badMessages: [string, (socket: WebSocket) => void][] = [
    ['binary that is not a protobuf Packet', (socket) => socket.send(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))],
    ['a text message', (socket) => socket.send(JSON.stringify({ pcm: 'AAAA' }))],
  ];
  it.each(badMessages)('%s: FAILED with the reason, 1007 to the service, the track unpublished', { timeout: 20_000 }, async (_what, sendBad) => {
    const name = `bad-${randomUUID().slice(0, 8)}`;
    const before = await transportCount(file.server);
    const ingest = (await gqlOk(file.server.url, CREATE, { input: { location: 'LOCAL', trackName: name, endpoint: service.url(`/${name}`) } })).createWebSocketAdapter;
    expect(file.server.sessions.tracks.get(ingest.sessionId, name)).toBeDefined();
    expect(await transportCount(file.server)).toBe(before + 1);
    const events = await adapterEvents(ingest.sessionId);
    const connection = service.latest(`/${name}`)!;
    // One good 20 ms packet first: it counts, the bad message after it ends the adapter.
    connection.socket.send(packetOf(tonePcm(440, 20)));
    await new Promise((resolve) => setTimeout(resolve, 200));
    sendBad(connection.socket);

    await waitFor('the service\'s socket closed', () => connection.closeCode !== undefined, 5000);
    expect(connection.closeCode).toBe(1007);
    const [event] = await events.waitFor(1);
    expect(event).toMatchObject({ type: 'FAILED', adapter: { id: ingest.id, state: 'FAILED' } });
    expect(event!.reason).toMatch(/not a protobuf Packet/);
    const adapter = (await gqlOk(file.server.url, ADAPTER, { id: ingest.id })).webSocketAdapter;
    expect(adapter).toMatchObject({ state: 'FAILED', reason: event!.reason, bytesProcessed: 3840 });
    expect(adapter.closedAt).not.toBeNull();
    expect(file.server.sessions.tracks.get(ingest.sessionId, name)).toBeUndefined();
    expect(await transportCount(file.server)).toBe(before);
    // Closing a failed adapter answers it as it is; no second event.
    expect((await gqlOk(file.server.url, CLOSE, { id: ingest.id })).closeWebSocketAdapter).toMatchObject({ state: 'FAILED', reason: event!.reason });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(events.items.map((e) => e.type)).toEqual(['FAILED']);
  });

  it('a message over 32 KB: FAILED, 1009 to the service; one just under it is taken', { timeout: 20_000 }, async () => {
    const before = await transportCount(file.server);
    const ingest = (await gqlOk(file.server.url, CREATE, { input: { location: 'LOCAL', trackName: 'oversize', endpoint: service.url('/oversize') } })).createWebSocketAdapter;
    const events = await adapterEvents(ingest.sessionId);
    const connection = service.latest('/oversize')!;
    connection.socket.send(packetOf(Buffer.alloc(30_000)));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await gqlOk(file.server.url, ADAPTER, { id: ingest.id })).webSocketAdapter).toMatchObject({ state: 'CONNECTED', bytesProcessed: 30_000 });
    connection.socket.send(packetOf(Buffer.alloc(40 * 1024)));

    await waitFor('the service\'s socket closed', () => connection.closeCode !== undefined, 5000);
    expect(connection.closeCode).toBe(1009);
    const [event] = await events.waitFor(1);
    expect(event).toMatchObject({ type: 'FAILED', adapter: { id: ingest.id } });
    expect(event!.reason).toMatch(/over 32 KB/);
    expect((await gqlOk(file.server.url, ADAPTER, { id: ingest.id })).webSocketAdapter).toMatchObject({ state: 'FAILED', bytesProcessed: 30_000 });
    expect(file.server.sessions.tracks.get(ingest.sessionId, 'oversize')).toBeUndefined();
    expect(await transportCount(file.server)).toBe(before);
  });
});

describe('endpoints that do not take the connection', () => {
  it('refused upgrades (HTTP 403, a ws server that verifies no one): UNAVAILABLE websocket_handshake_failed, nothing left', async () => {
    let upgrades = 0;
    const forbidding = createHttpServer();
    forbidding.on('upgrade', (_request, socket) => {
      upgrades += 1;
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    });
    const forbiddingPort = await listen(forbidding);
    let verified = 0;
    const unverified = new WebSocketServer({ host: '127.0.0.1', port: 0, verifyClient: () => ((verified += 1), false) });
    await new Promise<void>((resolve) => unverified.once('listening', () => resolve()));
    const unverifiedPort = (unverified.address() as { port: number }).port;
    try {
      const sessions = file.server.sessions.sessionCount;
      const tracks = file.server.sessions.tracks.size;
      const transports = await transportCount(file.server);
      for (const [input, status] of [
        [{ location: 'LOCAL', trackName: 'refused', endpoint: `ws://127.0.0.1:${forbiddingPort}/in` }, 403],
        [{ location: 'REMOTE', sessionId: publisher.sessionId, trackName: 'mic', endpoint: `ws://127.0.0.1:${forbiddingPort}/out` }, 403],
        [{ location: 'REMOTE', sessionId: publisher.sessionId, trackName: 'mic', endpoint: `ws://127.0.0.1:${unverifiedPort}/out` }, 401],
      ] as const) {
        const error = await refusal(input);
        expect(error.extensions).toMatchObject({ code: 'UNAVAILABLE', adapterErrorCode: 'websocket_handshake_failed' });
        expect(error.message).toContain(`HTTP ${status}`);
      }
      expect([upgrades, verified]).toEqual([2, 1]);
      expect((await gqlOk(file.server.url, LISTED, { id: publisher.sessionId })).session.webSocketAdapters).toEqual([]);
      expect(file.server.sessions.sessionCount).toBe(sessions);
      expect(file.server.sessions.tracks.size).toBe(tracks);
      expect(await transportCount(file.server)).toBe(transports);
    } finally {
      forbidding.close();
      unverified.close();
    }
  });

  it('an endpoint that never answers the handshake: websocket_connection_timeout after ADAPTER_HANDSHAKE_TIMEOUT_MS, its socket closed', async () => {
    let accepted = 0;
    let closed = 0;
    const silent = createNetServer((socket) => {
      accepted += 1;
      // Reads (and ignores) the upgrade request: a paused socket would never see the FIN.
      socket.resume();
      socket.on('error', () => undefined);
      socket.on('close', () => (closed += 1));
    });
    const port = await listen(silent);
    try {
      const tracks = file.server.sessions.tracks.size;
      const transports = await transportCount(file.server);
      const timings: number[] = [];
      for (const input of [
        { location: 'LOCAL', trackName: 'silent', endpoint: `ws://127.0.0.1:${port}/in` },
        { location: 'REMOTE', sessionId: publisher.sessionId, trackName: 'mic', endpoint: `ws://127.0.0.1:${port}/out` },
      ]) {
        const startedAt = performance.now();
        const error = await refusal(input);
        timings.push(performance.now() - startedAt);
        expect(error.extensions).toMatchObject({ code: 'UNAVAILABLE', adapterErrorCode: 'websocket_connection_timeout' });
        expect(error.message).toMatch(/timed out/);
      }
      console.log(`handshake timeout (800 ms): LOCAL answered in ${timings[0]!.toFixed(0)} ms, REMOTE in ${timings[1]!.toFixed(0)} ms`);
      for (const ms of timings) {
        expect(ms).toBeGreaterThanOrEqual(750);
        expect(ms).toBeLessThan(2000);
      }
      await waitFor('the SFU to close both TCP connections', () => accepted === 2 && closed === 2, 3000);
      expect(file.server.sessions.tracks.size).toBe(tracks);
      expect(await transportCount(file.server)).toBe(transports);
    } finally {
      silent.close();
    }
  });
});

describe('requests refused before connecting', () => {
  it('BAD_REQUEST for what does not fit, naming it; nothing reaches the service', async () => {
    const connections = service.connections.length;
    const transports = await transportCount(file.server);
    const remote = { location: 'REMOTE', sessionId: publisher.sessionId, trackName: 'mic', endpoint: service.url('/never') };
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ['REMOTE without sessionId', { location: 'REMOTE', trackName: 'mic', endpoint: service.url('/never') }, /sessionId/],
      ['JPEG of an audio track', { ...remote, codec: 'JPEG' }, /jpeg needs a video track; mic is audio/],
      ['PCM of a video track', { ...remote, trackName: 'cam' }, /pcm needs an Opus audio track; cam is video/],
      ['sampleRate 44100', { ...remote, sampleRate: 44_100 }, /sampleRate must be 48000, 24000 or 16000/],
      ['channels 3', { ...remote, channels: 3 }, /channels must be 1 or 2/],
      ['an http:// endpoint', { ...remote, endpoint: service.url('/never').replace('ws:', 'http:') }, /ws:\/\/ or wss:\/\//],
      ['a reserved header (Host)', { ...remote, headers: [{ name: 'Host', value: 'example.com' }] }, /header Host is set by the WebSocket handshake/],
      ['a header value with a line break', { ...remote, headers: [{ name: 'X-Token', value: 'a\r\nHost: x' }] }, /without line breaks/],
      ['LOCAL JPEG', { location: 'LOCAL', trackName: 'video-in', endpoint: service.url('/never'), codec: 'JPEG' }, /PCM only/],
      ['frameRate 0', { ...remote, trackName: 'cam', codec: 'JPEG', frameRate: 0 }, /frameRate/],
    ];
    for (const [what, input, message] of cases) {
      const error = await refusal(input);
      expect({ what, code: error.extensions?.code }).toEqual({ what, code: 'BAD_REQUEST' });
      expect(error.message, what).toMatch(message);
    }
    const unknown = randomUUID();
    const closeResult = await gql(file.server.url, CLOSE, { id: unknown });
    expect(closeResult.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_REQUEST', adapterErrorCode: 'adapter_not_found' });
    expect(closeResult.errors?.[0]?.message).toContain(unknown);
    expect((await gqlOk(file.server.url, ADAPTER, { id: unknown })).webSocketAdapter).toBeNull();
    expect(service.connections.length).toBe(connections);
    expect(await transportCount(file.server)).toBe(transports);
  });

  it('MAX_ADAPTERS_PER_SESSION=1: a second egress of the same session is LIMIT_EXCEEDED, until the first closes', async () => {
    const first = (await gqlOk(file.server.url, CREATE, { input: { location: 'REMOTE', sessionId: publisher.sessionId, trackName: 'mic', endpoint: service.url('/limit') } })).createWebSocketAdapter;
    expect(first.state).toBe('CONNECTED');
    const transports = await transportCount(file.server);
    for (const input of [
      { location: 'REMOTE', sessionId: publisher.sessionId, trackName: 'mic', endpoint: service.url('/limit') },
      { location: 'REMOTE', sessionId: publisher.sessionId, trackName: 'cam', codec: 'JPEG', endpoint: service.url('/limit') },
    ]) {
      const error = await refusal(input);
      expect(error.extensions?.code).toBe('LIMIT_EXCEEDED');
      expect(error.message).toMatch(/MAX_ADAPTERS_PER_SESSION/);
    }
    expect(service.connections.filter((c) => c.path === '/limit')).toHaveLength(1);
    expect(await transportCount(file.server)).toBe(transports);
    // An ingest adapter is a session of its own: the limit of the publisher's session does not count it.
    const ingest = (await gqlOk(file.server.url, CREATE, { input: { location: 'LOCAL', trackName: 'beside', endpoint: service.url('/limit-in') } })).createWebSocketAdapter;
    await gqlOk(file.server.url, CLOSE, { id: ingest.id });
    expect((await gqlOk(file.server.url, CLOSE, { id: first.id })).closeWebSocketAdapter.state).toBe('CLOSED');
    const again = (await gqlOk(file.server.url, CREATE, { input: { location: 'REMOTE', sessionId: publisher.sessionId, trackName: 'mic', endpoint: service.url('/limit') } })).createWebSocketAdapter;
    expect(again.state).toBe('CONNECTED');
    await gqlOk(file.server.url, CLOSE, { id: again.id });
    await waitFor('the services\' sockets closed', () => service.connections.filter((c) => c.path.startsWith('/limit')).every((c) => c.closeCode === 1000), 5000);
  });

  it('MAX_ADAPTERS_PER_SESSION=1 holds for requests that arrive together: one adapter, the others LIMIT_EXCEEDED', async () => {
    const input = { location: 'REMOTE', sessionId: publisher.sessionId, trackName: 'mic', endpoint: service.url('/together') };
    const results = await Promise.all([1, 2, 3].map(() => gql(file.server.url, CREATE, { input })));
    const created = results.flatMap((r) => (r.data?.createWebSocketAdapter ? [r.data.createWebSocketAdapter.id as string] : []));
    const codes = results.map((r) => r.errors?.[0]?.extensions?.code ?? 'OK');
    try {
      expect(codes.sort()).toEqual(['LIMIT_EXCEEDED', 'LIMIT_EXCEEDED', 'OK']);
      expect((await gqlOk(file.server.url, LISTED, { id: publisher.sessionId })).session.webSocketAdapters).toHaveLength(1);
    } finally {
      for (const id of created) await gqlOk(file.server.url, CLOSE, { id });
    }
  });
});
