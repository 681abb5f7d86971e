import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { errorCode, gql, gqlOk } from '../helpers/graphql.js';
import { waitFor } from '../helpers/media.js';
import { TestPeer } from '../helpers/peer.js';
import { startTestServer } from '../helpers/server.js';

describe('sessions that never connect', () => {
  let server: Switchyard;
  const peers: TestPeer[] = [];

  beforeAll(async () => {
    server = await startTestServer({ WORKERS: '1', SESSION_IDLE_TIMEOUT_MS: '1500' });
  });

  afterAll(async () => {
    for (const peer of peers) peer.stop();
    await server?.stop();
  });

  it('are closed after SESSION_IDLE_TIMEOUT_MS, while connected ones stay', async () => {
    const connected = new TestPeer(server.url);
    peers.push(connected);
    await connected.createSession();
    await waitFor('the peer connects', () => server.sessions.get(connected.sessionId)?.connectionState === 'CONNECTED');
    const { createSession } = await gqlOk(server.url, 'mutation { createSession { session { id } } }');
    const idle = createSession.session.id as string;

    await new Promise((resolve) => setTimeout(resolve, 800));
    expect(server.sessions.get(idle)).toBeDefined();
    await waitFor('the idle session is closed', () => server.sessions.get(idle) === undefined, 5_000);
    expect(errorCode(await gql(server.url, 'mutation($id: ID!) { closeSession(input: { sessionId: $id }) { sessionId } }', { id: idle }))).toBe('SESSION_NOT_FOUND');
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect(server.sessions.get(connected.sessionId)?.connectionState).toBe('CONNECTED');
  });
});
