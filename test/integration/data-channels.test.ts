import { describe, expect, it } from 'vitest';
import { gqlOk } from '../helpers/graphql.js';
import { waitFor } from '../helpers/media.js';
import { TestPeer } from '../helpers/peer.js';
import { useTestServer } from '../helpers/server.js';
import { inbox, openNegotiated, opened, publishData, subscribeData } from '../helpers/dataChannels.js';

const file = useTestServer({ WORKERS: '2' });

async function connectedPeer(url: string, cleanups: (() => void)[]): Promise<TestPeer> {
  const peer = new TestPeer(url);
  cleanups.push(() => peer.stop());
  await peer.createSession();
  return peer;
}

describe('data channels', () => {
  it('fans ordered text and binary messages out to subscribers on both workers, in order, with nothing lost', { timeout: 60_000 }, async () => {
    const { server, cleanups } = file;
    const publisher = await connectedPeer(server.url, cleanups);
    const subscribers = [await connectedPeer(server.url, cleanups), await connectedPeer(server.url, cleanups), await connectedPeer(server.url, cleanups)];
    const workers = new Set([publisher, ...subscribers].map((p) => server.sessions.get(p.sessionId)!.worker.index));
    expect(workers.size).toBe(2);

    const [published] = await publishData(publisher, [{ name: 'chat', tags: ['room:1'] }]);
    expect(published!.error).toBeNull();
    expect(published!.options).toEqual({ ordered: true, maxRetransmits: null, maxPacketLifeTime: null });
    const sending = openNegotiated(publisher, published!);
    const inboxes = [];
    for (const subscriber of subscribers) {
      const [result] = await subscribeData(subscriber, [{ sessionId: publisher.sessionId, name: 'chat' }]);
      expect(result!.error).toBeNull();
      const channel = openNegotiated(subscriber, result!);
      inboxes.push(inbox(channel));
      await opened(channel);
    }
    await opened(sending);
    const COUNT = 500;
    for (let i = 0; i < COUNT; i += 1) {
      if (i % 2 === 0) sending.send(`message ${i}`);
      else sending.send(new Uint8Array([i & 0xff, (i >> 8) & 0xff, 7]));
    }
    await waitFor('every message at every subscriber', () => inboxes.every((messages) => messages.length >= COUNT), 20_000);
    for (const messages of inboxes) {
      expect(messages).toHaveLength(COUNT);
      messages.forEach((message, i) => {
        if (i % 2 === 0) expect(message).toBe(`message ${i}`);
        else expect([...(message as Uint8Array)]).toEqual([i & 0xff, (i >> 8) & 0xff, 7]);
      });
    }
    const state = await gqlOk(server.url, 'query($id: ID!) { session(id: $id) { dataChannels { id location status dataChannel { name kind tags dataChannel { ordered } } } } }', { id: subscribers[0]!.sessionId });
    expect(state.session.dataChannels).toEqual([
      { id: expect.any(Number), location: 'REMOTE', status: 'ACTIVE', dataChannel: { name: 'chat', kind: 'DATA', tags: ['room:1'], dataChannel: { ordered: true } } },
    ]);
  });
});
