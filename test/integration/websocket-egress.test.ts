import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { fakeMicrophone, waitFor } from '../helpers/media.js';
import { TestPeer } from '../helpers/peer.js';
import { useTestServer } from '../helpers/server.js';
import { dominantFrequency, leftChannel } from '../helpers/audio.js';
import { RtpTap } from '../../src/mediaout/RtpTap.js';
import { CLOUDFLARE_PCM, PCM_RATE } from '../../src/mediaout/OpusPcmDecoder.js';
import { PcmEgress } from '../../src/adapters/websocket/PcmEgress.js';
import { decodePacket, type Packet } from '../../src/adapters/websocket/packet.js';
import { EndpointPolicy } from '../../src/adapters/endpointPolicy.js';
import { AdapterConnectError, connectService } from '../../src/adapters/websocket/serviceSocket.js';

/**
 * A track's audio to a WebSocket service, as Cloudflare's remote PCM
 * adapter sends it: a service the test runs receives protobuf Packets of
 * 48 kHz stereo PCM, the publisher's 440 Hz tone in real time; the service
 * drops the connection and the adapter connects again, the sequence going
 * on; services the node must not reach are refused.
 */
const file = useTestServer({ WORKERS: '1' });
let service: WebSocketServer;
const received: { packet: Packet; at: number; connection: number }[] = [];
const sockets: WebSocket[] = [];
let port = 0;

beforeAll(async () => {
  service = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => service.once('listening', () => resolve()));
  port = (service.address() as { port: number }).port;
  service.on('connection', (socket, request) => {
    if (!request.url?.includes('token=abc')) return socket.close(4001);
    const connection = sockets.push(socket);
    socket.on('message', (data: Buffer) => received.push({ packet: decodePacket(data), at: performance.now(), connection }));
  });
});

afterAll(async () => {
  await new Promise<void>((resolve) => service.close(() => resolve()));
});

const options = (endpoint: string) => ({ endpoint, policy: EndpointPolicy.create(true, []), handshakeTimeoutMs: 2000, reconnectWindowMs: 15_000, backlogMessages: 50, format: CLOUDFLARE_PCM });

describe('PCM egress to a WebSocket service', () => {
  it('delivers the tone as 20 ms Packets in real time, and goes on after the service drops the connection', { timeout: 40_000 }, async () => {
    const microphone = fakeMicrophone();
    const publisher = new TestPeer(file.server.url);
    try {
      await publisher.createSession();
      await publisher.push([{ track: microphone.track, name: 'mic' }]);
      const track = file.server.sessions.tracks.get(publisher.sessionId, 'mic')!;
      const egress = await PcmEgress.start(await RtpTap.open(track.router, track.producer.id), options(`ws://127.0.0.1:${port}/listen?token=abc`));
      await waitFor('packets at the service', () => received.length > 50, 10_000);
      received.length = 0;
      await new Promise((resolve) => setTimeout(resolve, 3000));
      const window = received.filter((r) => r.connection === 1);
      const seconds = (window.at(-1)!.at - window[0]!.at) / 1000;
      const samples = window.slice(0, -1).reduce((n, r) => n + r.packet.payload.length / 4, 0);
      const pcm = Buffer.concat(window.map((r) => Buffer.from(r.packet.payload)));
      const frequency = dominantFrequency(leftChannel(pcm).subarray(0, PCM_RATE), PCM_RATE, 200, 1200);
      console.log(`egress: ${window.length} packets of ${window[0]!.packet.payload.length} bytes, ${frequency} Hz, ${(samples / seconds).toFixed(0)} samples/s`);
      expect(window[0]!.packet.payload.length).toBe(3840);
      expect(Math.abs(frequency - 440)).toBeLessThanOrEqual(3);
      expect(Math.abs(samples / seconds - PCM_RATE) / PCM_RATE).toBeLessThan(0.03);
      // Sequence numbers count packets, timestamps samples.
      const [a, b] = [window[0]!.packet, window[1]!.packet];
      expect(b.sequenceNumber - a.sequenceNumber).toBe(1);
      expect(b.timestamp - a.timestamp).toBe(960);

      // The service drops the connection: the adapter comes back and the sequence goes on.
      const lastBefore = received.at(-1)!.packet.sequenceNumber;
      sockets[0]!.terminate();
      await waitFor('a second connection with packets', () => received.some((r) => r.connection === 2), 5000);
      const firstAfter = received.find((r) => r.connection === 2)!.packet.sequenceNumber;
      expect(firstAfter).toBeGreaterThan(lastBefore);
      expect(egress.socket.bytesProcessed).toBeGreaterThan(100_000);

      const closed = new Promise<string>((resolve) => egress.socket.once('closed', resolve));
      egress.socket.close();
      expect(await closed).toBe('closed');
    } finally {
      microphone.stop();
      publisher.stop();
    }
  });

  it('refuses services it must not or cannot reach, with Cloudflare\'s error codes', async () => {
    const refused = (endpoint: string, allowPrivate: boolean) =>
      connectService(endpoint, { policy: EndpointPolicy.create(allowPrivate, []), handshakeTimeoutMs: 1000 }).then(
        () => 'connected',
        (error: AdapterConnectError) => error.errorCode,
      );
    expect(await refused(`ws://127.0.0.1:${port}/listen?token=abc`, false)).toBe('websocket_localhost_not_allowed');
    expect(await refused('ws://localhost:1/x', false)).toBe('websocket_localhost_not_allowed');
    expect(await refused('ws://[::1]:1/x', false)).toBe('websocket_localhost_not_allowed');
    expect(await refused('http://example.com/x', true)).toBe('invalid_params');
    // Nothing listens there / the service refuses the upgrade.
    expect(await refused('ws://127.0.0.1:1/x', true)).toBe('websocket_handshake_failed');
    expect(await refused(`ws://127.0.0.1:${port}/listen?token=wrong`, true)).toBe('connected');
  });
});
