import { EventEmitter } from 'node:events';
import type WebSocket from 'ws';
import type { RtpTap } from '../../mediaout/RtpTap.js';
import { OpusPcmDecoder, PCM_CHANNELS } from '../../mediaout/OpusPcmDecoder.js';
import { encodePacket } from './packet.js';
import { connectService, type ServiceSocketOptions } from './serviceSocket.js';

export interface PcmEgressOptions extends ServiceSocketOptions {
  endpoint: string;
  /** How long a service that dropped the connection has to take it again (Cloudflare: 15 s). */
  reconnectWindowMs: number;
  /** Packets kept for a service that is reconnecting, the oldest dropped first (one 20 ms frame each). */
  backlogPackets: number;
}

/**
 * A track's audio to a service's WebSocket, as Cloudflare's remote PCM
 * adapter sends it: one Packet per decoded Opus frame (20 ms: 3,840 bytes
 * of 48 kHz stereo s16le), `sequenceNumber` counting packets from 0 and
 * `timestamp` counting samples at 48 kHz from 0 (Cloudflare does not say
 * its units; samples make gaps and pauses readable). When the service
 * drops the connection the adapter connects again to the same URL for up to
 * `reconnectWindowMs`, keeping the newest `backlogPackets` meanwhile;
 * after that it closes.
 */
export class PcmEgress extends EventEmitter<{ closed: [reason: string] }> {
  private readonly decoder = new OpusPcmDecoder();
  private sequence = 0;
  private samples = 0;
  private readonly backlog: { message: Uint8Array; bytes: number }[] = [];
  private closedBy: string | undefined;
  /** Payload bytes delivered to the service. */
  bytesProcessed = 0;

  private constructor(
    private readonly tap: RtpTap,
    private socket: WebSocket | undefined,
    private readonly options: PcmEgressOptions,
  ) {
    super();
    tap.on('rtp', (packet) => {
      for (const pcm of this.decoder.decode(packet)) this.send(pcm);
    });
    tap.once('close', () => this.close('the track ended'));
    this.watch(socket!);
  }

  /** Connects to the service first (its refusal is the caller's error), then forwards the track. */
  static async start(tap: RtpTap, options: PcmEgressOptions): Promise<PcmEgress> {
    const socket = await connectService(options.endpoint, options);
    return new PcmEgress(tap, socket, options);
  }

  get closed(): boolean {
    return this.closedBy !== undefined;
  }

  close(reason = 'closed'): void {
    if (this.closedBy !== undefined) return;
    this.closedBy = reason;
    this.socket?.close(1000);
    this.socket = undefined;
    this.tap.close();
    this.decoder.close();
    this.emit('closed', reason);
  }

  private send(pcm: Buffer): void {
    const message = encodePacket({ sequenceNumber: this.sequence >>> 0, timestamp: this.samples >>> 0, payload: pcm });
    this.sequence += 1;
    this.samples += pcm.length / (2 * PCM_CHANNELS);
    if (this.socket?.readyState === 1) {
      this.socket.send(message);
      this.bytesProcessed += pcm.length;
      return;
    }
    this.backlog.push({ message, bytes: pcm.length });
    if (this.backlog.length > this.options.backlogPackets) this.backlog.shift();
  }

  private watch(socket: WebSocket): void {
    socket.on('error', () => undefined);
    // Services send nothing on an egress adapter: anything they send is ignored.
    socket.on('close', () => {
      if (this.closedBy !== undefined || this.socket !== socket) return;
      this.socket = undefined;
      void this.reconnect();
    });
  }

  private async reconnect(): Promise<void> {
    const deadline = Date.now() + this.options.reconnectWindowMs;
    while (this.closedBy === undefined && Date.now() < deadline) {
      try {
        const socket = await connectService(this.options.endpoint, { ...this.options, handshakeTimeoutMs: Math.min(this.options.handshakeTimeoutMs, Math.max(1, deadline - Date.now())) });
        if (this.closedBy !== undefined) {
          socket.close(1000);
          return;
        }
        this.socket = socket;
        this.watch(socket);
        for (const { message, bytes } of this.backlog.splice(0)) {
          socket.send(message);
          this.bytesProcessed += bytes;
        }
        return;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
    this.close(`the service's WebSocket closed and did not accept a new connection within ${this.options.reconnectWindowMs} ms`);
  }
}
