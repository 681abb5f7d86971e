import { WebSocketServer, type WebSocket } from 'ws';
import { decodePacket, encodePacket, type Packet } from '../../src/adapters/websocket/packet.js';

/** A service's connection from the SFU: what it received, when, and how it closed. */
export interface ServiceConnection {
  /** The request's path, without its query. */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly socket: WebSocket;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly packets: { packet: Packet; at: number }[];
  closeCode?: number;
}

/**
 * A WebSocket service as an adapter's endpoint, on a free loopback port:
 * every connection the SFU opens is recorded with its packets; `onConnection`
 * lets a test answer (send PCM back, refuse, close).
 */
export async function startAdapterService(onConnection?: (connection: ServiceConnection) => void) {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 64 * 1024 * 1024 });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const port = (server.address() as { port: number }).port;
  const connections: ServiceConnection[] = [];
  server.on('connection', (socket, request) => {
    const url = new URL(request.url ?? '/', 'http://service');
    const connection: ServiceConnection = { path: url.pathname, query: url.searchParams, socket, headers: request.headers, packets: [] };
    connections.push(connection);
    socket.on('message', (data: Buffer) => connection.packets.push({ packet: decodePacket(data), at: performance.now() }));
    socket.on('close', (code) => {
      connection.closeCode = code;
    });
    onConnection?.(connection);
  });
  return {
    url: (path: string) => `ws://127.0.0.1:${port}${path}`,
    connections,
    /** The newest connection to `path`. */
    latest: (path: string) => connections.filter((c) => c.path === path).at(-1),
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of connections) c.socket.terminate();
        server.close(() => resolve());
      }),
  };
}

/** `ms` of a tone at `frequency` Hz as 48 kHz stereo s16le, starting at sample `from` (so that chunks join without clicks). */
export function tonePcm(frequency: number, ms: number, amplitude = 8000, from = 0): Buffer {
  const frames = Math.round((48_000 * ms) / 1000);
  const pcm = Buffer.alloc(frames * 4);
  for (let i = 0; i < frames; i += 1) {
    const value = Math.round(amplitude * Math.sin((2 * Math.PI * frequency * (from + i)) / 48_000));
    pcm.writeInt16LE(value, i * 4);
    pcm.writeInt16LE(value, i * 4 + 2);
  }
  return pcm;
}

export const packetOf = (payload: Uint8Array) => encodePacket({ sequenceNumber: 0, timestamp: 0, payload });

/** Power of `frequency` in a mono chunk (Goertzel), normalised by its length. */
export function tonePower(samples: ArrayLike<number>, frequency: number, rate: number): number {
  const coefficient = 2 * Math.cos((2 * Math.PI * frequency) / rate);
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < samples.length; i += 1) {
    const s0 = samples[i]! + coefficient * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return Math.sqrt(Math.max(0, s1 * s1 + s2 * s2 - coefficient * s1 * s2)) / samples.length;
}
