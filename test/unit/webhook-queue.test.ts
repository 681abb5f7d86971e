import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { eventBody, type WebhookEvent } from '../../src/webhooks/events.js';
import type { Poster, PostResult } from '../../src/webhooks/post.js';
import { verifyWebhookSignature } from '../../src/webhooks/signature.js';
import { QueuedWebhookDelivery, retryDelay, type DeliverySettings } from '../../src/webhooks/WebhookDelivery.js';

/**
 * The queue on its own: its poster is a function of the test's that plays
 * the receiver (the real HTTP path is test/integration/webhooks.test.ts).
 */
const SECRET = 's'.repeat(40);
const SETTINGS: DeliverySettings = { queueSize: 100, maxAttempts: 5, backoffBaseMs: 10, backoffMaxMs: 40, concurrency: 4 };

let n = 0;
const event = (orderingKey: string, appId = 'acme'): WebhookEvent => ({
  id: `evt_${++n}`,
  type: 'session.created',
  appId,
  createdAt: new Date(),
  orderingKey,
  data: { n },
});

interface Attempt {
  id: string;
  attempt: number;
  body: string;
  signature: string;
  signal: AbortSignal;
}

/** A receiver: `answer` decides each attempt (a result, or a promise of one). */
function receiver(answer: (attempt: Attempt, all: Attempt[]) => PostResult | Promise<PostResult> = () => ({ ok: true, status: 200 })) {
  const attempts: Attempt[] = [];
  const post: Poster = async (_url, headers, body, signal) => {
    const attempt = { id: headers['switchyard-event-id']!, attempt: Number(headers['switchyard-delivery-attempt']), body, signature: headers['switchyard-signature']!, signal };
    attempts.push(attempt);
    return answer(attempt, attempts);
  };
  return { attempts, post };
}

function queue(post: Poster, settings: Partial<DeliverySettings> = {}, events?: ('session.created' | 'session.closed')[]) {
  return new QueuedWebhookDelivery(
    { endpoints: [{ appId: 'acme', url: 'https://hooks.example/in', secret: SECRET, events }], ...SETTINGS, ...settings },
    () => undefined,
    post,
    silentLogger,
  );
}

const until = async (what: string, check: () => boolean, ms = 3000) => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

describe('the webhook queue', () => {
  it('posts each event once, signed over its body, with its id', async () => {
    const r = receiver();
    const q = queue(r.post);
    const e = event('s1');
    q.send(e);
    await until('delivered', () => q.stats().delivered === 1);
    expect(r.attempts).toHaveLength(1);
    expect(r.attempts[0]).toMatchObject({ id: e.id, attempt: 1, body: eventBody(e) });
    expect(verifyWebhookSignature(SECRET, r.attempts[0]!.signature, r.attempts[0]!.body)).toBe(true);
    expect(q.stats()).toMatchObject({ queued: 0, delivered: 1, retries: 0 });
  });

  it('only queues on send: nothing is posted before the API path has returned', () => {
    const r = receiver();
    const q = queue(r.post);
    q.send(event('s1'));
    expect(r.attempts).toHaveLength(0);
    expect(q.stats().queued).toBe(1);
  });

  it('retries a failed delivery with the same id and body until a 2xx, then never again', async () => {
    const r = receiver((a) => (a.attempt <= 2 ? { ok: false, status: 500 } : { ok: true, status: 200 }));
    const q = queue(r.post);
    const e = event('s1');
    q.send(e);
    await until('delivered', () => q.stats().delivered === 1);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(r.attempts.map((a) => [a.id, a.attempt])).toEqual([[e.id, 1], [e.id, 2], [e.id, 3]]);
    expect(new Set(r.attempts.map((a) => a.body)).size).toBe(1);
    expect(q.stats()).toMatchObject({ delivered: 1, retries: 2, gaveUp: 0 });
  });

  it('keeps one session\'s events in order behind a failing one, while other sessions go on', async () => {
    let failFirst = 3;
    const r = receiver((a) => (a.id === first.id && failFirst-- > 0 ? { ok: false, status: 503 } : { ok: true, status: 200 }));
    const q = queue(r.post);
    const first = event('s1');
    const second = event('s1');
    const other = event('s2');
    q.send(first);
    q.send(second);
    q.send(other);
    await until('all delivered', () => q.stats().delivered === 3);
    const delivered = r.attempts.map((a) => a.id);
    // s2 went while s1's first event was being retried; s1's second waited for it.
    expect(delivered.indexOf(other.id)).toBeLessThan(delivered.lastIndexOf(first.id));
    expect(delivered.indexOf(second.id)).toBeGreaterThan(delivered.lastIndexOf(first.id));
    expect(delivered.filter((id) => id === second.id)).toHaveLength(1);
  });

  it('gives a delivery up after maxAttempts and moves on to the session\'s next event', async () => {
    const r = receiver((a) => (a.id === doomed.id ? { ok: false, error: 'ECONNREFUSED' } : { ok: true, status: 200 }));
    const q = queue(r.post, { maxAttempts: 3 });
    const doomed = event('s1');
    const next = event('s1');
    q.send(doomed);
    q.send(next);
    await until('the next one delivered', () => q.stats().delivered === 1);
    expect(r.attempts.filter((a) => a.id === doomed.id)).toHaveLength(3);
    expect(q.stats()).toMatchObject({ gaveUp: 1, delivered: 1, retries: 2, queued: 0 });
  });

  it('drops the oldest delivery not in flight when full, and counts it', async () => {
    const release: (() => void)[] = [];
    const r = receiver(() => new Promise((resolve) => release.push(() => resolve({ ok: true, status: 200 }))));
    const q = queue(r.post, { queueSize: 3, concurrency: 1 });
    const events = [event('a'), event('b'), event('c')];
    for (const e of events) q.send(e);
    await until('the first in flight', () => r.attempts.length === 1);
    q.send(event('d'));
    q.send(event('e'));
    expect(q.stats()).toMatchObject({ queued: 3, dropped: 2 });
    // The one in flight stays; b and c (the oldest waiting) went.
    while (q.stats().queued > 0) {
      release.shift()?.();
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(r.attempts.map((a) => a.id)).toEqual([events[0]!.id, `evt_${n - 1}`, `evt_${n}`]);
  });

  it('sends an endpoint only the events it asked for', async () => {
    const r = receiver();
    const q = queue(r.post, {}, ['session.closed']);
    expect(q.wants('acme', 'session.created')).toBe(false);
    expect(q.wants('acme', 'session.closed')).toBe(true);
    expect(q.wants('other', 'session.closed')).toBe(false);
    q.send(event('s1'));
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(r.attempts).toHaveLength(0);
    expect(q.stats().queued).toBe(0);
  });

  it('flushes on close within its time, retrying what waited on a backoff at once', async () => {
    let down = true;
    const r = receiver(() => (down ? { ok: false, status: 502 } : { ok: true, status: 200 }));
    const q = queue(r.post, { backoffBaseMs: 60_000, backoffMaxMs: 60_000 });
    q.send(event('s1'));
    await until('one failed attempt', () => q.stats().retries === 1);
    down = false;
    const started = Date.now();
    await q.close(2_000);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(q.stats()).toMatchObject({ delivered: 1, abandoned: 0, queued: 0 });
  });

  it('abandons what is left when its flush time runs out, aborting attempts in flight, and never hangs', async () => {
    const r = receiver((a) => new Promise((resolve) => a.signal.addEventListener('abort', () => resolve({ ok: false, error: 'aborted' }))));
    const q = queue(r.post);
    q.send(event('s1'));
    q.send(event('s1'));
    q.send(event('s2'));
    await until('in flight', () => r.attempts.length === 2);
    const started = Date.now();
    await q.close(100);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(r.attempts.every((a) => a.signal.aborted)).toBe(true);
    expect(q.stats()).toMatchObject({ abandoned: 3, queued: 0, delivered: 0 });
    q.send(event('s3'));
    expect(q.stats()).toMatchObject({ dropped: 1, queued: 0 });
  });
});

describe('the retry schedule', () => {
  const settings = { backoffBaseMs: 1_000, backoffMaxMs: 300_000 };

  it('doubles from the base up to the cap, with half of each wait random', () => {
    const nominal = [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300].map((s) => s * 1000);
    nominal.forEach((ms, i) => {
      expect(retryDelay(i + 1, settings, undefined, () => 0)).toBe(ms / 2);
      expect(retryDelay(i + 1, settings, undefined, () => 1)).toBe(ms);
    });
    // The documented span of the default 15 attempts (14 waits): 33.5 min nominal, half that at the least.
    const waits = Array.from({ length: 14 }, (_, i) => retryDelay(i + 1, settings, undefined, () => 1));
    expect(waits.reduce((a, b) => a + b, 0)).toBe(2_011_000);
  });

  it('waits as long as Retry-After asks, up to the cap', () => {
    expect(retryDelay(1, settings, 30_000, () => 0)).toBe(30_000);
    expect(retryDelay(1, settings, 3_600_000, () => 0)).toBe(300_000);
  });
});
