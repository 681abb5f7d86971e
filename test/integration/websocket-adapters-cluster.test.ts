import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { listenAudio, toneMicrophone, waitFor } from '../helpers/media.js';
import { TestPeer } from '../helpers/peer.js';
import { startTestServer } from '../helpers/server.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { gql, gqlOk } from '../helpers/graphql.js';
import { collect, wsClient } from '../helpers/subscriptions.js';
import { dominantFrequency, leftChannel } from '../helpers/audio.js';
import { packetOf, startAdapterService, tonePcm, tonePower } from '../helpers/adapterService.js';

/**
 * WebSocket adapters in a cluster: two nodes on one real redis-server. An
 * adapter runs on the node of its session (a REMOTE one where its track is
 * published, a LOCAL one where it was created) and any node answers for it:
 * a REMOTE adapter created, read, watched and closed through node A runs on
 * node B, whose publisher's 440 Hz reaches the service; a LOCAL adapter
 * created through A publishes a track a subscriber on B hears (880 Hz).
 * Errors come back through A with their adapterErrorCode.
 */
let redis: TestRedis;
let a: Switchyard;
let b: Switchyard;
let service: Awaited<ReturnType<typeof startAdapterService>>;
let publisher: TestPeer;
let microphone: ReturnType<typeof toneMicrophone>;

const CREATE = `mutation($input: CreateWebSocketAdapterInput!) { createWebSocketAdapter(input: $input) { id sessionId state location } }`;
const ADAPTER = `query($id: ID!) { webSocketAdapter(id: $id) { id state reason bytesProcessed sessionId } }`;
const CLOSE = `mutation($id: ID!) { closeWebSocketAdapter(id: $id) { id state reason bytesProcessed } }`;
const LISTED = `query($id: ID!) { session(id: $id) { webSocketAdapters { id state } } }`;
const EVENTS = `subscription($sessionId: ID!) { webSocketAdapterEvents(sessionId: $sessionId) { type reason adapter { id state } } }`;

beforeAll(async () => {
  redis = await startRedis();
  a = await startTestServer({ WORKERS: '1', REDIS_URL: redis.url });
  b = await startTestServer({ WORKERS: '1', REDIS_URL: redis.url });
  await waitFor('the nodes to see each other', () => [a, b].every((n) => n.shared.cluster!.nodes.peers.length === 2), 5000);
  service = await startAdapterService();
  microphone = toneMicrophone(440, 8000);
  publisher = new TestPeer(b.url);
  await publisher.createSession();
  await publisher.push([{ track: microphone.track, name: 'mic' }]);
}, 60_000);

afterAll(async () => {
  publisher?.stop();
  microphone?.stop();
  await service?.close();
  await a?.stop();
  await b?.stop();
  await redis?.close();
});


describe('WebSocket adapters across two nodes', () => {
  it('REMOTE through node A of a track on node B: runs on B, 440 Hz at the service; read, listed, watched and closed through A', { timeout: 40_000 }, async () => {
    const client = wsClient(a.url);
    try {
      const connected = new Promise<void>((resolve) => client.on('connected', () => resolve()));
      const events = collect(client, EVENTS, { sessionId: publisher.sessionId }, (d) => d.webSocketAdapterEvents as { type: string; reason: string | null; adapter: { id: string } });
      await connected;
      await new Promise((resolve) => setTimeout(resolve, 500));

      const startedAt = performance.now();
      const created = (await gqlOk(a.url, CREATE, { input: { location: 'REMOTE', sessionId: publisher.sessionId, trackName: 'mic', endpoint: service.url('/cluster-listen') } })).createWebSocketAdapter;
      const createMs = performance.now() - startedAt;
      expect(created).toMatchObject({ state: 'CONNECTED', location: 'REMOTE', sessionId: publisher.sessionId });
      // It lives on B: B answers for it as its own; A, by forwarding.
      expect((await gqlOk(b.url, ADAPTER, { id: created.id })).webSocketAdapter).toMatchObject({ id: created.id, state: 'CONNECTED' });
      expect(created.id.slice(0, 8)).toBe(publisher.sessionId.slice(0, 8));
      const connection = service.latest('/cluster-listen')!;
      await waitFor('two seconds of audio at the service', () => connection.packets.length > 100, 15_000);
      const pcm = Buffer.concat(connection.packets.slice(-50).map((p) => Buffer.from(p.packet.payload)));
      const hz = dominantFrequency(leftChannel(pcm), 48_000, 200, 1200);
      const throughA = (await gqlOk(a.url, ADAPTER, { id: created.id })).webSocketAdapter;
      console.log(`cluster egress: created through A in ${createMs.toFixed(0)} ms, ${hz} Hz at the service, ${throughA.bytesProcessed} bytes read through A`);
      expect(Math.abs(hz - 440)).toBeLessThanOrEqual(3);
      expect(throughA).toMatchObject({ state: 'CONNECTED', sessionId: publisher.sessionId });
      expect(throughA.bytesProcessed).toBeGreaterThan(100 * 3840 * 0.9);
      expect((await gqlOk(a.url, LISTED, { id: publisher.sessionId })).session.webSocketAdapters).toEqual([{ id: created.id, state: 'CONNECTED' }]);

      const closed = (await gqlOk(a.url, CLOSE, { id: created.id })).closeWebSocketAdapter;
      expect(closed).toMatchObject({ id: created.id, state: 'CLOSED', reason: 'closed by the API' });
      await waitFor('the service\'s socket closed', () => connection.closeCode !== undefined, 5000);
      expect(connection.closeCode).toBe(1000);
      const seen = await events.waitFor(2, 10_000);
      expect(seen.map((e) => [e.type, e.adapter.id])).toEqual([
        ['CONNECTED', created.id],
        ['CLOSED', created.id],
      ]);
      expect((await gqlOk(a.url, ADAPTER, { id: created.id })).webSocketAdapter).toMatchObject({ state: 'CLOSED', bytesProcessed: closed.bytesProcessed });
      expect((await gqlOk(a.url, LISTED, { id: publisher.sessionId })).session.webSocketAdapters).toEqual([]);
    } finally {
      await client.dispose();
    }
  });

  it('LOCAL through node A: a subscriber on node B hears the service\'s 880 Hz; closed through B, the track is unpublished on A', { timeout: 40_000 }, async () => {
    const subscriber = new TestPeer(b.url);
    try {
      const ingest = (await gqlOk(a.url, CREATE, { input: { location: 'LOCAL', trackName: 'bot', endpoint: service.url('/cluster-speak') } })).createWebSocketAdapter;
      expect(a.sessions.tracks.get(ingest.sessionId, 'bot')).toBeDefined();
      expect(b.sessions.tracks.get(ingest.sessionId, 'bot')).toBeUndefined();
      await subscriber.createSession();
      const [pulled] = await subscriber.pull([{ sessionId: ingest.sessionId, trackName: 'bot' }]);
      expect(pulled?.error).toBeNull();
      await waitFor('the ingest track at the subscriber', () => subscriber.received.size > 0, 10_000);
      const heard = listenAudio([...subscriber.received.values()][0]!);
      await waitFor('audio (silence) at the subscriber', () => heard.chunks.length > 50, 10_000);

      // 4 s of 880 Hz in 16 KB messages at once: it plays out in real time, on A, to B.
      const sentAt = performance.now();
      const speech = tonePcm(880, 4000);
      const socket = service.latest('/cluster-speak')!.socket;
      for (let at = 0; at < speech.length; at += 16 * 1024) socket.send(packetOf(speech.subarray(at, at + 16 * 1024)));
      const loud = (c: { samples: Float64Array }) => tonePower(c.samples, 880, 48_000) > 500;
      await waitFor('880 Hz at the subscriber', () => heard.chunks.some((c) => c.at > sentAt && loud(c)), 10_000);
      const firstHeard = heard.chunks.find((c) => c.at > sentAt && loud(c))!.at - sentAt;
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const recent = heard.chunks.slice(-100);
      const samples = new Float64Array(recent.reduce((n, c) => n + c.samples.length, 0));
      recent.reduce((at, c) => (samples.set(c.samples, at), at + c.samples.length), 0);
      const hz = dominantFrequency(samples, 48_000, 200, 1200);
      heard.stop();
      console.log(`cluster ingest: ${hz} Hz on node B, first heard ${firstHeard.toFixed(0)} ms after the service sent it`);
      expect(Math.abs(hz - 880)).toBeLessThanOrEqual(3);
      expect(firstHeard).toBeLessThan(2000);

      expect((await gqlOk(b.url, ADAPTER, { id: ingest.id })).webSocketAdapter).toMatchObject({ state: 'CONNECTED', bytesProcessed: speech.length });
      expect((await gqlOk(b.url, CLOSE, { id: ingest.id })).closeWebSocketAdapter).toMatchObject({ state: 'CLOSED' });
      expect(a.sessions.tracks.get(ingest.sessionId, 'bot')).toBeUndefined();
      await waitFor('the service\'s socket closed', () => service.latest('/cluster-speak')!.closeCode !== undefined, 5000);
    } finally {
      subscriber.stop();
    }
  });

  it('errors through node A keep their adapterErrorCode (refused handshake on B, unknown adapter of B)', async () => {
    const forbidding = createServer();
    forbidding.on('upgrade', (_request, socket) => socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'));
    await new Promise<void>((resolve) => forbidding.listen(0, '127.0.0.1', resolve));
    try {
      const endpoint = `ws://127.0.0.1:${(forbidding.address() as { port: number }).port}/out`;
      const input = { location: 'REMOTE', sessionId: publisher.sessionId, trackName: 'mic', endpoint };
      const onB = await gql(b.url, CREATE, { input });
      const onA = await gql(a.url, CREATE, { input });
      const unknown = `${publisher.sessionId.slice(0, 8)}-0000-4000-8000-000000000000`;
      const closeOnB = await gql(b.url, CLOSE, { id: unknown });
      const closeOnA = await gql(a.url, CLOSE, { id: unknown });
      console.log(`through B: ${JSON.stringify(onB.errors?.[0]?.extensions)} ${JSON.stringify(closeOnB.errors?.[0]?.extensions)}; through A: ${JSON.stringify(onA.errors?.[0]?.extensions)} ${JSON.stringify(closeOnA.errors?.[0]?.extensions)}`);
      expect(onB.errors?.[0]?.extensions).toEqual({ code: 'UNAVAILABLE', adapterErrorCode: 'websocket_handshake_failed' });
      expect(closeOnB.errors?.[0]?.extensions).toEqual({ code: 'BAD_REQUEST', adapterErrorCode: 'adapter_not_found' });
      expect(onA.errors?.[0]?.message).toBe(onB.errors?.[0]?.message);
      expect(onA.errors?.[0]?.extensions).toEqual(onB.errors?.[0]?.extensions);
      expect(closeOnA.errors?.[0]?.extensions).toEqual(closeOnB.errors?.[0]?.extensions);
    } finally {
      forbidding.close();
    }
  });
});
