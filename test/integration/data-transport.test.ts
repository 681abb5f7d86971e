import { describe, expect, it } from 'vitest';
import { errorCode, gql, gqlOk } from '../helpers/graphql.js';
import { inbox, openNegotiated, opened, publishData, subscribeData } from '../helpers/dataChannels.js';
import { waitFor } from '../helpers/media.js';
import { TestPeer } from '../helpers/peer.js';
import { useTestServer } from '../helpers/server.js';

const ESTABLISH = 'mutation($id: ID!) { establishDataChannels(input: { sessionId: $id }) { requiresImmediateRenegotiation sessionDescription { type sdp } tracks { mid } } }';

/** establishDataChannels: a session made without any offer gets its data m-section from the SFU's offer. */
describe('establishDataChannels', () => {
  const file = useTestServer({ WORKERS: '1' });

  it('offers a data section to a session without one; after the answer its channels carry messages; a second call is BAD_REQUEST', async () => {
    const url = file.server.url;
    const [publisher, subscriber] = [new TestPeer(url), new TestPeer(url)];
    file.cleanups.push(() => {
      publisher.pc.close();
      subscriber.pc.close();
    });
    for (const peer of [publisher, subscriber]) {
      await peer.createSession({ dataChannel: false });
      // Before: no data m-section, so channels are refused with a pointer to the fix.
      const early = await gql(url, 'mutation($id: ID!) { publishDataChannels(input: { sessionId: $id, dataChannels: [{ name: "x" }] }) { dataChannels { id } } }', { id: peer.sessionId });
      expect(errorCode(early)).toBe('BAD_REQUEST');
      const { establishDataChannels } = await gqlOk(url, ESTABLISH, { id: peer.sessionId });
      expect(establishDataChannels.requiresImmediateRenegotiation).toBe(true);
      expect(establishDataChannels.tracks).toEqual([]);
      expect(establishDataChannels.sessionDescription.sdp).toMatch(/m=application \d+ UDP\/DTLS\/SCTP webrtc-datachannel/);
      await peer.applyOffer(establishDataChannels.sessionDescription.sdp);
    }
    const [published] = await publishData(publisher, [{ name: 'chat' }]);
    const [subscribed] = await subscribeData(subscriber, [{ sessionId: publisher.sessionId, name: 'chat' }]);
    const sending = openNegotiated(publisher, published!);
    const receiving = openNegotiated(subscriber, subscribed!);
    const messages = inbox(receiving);
    await Promise.all([opened(sending), opened(receiving)]);
    sending.send('over the established transport');
    await waitFor('the message', () => messages.length === 1);
    expect(messages).toEqual(['over the established transport']);

    const again = await gql(url, ESTABLISH, { id: publisher.sessionId });
    expect(errorCode(again)).toBe('BAD_REQUEST');
    expect(again.errors?.[0]?.message).toContain('already has a data m-section');
  });
});
