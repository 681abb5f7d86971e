import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Room } from '../../examples/room.js';
import type { Switchyard } from '../../src/app.js';
import { publishData } from '../helpers/dataChannels.js';
import { gqlOk } from '../helpers/graphql.js';
import { fakeCamera, fakeMicrophone, waitFor } from '../helpers/media.js';
import { TestPeer } from '../helpers/peer.js';
import { startTestServer } from '../helpers/server.js';
import { wsClient } from '../helpers/subscriptions.js';

describe('the room example (examples/room.ts)', () => {
  let server: Switchyard;
  const stops: (() => unknown)[] = [];

  beforeAll(async () => {
    server = await startTestServer({ WORKERS: '2' });
  });

  afterAll(async () => {
    for (const stop of stops.reverse()) await stop();
    await server?.stop();
  });

  async function participant(room: string) {
    const peer = new TestPeer(server.url);
    const cam = fakeCamera(160, 120);
    const mic = fakeMicrophone();
    stops.push(() => peer.stop(), cam.stop, mic.stop);
    await peer.createSession();
    await peer.push([
      { track: cam.track, name: 'camera', tags: [`room:${room}`] },
      { track: mic.track, name: 'mic', tags: [`room:${room}`] },
    ]);
    return peer;
  }

  it('knows who is present, what they publish and what to pull, from tracks and events alone', async () => {
    const alice = await participant('lobby');
    await participant('elsewhere');
    const client = wsClient(server.url);
    stops.push(() => client.dispose());
    const room = new Room(server.url, 'lobby');
    stops.push(() => room.leave());
    await room.join(client);
    expect([...room.participants.keys()]).toEqual([alice.sessionId]);

    const bob = await participant('lobby');
    await waitFor('bob in the room', () => room.participants.get(bob.sessionId)?.size === 2);
    expect(room.toPull(alice.sessionId).map((t) => `${t.sessionId}/${t.name}`).sort()).toEqual([`${bob.sessionId}/camera`, `${bob.sessionId}/mic`]);
    // A data channel in the room is a participant's track too, but not one to pull (pullTracks refuses it).
    const [chat] = await publishData(bob, [{ name: 'chat', tags: ['room:lobby'] }]);
    expect(chat!.error).toBeNull();
    await waitFor('bob\'s chat in the room', () => room.participants.get(bob.sessionId)?.get('chat')?.kind === 'DATA');
    expect(room.toPull(alice.sessionId).map((t) => t.name).sort()).toEqual(['camera', 'mic']);

    await gqlOk(server.url, 'mutation($id: ID!) { closeSession(input: { sessionId: $id }) { sessionId } }', { id: alice.sessionId });
    await waitFor('alice gone', () => !room.participants.has(alice.sessionId));
    expect([...room.participants.keys()]).toEqual([bob.sessionId]);
  });
});
