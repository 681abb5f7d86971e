import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { startTestServer } from '../helpers/server.js';

describe('the HTTP and WebSocket API', () => {
  let server: Switchyard;

  beforeAll(async () => {
    server = await startTestServer({ WORKERS: '1' });
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('answers queries over GET', async () => {
    const response = await fetch(`${server.url}/graphql?query=${encodeURIComponent('{ tracks { name } }')}`, {
      headers: { accept: 'application/json' },
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ data: { tracks: [] } });
  });

  it('refuses mutations over GET', async () => {
    const response = await fetch(`${server.url}/graphql?query=${encodeURIComponent('mutation { createSession { session { id } } }')}`, {
      headers: { accept: 'application/json' },
    });
    const body = (await response.json()) as { errors: { extensions: { code: string } }[] };
    expect(response.status).toBe(405);
    expect(body.errors[0]!.extensions.code).toBe('BAD_REQUEST');
    expect(server.sessions.sessionCount).toBe(0);
  });

  it('serves GraphiQL to a browser', async () => {
    const response = await fetch(`${server.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(response.status).toBe(200);
    const html = await response.text();
    expect(html).toContain('Switchyard');
    expect(html.toLowerCase()).toContain('graphiql');
  });

  it('speaks graphql-ws on the same path', async () => {
    const client = createClient({ url: `${server.url.replace('http', 'ws')}/graphql`, webSocketImpl: WebSocket, lazy: true });
    try {
      const result = await new Promise<unknown>((resolve, reject) => {
        let value: unknown;
        client.subscribe(
          { query: 'mutation { createSession(input: { correlationId: "over-ws" }) { session { correlationId connectionState } } }' },
          { next: (data) => (value = data), error: reject, complete: () => resolve(value) },
        );
      });
      expect(result).toEqual({ data: { createSession: { session: { correlationId: 'over-ws', connectionState: 'NEW' } } } });
    } finally {
      await client.dispose();
    }
  });

  it('answers a syntax error over graphql-ws with BAD_REQUEST and keeps the connection', async () => {
    const client = createClient({ url: `${server.url.replace('http', 'ws')}/graphql`, webSocketImpl: WebSocket, lazy: true, retryAttempts: 0 });
    let closedWith: number | undefined;
    client.on('closed', (event) => (closedWith = (event as { code: number }).code));
    const run = (query: string) =>
      new Promise<unknown>((resolve) => {
        let value: unknown;
        client.subscribe({ query }, { next: (data) => (value = data), error: resolve, complete: () => resolve(value) });
      });
    try {
      const errors = (await run('subscription { trackEvents(')) as { extensions: { code: string } }[];
      expect(errors[0]!.extensions.code).toBe('BAD_REQUEST');
      expect(await run('{ tracks { name } }')).toEqual({ data: { tracks: [] } });
      expect(closedWith).toBeUndefined();
    } finally {
      await client.dispose();
    }
  });

  it('reports health', async () => {
    const response = await fetch(`${server.url}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });
});

describe('document limits (GraphQL Armor)', () => {
  let server: Switchyard;

  beforeAll(async () => {
    server = await startTestServer({ WORKERS: '1' });
  });

  afterAll(async () => {
    await server?.stop();
  });

  const post = async (query: string) => {
    const response = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ query }),
    });
    return (await response.json()) as { data?: unknown; errors?: { message: string; extensions?: { code?: string } }[] };
  };

  it('runs ordinary documents', async () => {
    const result = await post('{ trackSnapshot { cursor tracks { sessionId name } } session(id: "x") { tracks { track { name } } } }');
    expect(result.errors).toBeUndefined();
  });

  it('refuses too many aliases with LIMIT_EXCEEDED and runs none of it', async () => {
    const result = await post(`{ ${Array.from({ length: 20 }, (_, i) => `a${i}: trackEventsCursor`).join(' ')} }`);
    expect(result.errors?.[0]?.extensions?.code).toBe('LIMIT_EXCEEDED');
    expect(result.data).toBeUndefined();
  });

  it('refuses a document of too many tokens with LIMIT_EXCEEDED', async () => {
    const result = await post(`{ ${Array.from({ length: 2100 }, () => 'trackEventsCursor').join(' ')} }`);
    expect(result.errors?.[0]?.extensions?.code).toBe('LIMIT_EXCEEDED');
    expect(result.data).toBeUndefined();
  });
});
