import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisTrackEventBus } from '../../src/cluster/RedisTrackEventBus.js';
import { SwitchyardError } from '../../src/errors.js';
import type { EventStream } from '../../src/events/EventStream.js';
import { InMemoryTrackEventBus, type RetentionOptions, type TrackEvent, type TrackEventBus, type TrackView } from '../../src/events/TrackEventBus.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

/**
 * The contract of the track directory and event log, run against the
 * in-memory implementation (one node) and the Redis one (a cluster, on a
 * real redis-server started here).
 */
let redis: TestRedis;
const opened: TrackEventBus[] = [];

beforeAll(async () => {
  redis = await startRedis();
});

afterEach(async () => {
  for (const bus of opened.splice(0)) await bus.close();
});

afterAll(async () => {
  await redis?.close();
});

const RETENTION: RetentionOptions = { maxEvents: 1000, maxAgeMs: 600_000 };

/** Makes buses that share one log: every call of `open` is another node of the same cluster. */
type LogFactory = (retention?: RetentionOptions) => { open(): Promise<TrackEventBus> };

const inMemory: LogFactory = (retention = RETENTION) => {
  const bus = new InMemoryTrackEventBus(retention);
  return { open: async () => bus };
};

const onRedis: LogFactory = (retention = RETENTION) => {
  const prefix = `test:${randomUUID()}:`;
  return {
    async open() {
      // Read errors are expected while a test has stopped Redis; the reader retries by itself.
      const bus = await RedisTrackEventBus.open(await redis.client(), { retention, prefix, onReadError: () => undefined });
      opened.push(bus);
      return bus;
    },
  };
};

const view = (name: string, sessionId = 's1'): TrackView => ({
  appId: 'dev',
  owner: null,
  sessionId,
  name,
  kind: 'video',
  status: 'WAITING',
  tags: ['room:a'],
  simulcastRids: [],
  publishedAt: new Date(),
  muted: false,
});

/** Where a subscription resumes: after `cursor`, in app `appId`'s history (the views' app unless said). */
const resume = (cursor: string, appId = 'dev') => ({ cursor, appId });

/** Collects a stream's events as "TYPE name". */
function drain(stream: EventStream<TrackEvent>) {
  const seen: string[] = [];
  const seqs: number[] = [];
  const result = { seen, seqs, error: undefined as unknown };
  void (async () => {
    try {
      for await (const event of stream) {
        seen.push(`${event.type} ${event.track.name}`);
        seqs.push(event.seq);
      }
    } catch (error) {
      result.error = error;
    }
  })();
  return result;
}

async function until(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function expectStale(promise: Promise<unknown>): Promise<void> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(SwitchyardError);
  expect((error as SwitchyardError).code).toBe('BAD_REQUEST');
  expect((error as SwitchyardError).message).toContain('reload the tracks snapshot');
}

describe.each([
  ['in memory', inMemory],
  ['on Redis', onRedis],
])('the track event log %s', (_name, factory) => {
  it('delivers live events in the order they were published', async () => {
    const bus = await factory().open();
    const live = drain(await bus.subscribe(null, () => true));
    for (const name of ['a', 'b', 'c']) await bus.publish('PUBLISHED', view(name));
    await bus.publish('UNPUBLISHED', view('b'));
    await until(() => live.seen.length === 4, 'four events');
    expect(live.seen).toEqual(['PUBLISHED a', 'PUBLISHED b', 'PUBLISHED c', 'UNPUBLISHED b']);
    expect(live.seqs).toEqual([...live.seqs].sort((x, y) => x - y));
  });

  it('replays from a cursor, then goes on live, with no gap and no duplicate while events keep coming', async () => {
    const bus = await factory().open();
    const first = await bus.publish('PUBLISHED', view('t0'));
    for (let i = 1; i < 50; i += 1) await bus.publish('ACTIVE', view(`t${i}`));
    // Subscribe from the first event's cursor while 200 more are being published.
    const publishing = (async () => {
      for (let i = 50; i < 250; i += 1) await bus.publish('ACTIVE', view(`t${i}`));
    })();
    const resumed = drain(await bus.subscribe(resume(first.cursor), () => true));
    await publishing;
    await until(() => resumed.seen.length >= 249, '249 events');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(resumed.seen).toEqual(Array.from({ length: 249 }, (_, i) => `ACTIVE t${i + 1}`));
  });

  it('filters with accept, and a snapshot is current up to its cursor', async () => {
    const bus = await factory().open();
    await bus.publish('PUBLISHED', view('cam'));
    await bus.publish('PUBLISHED', view('mic'));
    await bus.publish('ACTIVE', { ...view('cam'), status: 'ACTIVE' });
    await bus.publish('PUBLISHED', view('gone'));
    await bus.publish('UNPUBLISHED', view('gone'));
    const snapshot = await bus.snapshot();
    expect(snapshot.tracks.map((t) => `${t.name}:${t.status}`)).toEqual(['cam:ACTIVE', 'mic:WAITING']);
    expect(snapshot.tracks[0]!.publishedAt).toBeInstanceOf(Date);
    expect(await bus.track('s1', 'cam')).toMatchObject({ name: 'cam', status: 'ACTIVE', tags: ['room:a'] });
    expect(await bus.track('s1', 'gone')).toBeNull();
    const after = drain(await bus.subscribe(resume(snapshot.cursor), (event) => event.track.name !== 'skip'));
    await bus.publish('PUBLISHED', view('skip'));
    await bus.publish('MUTED', { ...view('mic'), muted: true });
    await until(() => after.seen.length === 1, 'one event');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(after.seen).toEqual(['MUTED mic']);
    expect(await bus.cursor()).not.toBe(snapshot.cursor);
  });

  it('refuses a cursor older than what is retained, a cursor of another log, and garbage', async () => {
    const bus = await factory({ maxEvents: 10, maxAgeMs: 600_000 }).open();
    const first = await bus.publish('PUBLISHED', view('t0'));
    for (let i = 1; i < 30; i += 1) await bus.publish('ACTIVE', view(`t${i}`));
    await expectStale(bus.subscribe(resume(first.cursor), () => true));
    const other = await factory().open();
    const foreign = await other.publish('PUBLISHED', view('x'));
    await expectStale(bus.subscribe(resume(foreign.cursor), () => true));
    await expectStale(bus.subscribe(resume('not-a-cursor'), () => true));
    // The newest retained cursor still works.
    const recent = drain(await bus.subscribe(resume(await bus.cursor()), () => true));
    await bus.publish('INACTIVE', view('t29'));
    await until(() => recent.seen.length === 1, 'the next event');
    expect(recent.seen).toEqual(['INACTIVE t29']);
  });

  it('drops events older than maxAgeMs from replay', async () => {
    const bus = await factory({ maxEvents: 1000, maxAgeMs: 200 }).open();
    const old = await bus.publish('PUBLISHED', view('old'));
    await bus.publish('PUBLISHED', view('old2'));
    await new Promise((resolve) => setTimeout(resolve, 400));
    const recent = await bus.publish('PUBLISHED', view('new'));
    // After `old` came `old2`, which is too old to replay now.
    await expectStale(bus.subscribe(resume(old.cursor), () => true));
    // After `recent` nothing is missing.
    const live = drain(await bus.subscribe(resume(recent.cursor), () => true));
    await bus.publish('ACTIVE', view('new'));
    await until(() => live.seen.length === 1, 'the next event');
  });

  it('keeps each app\'s history on its own: one app\'s churn leaves another app\'s cursor replayable', async () => {
    const bus = await factory({ maxEvents: 10, maxAgeMs: 600_000 }).open();
    const beta = (name: string) => ({ ...view(name, 'sb'), appId: 'beta' });
    const betaCursor = (await bus.publish('PUBLISHED', beta('b0'))).cursor;
    const devCursor = (await bus.publish('PUBLISHED', view('d0'))).cursor;
    await bus.publish('PUBLISHED', beta('b1'));
    // dev publishes three times what is retained: with one history for all, beta's b1 would be gone.
    for (let i = 1; i <= 30; i += 1) await bus.publish('ACTIVE', view(`d${i}`));
    const resumed = drain(await bus.subscribe(resume(betaCursor, 'beta'), (event) => event.track.appId === 'beta'));
    await bus.publish('UNPUBLISHED', beta('b1'));
    await until(() => resumed.seen.length === 2, 'beta\'s replayed and live events');
    expect(resumed.seen).toEqual(['PUBLISHED b1', 'UNPUBLISHED b1']);
    expect(resumed.error).toBeUndefined();
    // dev's own history moved on: its cursor from before its churn is stale.
    await expectStale(bus.subscribe(resume(devCursor), () => true));
    // Beta's own churn past the count makes its old cursor stale too.
    for (let i = 2; i < 14; i += 1) await bus.publish('PUBLISHED', beta(`b${i}`));
    await expectStale(bus.subscribe(resume(betaCursor, 'beta'), () => true));
  });

  it('drops an idle app\'s events older than maxAgeMs from its replay', async () => {
    const bus = await factory({ maxEvents: 1000, maxAgeMs: 200 }).open();
    const beta = (name: string) => ({ ...view(name, 'sb'), appId: 'beta' });
    const old = await bus.publish('PUBLISHED', beta('old'));
    await bus.publish('PUBLISHED', beta('old2'));
    await new Promise((resolve) => setTimeout(resolve, 400));
    // Another app's event: beta published nothing since, and its old2 is too old to replay now.
    await bus.publish('PUBLISHED', view('dev'));
    await expectStale(bus.subscribe(resume(old.cursor, 'beta'), () => true));
    const latest = drain(await bus.subscribe(resume(await bus.cursor(), 'beta'), () => true));
    await bus.publish('ACTIVE', beta('old2'));
    await until(() => latest.seen.length === 1, 'the next event');
    expect(latest.error).toBeUndefined();
  });

  it('ends its subscriptions when closed', async () => {
    const bus = await factory().open();
    const stream = await bus.subscribe(null, () => true);
    expect(bus.subscriberCount).toBe(1);
    await bus.close();
    expect(await stream.next()).toEqual({ value: undefined, done: true });
    expect(bus.subscriberCount).toBe(0);
  });
});

describe('the track event log on Redis, shared by several nodes', () => {
  it('gives every node every node\'s events in one order, and a cursor of one node resumes on another', async () => {
    const log = onRedis();
    const [a, b, c] = [await log.open(), await log.open(), await log.open()];
    const onA = drain(await a.subscribe(null, () => true));
    const onC = drain(await c.subscribe(null, () => true));
    await Promise.all([
      (async () => { for (let i = 0; i < 20; i += 1) await a.publish('PUBLISHED', view(`a${i}`, 'sa')); })(),
      (async () => { for (let i = 0; i < 20; i += 1) await b.publish('PUBLISHED', view(`b${i}`, 'sb')); })(),
    ]);
    await until(() => onA.seen.length === 40 && onC.seen.length === 40, '40 events on A and C');
    expect(onC.seen).toEqual(onA.seen);
    expect(onA.seen.filter((e) => e.includes(' a'))).toEqual(Array.from({ length: 20 }, (_, i) => `PUBLISHED a${i}`));
    expect((await b.snapshot()).tracks).toHaveLength(40);

    // A cursor taken on C resumes on B with exactly what came after it.
    const cursor = await c.cursor();
    await a.publish('UNPUBLISHED', view('a3', 'sa'));
    await c.publish('UNPUBLISHED', view('b7', 'sb'));
    const resumed = drain(await b.subscribe(resume(cursor), () => true));
    await until(() => resumed.seen.length === 2, 'two events on B');
    expect(resumed.seen).toEqual(['UNPUBLISHED a3', 'UNPUBLISHED b7']);
  });

  it('keeps each app\'s history on its own across nodes: churn published on one node leaves another app\'s cursor replayable on a third', async () => {
    const log = onRedis({ maxEvents: 10, maxAgeMs: 600_000 });
    const [a, b, c] = [await log.open(), await log.open(), await log.open()];
    const beta = (name: string) => ({ ...view(name, 'sb'), appId: 'beta' });
    const cursor = (await b.publish('PUBLISHED', beta('b0'))).cursor;
    await b.publish('PUBLISHED', beta('b1'));
    await Promise.all([0, 1].map(async (half) => {
      for (let i = 0; i < 20; i += 1) await a.publish('ACTIVE', view(`d${half}-${i}`, 'sa'));
    }));
    const resumed = drain(await c.subscribe(resume(cursor, 'beta'), (event) => event.track.appId === 'beta'));
    await until(() => resumed.seen.length === 1, 'beta\'s replayed event on C');
    expect(resumed.seen).toEqual(['PUBLISHED b1']);
    expect(resumed.error).toBeUndefined();
  });

  it('answers UNAVAILABLE while Redis is away; when an empty Redis is back, subscribers are told to reload and new events flow', { timeout: 30_000 }, async () => {
    const bus = await onRedis().open();
    const old = drain(await bus.subscribe(null, () => true));
    const oldStream = await bus.subscribe(null, () => true);
    await bus.publish('PUBLISHED', view('before'));
    await until(() => old.seen.length === 1, 'the event before');
    await redis.stop();
    try {
      const error = await bus.snapshot().then(() => undefined, (e: unknown) => e);
      expect((error as SwitchyardError).code).toBe('UNAVAILABLE');
    } finally {
      await redis.start();
    }
    await expect.poll(async () => (await bus.snapshot().catch(() => null)) !== null, { timeout: 10_000 }).toBe(true);
    // The restarted Redis has none of the log: a subscription from before cannot go on without a gap.
    // (A snapshot can succeed before the epoch check on reconnection has run: wait for the check's verdict.)
    await until(() => old.error !== undefined, 'the drained subscription to end');
    const ended = await oldStream.next().then(() => undefined, (e: unknown) => e);
    expect((ended as SwitchyardError).code).toBe('BAD_REQUEST');
    expect((old.error as SwitchyardError).message).toContain('reload the tracks snapshot');
    expect((await bus.snapshot()).tracks).toEqual([]);
    const live = drain(await bus.subscribe(null, () => true));
    await bus.publish('PUBLISHED', view('after'));
    await until(() => live.seen.length === 1, 'the event after Redis came back', 10_000);
    expect(live.seen).toEqual(['PUBLISHED after']);
  });
});
