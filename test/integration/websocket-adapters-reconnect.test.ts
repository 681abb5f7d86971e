import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Switchyard } from '../../src/app.js';
import { decodePacket, type Packet } from '../../src/adapters/websocket/packet.js';
import { toneMicrophone, waitFor } from '../helpers/media.js';
import { TestPeer } from '../helpers/peer.js';
import { useTestServer } from '../helpers/server.js';
import { gql, gqlOk } from '../helpers/graphql.js';
import { collect, wsClient } from '../helpers/subscriptions.js';
import { dominantFrequency, leftChannel } from '../helpers/audio.js';

/**
 * An egress adapter's service going away: one that closes its socket and
 * refuses to come back fails the adapter after ADAPTER_RECONNECT_WINDOW_MS
 * (RECONNECTING, then FAILED); one that comes back within the window gets
 * the adapter again (CONNECTED), the audio going on where it left off. And
 * the publisher's session closing ends the adapter (CLOSED, 'the track
 * ended') and the service's socket.
 */
const WINDOW_MS = 1500;
const file = useTestServer({ WORKERS: '1', ADAPTER_RECONNECT_WINDOW_MS: String(WINDOW_MS), ADAPTER_HANDSHAKE_TIMEOUT_MS: '800' });

const CREATE = `mutation($input: CreateWebSocketAdapterInput!) { createWebSocketAdapter(input: $input) { id sessionId state } }`;
const ADAPTER = `query($id: ID!) { webSocketAdapter(id: $id) { id state reason bytesProcessed } }`;
const CLOSE = `mutation($id: ID!) { closeWebSocketAdapter(id: $id) { id state reason } }`;
const CLOSE_SESSION = 'mutation($id: ID!) { closeSession(input: { sessionId: $id }) { sessionId } }';
const EVENTS = `subscription($sessionId: ID!) { webSocketAdapterEvents(sessionId: $sessionId) { type reason adapter { id state } } }`;

interface Connection {
  readonly socket: WebSocket;
  readonly packets: { packet: Packet; at: number }[];
  openedAt: number;
  closeCode?: number;
}

/**
 * A service that takes the SFU's connections while `accepting`, and answers
 * 503 to the upgrade otherwise (a service that is down), on one port.
 */
function togglingService() {
  const http: Server = createServer();
  const wss = new WebSocketServer({ noServer: true });
  const state = { accepting: true, refused: 0, delayMs: 0, hangUp: false, connections: [] as Connection[] };
  http.on('upgrade', (request, socket, head) => {
    // The SFU may reset a refused connection before this end has written its answer.
    socket.on('error', () => undefined);
    if (!state.accepting) {
      state.refused += 1;
      socket.end('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    // A slow service answers its upgrades after delayMs.
    setTimeout(() => {
      wss.handleUpgrade(request, socket, head, (ws) => {
        const connection: Connection = { socket: ws, packets: [], openedAt: performance.now() };
        state.connections.push(connection);
        ws.on('message', (data: Buffer) => connection.packets.push({ packet: decodePacket(data), at: performance.now() }));
        ws.on('close', (code) => (connection.closeCode = code));
        // A broken service: takes the connection and drops it at once.
        if (state.hangUp) ws.close(1011);
      });
    }, state.delayMs);
  });
  return {
    state,
    async start() {
      await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
      return `ws://127.0.0.1:${(http.address() as { port: number }).port}/listen`;
    },
    close() {
      for (const c of state.connections) c.socket.terminate();
      wss.close();
      http.close();
    },
  };
}

let publisher: TestPeer;
let microphone: ReturnType<typeof toneMicrophone>;
const service = togglingService();
let endpoint = '';

beforeAll(async () => {
  endpoint = await service.start();
  microphone = toneMicrophone(440, 8000);
  publisher = new TestPeer(file.server.url);
  await publisher.createSession();
  await publisher.push([{ track: microphone.track, name: 'mic' }]);
});

afterAll(() => {
  publisher.stop();
  microphone.stop();
  service.close();
});

async function transportCount(server: Switchyard): Promise<number> {
  let count = 0;
  for (const worker of server.pool.workers) count += (await worker.router.dump()).transportIds.length;
  return count;
}

/** webSocketAdapterEvents of one session, each with the time it arrived. */
async function adapterEvents(sessionId: string) {
  const client = wsClient(file.server.url);
  const connected = new Promise<void>((resolve) => client.on('connected', () => resolve()));
  const events = collect(client, EVENTS, { sessionId }, (d) => ({ ...(d.webSocketAdapterEvents as { type: string; reason: string | null; adapter: { id: string; state: string } }), at: performance.now() }));
  await connected;
  await new Promise((resolve) => setTimeout(resolve, 300));
  file.cleanups.push(() => void client.dispose());
  return events;
}

describe('egress: the service goes away', () => {
  it('does not come back: RECONNECTING, then FAILED once the reconnect window has passed, nothing left', { timeout: 20_000 }, async () => {
    const transports = await transportCount(file.server);
    const adapter = (await gqlOk(file.server.url, CREATE, { input: { location: 'REMOTE', sessionId: publisher.sessionId, trackName: 'mic', endpoint } })).createWebSocketAdapter;
    const events = await adapterEvents(publisher.sessionId);
    const connection = service.state.connections.at(-1)!;
    await waitFor('audio at the service', () => connection.packets.length > 25, 10_000);
    service.state.accepting = false;
    const droppedAt = performance.now();
    connection.socket.close(1001);

    const [reconnecting, failed] = await events.waitFor(2, 10_000);
    expect(reconnecting).toMatchObject({ type: 'RECONNECTING', adapter: { id: adapter.id } });
    expect(failed).toMatchObject({ type: 'FAILED', adapter: { id: adapter.id, state: 'FAILED' } });
    expect(failed!.reason).toMatch(new RegExp(`did not accept a new connection within ${WINDOW_MS} ms`));
    const failedAfter = failed!.at - droppedAt;
    console.log(`reconnect window ${WINDOW_MS} ms: RECONNECTING after ${(reconnecting!.at - droppedAt).toFixed(0)} ms, FAILED after ${failedAfter.toFixed(0)} ms, ${service.state.refused} reconnections refused`);
    expect(reconnecting!.at - droppedAt).toBeLessThan(500);
    expect(failedAfter).toBeGreaterThanOrEqual(WINDOW_MS - 100);
    expect(failedAfter).toBeLessThan(WINDOW_MS + 1500);
    expect(service.state.refused).toBeGreaterThanOrEqual(2);
    const state = (await gqlOk(file.server.url, ADAPTER, { id: adapter.id })).webSocketAdapter;
    expect(state).toMatchObject({ state: 'FAILED', reason: failed!.reason });
    expect(state.bytesProcessed).toBeGreaterThan(25 * 3840 - 1);
    // The tap is gone, and no attempt follows the failure.
    expect(await transportCount(file.server)).toBe(transports);
    const refused = service.state.refused;
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(service.state.refused).toBe(refused);
    expect(events.items).toHaveLength(2);
  });

  it('comes back within the window: CONNECTED again, the audio going on with the sequence', { timeout: 20_000 }, async () => {
    service.state.accepting = true;
    const adapter = (await gqlOk(file.server.url, CREATE, { input: { location: 'REMOTE', sessionId: publisher.sessionId, trackName: 'mic', endpoint } })).createWebSocketAdapter;
    const events = await adapterEvents(publisher.sessionId);
    const first = service.state.connections.at(-1)!;
    await waitFor('audio at the service', () => first.packets.length > 25, 10_000);
    service.state.accepting = false;
    first.socket.close(1001);
    await new Promise((resolve) => setTimeout(resolve, 400));
    service.state.accepting = true;

    const [reconnecting, connected] = await events.waitFor(2, 10_000);
    expect(reconnecting).toMatchObject({ type: 'RECONNECTING', adapter: { id: adapter.id } });
    expect(connected).toMatchObject({ type: 'CONNECTED', adapter: { id: adapter.id, state: 'CONNECTED' } });
    const second = service.state.connections.at(-1)!;
    expect(second).not.toBe(first);
    await waitFor('a second of audio on the new connection', () => second.packets.length > 60, 10_000);
    expect((await gqlOk(file.server.url, ADAPTER, { id: adapter.id })).webSocketAdapter.state).toBe('CONNECTED');

    // The sequence goes on across the connections: no number twice, the gap kept in the backlog (50 packets: 1 s).
    const lastBefore = first.packets.at(-1)!.packet.sequenceNumber;
    const after = second.packets.map((p) => p.packet.sequenceNumber);
    const missing = after[0]! - lastBefore - 1;
    const burst = second.packets.filter((p) => p.at - second.openedAt < 50).length;
    const outage = second.openedAt - first.packets.at(-1)!.at;
    console.log(`reconnected after ${outage.toFixed(0)} ms without the service: sequence ${lastBefore} -> ${after[0]} (${missing} missing), ${burst} packets of backlog at once`);
    expect(after[0]!).toBeGreaterThan(lastBefore);
    expect(after.every((n, i) => i === 0 || n === after[i - 1]! + 1)).toBe(true);
    if (outage < 900) expect(missing).toBe(0);
    expect(burst).toBeGreaterThanOrEqual(10);
    const pcm = Buffer.concat(second.packets.slice(-50).map((p) => Buffer.from(p.packet.payload)));
    expect(Math.abs(dominantFrequency(leftChannel(pcm), 48_000, 200, 1200) - 440)).toBeLessThanOrEqual(3);

    expect((await gqlOk(file.server.url, CLOSE, { id: adapter.id })).closeWebSocketAdapter).toMatchObject({ state: 'CLOSED' });
    await waitFor('the service\'s socket closed', () => second.closeCode !== undefined, 5000);
    expect(second.closeCode).toBe(1000);
    expect((await events.waitFor(3))[2]).toMatchObject({ type: 'CLOSED', reason: 'closed by the API' });
  });
  it('takes each reconnection and drops it at once: the adapter does not reconnect in a tight loop', { timeout: 20_000 }, async () => {
    service.state.accepting = true;
    const adapter = (await gqlOk(file.server.url, CREATE, { input: { location: 'REMOTE', sessionId: publisher.sessionId, trackName: 'mic', endpoint } })).createWebSocketAdapter;
    const events = await adapterEvents(publisher.sessionId);
    const first = service.state.connections.at(-1)!;
    await waitFor('audio at the service', () => first.packets.length > 10, 10_000);
    const count = service.state.connections.length;
    service.state.hangUp = true;
    try {
      first.socket.close(1001);
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const connections = service.state.connections.length - count;
      const state = (await gqlOk(file.server.url, ADAPTER, { id: adapter.id })).webSocketAdapter.state;
      console.log(`a service that drops every connection: ${connections} reconnections and ${events.items.length} events in 2 s; the adapter ${state}`);
      // The retry pause between attempts (250 ms) allows about 8 in 2 s: not thousands.
      expect(connections).toBeLessThan(20);
      expect(events.items.length).toBeLessThan(40);
    } finally {
      service.state.hangUp = false;
      await gqlOk(file.server.url, CLOSE, { id: adapter.id });
    }
  });
});

describe('egress: the track ends', () => {
  it('the publisher\'s session closes: CLOSED with reason "the track ended", the service\'s socket closed, nothing left', { timeout: 20_000 }, async () => {
    service.state.accepting = true;
    const transports = await transportCount(file.server);
    const tone = toneMicrophone(440, 8000);
    const speaker = new TestPeer(file.server.url);
    try {
      await speaker.createSession();
      await speaker.push([{ track: tone.track, name: 'voice' }]);
      const adapter = (await gqlOk(file.server.url, CREATE, { input: { location: 'REMOTE', sessionId: speaker.sessionId, trackName: 'voice', endpoint } })).createWebSocketAdapter;
      const events = await adapterEvents(speaker.sessionId);
      const connection = service.state.connections.at(-1)!;
      await waitFor('audio at the service', () => connection.packets.length > 25, 10_000);

      await gqlOk(file.server.url, CLOSE_SESSION, { id: speaker.sessionId });
      const [event] = await events.waitFor(1);
      expect(event).toMatchObject({ type: 'CLOSED', reason: 'the track ended', adapter: { id: adapter.id, state: 'CLOSED' } });
      await waitFor('the service\'s socket closed', () => connection.closeCode !== undefined, 5000);
      expect(connection.closeCode).toBe(1000);
      expect((await gqlOk(file.server.url, ADAPTER, { id: adapter.id })).webSocketAdapter).toMatchObject({ state: 'CLOSED', reason: 'the track ended' });
      // Not reconnected: the track ended, there is nothing to send.
      const count = service.state.connections.length;
      await new Promise((resolve) => setTimeout(resolve, 600));
      expect(service.state.connections.length).toBe(count);
      expect(await transportCount(file.server)).toBe(transports);
    } finally {
      speaker.stop();
      tone.stop();
    }
  });

  it('the track ends while the service is still answering the handshake: no adapter left open on it', { timeout: 20_000 }, async () => {
    service.state.accepting = true;
    service.state.delayMs = 500;
    const transports = await transportCount(file.server);
    const tone = toneMicrophone(440, 8000);
    const speaker = new TestPeer(file.server.url);
    try {
      await speaker.createSession();
      await speaker.push([{ track: tone.track, name: 'voice' }]);
      const count = service.state.connections.length;
      const creating = gql(file.server.url, CREATE, { input: { location: 'REMOTE', sessionId: speaker.sessionId, trackName: 'voice', endpoint } });
      await new Promise((resolve) => setTimeout(resolve, 200));
      await gqlOk(file.server.url, CLOSE_SESSION, { id: speaker.sessionId });
      const result = await creating;
      const adapter = result.data?.createWebSocketAdapter as { id: string } | null | undefined;
      // Either refused, or created and closed at once because its track has ended: never left CONNECTED on nothing.
      if (adapter) {
        await new Promise((resolve) => setTimeout(resolve, 1000));
        const state = (await gqlOk(file.server.url, ADAPTER, { id: adapter.id })).webSocketAdapter;
        console.log(`created while its track ended: ${state.state} (${state.reason ?? 'no reason'})`);
        expect(state).toMatchObject({ state: 'CLOSED', reason: 'the track ended' });
      } else {
        console.log(`refused while its track ended: ${result.errors?.[0]?.extensions?.code} ${result.errors?.[0]?.message}`);
      }
      await waitFor('the service\'s socket closed', () => service.state.connections.slice(count).every((c) => c.closeCode !== undefined), 5000);
      expect(await transportCount(file.server)).toBe(transports);
    } finally {
      service.state.delayMs = 0;
      speaker.stop();
      tone.stop();
    }
  });
});
