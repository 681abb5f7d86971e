import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { mintClientToken } from '../../src/auth/tokens.js';
import { openRawWs } from '../helpers/rawWs.js';
import { startTestServer } from '../helpers/server.js';

/**
 * A client whose network vanished sends no TCP reset: without the server's
 * WebSocket pings its socket would hold its place in the per-subject
 * connection cap until TCP gave up, locking its user out meanwhile.
 */
const APP = { id: 'acme', secret: 'acme-secret-0123456789abcdef-0123456789' };
const PING_MS = 1_000;

describe('WebSocket keepalive', () => {
  let server: Switchyard;

  beforeAll(async () => {
    server = await startTestServer({ WORKERS: '1', APPS: `${APP.id}:${APP.secret}`, WS_PING_INTERVAL_MS: String(PING_MS), MAX_CONNECTIONS_PER_SUBJECT: '1' });
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('cuts a socket that answers no ping, giving its connection slot back; a live one stays', async () => {
    const token = await mintClientToken({ appId: APP.id, secret: APP.secret, grant: { createSession: true }, subject: 'alice' });
    const vanished = await openRawWs(server.url, { token }, { autoPong: false });
    // The subject's one slot is taken.
    await expect(openRawWs(server.url, { token })).rejects.toThrow(/4429/);
    const started = Date.now();
    const code = await vanished.closed();
    const cutAfter = Date.now() - started;
    console.log(`a socket that answers no ping was cut after ${cutAfter} ms (pings every ${PING_MS} ms)`);
    expect(code).toBe(1006);
    expect(cutAfter).toBeLessThan(3 * PING_MS + 1_000);

    const live = await openRawWs(server.url, { token });
    await new Promise((resolve) => setTimeout(resolve, 4 * PING_MS));
    expect(live.closeCode).toBeUndefined();
    live.socket.close();
    await live.closed();
  });
});
