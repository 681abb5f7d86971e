import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { badRequest, unavailable } from '../errors.js';
import { EventStream, type Outbox } from '../events/EventStream.js';
import {
  STALE,
  trackKey,
  type RetentionOptions,
  type TrackEvent,
  type TrackEventBus,
  type TrackEventType,
  type TrackView,
} from '../events/TrackEventBus.js';
import { eventCounters } from '../events/eventCounters.js';

/**
 * The cluster's track directory and event log, on Redis:
 * - `<prefix>events`, a Redis Stream: one entry per event, in one order for
 *   the whole cluster, trimmed (exactly) by count and age;
 * - `<prefix>events:seq`: the event counter. Every event carries its own
 *   sequence number, because trimming a stream does not say what it dropped
 *   (shared/notes/cluster.md): a cursor is stale when the oldest entry kept
 *   is more than one past it;
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
  private readonly keys: { stream: string; seq: string; epoch: string; tracks: string; order: string };
  private readonly listeners = new Set<(event: TrackEvent) => void>();
  private readonly streams = new Set<EventStream<TrackEvent>>();
  /** The blocking reader's own connection (XREAD BLOCK holds it). */
  private readonly reader: Redis;
  private epoch = '';
  /** Stream id and seq of the last event the reader dispatched. */
  private lastId = '0-0';
  private lastSeq = 0;
  private closed = false;
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
    };
    this.reader = redis.duplicate();
    // Connection errors surface as failed reads (below); the event itself is expected while Redis is away.
    this.reader.on('error', () => undefined);
    redis.defineCommand('switchyardPublishTrackEvent', { numberOfKeys: 4, lua: PUBLISH_SCRIPT });
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
    if (epoch === this.epoch) return false;
    this.epoch = epoch ?? '';
    this.lastId = '0-0';
    this.lastSeq = 0;
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
        String(this.retention.maxEvents),
        body,
        oldest,
        type,
        trackKey(track.sessionId, track.name),
        JSON.stringify(track),
      ),
    )) as [number, string];
    const seq = Number(result[0]);
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
      if (error) throw unavailable(`the cluster's shared state (Redis) did not answer: ${error.message}`);
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

  get subscriberCount(): number {
    return this.listeners.size;
  }

  async subscribe(after: string | null, accept: (event: TrackEvent) => boolean, outbox?: Outbox): Promise<EventStream<TrackEvent>> {
    const from = after == null ? undefined : this.decode(after);
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
    if (!from) return stream;
    try {
      await this.replay(from, deliver);
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

  /** Sends the retained events after the cursor, oldest first; refuses a cursor older than the oldest kept. */
  private async replay(from: { seq: number; id: string }, deliver: (event: TrackEvent) => void): Promise<void> {
    const [oldest] = await this.call(() => this.redis.xrange(this.keys.stream, '-', '+', 'COUNT', 1));
    const current = Number((await this.call(() => this.redis.get(this.keys.seq))) ?? 0);
    if (from.seq > current) throw badRequest(STALE);
    if (oldest && Number(fieldOf(oldest[1], 'seq')) > from.seq + 1) throw badRequest(STALE);
    if (!oldest && from.seq < current) throw badRequest(STALE);
    let start = `(${from.id}`;
    for (;;) {
      const entries = await this.call(() => this.redis.xrange(this.keys.stream, start, '+', 'COUNT', 500));
      for (const [id, fields] of entries) deliver(this.toEvent(id, fields));
      if (entries.length < 500) return;
      start = `(${entries[entries.length - 1]![0]}`;
    }
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
            for (const listener of [...this.listeners]) listener(event);
          }
        }
      } catch (error) {
        if (this.closed) return;
        this.onReadError(error);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
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
      throw unavailable(`the cluster's shared state (Redis) did not answer: ${(error as Error).message}`);
    }
  }
}

interface PublishCommand {
  switchyardPublishTrackEvent(...args: string[]): Promise<unknown>;
}

/**
 * KEYS: stream, seq, tracks, order. ARGV: max events, event body, oldest id to keep
 * (ms), event type, track key, track view. Appends the event with the next
 * seq, trims by count and age, and updates the directory; returns {seq, id}.
 */
const PUBLISH_SCRIPT = `
local seq = redis.call('INCR', KEYS[2])
local id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[1], '*', 'seq', seq, 'e', ARGV[2])
redis.call('XTRIM', KEYS[1], 'MINID', ARGV[3])
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
