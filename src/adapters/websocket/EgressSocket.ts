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

/** A connection that lasts this long ends an outage: the next drop has a full reconnect window again. */
const STABLE_MS = 2_000;
const FIRST_RETRY_MS = 100;
const MAX_RETRY_MS = 2_000;

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
  /** When the service first dropped the connection of the current outage; a connection that lasts STABLE_MS ends the outage. */
  private outageSince: number | undefined;
  private connectedAt = performance.now();
  private retryDelay = FIRST_RETRY_MS;
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
      const now = performance.now();
      // A service that takes each connection and drops it at once is one outage, not a new window each time.
      if (this.outageSince === undefined || now - this.connectedAt >= STABLE_MS) {
        this.outageSince = now;
        this.retryDelay = FIRST_RETRY_MS;
      }
      this.emit('state', 'RECONNECTING');
      void this.reconnect(this.outageSince);
    });
  }

  private async reconnect(since: number): Promise<void> {
    const deadline = since + this.options.reconnectWindowMs;
    // Attempts 100 ms apart at first, then further apart (up to 2 s): a service that is back is reached soon, one that is not is not hammered.
    while (this.closedBy === undefined && performance.now() < deadline) {
      const delay = this.retryDelay;
      this.retryDelay = Math.min(delay * 2, MAX_RETRY_MS);
      await new Promise((resolve) => setTimeout(resolve, Math.min(delay, Math.max(0, deadline - performance.now()))));
      if (this.closedBy !== undefined || performance.now() >= deadline) break;
      try {
        const handshakeTimeoutMs = Math.min(this.options.handshakeTimeoutMs, Math.max(1, deadline - performance.now()));
        const socket = await connectService(this.options.endpoint, { ...this.options, handshakeTimeoutMs });
        if (this.closedBy !== undefined) {
          socket.close(1000);
          return;
        }
        this.socket = socket;
        this.connectedAt = performance.now();
        this.watch(socket);
        for (const { message, bytes } of this.backlog.splice(0)) {
          socket.send(message);
          this.bytesProcessed += bytes;
        }
        this.emit('state', 'CONNECTED');
        return;
      } catch {
        // Refused or timed out: the next attempt, later.
      }
    }
    this.close(`the service's WebSocket closed and did not accept a new connection within ${this.options.reconnectWindowMs} ms`, true);
  }
}
