import { lookup } from 'node:dns/promises';
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import type { GrantInput } from '../../src/auth/grant.js';
import { mintClientToken } from '../../src/auth/tokens.js';
import { toneMicrophone, waitFor } from '../helpers/media.js';
import { TestPeer } from '../helpers/peer.js';
import { startTestServer } from '../helpers/server.js';
import { gql, gqlOk } from '../helpers/graphql.js';
import { dominantFrequency, leftChannel } from '../helpers/audio.js';
import { startAdapterService } from '../helpers/adapterService.js';

/**
 * Who may make a node connect where, in production (apps configured): no
 * loopback, private or link-local endpoint unless the operator lists its
 * network (ADAPTER_PRIVATE_NETWORKS), whether named by address, as
 * localhost, or by a name that resolves there; another app's track is as if
 * it did not exist; a client token needs grant.adapters, and may only
 * pull (REMOTE) or publish (LOCAL) what its grant allows. Nothing refused
 * ever reaches the service.
 */
const ACME = { id: 'acme', secret: `acme-${'s'.repeat(40)}` };
const BETA = { id: 'beta', secret: `beta-${'s'.repeat(40)}` };
const APPS = `${ACME.id}:${ACME.secret},${BETA.id}:${BETA.secret}`;

const CREATE = `mutation($input: CreateWebSocketAdapterInput!) { createWebSocketAdapter(input: $input) { id sessionId state } }`;
const ADAPTER = `query($id: ID!) { webSocketAdapter(id: $id) { id state } }`;
const CLOSE = `mutation($id: ID!) { closeWebSocketAdapter(id: $id) { id state } }`;

interface ApiError {
  message: string;
  extensions?: { code?: string; adapterErrorCode?: string };
}

/** A production node (apps configured, private endpoints refused unless listed) with acme's 440 Hz publisher. */
async function productionNode(env: Record<string, string> = {}) {
  const server = await startTestServer({ WORKERS: '1', SWITCHYARD_MODE: 'production', APPS, ...env });
  const microphone = toneMicrophone(440, 8000);
  const publisher = new TestPeer(server.url, ACME.secret);
  await publisher.createSession();
  await publisher.push([{ track: microphone.track, name: 'mic' }]);
  return {
    server,
    publisher,
    async stop() {
      publisher.stop();
      microphone.stop();
      await server.stop();
    },
  };
}

let strict: Awaited<ReturnType<typeof productionNode>>;
let listed: Awaited<ReturnType<typeof productionNode>>;
let service: Awaited<ReturnType<typeof startAdapterService>>;

beforeAll(async () => {
  service = await startAdapterService();
  strict = await productionNode();
  listed = await productionNode({ ADAPTER_PRIVATE_NETWORKS: '127.0.0.1/32' });
}, 60_000);

afterAll(async () => {
  await strict?.stop();
  await listed?.stop();
  await service?.close();
});

const token = (grant: GrantInput, subject = 'alice', app = ACME) => mintClientToken({ appId: app.id, secret: app.secret, grant, subject });

async function refusal(server: Switchyard, input: Record<string, unknown>, credential: string): Promise<ApiError> {
  const result = await gql(server.url, CREATE, { input }, credential);
  expect(result.data?.createWebSocketAdapter ?? null).toBeNull();
  return result.errors![0] as ApiError;
}

async function transportCount(server: Switchyard): Promise<number> {
  let count = 0;
  for (const worker of server.pool.workers) count += (await worker.router.dump()).transportIds.length;
  return count;
}

/** The service's port, under other hosts. */
const port = () => Number(new URL(service.url('/')).port);

describe('endpoints of the node\'s own network, in production', () => {
  it('refuses loopback, private and unspecified addresses, localhost, and names that resolve to loopback: FORBIDDEN websocket_localhost_not_allowed', async () => {
    const connections = service.connections.length;
    const transports = await transportCount(strict.server);
    const tracks = strict.server.sessions.tracks.size;
    const hosts = ['127.0.0.1', 'localhost', 'LOCALHOST.', 'app.localhost', '[::1]', '[::ffff:127.0.0.1]', '0.0.0.0', '[::]', '10.0.0.1', '169.254.169.254', '2130706433'];
    // A name of this machine that /etc/hosts or DNS points at loopback goes through the lookup, which refuses it too.
    const own = hostname();
    const resolved = await lookup(own).catch(() => undefined);
    if (resolved && /^127\.|^::1$/.test(resolved.address)) hosts.push(own);
    else console.log(`skipped the resolving-name case: ${own} resolves to ${resolved?.address ?? 'nothing'}`);
    for (const host of hosts) {
      for (const input of [
        { location: 'REMOTE', sessionId: strict.publisher.sessionId, trackName: 'mic', endpoint: `ws://${host}:${port()}/out` },
        { location: 'LOCAL', trackName: 'in', endpoint: `ws://${host}:${port()}/in` },
      ]) {
        const error = await refusal(strict.server, input, ACME.secret);
        expect({ host, location: input.location, ...error.extensions }).toEqual({ host, location: input.location, code: 'FORBIDDEN', adapterErrorCode: 'websocket_localhost_not_allowed' });
      }
    }
    console.log(`refused in production: ${hosts.join(' ')}`);
    expect(service.connections.length).toBe(connections);
    expect(strict.server.sessions.tracks.size).toBe(tracks);
    expect(await transportCount(strict.server)).toBe(transports);
  });

  it('ADAPTER_PRIVATE_NETWORKS=127.0.0.1/32: that address works (by address and as localhost), other private ones stay refused', { timeout: 20_000 }, async () => {
    for (const host of ['127.0.0.1', 'localhost']) {
      const adapter = (await gqlOk(listed.server.url, CREATE, { input: { location: 'REMOTE', sessionId: listed.publisher.sessionId, trackName: 'mic', endpoint: `ws://${host}:${port()}/listed-${host}` } }, ACME.secret)).createWebSocketAdapter;
      expect(adapter.state).toBe('CONNECTED');
      const connection = service.latest(`/listed-${host}`)!;
      await waitFor('a second of audio at the service', () => connection.packets.length > 60, 10_000);
      const pcm = Buffer.concat(connection.packets.slice(-50).map((p) => Buffer.from(p.packet.payload)));
      expect(Math.abs(dominantFrequency(leftChannel(pcm), 48_000, 200, 1200) - 440)).toBeLessThanOrEqual(3);
      expect((await gqlOk(listed.server.url, CLOSE, { id: adapter.id }, ACME.secret)).closeWebSocketAdapter.state).toBe('CLOSED');
    }
    const connections = service.connections.length;
    for (const host of ['[::1]', '127.0.0.2', '10.0.0.1']) {
      const error = await refusal(listed.server, { location: 'REMOTE', sessionId: listed.publisher.sessionId, trackName: 'mic', endpoint: `ws://${host}:${port()}/out` }, ACME.secret);
      expect({ host, ...error.extensions }).toEqual({ host, code: 'FORBIDDEN', adapterErrorCode: 'websocket_localhost_not_allowed' });
    }
    expect(service.connections.length).toBe(connections);
  });
});

describe('whose tracks, with which grant', () => {
  const input = () => ({ location: 'REMOTE', sessionId: listed.publisher.sessionId, trackName: 'mic', endpoint: service.url('/access') });

  it('another app\'s track is TRACK_NOT_FOUND, exactly as a track that does not exist; its adapters are unknown to it', async () => {
    const connections = service.connections.length;
    const betaToken = await token({ adapters: true, pull: { sessions: [listed.publisher.sessionId] } }, 'mallory', BETA);
    for (const credential of [BETA.secret, betaToken]) {
      const foreign = await refusal(listed.server, input(), credential);
      const missing = await refusal(listed.server, { ...input(), trackName: 'nope' }, credential);
      expect(foreign.extensions).toEqual({ code: 'TRACK_NOT_FOUND' });
      expect(missing.extensions).toEqual(foreign.extensions);
      expect(foreign.message.replace('mic', 'nope')).toBe(missing.message);
    }
    // acme's adapter: beta can neither see nor close it.
    const adapter = (await gqlOk(listed.server.url, CREATE, { input: input() }, ACME.secret)).createWebSocketAdapter;
    try {
      expect((await gqlOk(listed.server.url, ADAPTER, { id: adapter.id }, BETA.secret)).webSocketAdapter).toBeNull();
      const closing = await gql(listed.server.url, CLOSE, { id: adapter.id }, BETA.secret);
      expect(closing.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_REQUEST', adapterErrorCode: 'adapter_not_found' });
      expect((await gqlOk(listed.server.url, ADAPTER, { id: adapter.id }, ACME.secret)).webSocketAdapter.state).toBe('CONNECTED');
    } finally {
      await gqlOk(listed.server.url, CLOSE, { id: adapter.id }, ACME.secret);
    }
    expect(service.connections.length).toBe(connections + 1);
  });

  it('a client token: FORBIDDEN without grant.adapters, without pull access, or for a name it may not publish; its own adapters only', { timeout: 20_000 }, async () => {
    const connections = service.connections.length;
    const session = listed.publisher.sessionId;
    const cases: [string, GrantInput, Record<string, unknown>, RegExp][] = [
      ['no grant.adapters', { pull: { sessions: [session] }, publish: { names: ['*'] } }, input(), /grant\.adapters/],
      ['no grant.adapters (LOCAL)', { pull: { sessions: [session] }, publish: { names: ['*'] } }, { location: 'LOCAL', trackName: 'bot', endpoint: service.url('/access') }, /grant\.adapters/],
      ['adapters, no pull', { adapters: true, createSession: true }, input(), /may not pull mic/],
      ['adapters, pull of another session', { adapters: true, pull: { sessions: ['another-session'] } }, input(), /may not pull mic/],
      ['adapters, may not publish', { adapters: true }, { location: 'LOCAL', trackName: 'bot', endpoint: service.url('/access') }, /may not publish/],
      ['adapters, another name', { adapters: true, publish: { names: ['bot-*'] } }, { location: 'LOCAL', trackName: 'mic2', endpoint: service.url('/access') }, /may not publish a track named mic2/],
      ['adapters, a tag it may not use', { adapters: true, publish: { names: ['bot-*'], tags: ['room:a'] } }, { location: 'LOCAL', trackName: 'bot-1', tags: ['room:b'], endpoint: service.url('/access') }, /tag room:b/],
    ];
    for (const [what, grant, request, message] of cases) {
      const error = await refusal(listed.server, request, await token(grant));
      expect({ what, ...error.extensions }).toEqual({ what, code: 'FORBIDDEN' });
      expect(error.message, what).toMatch(message);
    }
    expect(service.connections.length).toBe(connections);

    // Allowed: pulling by session or by tag's grant (REMOTE), a name it may publish (LOCAL); another subject's token does not see them.
    const alice = await token({ adapters: true, pull: { sessions: [session] }, publish: { names: ['bot-*'] } });
    const bob = await token({ adapters: true, pull: { sessions: [session] }, publish: { names: ['bot-*'] } }, 'bob');
    const egress = (await gqlOk(listed.server.url, CREATE, { input: input() }, alice)).createWebSocketAdapter;
    const ingest = (await gqlOk(listed.server.url, CREATE, { input: { location: 'LOCAL', trackName: 'bot-1', endpoint: service.url('/access-in') } }, alice)).createWebSocketAdapter;
    expect([egress.state, ingest.state]).toEqual(['CONNECTED', 'CONNECTED']);
    expect(listed.server.sessions.tracks.get(ingest.sessionId, 'bot-1')).toBeDefined();
    for (const id of [egress.id, ingest.id]) {
      expect((await gqlOk(listed.server.url, ADAPTER, { id }, bob)).webSocketAdapter).toBeNull();
      expect((await gql(listed.server.url, CLOSE, { id }, bob)).errors?.[0]?.extensions).toMatchObject({ adapterErrorCode: 'adapter_not_found' });
      expect((await gqlOk(listed.server.url, CLOSE, { id }, alice)).closeWebSocketAdapter.state).toBe('CLOSED');
    }
    expect(listed.server.sessions.tracks.get(ingest.sessionId, 'bot-1')).toBeUndefined();
    // A token without grant.adapters may not close even its own subject's adapter.
    const closing = await gql(listed.server.url, CLOSE, { id: egress.id }, await token({ pull: { sessions: [session] } }));
    expect(closing.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });
});
