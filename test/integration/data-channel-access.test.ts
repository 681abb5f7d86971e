import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { mintClientToken } from '../../src/auth/tokens.js';
import type { GrantInput } from '../../src/auth/grant.js';
import { errorCode, gql, gqlOk } from '../helpers/graphql.js';
import { waitFor } from '../helpers/media.js';
import { TestPeer } from '../helpers/peer.js';
import { startTestServer } from '../helpers/server.js';
import { inbox, openNegotiated, opened, PUBLISH_DATA, publishData, subscribeData } from '../helpers/dataChannels.js';

/**
 * Issue 14, item 5: client-token grants cover publishing and subscribing
 * data channels as they cover tracks, and another app's channels are
 * invisible (answered exactly like channels that do not exist).
 */
const ACME = { id: 'acme', secret: `acme-${'s'.repeat(40)}` };
const BETA = { id: 'beta', secret: `beta-${'s'.repeat(40)}` };

let server: Switchyard;
const stops: (() => unknown)[] = [];
const token = (grant: GrantInput, subject: string, app = ACME) => mintClientToken({ appId: app.id, secret: app.secret, grant, subject });

async function peer(credential: string): Promise<TestPeer> {
  const p = new TestPeer(server.url, credential);
  stops.push(() => p.stop());
  await p.createSession();
  return p;
}

beforeAll(async () => {
  server = await startTestServer({ WORKERS: '1', APPS: `${ACME.id}:${ACME.secret},${BETA.id}:${BETA.secret}` });
  stops.push(() => server.stop());
});

afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
});

describe('data channel access', () => {
  it('publishes and subscribes within the token\'s grant, refuses outside it, and hides other apps\' channels', { timeout: 60_000 }, async () => {
    const alice = await token({ createSession: true, publish: { names: ['chat-*'], tags: ['room:1'] } }, 'alice');
    const bob = await token({ createSession: true, pull: { tags: ['room:1'] } }, 'bob');
    const alicePeer = await peer(alice);
    const bobPeer = await peer(bob);
    const backend = await peer(ACME.secret);

    // Publishing: name and tags must match the publish grant; the whole call is refused otherwise.
    const [chat] = await publishData(alicePeer, [{ name: 'chat-alice', tags: ['room:1'] }], alice);
    expect(chat!.error).toBeNull();
    for (const channel of [{ name: 'secret', tags: ['room:1'] }, { name: 'chat-2', tags: ['room:2'] }]) {
      const refused = await gql(server.url, PUBLISH_DATA, { input: { sessionId: alicePeer.sessionId, dataChannels: [channel] } }, alice);
      expect(errorCode(refused), JSON.stringify(channel)).toBe('FORBIDDEN');
    }
    expect(errorCode(await gql(server.url, PUBLISH_DATA, { input: { sessionId: bobPeer.sessionId, dataChannels: [{ name: 'chat-bob' }] } }, bob))).toBe('FORBIDDEN');
    // Another subject's session: not bob's to act on.
    expect(errorCode(await gql(server.url, PUBLISH_DATA, { input: { sessionId: alicePeer.sessionId, dataChannels: [{ name: 'chat-x' }] } }, bob))).toBe('FORBIDDEN');

    // Subscribing: the pull grant's tags decide, per channel.
    const [hidden] = await publishData(backend, [{ name: 'staff', tags: ['room:2'] }], ACME.secret);
    expect(hidden!.error).toBeNull();
    const [allowed, refused] = await subscribeData(
      bobPeer,
      [
        { sessionId: alicePeer.sessionId, name: 'chat-alice' },
        { sessionId: backend.sessionId, name: 'staff' },
      ],
      bob,
    );
    expect(allowed!.error).toBeNull();
    expect(refused!.error?.code).toBe('FORBIDDEN');
    // And it works: alice's messages reach bob.
    const sending = openNegotiated(alicePeer, chat!);
    const receiving = openNegotiated(bobPeer, allowed!);
    const messages = inbox(receiving);
    await Promise.all([opened(sending), opened(receiving)]);
    sending.send('hello bob');
    await waitFor('alice\'s message at bob', () => messages.length === 1);
    expect(messages).toEqual(['hello bob']);

    // Another app: acme's channel is answered exactly like one that does not exist.
    const stranger = await peer(BETA.secret);
    const [foreign, unknown] = await subscribeData(
      stranger,
      [
        { sessionId: alicePeer.sessionId, name: 'chat-alice' },
        { sessionId: '00000000-0000-0000-0000-000000000000', name: 'chat-alice' },
      ],
      BETA.secret,
    );
    expect(foreign!.error?.code).toBe('TRACK_NOT_FOUND');
    const mask = (message: string | undefined) => message?.replace(/[0-9a-f-]{36}/g, '<id>');
    expect(mask(foreign!.error?.message)).toBe(mask(unknown!.error?.message));
    const listed = await gqlOk(server.url, 'query { tracks(filter: { kind: DATA }) { sessionId name } }', {}, BETA.secret);
    expect(listed.tracks).toEqual([]);
    const own = await gqlOk(server.url, 'query { tracks(filter: { kind: DATA }) { name } }', {}, ACME.secret);
    expect(own.tracks.map((t: { name: string }) => t.name).sort()).toEqual(['chat-alice', 'staff']);
  });
});
