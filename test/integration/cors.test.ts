import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
// @ts-expect-error: a plain ESM build script without type declarations
import { buildClient } from '../../scripts/build-client.mjs';
import { startTestServer } from '../helpers/server.js';

/** Which pages of other origins may use the API and load the SDK (CORS_ORIGINS), over real HTTP. */
const APP_ORIGIN = 'https://app.example.com';
const OTHER_ORIGIN = 'https://evil.example.net';
const SECRET = 's'.repeat(40);
const QUERY = JSON.stringify({ query: '{ tracks { name } }' });

let development: Switchyard;
let production: Switchyard;

beforeAll(async () => {
  await (buildClient as (options: { quiet: boolean }) => Promise<string>)({ quiet: true });
  development = await startTestServer({ WORKERS: '1' });
  production = await startTestServer({ WORKERS: '1', NODE_ENV: 'production', APPS: `acme:${SECRET}`, CORS_ORIGINS: APP_ORIGIN });
}, 60_000);

afterAll(async () => {
  await development?.stop();
  await production?.stop();
});

/** The production server's app secret; the development server takes no credentials. */
const credentialFor = (server: Switchyard): Record<string, string> => (server === production ? { authorization: `Bearer ${SECRET}` } : {});

const post = (server: Switchyard, origin: string) =>
  fetch(`${server.url}/graphql`, {
    method: 'POST',
    headers: { origin, 'content-type': 'application/json', accept: 'application/json', ...credentialFor(server) },
    body: QUERY,
  });

const preflight = (server: Switchyard, path: string, origin: string) =>
  fetch(`${server.url}${path}`, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
  });

const corsOf = (response: Response) => ({
  origin: response.headers.get('access-control-allow-origin'),
  vary: response.headers.get('vary'),
  credentials: response.headers.get('access-control-allow-credentials'),
});

describe('CORS in development mode (CORS_ORIGINS unset: any origin)', () => {
  it('lets any page import the SDK and its source map', async () => {
    for (const path of ['/sdk/switchyard.js', '/sdk/switchyard.js.map']) {
      const response = await fetch(`${development.url}${path}`, { headers: { origin: OTHER_ORIGIN } });
      expect(response.status).toBe(200);
      expect(response.headers.get('access-control-allow-origin')).toBe('*');
    }
    const sdk = await fetch(`${development.url}/sdk/switchyard.js`, { headers: { origin: OTHER_ORIGIN } });
    expect(await sdk.text()).toContain('Switchyard');
  });

  it('lets any page call /graphql, without CORS credentials', async () => {
    const response = await post(development, OTHER_ORIGIN);
    expect(response.status).toBe(200);
    expect(corsOf(response)).toMatchObject({ origin: OTHER_ORIGIN, credentials: null });
    expect(response.headers.get('vary')).toMatch(/Origin/);
    expect(await response.json()).toEqual({ data: { tracks: [] } });
  });
});

describe('CORS in production mode with CORS_ORIGINS=https://app.example.com', () => {
  it('answers a page of the allowed origin with its origin and Vary: Origin', async () => {
    const response = await post(production, APP_ORIGIN);
    expect(response.status).toBe(200);
    expect(corsOf(response)).toMatchObject({ origin: APP_ORIGIN, credentials: null });
    expect(response.headers.get('vary')).toMatch(/Origin/);

    const get = await fetch(`${production.url}/graphql?query=${encodeURIComponent('{ tracks { name } }')}`, {
      headers: { origin: APP_ORIGIN, accept: 'application/json', authorization: `Bearer ${SECRET}` },
    });
    expect(get.status).toBe(200);
    expect(get.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
  });

  it('answers the allowed origin\'s preflight with the methods and headers the SDK sends', async () => {
    const response = await preflight(production, '/graphql', APP_ORIGIN);
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
    expect(response.headers.get('access-control-allow-methods')).toMatch(/POST/);
    expect(response.headers.get('access-control-allow-headers')).toMatch(/authorization/);
    expect(response.headers.get('access-control-allow-headers')).toMatch(/content-type/);
  });

  it('gives a page of another origin no CORS headers, so its browser keeps the answer from it', async () => {
    const response = await post(production, OTHER_ORIGIN);
    expect(corsOf(response).origin).toBeNull();
    const check = await preflight(production, '/graphql', OTHER_ORIGIN);
    expect(check.headers.get('access-control-allow-origin')).toBeNull();
    expect(check.headers.get('access-control-allow-headers')).toBeNull();
  });

  it('serves the SDK to the allowed origin only', async () => {
    const allowed = await fetch(`${production.url}/sdk/switchyard.js`, { headers: { origin: APP_ORIGIN } });
    expect(allowed.status).toBe(200);
    expect(corsOf(allowed)).toMatchObject({ origin: APP_ORIGIN, vary: 'Origin' });
    const other = await fetch(`${production.url}/sdk/switchyard.js`, { headers: { origin: OTHER_ORIGIN } });
    expect(other.status).toBe(200);
    expect(corsOf(other)).toMatchObject({ origin: null, vary: 'Origin' });
    const options = await fetch(`${production.url}/sdk/switchyard.js`, {
      method: 'OPTIONS',
      headers: { origin: APP_ORIGIN, 'access-control-request-method': 'GET' },
    });
    expect(options.status).toBe(204);
    expect(options.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
    expect(options.headers.get('access-control-allow-methods')).toMatch(/GET/);
  });
});

/** Opens a graphql-ws connection with this Origin header (none for a backend) and reports how it went. */
function connect(server: Switchyard, origin: string | undefined): Promise<string> {
  return new Promise((resolve) => {
    class OriginWebSocket extends WebSocket {
      constructor(address: string, protocols?: string | string[]) {
        super(address, protocols, origin ? { origin } : {});
        this.on('unexpected-response', (_request, response) => resolve(`refused ${response.statusCode}`));
      }
    }
    const client = createClient({
      url: `${server.url.replace(/^http/, 'ws')}/graphql`,
      webSocketImpl: OriginWebSocket,
      retryAttempts: 0,
      lazy: false,
      connectionParams: credentialFor(server),
      onNonLazyError: () => undefined,
    });
    client.on('connected', () => {
      resolve('connected');
      void client.dispose();
    });
    client.on('closed', () => setTimeout(() => resolve('closed'), 100));
  });
}

describe('WebSocket upgrades (browsers send Origin; CORS does not apply)', () => {
  it('are refused (403) from a page of an origin CORS_ORIGINS does not allow', async () => {
    expect(await connect(production, OTHER_ORIGIN)).toBe('refused 403');
  });

  it('are accepted from the allowed origin, the server\'s own origin and clients that send no Origin', async () => {
    expect(await connect(production, APP_ORIGIN)).toBe('connected');
    expect(await connect(production, production.url)).toBe('connected');
    expect(await connect(production, undefined)).toBe('connected');
  });

  it('are accepted from any origin in development mode', async () => {
    expect(await connect(development, OTHER_ORIGIN)).toBe('connected');
  });
});
