import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { errorCode, gql } from '../helpers/graphql.js';
import { TestPeer } from '../helpers/peer.js';
import { startTestServer } from '../helpers/server.js';

describe('a mediasoup worker that dies', () => {
  let server: Switchyard;
  const peers: TestPeer[] = [];

  beforeAll(async () => {
    server = await startTestServer({ WORKERS: '2' });
  });

  afterAll(async () => {
    for (const peer of peers) peer.stop();
    await server?.stop();
  });

  it('is replaced; its sessions are closed and the others live on', async () => {
    for (let i = 0; i < 2; i += 1) {
      const peer = new TestPeer(server.url);
      peers.push(peer);
      await peer.createSession();
    }
    const [victim, survivor] = peers.map((p) => server.sessions.get(p.sessionId)!);
    expect(victim!.worker).not.toBe(survivor!.worker);
    const deadPid = victim!.worker.worker.pid;
    // The replacement can be ready within milliseconds, so the unhealthy
    // moment is read when the death is reported, not by polling /healthz.
    const healthyWhenDied = new Promise<boolean>((resolve) => server.pool.once('workerDied', () => resolve(server.pool.healthy)));
    const replaced = new Promise<void>((resolve) => server.pool.once('workerReady', () => resolve()));

    process.kill(deadPid, 'SIGKILL');
    expect(await healthyWhenDied).toBe(false);
    await replaced;
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect(server.pool.workers.map((w) => w.worker.pid)).not.toContain(deadPid);

    const gone = await gql(server.url, 'query($id: ID!) { session(id: $id) { id } }', { id: peers[0]!.sessionId });
    expect(gone.data?.session).toBeNull();
    const push = await gql(server.url, 'mutation($id: ID!) { closeSession(input: { sessionId: $id }) { sessionId } }', { id: peers[0]!.sessionId });
    expect(errorCode(push)).toBe('SESSION_NOT_FOUND');
    const alive = await gql(server.url, 'query($id: ID!) { session(id: $id) { id } }', { id: peers[1]!.sessionId });
    expect(alive.data?.session).toEqual({ id: peers[1]!.sessionId });

    // New sessions work on the replacement.
    const fresh = new TestPeer(server.url);
    peers.push(fresh);
    await fresh.createSession();
    expect(server.sessions.get(fresh.sessionId)).toBeDefined();
  });
});
