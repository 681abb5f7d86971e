import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { badRequest, unavailable } from '../errors.js';
import { EventStream, type Outbox } from '../events/EventStream.js';
import {
  STALE,
  trackKey,
  type ResumeFrom,
  type RetentionOptions,
  type TrackEvent,
  type TrackEventBus,
  type TrackEventType,
  type TrackView,
} from '../events/TrackEventBus.js';
import { eventCounters } from '../events/eventCounters.js';
import { REDIS_UNAVAILABLE } from './redis.js';
import { floorLua, RAISE_FLOOR_SCRIPT } from './logFloor.js';

/**
 * The cluster's track directory and event log, on Redis:
 * - `<prefix>events`, a Redis Stream: one entry per event, in one order for
 *   the whole cluster, trimmed (exactly) by count and age: the live feed
 *   every node reads;
 * - `<prefix>events:app:<app id>`, a stream per app: the same entries (same
 *   ids) of that app's tracks, each with the seq of the app's event before it
 *   (`prev`), trimmed by count and age per app, so that one app's churn never
 *   pushes another app's history out. Replay reads these. Trimming a stream
 *   does not say what it dropped (shared/notes/cluster.md), so a cursor is
 *   stale when the first entry kept after it names a `prev` past it (that
 *   event was dropped); `<prefix>events:last` holds each app's latest seq,
 *   for when nothing after the cursor is kept at all. An idle app's stream
 *   expires with its newest entry;
 * - `<prefix>events:seq`: the event counter; every event carries its own
 *   sequence number, which cursors encode;
 * - `<prefix>events:epoch`: a random id made once per log; cursors carry it,
 *   so a cursor of another log (or of a Redis that lost its data) is stale;
 * - `<prefix>tracks`, a hash: the current view of every published track, and
 *   `<prefix>tracks:order` the seq it was published at (snapshots list tracks
 *   oldest first, as one node does).
 * One Lua script appends the event and updates the directory, so that a
 * snapshot (directory and counter read in one MULTI) is exactly current up
 * to its cursor. Each node reads the stream with one blocking XREAD and fans
 * events out to its own subscribers.
 */
export class RedisTrackEventBus implements TrackEventBus {
  private readonly keys: { stream: string; seq: string; epoch: string; tracks: string; order: string; last: string; appStream: (appId: string) => string };
  private readonly listeners = new Set<(event: TrackEvent) => void>();
  private readonly observers = new Set<(event: TrackEvent) => void>();
  private readonly streams = new Set<EventStream<TrackEvent>>();
  /** The blocking reader's own connection (XREAD BLOCK holds it). */
  private readonly reader: Redis;
  private epoch = '';
  /** Stream id and seq of the last event the reader dispatched. */
  private lastId = '0-0';
  private lastSeq = 0;
  /**
   * The newest event this node has seen (read or published itself): the log
   * must never go back below it. After a failover to a replica that missed
   * the last writes of the old primary, the counter would hand out again seqs
   * that subscribers and cursors already hold, and they would skip the new
   * events as duplicates; publishing and reconnecting raise the counter (and
   * the stream's last id) past it first (FLOOR_SCRIPT).
   */
  private floor = { seq: 0, id: '0-0' };
  private closed = false;
  /** When this node last found the log reset (Redis came back empty): a missing heartbeat key soon after is the reset's doing. */
  resetAt = 0;
  private reading: Promise<void> | undefined;
  /** Called when Redis turned out to have lost the log (a new epoch): each node then restores what it owns. */
  onReset: () => void = () => undefined;

  private constructor(
    private readonly redis: Redis,
    private readonly retention: RetentionOptions,
    prefix: string,
    private readonly onReadError: (error: unknown) => void,
  ) {
    this.keys = {
      stream: `${prefix}events`,
      seq: `${prefix}events:seq`,
      epoch: `${prefix}events:epoch`,
      tracks: `${prefix}tracks`,
      order: `${prefix}tracks:order`,
      last: `${prefix}events:last`,
      appStream: (appId) => `${prefix}events:app:${appId}`,
    };
    this.reader = redis.duplicate();
    // Connection errors surface as failed reads (below); the event itself is expected while Redis is away.
    this.reader.on('error', () => undefined);
    redis.defineCommand('switchyardPublishTrackEvent', { numberOfKeys: 6, lua: PUBLISH_SCRIPT });
    redis.defineCommand('switchyardRaiseFloor', { numberOfKeys: 2, lua: RAISE_FLOOR_SCRIPT });
    // Redis came back (perhaps empty, after a restart): check that the log is still the one the cursors name.
    redis.on('ready', () => void this.checkEpoch().catch((error: unknown) => this.onReadError(error)));
  }

  /** Connects to the log (making it if this is the cluster's first node) and starts reading it. */
  static async open(
    redis: Redis,
    options: { retention: RetentionOptions; prefix: string; onReadError: (error: unknown) => void },
  ): Promise<RedisTrackEventBus> {
    const bus = new RedisTrackEventBus(redis, options.retention, options.prefix, options.onReadError);
    await bus.start();
    return bus;
  }

  /**
   * A Redis that lost the log (restarted without persistence, flushed) gets a
   * new one: the cursors of the old one are stale, and subscriptions that
   * followed it end with BAD_REQUEST, so that their clients reload a snapshot.
   */
  async checkEpoch(): Promise<boolean> {
    if (this.closed || !this.epoch) return false;
    await this.redis.set(this.keys.epoch, randomBytes(6).toString('base64url'), 'NX');
    const epoch = await this.redis.get(this.keys.epoch);
    if (epoch === this.epoch) {
      // The same log, but perhaps one that lost its newest entries (a failover): cursors of those then still resume.
      await (this.redis as unknown as PublishCommand).switchyardRaiseFloor(this.keys.stream, this.keys.seq, String(this.floor.seq), this.floor.id);
      return false;
    }
    this.epoch = epoch ?? '';
    this.resetAt = Date.now();
    this.lastId = '0-0';
    this.lastSeq = 0;
    this.floor = { seq: 0, id: '0-0' };
    for (const stream of [...this.streams]) stream.fail(badRequest(`the cluster's event log was reset (Redis lost its data): ${STALE}`));
    this.onReset();
    return true;
  }

  private async start(): Promise<void> {
    await this.redis.set(this.keys.epoch, randomBytes(6).toString('base64url'), 'NX');
    // Where reading starts: the latest entry (what came before is replay, from cursors).
    const [epoch, latest, seq] = await Promise.all([
      this.redis.get(this.keys.epoch),
      this.redis.xrevrange(this.keys.stream, '+', '-', 'COUNT', 1),
      this.redis.get(this.keys.seq),
    ]);
    this.epoch = epoch ?? '';
    const [entry] = latest;
    if (entry) {
      this.lastId = entry[0];
      this.lastSeq = Number(fieldOf(entry[1], 'seq'));
    } else {
      this.lastSeq = Number(seq ?? 0);
    }
    this.reading = this.readLoop();
  }

  async publish(type: TrackEventType, track: TrackView): Promise<TrackEvent> {
    eventCounters.trackPublished += 1;
    const at = new Date();
    const body = JSON.stringify({ type, track, at: at.toISOString() });
    const oldest = String(Math.max(0, at.getTime() - this.retention.maxAgeMs));
    const result = (await this.call(() =>
      (this.redis as unknown as PublishCommand).switchyardPublishTrackEvent(
        this.keys.stream,
        this.keys.seq,
        this.keys.tracks,
        this.keys.order,
        this.keys.appStream(track.appId),
        this.keys.last,
        String(this.retention.maxEvents),
        body,
        oldest,
        type,
        trackKey(track.sessionId, track.name),
        JSON.stringify(track),
        String(this.retention.maxAgeMs),
        track.appId,
        String(this.floor.seq),
        this.floor.id,
      ),
    )) as [number, string];
    const seq = Number(result[0]);
    this.raiseFloor(seq, result[1]);
    return { seq, cursor: this.encode(seq, result[1]), type, track, at };
  }

  async cursor(): Promise<string> {
    // The latest entry carries its own seq: one read, so the seq and the stream id always belong together.
    const [latest] = await this.call(() => this.redis.xrevrange(this.keys.stream, '+', '-', 'COUNT', 1));
    if (latest) return this.encode(Number(fieldOf(latest[1], 'seq')), latest[0]);
    return this.encode(Number((await this.call(() => this.redis.get(this.keys.seq))) ?? 0), '0-0');
  }

  async snapshot(): Promise<{ cursor: string; tracks: TrackView[] }> {
    const replies = await this.call(() =>
      this.redis
        .multi()
        .hgetall(this.keys.tracks)
        .hgetall(this.keys.order)
        .get(this.keys.seq)
        .xrevrange(this.keys.stream, '+', '-', 'COUNT', 1)
        .exec(),
    );
    const [views, order, seq, latest] = (replies ?? []).map(([error, value]) => {
      if (error) throw unavailable(REDIS_UNAVAILABLE, error);
      return value;
    }) as [Record<string, string>, Record<string, string>, string | null, [string, string[]][]];
    const tracks = Object.entries(views)
      .sort(([a], [b]) => Number(order[a] ?? 0) - Number(order[b] ?? 0))
      .map(([, text]) => parseView(text));
    return { cursor: this.encode(Number(seq ?? 0), latest[0]?.[0] ?? '0-0'), tracks };
  }

  async track(sessionId: string, name: string): Promise<TrackView | null> {
    const view = await this.call(() => this.redis.hget(this.keys.tracks, trackKey(sessionId, name)));
    return view ? parseView(view) : null;
  }

  /** The published tracks of one session, from the directory (to unpublish those of a node that died). */
  async tracksOfSession(sessionId: string): Promise<TrackView[]> {
    const views: TrackView[] = [];
    let cursor = '0';
    do {
      const [next, entries] = await this.call(() => this.redis.hscan(this.keys.tracks, cursor, 'MATCH', `${escapeGlob(sessionId)}\u0000*`, 'COUNT', 200));
      for (let i = 1; i < entries.length; i += 2) views.push(parseView(entries[i]!));
      cursor = next;
    } while (cursor !== '0');
    return views;
  }

  observe(observer: (event: TrackEvent) => void): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  get subscriberCount(): number {
    return this.listeners.size;
  }

  async subscribe(after: ResumeFrom | null, accept: (event: TrackEvent) => boolean, outbox?: Outbox): Promise<EventStream<TrackEvent>> {
    const from = after == null ? undefined : this.decode(after.cursor);
    const stream = new EventStream<TrackEvent>(outbox);
    // Live events are held back while the replay runs, then sent after it
    // without those the replay already sent: no gap, no duplicate.
    let held: TrackEvent[] | undefined = from ? [] : undefined;
    let delivered = from ? from.seq : this.lastSeq;
    const deliver = (event: TrackEvent) => {
      if (event.seq <= delivered) return;
      delivered = event.seq;
      if (accept(event)) stream.push(event);
    };
    const listener = (event: TrackEvent) => (held ? held.push(event) : deliver(event));
    this.listeners.add(listener);
    this.streams.add(stream);
    stream.onClose(() => {
      this.listeners.delete(listener);
      this.streams.delete(stream);
    });
    if (!from || !after) return stream;
    try {
      await this.replay(from, after.appId, deliver);
    } catch (error) {
      void stream.return();
      throw error;
    }
    for (const event of held ?? []) deliver(event);
    held = undefined;
    return stream;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const stream of [...this.streams]) void stream.return();
    this.reader.disconnect();
    await this.reading?.catch(() => undefined);
  }

  /**
   * Sends the app's retained events after the cursor, oldest first; refuses
   * the cursor when an event of the app after it is no longer kept. Each
   * entry names the app's event before it, so a gap shows wherever it is,
   * even one that trimming made while the replay was reading.
   */
  private async replay(from: { seq: number; id: string }, appId: string, deliver: (event: TrackEvent) => void): Promise<void> {
    const current = Number((await this.call(() => this.redis.get(this.keys.seq))) ?? 0);
    if (from.seq > current) throw badRequest(STALE);
    // Read before the entries: an event published meanwhile is then not taken for a dropped one.
    const latest = Number((await this.call(() => this.redis.hget(this.keys.last, appId))) ?? 0);
    // An idle app's stream keeps entries past the age until its next event trims it: they count as dropped.
    const tooOld = Date.now() - this.retention.maxAgeMs;
    /** The app's events up to this seq have been sent, or came before the cursor. */
    let reached = from.seq;
    let start = `(${from.id}`;
    for (;;) {
      const entries = await this.call(() => this.redis.xrange(this.keys.appStream(appId), start, '+', 'COUNT', 500));
      for (const [id, fields] of entries) {
        const seq = Number(fieldOf(fields, 'seq'));
        if (seq <= reached || Number(id.split('-')[0]) < tooOld) continue;
        if (Number(fieldOf(fields, 'prev')) > reached) throw badRequest(STALE);
        deliver(this.toEvent(id, fields));
        reached = seq;
      }
      if (entries.length < 500) break;
      start = `(${entries[entries.length - 1]![0]}`;
    }
    if (latest > reached) throw badRequest(STALE);
  }

  /** One blocking reader per node: every new entry goes to every local subscriber. */
  private async readLoop(): Promise<void> {
    while (!this.closed) {
      try {
        // Blocks less long than a command may take (REDIS_COMMAND_TIMEOUT_MS), so a wait is never mistaken for a dead Redis.
        const reply = await this.reader.xread('BLOCK', 1000, 'STREAMS', this.keys.stream, this.lastId);
        for (const [, entries] of reply ?? []) {
          for (const [id, fields] of entries) {
            const event = this.toEvent(id, fields);
            this.lastId = id;
            this.lastSeq = event.seq;
            this.raiseFloor(event.seq, id);
            for (const listener of [...this.listeners]) listener(event);
            for (const observer of [...this.observers]) observer(event);
          }
        }
      } catch (error) {
        if (this.closed) return;
        this.onReadError(error);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }

  private raiseFloor(seq: number, id: string): void {
    if (seq > this.floor.seq) this.floor = { seq, id };
  }

  private toEvent(id: string, fields: string[]): TrackEvent {
    const seq = Number(fieldOf(fields, 'seq'));
    const { type, track, at } = JSON.parse(fieldOf(fields, 'e')) as { type: TrackEventType; track: TrackView; at: string };
    return { seq, cursor: this.encode(seq, id), type, track: { ...track, publishedAt: new Date(track.publishedAt) }, at: new Date(at) };
  }

  private encode(seq: number, id: string): string {
    return Buffer.from(`${this.epoch}:${seq}:${id}`).toString('base64url');
  }

  private decode(cursor: string): { seq: number; id: string } {
    const text = typeof cursor === 'string' && cursor.length <= 96 ? Buffer.from(cursor, 'base64url').toString() : '';
    const [epoch, seqText, id] = text.split(':');
    const seq = Number(seqText);
    if (epoch !== this.epoch || !Number.isInteger(seq) || seq < 0 || !id || !/^\d+-\d+$/.test(id)) throw badRequest(STALE);
    return { seq, id };
  }

  /** A Redis call; a Redis that does not answer is UNAVAILABLE to the client, not INTERNAL. */
  private async call<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      // ioredis's words stay out of the message (kept as the cause, which the error masker logs).
      throw unavailable(REDIS_UNAVAILABLE, error);
    }
  }
}

interface PublishCommand {
  switchyardPublishTrackEvent(...args: string[]): Promise<unknown>;
  switchyardRaiseFloor(...args: string[]): Promise<unknown>;
}

/**
 * KEYS: stream, seq, tracks, order, the app's stream, the apps' latest seqs.
 * ARGV: max events, event body, oldest id to keep (ms), event type, track
 * key, track view, max age (ms), app id, this node's floor seq and id
 * (floorLua). Appends the event with the next seq
 * to the stream and, with the same id and the app's previous seq, to the
 * app's stream; trims both by count and age; updates the directory; returns
 * {seq, id}.
 */
const PUBLISH_SCRIPT = `${floorLua(9, 10)}
local seq = redis.call('INCR', KEYS[2])
local prev = redis.call('HGET', KEYS[6], ARGV[8])
if not prev then prev = '0' end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[1], '*', 'seq', seq, 'e', ARGV[2])
redis.call('XTRIM', KEYS[1], 'MINID', ARGV[3])
redis.call('XADD', KEYS[5], 'MAXLEN', ARGV[1], id, 'seq', seq, 'prev', prev, 'e', ARGV[2])
redis.call('XTRIM', KEYS[5], 'MINID', ARGV[3])
redis.call('PEXPIRE', KEYS[5], ARGV[7])
redis.call('HSET', KEYS[6], ARGV[8], seq)
if ARGV[4] == 'UNPUBLISHED' then
  redis.call('HDEL', KEYS[3], ARGV[5])
  redis.call('HDEL', KEYS[4], ARGV[5])
else
  redis.call('HSET', KEYS[3], ARGV[5], ARGV[6])
  redis.call('HSETNX', KEYS[4], ARGV[5], seq)
end
return {seq, id}
`;

function fieldOf(fields: string[], name: string): string {
  const index = fields.indexOf(name);
  return index >= 0 && index % 2 === 0 ? (fields[index + 1] ?? '') : '';
}

function parseView(text: string): TrackView {
  const view = JSON.parse(text) as TrackView & { publishedAt: string };
  return { ...view, publishedAt: new Date(view.publishedAt) };
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}
