import { describe, expect, it } from 'vitest';
import { cloudflareClients } from '../helpers/cloudflareClients.js';
import { expectCovered } from '../helpers/cloudflareCoverage.js';
import { opened } from '../helpers/dataChannels.js';
import { waitFor } from '../helpers/media.js';
import { useTestServer } from '../helpers/server.js';

/**
 * The Cloudflare Realtime SFU ("Calls") HTTPS API under /v1/apps/{appId},
 * driven exactly as Cloudflare's examples drive it: plain fetch with a JSON
 * string body and no Content-Type, libwebrtc PeerConnections, SFU offers
 * answered through /renegotiate. Every JSON body the API answers is checked
 * against the OpenAPI fixture (test/helpers/openapiShape.ts) by CloudflareApi.
 *
 * This file: data channels. datachannels/establish with the client's offer
 * and without one (the SFU offers, the client answers with /renegotiate),
 * datachannels/new local and remote with the ids to negotiate channels on,
 * messages through the SFU, and datachannels/close. datachannels/update is
 * not here: Switchyard's channels are one way (no canReply to update), so it
 * answers invalid_params.
 *
 * Each cloudflare-api-*.test.ts file states the operations of the fixture it
 * covers (COVERS below, its entry of test/helpers/cloudflareCoverage.ts) and
 * checks at its end that each answered its success status with a body the
 * walker checked.
 */

/** The operations whose success this file shows (its entry of COVERAGE_BY_FILE). */
const COVERS = [
  'POST /apps/{appId}/sessions/new',
  'GET /apps/{appId}/sessions/{sessionId}',
  'PUT /apps/{appId}/sessions/{sessionId}/renegotiate',
  'POST /apps/{appId}/sessions/{sessionId}/datachannels/establish',
  'POST /apps/{appId}/sessions/{sessionId}/datachannels/new',
  'PUT /apps/{appId}/sessions/{sessionId}/datachannels/close',
];

const checked = new Set<string>();
const usedDifferences = new Set<string>();

describe('the Cloudflare-compatible API, development mode (no apps: any appId)', () => {
  const file = useTestServer();
  const { api, connected, newSession, getSession } = cloudflareClients(file, { checked, usedDifferences });

  it('datachannels: establish with an offer and without (the SFU offers), new local and remote, messages over negotiated channels with the ids returned, close', { timeout: 45_000 }, async () => {
    const cf = api();
    // Publisher: a bare session whose transport comes with datachannels/establish and its offer.
    const publisher = await newSession(cf);
    const serverEvents = publisher.pc.createDataChannel('server-events');
    const offer = await publisher.pc.createOffer();
    await publisher.pc.setLocalDescription(offer);
    const established = await cf.call('POST', `/sessions/${publisher.sessionId}/datachannels/establish`, {
      dataChannel: { location: 'remote', dataChannelName: 'server-events' },
      sessionDescription: { sdp: offer.sdp, type: 'offer' },
    });
    expect(established.status).toBe(200);
    expect(established.body).toEqual({
      requiresImmediateRenegotiation: false,
      sessionDescription: { type: 'answer', sdp: expect.stringContaining('m=application') },
      dataChannel: { dataChannelName: 'server-events', id: expect.any(Number) },
    });
    await publisher.pc.setRemoteDescription(established.body.sessionDescription);
    await connected(publisher.pc);
    // The id answered is the one the client's own server-events channel took (by DTLS role: odd, as the SFU is the DTLS client).
    expect(serverEvents.id).toBe(established.body.dataChannel.id);

    // Subscriber: Cloudflare's current way, establish without an offer: the SFU offers a data section, the client answers.
    const subscriber = await newSession(cf);
    const asked = await cf.call('POST', `/sessions/${subscriber.sessionId}/datachannels/establish`, { dataChannel: { location: 'remote', dataChannelName: 'server-events' } });
    expect(asked.status).toBe(200);
    expect(asked.body).toEqual({
      requiresImmediateRenegotiation: true,
      sessionDescription: { type: 'offer', sdp: expect.stringContaining('m=application') },
      dataChannel: { dataChannelName: 'server-events', id: 0 },
    });
    await subscriber.pc.setRemoteDescription(asked.body.sessionDescription);
    const subscriberAnswer = await subscriber.pc.createAnswer();
    await subscriber.pc.setLocalDescription(subscriberAnswer);
    const answered = await cf.call('PUT', `/sessions/${subscriber.sessionId}/renegotiate`, { sessionDescription: { type: 'answer', sdp: subscriberAnswer.sdp } });
    expect(answered.status).toBe(200);
    await connected(subscriber.pc);
    // A second establish has nothing to establish.
    const again = await cf.call('POST', `/sessions/${subscriber.sessionId}/datachannels/establish`, { dataChannel: { location: 'remote', dataChannelName: 'server-events' } });
    expect(again.status).toBe(400);
    expect(again.body).toEqual({ errorCode: 'invalid_params', errorDescription: expect.stringContaining('already has a data m-section') });

    const local = await cf.call('POST', `/sessions/${publisher.sessionId}/datachannels/new`, { dataChannels: [{ location: 'local', dataChannelName: 'channel-one' }] });
    expect(local.status).toBe(200);
    expect(local.body).toEqual({ dataChannels: [{ location: 'local', dataChannelName: 'channel-one', id: expect.any(Number) }] });
    const remote = await cf.call('POST', `/sessions/${subscriber.sessionId}/datachannels/new`, {
      dataChannels: [{ location: 'remote', sessionId: publisher.sessionId, dataChannelName: 'channel-one' }],
    });
    expect(remote.body).toEqual({ dataChannels: [{ location: 'remote', sessionId: publisher.sessionId, dataChannelName: 'channel-one', id: expect.any(Number) }] });
    const publisherId = local.body.dataChannels[0].id as number;
    const subscriberId = remote.body.dataChannels[0].id as number;

    const sending = publisher.pc.createDataChannel('channel-one', { negotiated: true, id: publisherId });
    const receiving = subscriber.pc.createDataChannel('channel-one-subscribed', { negotiated: true, id: subscriberId });
    const messages: string[] = [];
    receiving.onmessage = (event: MessageEvent) => messages.push(String(event.data));
    await Promise.all([opened(sending), opened(receiving)]);
    for (let i = 0; i < 3; i += 1) sending.send(`hello ${i}`);
    await waitFor('messages through the SFU', () => messages.length === 3);
    expect(messages).toEqual(['hello 0', 'hello 1', 'hello 2']);

    expect((await getSession(cf, publisher.sessionId)).dataChannels).toEqual([{ location: 'local', dataChannelName: 'channel-one', id: publisherId, status: 'active' }]);
    expect((await getSession(cf, subscriber.sessionId)).dataChannels).toEqual([
      { location: 'remote', sessionId: publisher.sessionId, dataChannelName: 'channel-one', id: subscriberId, status: 'active' },
    ]);

    // Mixed locations in one datachannels/new are refused as for tracks.
    const mixed = await cf.call('POST', `/sessions/${subscriber.sessionId}/datachannels/new`, {
      dataChannels: [{ location: 'remote', sessionId: publisher.sessionId, dataChannelName: 'channel-one' }, { location: 'local', dataChannelName: 'mine' }],
    });
    expect(mixed.status).toBe(400);
    expect(mixed.body.errorCode).toBe('invalid_params');

    const closed = await cf.call('PUT', `/sessions/${subscriber.sessionId}/datachannels/close`, { dataChannels: [{ id: subscriberId }] });
    expect(closed.status).toBe(200);
    expect(closed.body).toEqual({ dataChannels: [{ id: subscriberId, dataChannelName: 'channel-one' }] });
    await waitFor('the subscriber channel closes', () => receiving.readyState === 'closed');
    const closedAgain = await cf.call('PUT', `/sessions/${subscriber.sessionId}/datachannels/close`, { dataChannels: [{ id: subscriberId }] });
    expect(closedAgain.body).toEqual({ dataChannels: [{ id: subscriberId, errorCode: 'close_track_error', errorDescription: expect.any(String) }] });
    expect((await getSession(cf, subscriber.sessionId)).dataChannels.filter((c) => c.status === 'active')).toEqual([]);

    const unpublished = await cf.call('PUT', `/sessions/${publisher.sessionId}/datachannels/close`, { dataChannels: [{ id: publisherId }] });
    expect(unpublished.body).toEqual({ dataChannels: [{ id: publisherId, dataChannelName: 'channel-one' }] });
    await waitFor('the publisher channel closes', () => sending.readyState === 'closed');
  });
});

describe('what the checks above covered', () => {
  it('every operation this file covers answered its success status with a body the walker checked', () => {
    // Only meaningful when the whole file ran; a filtered run (-t) skips this test with the others.
    expectCovered('cloudflare-api-data-channels.test.ts', COVERS, checked);
    expect([...usedDifferences]).toEqual([]);
  });
});
