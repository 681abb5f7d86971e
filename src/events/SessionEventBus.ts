import { createPubSub } from 'graphql-yoga';
import { unboundedEventTarget } from './eventTarget.js';
import type { Session } from '../session/Session.js';

export type SessionEventType = 'CONNECTION_STATE_CHANGED' | 'TRACK_ENDED' | 'RENEGOTIATION_NEEDED' | 'CLOSED';

export interface SessionEvent {
  readonly type: SessionEventType;
  /** The session itself (still readable after CLOSED). */
  readonly session: Session;
  /** TRACK_ENDED: the transceiver whose source went away. */
  readonly mid: string | null;
  readonly at: Date;
}

/**
 * What happens to one session, for the client (or backend) that drives it.
 * Live only: a client that reconnects reads the session's state with the
 * `session` query.
 */
export class SessionEventBus {
  private readonly pubsub = createPubSub<Record<string, [SessionEvent]>>({ eventTarget: unboundedEventTarget() });

  publish(event: SessionEvent): void {
    this.pubsub.publish(`session:${event.session.id}`, event);
  }

  subscribe(sessionId: string): AsyncIterable<SessionEvent> {
    return this.pubsub.subscribe(`session:${sessionId}`);
  }
}
