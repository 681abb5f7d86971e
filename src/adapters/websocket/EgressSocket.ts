import { EventEmitter } from 'node:events';
import type WebSocket from 'ws';
import { connectService, type ServiceSocketOptions } from './serviceSocket.js';

export interface EgressSocketOptions extends ServiceSocketOptions {
  endpoint: string;
  /** How long a service that dropped the connection has to take it again (Cloudflare: 15 s). */
  reconnectWindowMs: number;
  /** Messages kept for a service that is reconnecting, the oldest dropped first (audio: a short backlog; video: the latest frame only). */
  backlogMessages: number;
}

export type EgressSocketEvents = {
  /** The service dropped the connection (RECONNECTING) or took it again (CONNECTED). */
  state: [state: 'CONNECTED' | 'RECONNECTING'];
  /** For good: asked to, or the reconnect window passed (failed). */
  closed: [reason: string, failed: boolean];
};

/**
 * The SFU's end of an egress adapter's WebSocket, as Cloudflare describes
 * it: when the service drops the connection the adapter connects again to
 * the same URL for up to `reconnectWindowMs`, keeping the newest
 * `backlogMessages` meanwhile ("live first": older ones are dropped), and
 * closes after that. Services send nothing on an egress adapter: anything
 * they send is ignored.
 */
export class EgressSocket extends EventEmitter<EgressSocketEvents> {
  private readonly backlog: { message: Uint8Array; bytes: number }[] = [];
  private closedBy: string | undefined;
  /** Payload bytes delivered to the service. */
  bytesProcessed = 0;
  /** Messages dropped from the backlog while the service was away. */
  dropped = 0;

  private constructor(
    private socket: WebSocket | undefined,
    private readonly options: EgressSocketOptions,
  ) {
    super();
    this.watch(socket!);
  }

  /** Connects to the service (its refusal is the caller's error, AdapterConnectError). */
  static async connect(options: EgressSocketOptions): Promise<EgressSocket> {
    return new EgressSocket(await connectService(options.endpoint, options), options);
  }

  get closed(): boolean {
    return this.closedBy !== undefined;
  }

  /** Sends a message now, or keeps it for the reconnection; `bytes` is the payload it carries. */
  send(message: Uint8Array, bytes: number): void {
    if (this.closedBy !== undefined) return;
    if (this.socket?.readyState === 1) {
      this.socket.send(message);
      this.bytesProcessed += bytes;
      return;
    }
    this.backlog.push({ message, bytes });
    if (this.backlog.length > this.options.backlogMessages) {
      this.backlog.shift();
      this.dropped += 1;
    }
  }

  close(reason = 'closed', failed = false): void {
    if (this.closedBy !== undefined) return;
    this.closedBy = reason;
    this.socket?.close(1000);
    this.socket = undefined;
    this.backlog.length = 0;
    this.emit('closed', reason, failed);
  }

  private watch(socket: WebSocket): void {
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (this.closedBy !== undefined || this.socket !== socket) return;
      this.socket = undefined;
      this.emit('state', 'RECONNECTING');
      void this.reconnect();
    });
  }

  private async reconnect(): Promise<void> {
    const deadline = Date.now() + this.options.reconnectWindowMs;
    while (this.closedBy === undefined && Date.now() < deadline) {
      try {
        const handshakeTimeoutMs = Math.min(this.options.handshakeTimeoutMs, Math.max(1, deadline - Date.now()));
        const socket = await connectService(this.options.endpoint, { ...this.options, handshakeTimeoutMs });
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
        this.emit('state', 'CONNECTED');
        return;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
    this.close(`the service's WebSocket closed and did not accept a new connection within ${this.options.reconnectWindowMs} ms`, true);
  }
}
