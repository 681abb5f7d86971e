import { randomBytes } from 'node:crypto';
import { EventStream, type Outbox } from './EventStream.js';
import { badRequest } from '../errors.js';
import type { TrackView } from '../tracks/PublishedTrack.js';
import { eventCounters } from './eventCounters.js';

export type { TrackView };

export type TrackEventType = 'PUBLISHED' | 'MOVED' | 'UNPUBLISHED' | 'ACTIVE' | 'INACTIVE' | 'MUTED' | 'UNMUTED';

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
   * Every event of `after.appId` after `after.cursor` that is still retained,
   * then live events, with no gap and no duplicate between the two, those
   * that `accept` lets through (with `after` null: live events only). Each
   * app's events are retained on their own (RetentionOptions apply per app),
   * so one app's churn never pushes another's history out: a resumed
   * subscription replays its app's events only, and `accept` must let
   * through no other app's. Rejects with BAD_REQUEST when the cursor is older
   * than what is retained of the app (or from another log). Events the
   * reader has not taken count against `outbox`, its connection's cap.
   */
  subscribe(after: ResumeFrom | null, accept: (event: TrackEvent) => boolean, outbox?: Outbox): Promise<EventStream<TrackEvent>>;
  /** Live subscriptions, for the census. */
  readonly subscriberCount: number;
  /**
   * Calls `observer` with every live event, in order: for the node's own
   * machinery (TrackMoves), not a subscription (no stream, not counted).
   * Returns what stops it.
   */
  observe(observer: (event: TrackEvent) => void): () => void;
  /** Stops whatever the bus runs (connections, readers); subscriptions end. */
  close(): Promise<void>;
}

/** The key of a track in a directory. */
export const trackKey = (sessionId: string, name: string) => `${sessionId}\u0000${name}`;

/** Where a subscription resumes: after a cursor, in the history of one app. */
export interface ResumeFrom {
  cursor: string;
  appId: string;
}

/** What is kept for replay, for each app. */
export interface RetentionOptions {
  /** Events of one app kept for replay. */
  maxEvents: number;
  /** Events older than this are dropped from replay. */
  maxAgeMs: number;
}

export const STALE = 'the cursor is older than the retained events: reload the tracks snapshot (trackSnapshot or tracks + trackEventsCursor) and subscribe after its cursor';

/** One app's replay history: its retained events, oldest first. */
interface AppHistory {
  events: TrackEvent[];
  /** Highest seq of this app's events that has been dropped. */
  droppedUpTo: number;
}

/**
 * One node's bus: a bounded history per app for replay, and a loop over the
 * subscribers for the live fan-out. Memory is at most the number of apps
 * times RetentionOptions.maxEvents events (apps are configured, not made by
 * clients).
 */
export class InMemoryTrackEventBus implements TrackEventBus {
  /** Cursors of an earlier server run must not be mistaken for ours. */
  private readonly epoch = randomBytes(6).toString('base64url');
  private readonly histories = new Map<string, AppHistory>();
  /** One listener per live subscription: fan-out is a loop, and a closed stream removes its own. */
  private readonly listeners = new Set<(event: TrackEvent) => void>();
  private readonly observers = new Set<(event: TrackEvent) => void>();
  private readonly streams = new Set<EventStream<TrackEvent>>();
  /** The directory: the latest view of every published track. */
  private readonly tracks = new Map<string, TrackView>();
  private seq = 0;

  constructor(private readonly retention: RetentionOptions) {}

  async publish(type: TrackEventType, track: TrackView): Promise<TrackEvent> {
    eventCounters.trackPublished += 1;
    this.seq += 1;
    const event: TrackEvent = { seq: this.seq, cursor: this.encode(this.seq), type, track, at: new Date() };
    if (type === 'UNPUBLISHED') this.tracks.delete(trackKey(track.sessionId, track.name));
    else this.tracks.set(trackKey(track.sessionId, track.name), track);
    this.historyOf(track.appId).events.push(event);
    this.trim(event.at.getTime());
    for (const listener of [...this.listeners]) listener(event);
    for (const observer of [...this.observers]) observer(event);
    return event;
  }

  observe(observer: (event: TrackEvent) => void): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
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

  async subscribe(after: ResumeFrom | null, accept: (event: TrackEvent) => boolean, outbox?: Outbox): Promise<EventStream<TrackEvent>> {
    const from = after == null ? this.seq : this.decode(after.cursor);
    this.trim(Date.now());
    const history = after == null ? undefined : this.histories.get(after.appId);
    if (history && from < history.droppedUpTo) throw badRequest(STALE);
    const stream = new EventStream<TrackEvent>(outbox);
    // Replay and live delivery start in one synchronous step: every event is
    // in the replay or arrives live, none twice.
    for (const event of history?.events ?? []) {
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

  private historyOf(appId: string): AppHistory {
    let history = this.histories.get(appId);
    if (!history) this.histories.set(appId, (history = { events: [], droppedUpTo: 0 }));
    return history;
  }

  /** Drops, in every app's history, what is past the count or too old (the oldest first: only heads are looked at). */
  private trim(now: number): void {
    const { maxEvents, maxAgeMs } = this.retention;
    for (const history of this.histories.values()) {
      const { events } = history;
      let drop = 0;
      while (drop < events.length && (events.length - drop > maxEvents || now - (events[drop] as TrackEvent).at.getTime() > maxAgeMs)) {
        drop += 1;
      }
      if (drop === 0) continue;
      history.droppedUpTo = (events[drop - 1] as TrackEvent).seq;
      events.splice(0, drop);
    }
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
