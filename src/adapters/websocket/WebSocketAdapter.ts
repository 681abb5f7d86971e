import { EventEmitter } from 'node:events';
import type { PcmFormat } from '../../mediaout/OpusPcmDecoder.js';
import type { JpegOptions } from '../../mediaout/JpegFrames.js';

export type AdapterState = 'CONNECTED' | 'RECONNECTING' | 'CLOSED' | 'FAILED';

/** What moves media between a track and a service (PcmEgress, JpegEgress, PcmIngest), as the adapter sees it. */
export interface AdapterLink {
  readonly bytesProcessed: number;
  close(reason?: string): void;
}

/**
 * One WebSocket adapter: which track, which service, where it stands. The
 * engine behind it (`link`) reports its state; closing it is idempotent.
 */
export class WebSocketAdapter extends EventEmitter<{ state: [adapter: WebSocketAdapter] }> {
  state: AdapterState = 'CONNECTED';
  readonly createdAt = new Date();
  closedAt: Date | null = null;
  /** Why it closed or failed; null while open. */
  reason: string | null = null;
  private finalBytes: number | undefined;
  link: AdapterLink | undefined;

  constructor(
    readonly id: string,
    readonly appId: string,
    /** The client-token subject that created it (null for an app backend): it may read and close it. */
    readonly owner: string | null,
    readonly location: 'local' | 'remote',
    /** remote: the publishing session; local: the session the adapter created. */
    readonly sessionId: string,
    readonly trackName: string,
    readonly endpoint: string,
    readonly codec: 'pcm' | 'jpeg',
    readonly format: PcmFormat | null,
    readonly jpeg: JpegOptions | null,
  ) {
    super();
  }

  /** Payload bytes moved so far (PCM or JPEG), kept after closing. */
  get bytesProcessed(): number {
    return this.finalBytes ?? this.link?.bytesProcessed ?? 0;
  }

  get open(): boolean {
    return this.state === 'CONNECTED' || this.state === 'RECONNECTING';
  }

  /** The endpoint without its query string, which often carries the service's credentials: what the API shows. */
  get endpointShown(): string {
    const url = new URL(this.endpoint);
    return `${url.protocol}//${url.host}${url.pathname}`;
  }

  setState(state: 'CONNECTED' | 'RECONNECTING'): void {
    if (!this.open || this.state === state) return;
    this.state = state;
    this.emit('state', this);
  }

  /** The link ended (asked to, the track ended, the service went away for good); `failed` when it was not asked to. */
  ended(reason: string, failed: boolean): void {
    if (!this.open) return;
    this.finalBytes = this.link?.bytesProcessed ?? 0;
    this.state = failed ? 'FAILED' : 'CLOSED';
    this.reason = reason;
    this.closedAt = new Date();
    this.emit('state', this);
  }
}
