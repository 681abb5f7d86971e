import type { AccessPolicy } from '../../auth/access.js';
import { ErrorCode, SwitchyardError } from '../../errors.js';
import { streamOf, type Outbox } from '../../events/EventStream.js';
import type { AdapterRequest } from './requests.js';
import type { AdapterState, WebSocketAdapter } from './WebSocketAdapter.js';
import type { WebSocketAdapters } from './WebSocketAdapters.js';

/** A change of one adapter, as the webSocketAdapterEvents subscription tells it. */
export interface AdapterEvent {
  readonly type: AdapterState;
  readonly adapter: WebSocketAdapter;
  readonly reason: string | null;
  readonly at: Date;
}

export const adapterNotFound = (id: string) => new SwitchyardError(ErrorCode.BAD_REQUEST, `WebSocket adapter ${id} does not exist`, { extensions: { adapterErrorCode: 'adapter_not_found' } });

/** One caller's view of the node's WebSocket adapters: what its access allows, nothing of another app. */
export class GuardedAdapters {
  constructor(
    private readonly adapters: WebSocketAdapters,
    private readonly access: AccessPolicy,
    private readonly outbox?: Outbox,
  ) {}

  create(request: AdapterRequest): Promise<WebSocketAdapter> {
    return this.adapters.create(this.access, request);
  }

  close(id: string): WebSocketAdapter {
    const adapter = this.adapters.close(this.access, id);
    if (!adapter) throw adapterNotFound(id);
    return adapter;
  }

  get(id: string): WebSocketAdapter | null {
    return this.adapters.get(this.access, id) ?? null;
  }

  list(sessionId?: string | null): WebSocketAdapter[] {
    return this.adapters.list(this.access, sessionId);
  }

  /** State changes of the adapters of one session (those of its tracks, or the one that created it) the caller may see. */
  events(sessionId: string): AsyncIterableIterator<AdapterEvent> {
    return streamOf(
      this.outbox,
      (listener) => (this.adapters.on('state', listener), () => this.adapters.off('state', listener)),
      (adapter: WebSocketAdapter) => (adapter.sessionId === sessionId && this.adapters.get(this.access, adapter.id) ? { type: adapter.state, adapter, reason: adapter.reason, at: new Date() } : undefined),
    );
  }
}
