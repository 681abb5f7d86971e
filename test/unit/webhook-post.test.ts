import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPoster } from '../../src/webhooks/post.js';

/** One attempt's HTTP, against a loopback server of the test's (answers by path). */
let server: Server;
let base: string;
const seen: { path: string; body: string; headers: IncomingMessage['headers'] }[] = [];

const routes: Record<string, (res: ServerResponse) => void> = {
  '/ok': (res) => res.writeHead(204).end(),
  '/fail': (res) => res.writeHead(500).end('boom'),
  '/busy': (res) => res.writeHead(503, { 'retry-after': '7' }).end(),
  '/moved': (res) => res.writeHead(302, { location: '/ok' }).end(),
  '/slow': () => undefined,
};

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      seen.push({ path: req.url ?? '', body, headers: req.headers });
      (routes[req.url ?? ''] ?? routes['/fail']!)(res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const signal = () => new AbortController().signal;

describe('posting one webhook attempt', () => {
  const poster = createPoster({ timeoutMs: 300, allowPrivate: true });
  afterAll(() => poster.close());

  it('sends the body and headers; a 2xx is a delivery', async () => {
    expect(await poster.post(new URL(`${base}/ok`), { 'switchyard-event-id': 'evt_1' }, '{"a":1}', signal())).toMatchObject({ ok: true, status: 204 });
    expect(seen.at(-1)).toMatchObject({ path: '/ok', body: '{"a":1}', headers: { 'switchyard-event-id': 'evt_1', 'content-length': '7' } });
  });

  it('reports a 5xx, with Retry-After in ms', async () => {
    expect(await poster.post(new URL(`${base}/fail`), {}, '{}', signal())).toMatchObject({ ok: false, status: 500 });
    expect(await poster.post(new URL(`${base}/busy`), {}, '{}', signal())).toMatchObject({ ok: false, status: 503, retryAfterMs: 7000 });
  });

  it('does not follow redirects', async () => {
    const before = seen.length;
    expect(await poster.post(new URL(`${base}/moved`), {}, '{}', signal())).toMatchObject({ ok: false, status: 302 });
    expect(seen.slice(before).map((s) => s.path)).toEqual(['/moved']);
  });

  it('gives an attempt up after its timeout, and when aborted', async () => {
    const started = Date.now();
    expect(await poster.post(new URL(`${base}/slow`), {}, '{}', signal())).toMatchObject({ ok: false, error: 'no answer within 300 ms' });
    expect(Date.now() - started).toBeLessThan(2000);
    const controller = new AbortController();
    const pending = poster.post(new URL(`${base}/slow`), {}, '{}', controller.signal);
    setTimeout(() => controller.abort(), 20);
    expect((await pending).ok).toBe(false);
  });
});

describe('the SSRF guard', () => {
  const guarded = createPoster({ timeoutMs: 1000, allowPrivate: false });
  afterAll(() => guarded.close());

  it('refuses a private address in the URL, and a name that resolves to one, before anything is sent', async () => {
    const before = seen.length;
    const port = new URL(base).port;
    const literal = await guarded.post(new URL(`http://127.0.0.1:${port}/ok`), {}, '{}', signal());
    expect(literal).toMatchObject({ ok: false });
    expect(literal.error).toMatch(/WEBHOOK_ALLOW_PRIVATE_URLS/);
    const named = await guarded.post(new URL(`http://localhost:${port}/ok`), {}, '{}', signal());
    expect(named).toMatchObject({ ok: false });
    expect(named.error).toMatch(/WEBHOOK_ALLOW_PRIVATE_URLS/);
    const mapped = await guarded.post(new URL(`http://[::ffff:127.0.0.1]:${port}/ok`), {}, '{}', signal());
    expect(mapped.error).toMatch(/WEBHOOK_ALLOW_PRIVATE_URLS/);
    expect(seen.length).toBe(before);
  });
});
