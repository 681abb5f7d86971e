import { describe, expect, it } from 'vitest';
import { SessionQuotas } from '../../src/auth/SessionQuotas.js';

function quotas(settings: Partial<ConstructorParameters<typeof SessionQuotas>[0]> = {}) {
  const live = new Map<string, number>();
  const q = new SessionQuotas(
    { maxSessionsPerNode: 10, maxSessionsPerApp: 5, sessionCreationsPerAppPerSecond: 100, ...settings },
    { total: () => [...live.values()].reduce((a, b) => a + b, 0), inApp: (app) => live.get(app) ?? 0 },
  );
  return { q, live };
}

const code = async (promise: Promise<unknown>) => promise.then(() => 'ok', (error: { code?: string; message: string }) => `${error.code}: ${error.message}`);

describe('SessionQuotas', () => {
  it('counts creations still under way, so a burst cannot pass the app cap together', async () => {
    const { q } = quotas();
    const results = await Promise.all(Array.from({ length: 8 }, () => code(q.reserve('acme'))));
    expect(results.filter((r) => r === 'ok')).toHaveLength(5);
    expect(results.filter((r) => r.includes('MAX_SESSIONS_PER_APP'))).toHaveLength(3);
    expect(results.find((r) => r !== 'ok')).toMatch(/^LIMIT_EXCEEDED: app acme holds its maximum of 5 sessions/);
  });

  it('frees a reservation when the creation ends, once', async () => {
    const { q, live } = quotas({ maxSessionsPerApp: 1 });
    const release = await q.reserve('acme');
    expect(await code(q.reserve('acme'))).toMatch(/MAX_SESSIONS_PER_APP/);
    release();
    release();
    live.set('acme', 1); // the session now exists
    expect(await code(q.reserve('acme'))).toMatch(/MAX_SESSIONS_PER_APP/);
    live.set('acme', 0);
    expect(await code(q.reserve('acme'))).toBe('ok');
  });

  it('caps the node whatever the app', async () => {
    const { q, live } = quotas();
    live.set('a', 5);
    live.set('b', 4);
    expect(await code(q.reserve('c'))).toBe('ok');
    expect(await code(q.reserve('d'))).toMatch(/^LIMIT_EXCEEDED: this node holds its maximum of 10 sessions \(MAX_SESSIONS_PER_NODE\)/);
  });

  it('limits creations per app per second, each app on its own', async () => {
    const { q } = quotas({ sessionCreationsPerAppPerSecond: 3, maxSessionsPerApp: 100, maxSessionsPerNode: 100 });
    const first = await Promise.all(Array.from({ length: 5 }, () => code(q.reserve('acme').then((release) => release()))));
    expect(first.filter((r) => r === 'ok')).toHaveLength(3);
    expect(first.find((r) => r !== 'ok')).toMatch(/SESSION_CREATIONS_PER_APP_PER_SECOND\); retry in \d+ ms/);
    expect(await code(q.reserve('beta'))).toBe('ok');
  });
});
