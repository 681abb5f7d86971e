import { randomBytes } from 'node:crypto';
import { EventStream, type Outbox } from './EventStream.js';
import { badRequest } from '../errors.js';
import type { TrackView } from '../tracks/PublishedTrack.js';

export type { TrackView };

export type TrackEventType = 'PUBLISHED' | 'UNPUBLISHED' | 'ACTIVE' | 'INACTIVE' | 'MUTED' | 'UNMUTED';

export interface TrackEvent {
  /** Position in this bus's order; cursors encode it. */
  readonly seq: number;
  readonly cursor: string;
  readonly type: TrackEventType;
  readonly track: TrackView;
  readonly at: Date;
}

/**
 * Track availability events in one total order, with replay from a cursor.
 * The in-memory implementation serves one node; a cluster replaces it with a
 * shared one (Redis) behind the same interface, without touching resolvers.
 */
export interface TrackEventBus {
  publish(type: TrackEventType, track: TrackView): TrackEvent;
  /** The cursor of the latest event: a snapshot taken now is current up to it. */
  cursor(): string;
  /**
   * Every event after `after` that is still retained, then live events, with
   * no gap and no duplicate between the two, those that `accept` lets
   * through. Throws BAD_REQUEST when `after` is older than what is retained
   * (or from another server run). Events the reader has not taken count
   * against `outbox`, its connection's cap.
   */
  subscribe(after: string | null, accept: (event: TrackEvent) => boolean, outbox?: Outbox): EventStream<TrackEvent>;
  /** Live subscriptions, for the census. */
  readonly subscriberCount: number;
}

export interface RetentionOptions {
  /** Events kept for replay. */
  maxEvents: number;
  /** Events older than this are dropped from replay. */
  maxAgeMs: number;
}

const STALE = 'the cursor is older than the retained events: reload the tracks snapshot (trackSnapshot or tracks + trackEventsCursor) and subscribe after its cursor';

/**
 * One node's bus: a bounded history for replay, and graphql-yoga's pubsub for
 * the live fan-out to subscribers.
 */
export class InMemoryTrackEventBus implements TrackEventBus {
  /** Cursors of an earlier server run must not be mistaken for ours. */
  private readonly epoch = randomBytes(6).toString('base64url');
  private readonly history: TrackEvent[] = [];
  /** One listener per live subscription: fan-out is a loop, and a closed stream removes its own. */
  private readonly listeners = new Set<(event: TrackEvent) => void>();
  private seq = 0;
  /** Highest seq that has been dropped from the history. */
  private droppedUpTo = 0;

  constructor(private readonly retention: RetentionOptions) {}

  publish(type: TrackEventType, track: TrackView): TrackEvent {
    this.seq += 1;
    const event: TrackEvent = { seq: this.seq, cursor: this.encode(this.seq), type, track, at: new Date() };
    this.history.push(event);
    this.trim(event.at.getTime());
    for (const listener of [...this.listeners]) listener(event);
    return event;
  }

  cursor(): string {
    return this.encode(this.seq);
  }

  get subscriberCount(): number {
    return this.listeners.size;
  }

  subscribe(after: string | null, accept: (event: TrackEvent) => boolean, outbox?: Outbox): EventStream<TrackEvent> {
    const from = after == null ? this.seq : this.decode(after);
    this.trim(Date.now());
    if (from < this.droppedUpTo) throw badRequest(STALE);
    const stream = new EventStream<TrackEvent>(outbox);
    // Replay and live delivery start in one synchronous step: every event is
    // in the replay or arrives live, none twice.
    for (const event of this.history) {
      if (event.seq > from && accept(event)) stream.push(event);
    }
    const listener = (event: TrackEvent) => {
      if (accept(event)) stream.push(event);
    };
    this.listeners.add(listener);
    stream.onClose(() => this.listeners.delete(listener));
    return stream;
  }

  private trim(now: number): void {
    const { maxEvents, maxAgeMs } = this.retention;
    let drop = 0;
    while (
      drop < this.history.length &&
      (this.history.length - drop > maxEvents || now - (this.history[drop] as TrackEvent).at.getTime() > maxAgeMs)
    ) {
      drop += 1;
    }
    if (drop === 0) return;
    this.droppedUpTo = (this.history[drop - 1] as TrackEvent).seq;
    this.history.splice(0, drop);
  }

  private encode(seq: number): string {
    return Buffer.from(`${this.epoch}:${seq}`).toString('base64url');
  }

  private decode(cursor: string): number {
    const text = typeof cursor === 'string' && cursor.length <= 64 ? Buffer.from(cursor, 'base64url').toString() : '';
    const [epoch, seqText] = text.split(':');
    const seq = Number(seqText);
    if (epoch !== this.epoch || !Number.isInteger(seq) || seq < 0 || seq > this.seq) throw badRequest(STALE);
    return seq;
  }
}
