import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MutationRateLimiter } from '../../src/auth/rateLimit.js';
import { SwitchyardError } from '../../src/errors.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

/**
 * The mutation budget in a cluster: counted in Redis, so 60 calls of one
 * session spread over three nodes let exactly 50 through; while Redis is away
 * each node counts on its own instead of refusing everything.
 */
let redis: TestRedis;

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  await redis?.close();
});

async function nodes(count: number, keyPrefix: string): Promise<MutationRateLimiter[]> {
  return Promise.all(Array.from({ length: count }, async () => new MutationRateLimiter(50, { redis: await redis.client(), keyPrefix })));
}

async function outcome(limiter: MutationRateLimiter, key: string): Promise<string> {
  try {
    await limiter.take(key, 'mutations of session s');
    return 'ok';
  } catch (error) {
    return error instanceof SwitchyardError ? error.code : String(error);
  }
}

describe('the mutation budget on Redis', () => {
  it('holds across nodes: 60 calls over three nodes, exactly 50 pass', async () => {
    const limiters = await nodes(3, 'test:rate-a');
    // A fresh second for the burst.
    await new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000)));
    const results = await Promise.all(Array.from({ length: 60 }, (_, i) => outcome(limiters[i % 3]!, 'session-1')));
    expect(results.filter((r) => r === 'ok')).toHaveLength(50);
    expect(results.filter((r) => r === 'RATE_LIMITED')).toHaveLength(10);
    // Another key has its own budget.
    expect(await outcome(limiters[1]!, 'session-2')).toBe('ok');
  });

  it('falls back to counting on each node while Redis is away', async () => {
    const [limiter] = await nodes(1, 'test:rate-b');
    await redis.stop();
    try {
      const results = await Promise.all(Array.from({ length: 55 }, () => outcome(limiter!, 'session-3')));
      expect(results.filter((r) => r === 'ok')).toHaveLength(50);
    } finally {
      await redis.start();
    }
  });
});
