import { EventStream, type Outbox } from './EventStream.js';
import type { Session } from '../session/Session.js';
import { eventCounters } from './eventCounters.js';
import type { ConnectionQuality } from '../quality/connectionQuality.js';
import type { TrackView } from '../tracks/PublishedTrack.js';

export type SessionEventType =
  | 'CONNECTION_STATE_CHANGED'
  | 'TRACK_ENDED'
  | 'RENEGOTIATION_NEEDED'
  | 'LAYERS_IN_DEMAND'
  | 'DATA_CHANNEL_ENDED'
  | 'QUALITY_CHANGED'
  | 'DOMINANT_SPEAKER_CHANGED'
  | 'MOVE_REQUESTED'
  | 'MOVED'
  | 'CLOSED';

export interface SessionEvent {
  readonly type: SessionEventType;
  /** The session itself (still readable after CLOSED). */
  readonly session: Session;
  /** TRACK_ENDED: the transceiver whose source went away. LAYERS_IN_DEMAND: the publishing transceiver. */
  readonly mid: string | null;
  /** LAYERS_IN_DEMAND: RIDs of the simulcast layers someone watches, lowest first. */
  readonly layersInDemand?: readonly string[] | null;
  /** DATA_CHANNEL_ENDED: the id of the subscribed data channel whose source went away. */
  readonly dataChannelId?: number | null;
  /** DATA_CHANNEL_ENDED: its source went away, or the subscriber could not keep up with a reliable channel. */
  readonly dataChannelEndReason?: 'SOURCE_ENDED' | 'OVERFLOW' | null;
  /** QUALITY_CHANGED: the session's connection quality now. */
  readonly quality?: ConnectionQuality | null;
  /** DOMINANT_SPEAKER_CHANGED: the pulled audio track now speaking (`mid` is the transceiver carrying it). */
  readonly speaker?: TrackView | null;
  /** MOVE_REQUESTED: the API URL of the node to resume on (null: any). MOVED: where the session lives now. */
  readonly moveTo?: string | null;
  /** MOVE_REQUESTED: why the node asks (DRAINING). */
  readonly moveReason?: 'DRAINING' | null;
  readonly at: Date;
}

/**
 * What happens to one session, for the client (or backend) that drives it.
 * Live only: a client that reconnects reads the session's state with the
 * `session` query.
 */
export class SessionEventBus {
  private readonly listeners = new Map<string, Set<(event: SessionEvent) => void>>();
  private readonly everything = new Set<(event: SessionEvent) => void>();
  private readonly creations = new Set<(session: Session) => void>();
  private count = 0;

  publish(event: SessionEvent): void {
    eventCounters.sessionPublished += 1;
    const listeners = this.listeners.get(event.session.id);
    if (listeners) for (const listener of [...listeners]) listener(event);
    for (const listener of this.everything) listener(event);
  }

  /**
   * A session was created on this node. Not a SessionEvent: nobody can
   * subscribe to a session before it exists; for the node itself (webhooks).
   */
  created(session: Session): void {
    for (const listener of this.creations) listener(session);
  }

  watchCreated(listener: (session: Session) => void): void {
    this.creations.add(listener);
  }

  /** Every event of every session, for the node itself (the cluster directory forgets closed sessions). */
  watchAll(listener: (event: SessionEvent) => void): void {
    this.everything.add(listener);
  }

  subscribe(sessionId: string, outbox?: Outbox): EventStream<SessionEvent> {
    const stream = new EventStream<SessionEvent>(outbox);
    const listener = (event: SessionEvent) => stream.push(event);
    const listeners = this.listeners.get(sessionId) ?? new Set();
    this.listeners.set(sessionId, listeners);
    listeners.add(listener);
    this.count += 1;
    stream.onClose(() => {
      listeners.delete(listener);
      this.count -= 1;
      if (listeners.size === 0 && this.listeners.get(sessionId) === listeners) this.listeners.delete(sessionId);
    });
    return stream;
  }

  /** Live subscriptions, for the census. */
  get subscriberCount(): number {
    return this.count;
  }
}
