import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { takeCensus } from '../../src/media/census.js';
import { errorCode, gql } from '../helpers/graphql.js';
import { startTestServer } from '../helpers/server.js';

/** Sessions are capped per node and per app, and their creation per app, in development mode too. */
const CREATE = 'mutation { createSession { session { id } } }';
const NODE_CAP = 120;
const RATE = 50;

let server: Switchyard;

beforeAll(async () => {
  // Development mode (no apps): anyone who reaches the port gets the same protections.
  server = await startTestServer({ WORKERS: '1', MAX_SESSIONS_PER_NODE: String(NODE_CAP), SESSION_CREATIONS_PER_APP_PER_SECOND: String(RATE) });
});

afterAll(async () => {
  await server?.stop();
});

describe('a flood of createSession', () => {
  it('stops at the quotas with LIMIT_EXCEEDED that names the limit, and the workers hold no more than the cap', { timeout: 60_000 }, async () => {
    const rssBefore = process.memoryUsage().rss;
    const started = Date.now();
    const codes: string[] = [];
    const messages = new Set<string>();
    // 3,000 calls, 100 at a time, as fast as the server answers.
    for (let batch = 0; batch < 30; batch += 1) {
      const results = await Promise.all(Array.from({ length: 100 }, () => gql(server.url, CREATE)));
      for (const result of results) {
        const code = errorCode(result) ?? 'ok';
        codes.push(code);
        if (code !== 'ok') messages.add(result.errors![0]!.message.replace(/\d+ ms/, 'N ms'));
      }
    }
    const seconds = (Date.now() - started) / 1000;
    const created = codes.filter((c) => c === 'ok').length;
    console.log(`3000 createSession in ${seconds.toFixed(1)} s: ${created} created, refusals: ${[...messages].join(' | ')}`);
    expect(codes.filter((c) => c !== 'ok' && c !== 'LIMIT_EXCEEDED')).toEqual([]);
    expect(created).toBeGreaterThan(0);
    expect(created).toBeLessThanOrEqual(Math.min(NODE_CAP, RATE * Math.ceil(seconds + 1)));
    expect(server.sessions.sessionCount).toBe(created);
    expect([...messages].some((m) => m.includes('SESSION_CREATIONS_PER_APP_PER_SECOND'))).toBe(true);
    expect((await takeCensus(server.pool)).transports).toBe(created);
    // Keep asking until the node cap is reached: it is refused by name.
    let nodeCapRefusal: string | undefined;
    for (let i = 0; i < 40 && !nodeCapRefusal; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      const results = await Promise.all(Array.from({ length: 20 }, () => gql(server.url, CREATE)));
      nodeCapRefusal = results.map((r) => r.errors?.[0]?.message).find((m) => m?.includes('MAX_SESSIONS_PER_NODE'));
    }
    expect(nodeCapRefusal).toMatch(/this node holds its maximum of 120 sessions/);
    expect(server.sessions.sessionCount).toBe(NODE_CAP);
    console.log(`rss grew ${((process.memoryUsage().rss - rssBefore) / 1048576).toFixed(1)} MB on Node ${process.version}`);
    // This process holds the node and the 3,000 fetches' client side. The same run grows RSS by 67.7 MB on Node 20.20
    // and 222.8 MB on Node 24.22 (measured 2026-12-07, not yet explained: V8/undici keep more); a gross-growth guard.
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(320 * 1024 * 1024);
    // The node still serves reads, and its health.
    expect(errorCode(await gql(server.url, 'query { tracks { name } }'))).toBeUndefined();
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });
});
