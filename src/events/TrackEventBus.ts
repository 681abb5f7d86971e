import { randomBytes } from 'node:crypto';
import { EventStream, type Outbox } from './EventStream.js';
import { badRequest } from '../errors.js';
import type { TrackView } from '../tracks/PublishedTrack.js';
import { eventCounters } from './eventCounters.js';

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
 * Track availability: the published tracks (the directory the `tracks`,
 * `track` and `trackSnapshot` queries read) and the events that change them,
 * in one total order, with replay from a cursor. The in-memory implementation
 * serves one node; a cluster uses RedisTrackEventBus (src/cluster) behind the
 * same interface, so that every node sees every node's tracks and events.
 * Every method is asynchronous because a shared log is.
 */
export interface TrackEventBus {
  /**
   * Appends an event and brings the directory's view of the track up to date
   * (UNPUBLISHED removes it). Events published by one node are appended in the
   * order of the calls.
   */
  publish(type: TrackEventType, track: TrackView): Promise<TrackEvent>;
  /** The cursor of the latest event: a snapshot taken now is current up to it. */
  cursor(): Promise<string>;
  /** The published tracks and the cursor they are current up to, read together. */
  snapshot(): Promise<{ cursor: string; tracks: TrackView[] }>;
  /** One published track as the directory has it. */
  track(sessionId: string, name: string): Promise<TrackView | null>;
  /**
   * Every event after `after` that is still retained, then live events, with
   * no gap and no duplicate between the two, those that `accept` lets
   * through. Rejects with BAD_REQUEST when `after` is older than what is
   * retained (or from another log). Events the reader has not taken count
   * against `outbox`, its connection's cap.
   */
  subscribe(after: string | null, accept: (event: TrackEvent) => boolean, outbox?: Outbox): Promise<EventStream<TrackEvent>>;
  /** Live subscriptions, for the census. */
  readonly subscriberCount: number;
  /** Stops whatever the bus runs (connections, readers); subscriptions end. */
  close(): Promise<void>;
}

/** The key of a track in a directory. */
export const trackKey = (sessionId: string, name: string) => `${sessionId}\u0000${name}`;

export interface RetentionOptions {
  /** Events kept for replay. */
  maxEvents: number;
  /** Events older than this are dropped from replay. */
  maxAgeMs: number;
}

export const STALE = 'the cursor is older than the retained events: reload the tracks snapshot (trackSnapshot or tracks + trackEventsCursor) and subscribe after its cursor';

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
  private readonly streams = new Set<EventStream<TrackEvent>>();
  /** The directory: the latest view of every published track. */
  private readonly tracks = new Map<string, TrackView>();
  private seq = 0;
  /** Highest seq that has been dropped from the history. */
  private droppedUpTo = 0;

  constructor(private readonly retention: RetentionOptions) {}

  async publish(type: TrackEventType, track: TrackView): Promise<TrackEvent> {
    eventCounters.trackPublished += 1;
    this.seq += 1;
    const event: TrackEvent = { seq: this.seq, cursor: this.encode(this.seq), type, track, at: new Date() };
    if (type === 'UNPUBLISHED') this.tracks.delete(trackKey(track.sessionId, track.name));
    else this.tracks.set(trackKey(track.sessionId, track.name), track);
    this.history.push(event);
    this.trim(event.at.getTime());
    for (const listener of [...this.listeners]) listener(event);
    return event;
  }

  async cursor(): Promise<string> {
    return this.encode(this.seq);
  }

  async snapshot(): Promise<{ cursor: string; tracks: TrackView[] }> {
    return { cursor: this.encode(this.seq), tracks: [...this.tracks.values()] };
  }

  async track(sessionId: string, name: string): Promise<TrackView | null> {
    return this.tracks.get(trackKey(sessionId, name)) ?? null;
  }

  async close(): Promise<void> {
    for (const stream of [...this.streams]) void stream.return();
  }

  get subscriberCount(): number {
    return this.listeners.size;
  }

  async subscribe(after: string | null, accept: (event: TrackEvent) => boolean, outbox?: Outbox): Promise<EventStream<TrackEvent>> {
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
    this.streams.add(stream);
    stream.onClose(() => {
      this.listeners.delete(listener);
      this.streams.delete(stream);
    });
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
