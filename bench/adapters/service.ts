/**
 * The adapters' WebSocket service (in the bench process): records every
 * Packet egress adapters send it (arrival, timestamp, loud onsets, JPEG
 * images) and feeds ingest adapters 48 kHz stereo PCM in real time, a 20 ms
 * Packet every 20 ms (on /latency/ paths: silence and the tone in turn).
 */
import { WebSocketServer, type WebSocket } from 'ws';
import { decodePacket, encodePacket } from '../../src/adapters/websocket/packet.js';
import { AMPLITUDE, LOUD, TONE_HZ, peak } from '../lib/media.js';
import { epoch } from '../lib/settings.js';
import { QUIET_MS, TONE_MS } from './settings.js';

export interface Connection {
  path: string;
  socket: WebSocket;
  /** Egress: arrival epoch and Packet timestamp by sequence number; PCM loud onsets; JPEG images. */
  arrivals: number[];
  timestamps: number[];
  messages: number;
  bytes: number;
  loud: number[];
  wasLoud: boolean;
  images: { at: number; image: Uint8Array }[];
  closed: boolean;
  /** Ingest: Packets sent, and when the first loud one after silence went. */
  sent: number;
  sentOnsets: number[];
}

/** 1 s of 48 kHz stereo s16le: the tone with some noise (Opus works on it as on a voice, not on a pure sine). */
function ingestSecond(): Buffer {
  const pcm = Buffer.alloc(48_000 * 4);
  let noise = 1;
  for (let i = 0; i < 48_000; i += 1) {
    noise = (noise * 1103515245 + 12345) & 0x7fffffff;
    const value = Math.round(AMPLITUDE * Math.sin((2 * Math.PI * TONE_HZ * i) / 48_000) + ((noise / 0x7fffffff) * 2 - 1) * 1500);
    pcm.writeInt16LE(value, i * 4);
    pcm.writeInt16LE(value, i * 4 + 2);
  }
  return pcm;
}
const FRAME_BYTES = 3840;

export async function startService() {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 64 * 1024 * 1024 });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const port = (server.address() as { port: number }).port;
  const connections = new Map<string, Connection>();
  const second = ingestSecond();
  const silence = Buffer.alloc(FRAME_BYTES);
  /** Ingest connections the real-time sender feeds, with the pattern flag (silence and tone) of each. */
  const feeding = new Map<Connection, { started: number; pattern: boolean }>();
  server.on('connection', (socket, request) => {
    const path = new URL(request.url ?? '/', 'http://service').pathname;
    const c: Connection = { path, socket, arrivals: [], timestamps: [], messages: 0, bytes: 0, loud: [], wasLoud: false, images: [], closed: false, sent: 0, sentOnsets: [] };
    connections.set(path, c);
    const jpeg = path.startsWith('/jpeg/');
    const level = path.includes('/latency/');
    socket.on('message', (data: Buffer) => {
      const at = epoch();
      const packet = decodePacket(data);
      c.messages += 1;
      c.bytes += packet.payload.length;
      if (jpeg) {
        c.images.push({ at: Date.now(), image: Uint8Array.from(packet.payload) });
        return;
      }
      c.arrivals[packet.sequenceNumber] = at;
      c.timestamps[packet.sequenceNumber] = packet.timestamp;
      if (level) {
        const loud = peak(packet.payload) > LOUD;
        if (loud && !c.wasLoud) c.loud.push(at);
        c.wasLoud = loud;
      }
    });
    socket.on('close', () => {
      c.closed = true;
      feeding.delete(c);
    });
    if (path.startsWith('/ingest/')) feeding.set(c, { started: performance.now(), pattern: path.includes('/latency/') });
  });
  // Real time: every 5 ms, each ingest socket gets the 20 ms Packets due by the clock.
  const timer = setInterval(() => {
    const now = performance.now();
    for (const [c, feed] of feeding) {
      const due = Math.floor((now - feed.started) / 20) + 1;
      for (; c.sent < due && c.socket.readyState === 1; c.sent += 1) {
        let payload: Buffer;
        if (feed.pattern) {
          const loud = c.sent % ((QUIET_MS + TONE_MS) / 20) >= QUIET_MS / 20;
          payload = loud ? second.subarray((c.sent % 50) * FRAME_BYTES, (c.sent % 50 + 1) * FRAME_BYTES) : silence;
          if (loud && !c.wasLoud) c.sentOnsets.push(epoch());
          c.wasLoud = loud;
        } else {
          payload = second.subarray((c.sent % 50) * FRAME_BYTES, (c.sent % 50 + 1) * FRAME_BYTES);
        }
        c.socket.send(encodePacket({ sequenceNumber: c.sent, timestamp: c.sent * 960, payload }));
      }
    }
  }, 5);
  return {
    url: (path: string) => `ws://127.0.0.1:${port}${path}`,
    get: (path: string) => connections.get(path),
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(timer);
        for (const c of connections.values()) c.socket.terminate();
        server.close(() => resolve());
      }),
  };
}
export type Service = Awaited<ReturnType<typeof startService>>;
