import { describe, expect, it } from 'vitest';
import { errorCode, gql, gqlOk } from '../helpers/graphql.js';
import { fakeCamera, waitFor } from '../helpers/media.js';
import { TestPeer } from '../helpers/peer.js';
import { useTestServer } from '../helpers/server.js';
import { takeCensus } from '../../src/media/census.js';
import { collect, wsClient } from '../helpers/subscriptions.js';
import {
  CLOSE_DATA,
  closed,
  inbox,
  openNegotiated,
  opened,
  PUBLISH_DATA,
  publishData,
  SUBSCRIBE_DATA,
  subscribeData,
  type DataChannelResultData,
} from '../helpers/dataChannels.js';

/**
 * Issue 14: data channels published and subscribed over each session's one
 * PeerConnection, fanned out by the SFU (libwebrtc peers, real mediasoup).
 */
const MAX_CHANNELS = 6;
const file = useTestServer({ WORKERS: '2', MAX_DATA_CHANNELS_PER_SESSION: String(MAX_CHANNELS) });

const SESSION_EVENTS = 'subscription($id: ID!) { sessionEvents(sessionId: $id) { type dataChannelId dataChannelEndReason } }';
const TRACK_EVENTS = 'subscription { trackEvents(filter: { kind: DATA }) { type track { sessionId name kind status } } }';
const STATE = 'query($id: ID!) { session(id: $id) { dataChannels { id location status dataChannel { sessionId name kind tags dataChannel { ordered maxRetransmits maxPacketLifeTime } } } } }';

async function connectedPeer(cleanups: (() => void)[]): Promise<TestPeer> {
  const peer = new TestPeer(file.server.url);
  cleanups.push(() => peer.stop());
  await peer.createSession();
  return peer;
}

/** A publisher with one open channel, and subscribers with theirs open and collecting. */
async function fanOut(name: string, subscriberCount: number, options: Record<string, unknown> = {}) {
  const { cleanups } = file;
  const publisher = await connectedPeer(cleanups);
  const [published] = await publishData(publisher, [{ name, ...options }]);
  expect(published!.error).toBeNull();
  const sending = openNegotiated(publisher, published!);
  const subscribers: { peer: TestPeer; result: DataChannelResultData; channel: RTCDataChannel; messages: (string | Uint8Array)[] }[] = [];
  for (let i = 0; i < subscriberCount; i += 1) {
    const peer = await connectedPeer(cleanups);
    const [result] = await subscribeData(peer, [{ sessionId: publisher.sessionId, name }]);
    expect(result!.error).toBeNull();
    const channel = openNegotiated(peer, result!);
    const messages = inbox(channel);
    await opened(channel);
    subscribers.push({ peer, result: result!, channel, messages });
  }
  await opened(sending);
  return { publisher, published: published!, sending, subscribers };
}

const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('data channels', () => {
  it('fans ordered text and binary messages out to subscribers on both workers, in order, with nothing lost', { timeout: 60_000 }, async () => {
    const { server } = file;
    const { publisher, published, sending, subscribers } = await fanOut('chat', 3, { tags: ['room:1'] });
    const workers = new Set([publisher, ...subscribers.map((s) => s.peer)].map((p) => server.sessions.get(p.sessionId)!.worker.index));
    expect(workers.size).toBe(2);
    expect(published.options).toEqual({ ordered: true, maxRetransmits: null, maxPacketLifeTime: null });

    const COUNT = 500;
    for (let i = 0; i < COUNT; i += 1) {
      if (i % 2 === 0) sending.send(`message ${i}`);
      else sending.send(new Uint8Array([i & 0xff, (i >> 8) & 0xff, 7]));
    }
    await waitFor('every message at every subscriber', () => subscribers.every((s) => s.messages.length >= COUNT), 20_000);
    for (const { messages } of subscribers) {
      expect(messages).toHaveLength(COUNT);
      messages.forEach((message, i) => {
        if (i % 2 === 0) expect(message).toBe(`message ${i}`);
        else expect([...(message as Uint8Array)]).toEqual([i & 0xff, (i >> 8) & 0xff, 7]);
      });
    }
    const state = await gqlOk(server.url, STATE, { id: subscribers[0]!.peer.sessionId });
    expect(state.session.dataChannels).toEqual([
      {
        id: subscribers[0]!.result.id,
        location: 'REMOTE',
        status: 'ACTIVE',
        dataChannel: { sessionId: publisher.sessionId, name: 'chat', kind: 'DATA', tags: ['room:1'], dataChannel: { ordered: true, maxRetransmits: null, maxPacketLifeTime: null } },
      },
    ]);
    const own = await gqlOk(server.url, STATE, { id: publisher.sessionId });
    expect(own.session.dataChannels).toMatchObject([{ id: published.id, location: 'LOCAL', status: 'ACTIVE' }]);
    // Found with the tracks, by kind.
    const listed = await gqlOk(server.url, 'query($id: ID!) { tracks(filter: { sessionIds: [$id], kind: DATA }) { name kind } }', { id: publisher.sessionId });
    expect(listed.tracks).toEqual([{ name: 'chat', kind: 'DATA' }]);
  });

  it('gives unordered and partially reliable channels those SCTP parameters at the publisher, at every subscriber and on the pipe', { timeout: 60_000 }, async () => {
    const { server } = file;
    for (const options of [{ maxRetransmits: 1 }, { maxPacketLifeTime: 150 }, { ordered: false }]) {
      const name = `unreliable-${Object.keys(options)[0]}`;
      const { publisher, published, sending, subscribers } = await fanOut(name, 2, options);
      const expected = {
        ordered: false,
        maxRetransmits: 'maxRetransmits' in options ? options.maxRetransmits : null,
        maxPacketLifeTime: 'maxPacketLifeTime' in options ? options.maxPacketLifeTime : null,
      };
      expect(published.options).toEqual(expected);
      const producer = server.sessions.data.registry.get(publisher.sessionId, name)!.dataProducer;
      expect(producer.sctpStreamParameters).toMatchObject({ streamId: published.id, ordered: false });
      expect(producer.sctpStreamParameters?.maxRetransmits ?? null).toBe(expected.maxRetransmits);
      expect(producer.sctpStreamParameters?.maxPacketLifeTime ?? null).toBe(expected.maxPacketLifeTime);
      for (const subscriber of subscribers) {
        expect(subscriber.result.options).toEqual(expected);
        const session = server.sessions.get(subscriber.peer.sessionId)!;
        const consumer = session.dataChannels[0]!.consumer!;
        expect(consumer.sctpStreamParameters).toMatchObject({ streamId: subscriber.result.id, ordered: false });
        expect(consumer.sctpStreamParameters?.maxRetransmits ?? null).toBe(expected.maxRetransmits);
        expect(consumer.sctpStreamParameters?.maxPacketLifeTime ?? null).toBe(expected.maxPacketLifeTime);
        // The client's channel takes the same options.
        expect(subscriber.channel.ordered).toBe(false);
      }
      sending.send('on loopback, even unreliable arrives');
      await waitFor('the message at both subscribers', () => subscribers.every((s) => s.messages.length === 1));
    }
  });

  it('carries messages up to DATA_MAX_MESSAGE_BYTES, which the SFU announces as max-message-size, and the client refuses to send more', { timeout: 60_000 }, async () => {
    const { server } = file;
    const limit = server.config.dataMaxMessageBytes;
    const { publisher, sending, subscribers } = await fanOut('big', 1);
    // The SFU's answer announced the limit.
    const answer = server.sessions.get(publisher.sessionId)!.transport.sctpParameters;
    expect(answer?.maxMessageSize).toBe(limit);
    const largest = new Uint8Array(limit).map((_, i) => i % 251);
    sending.send(largest);
    sending.send('after the largest');
    await waitFor('the largest message and the next', () => subscribers[0]!.messages.length === 2);
    expect((subscribers[0]!.messages[0] as Uint8Array).length).toBe(limit);
    expect((subscribers[0]!.messages[0] as Uint8Array)[limit - 1]).toBe((limit - 1) % 251);
    // Beyond the announced size the client refuses: Chromium's send() throws; libwebrtc (here) closes the channel.
    let threw = false;
    try {
      sending.send(new Uint8Array(limit + 1));
    } catch {
      threw = true;
    }
    expect(threw || sending.readyState !== 'open').toBe(true);
    await settle(300);
    expect(subscribers[0]!.messages).toHaveLength(2);
  });

  it('refuses impossible reliability options and bad names with BAD_REQUEST, changing nothing', { timeout: 30_000 }, async () => {
    const { server, cleanups } = file;
    const peer = await connectedPeer(cleanups);
    for (const channel of [
      { name: 'x', ordered: true, maxRetransmits: 2 },
      { name: 'x', maxRetransmits: 2, maxPacketLifeTime: 100 },
      { name: 'x', maxRetransmits: -1 },
      // mediasoup stores 0 as unset (reliable): refused rather than silently reliable.
      { name: 'x', maxRetransmits: 0 },
      { name: 'x', maxPacketLifeTime: 0 },
      { name: 'x', maxPacketLifeTime: 70_000 },
      { name: 'has space' },
    ]) {
      const result = await gql(server.url, PUBLISH_DATA, { input: { sessionId: peer.sessionId, dataChannels: [channel] } });
      expect(errorCode(result), JSON.stringify(channel)).toBe('BAD_REQUEST');
    }
    const state = await gqlOk(server.url, STATE, { id: peer.sessionId });
    expect(state.session.dataChannels).toEqual([]);
  });

  it('drops what a subscriber sends: channels go one way, publisher to subscribers', { timeout: 60_000 }, async () => {
    const { sending, subscribers } = await fanOut('announcements', 2);
    const publisherInbox = inbox(sending);
    subscribers[0]!.channel.send('a reply that goes nowhere');
    subscribers[0]!.channel.send(new Uint8Array([1, 2, 3]));
    sending.send('after the reply');
    await waitFor('the publisher\'s message at both subscribers', () => subscribers.every((s) => s.messages.length >= 1));
    await settle(300);
    expect(publisherInbox).toEqual([]);
    expect(subscribers[0]!.messages).toEqual(['after the reply']);
    expect(subscribers[1]!.messages).toEqual(['after the reply']);
    // The replier's channel stays usable: later messages still arrive.
    sending.send('still here');
    await waitFor('the second message', () => subscribers.every((s) => s.messages.length === 2));
  });

  it('gives a subscriber that joins late the messages from then on', { timeout: 60_000 }, async () => {
    const { cleanups } = file;
    const { publisher, sending, subscribers } = await fanOut('ticker', 1);
    for (let i = 0; i < 5; i += 1) sending.send(`early ${i}`);
    await waitFor('the early messages', () => subscribers[0]!.messages.length === 5);
    const late = await connectedPeer(cleanups);
    const [result] = await subscribeData(late, [{ sessionId: publisher.sessionId, name: 'ticker' }]);
    const channel = openNegotiated(late, result!);
    const messages = inbox(channel);
    await opened(channel);
    for (let i = 0; i < 5; i += 1) sending.send(`late ${i}`);
    await waitFor('the late messages', () => messages.length === 5 && subscribers[0]!.messages.length === 10);
    expect(messages).toEqual(['late 0', 'late 1', 'late 2', 'late 3', 'late 4']);
  });

  it('keeps a session\'s published and subscribed stream ids apart, and away from the bootstrap channel\'s', { timeout: 60_000 }, async () => {
    const { cleanups } = file;
    const a = await connectedPeer(cleanups);
    const b = await connectedPeer(cleanups);
    // Each publishes two channels and subscribes to the other's: ids interleave on each transport.
    const [aOne] = await publishData(a, [{ name: 'one' }]);
    const [bOne, bTwo] = await publishData(b, [{ name: 'one' }, { name: 'two' }]);
    const [aFromB1, aFromB2] = await subscribeData(a, [
      { sessionId: b.sessionId, name: 'one' },
      { sessionId: b.sessionId, name: 'two' },
    ]);
    const [aTwo] = await publishData(a, [{ name: 'two' }]);
    const [bFromA1, bFromA2] = await subscribeData(b, [
      { sessionId: a.sessionId, name: 'one' },
      { sessionId: a.sessionId, name: 'two' },
    ]);
    const idsOfA = [aOne, aTwo, aFromB1, aFromB2].map((r) => r!.id);
    const idsOfB = [bOne, bTwo, bFromA1, bFromA2].map((r) => r!.id);
    for (const ids of [idsOfA, idsOfB]) {
      expect(new Set(ids).size).toBe(4);
      // 0 and 1 are held for a client's own first (non-negotiated) channel, like the bootstrap one.
      for (const id of ids) expect(id).toBeGreaterThan(1);
    }
    const channels = {
      aOne: openNegotiated(a, aOne!), aTwo: openNegotiated(a, aTwo!), aFromB1: openNegotiated(a, aFromB1!), aFromB2: openNegotiated(a, aFromB2!),
      bOne: openNegotiated(b, bOne!), bTwo: openNegotiated(b, bTwo!), bFromA1: openNegotiated(b, bFromA1!), bFromA2: openNegotiated(b, bFromA2!),
    };
    const inboxes = Object.fromEntries(Object.entries(channels).map(([key, channel]) => [key, inbox(channel)]));
    await Promise.all(Object.values(channels).map((channel) => opened(channel)));
    channels.aOne.send('a1');
    channels.aTwo.send('a2');
    channels.bOne.send('b1');
    channels.bTwo.send('b2');
    await waitFor('each message on its own channel', () => ['aFromB1', 'aFromB2', 'bFromA1', 'bFromA2'].every((key) => inboxes[key]!.length === 1));
    await settle(200);
    expect(inboxes).toEqual({ aOne: [], aTwo: [], bOne: [], bTwo: [], aFromB1: ['b1'], aFromB2: ['b2'], bFromA1: ['a1'], bFromA2: ['a2'] });
  });

  it('ends the subscribers\' channels with DATA_CHANNEL_ENDED when the publisher closes its channel, and when it leaves', { timeout: 60_000 }, async () => {
    const { server, cleanups } = file;
    const trackEvents = collect(wsClient(server.url), TRACK_EVENTS, {}, (d) => d.trackEvents);
    cleanups.push(() => void trackEvents.close());
    await settle(200);
    const { publisher, published, subscribers } = await fanOut('closing', 2);
    const [second] = await publishData(publisher, [{ name: 'closing-too' }]);
    const [follower] = await subscribeData(subscribers[0]!.peer, [{ sessionId: publisher.sessionId, name: 'closing-too' }]);
    const followerChannel = openNegotiated(subscribers[0]!.peer, follower!);
    openNegotiated(publisher, second!);
    await opened(followerChannel);
    const events = subscribers.map((s) => collect(wsClient(server.url), SESSION_EVENTS, { id: s.peer.sessionId }, (d) => d.sessionEvents));
    for (const e of events) cleanups.push(() => void e.close());
    await settle(300);

    // 1. The publisher closes one channel.
    const closedResult = await gqlOk(server.url, CLOSE_DATA, { input: { sessionId: publisher.sessionId, ids: [published.id] } });
    expect(closedResult.closeDataChannels.dataChannels).toMatchObject([{ id: published.id, name: 'closing', error: null }]);
    await Promise.all(subscribers.map((s) => closed(s.channel)));
    await waitFor('DATA_CHANNEL_ENDED at both subscribers', () => events.every((e) => e.items.some((i) => i.type === 'DATA_CHANNEL_ENDED')));
    expect(events[0]!.items.filter((i) => i.type === 'DATA_CHANNEL_ENDED')).toEqual([{ type: 'DATA_CHANNEL_ENDED', dataChannelId: subscribers[0]!.result.id, dataChannelEndReason: 'SOURCE_ENDED' }]);
    expect(followerChannel.readyState).toBe('open');
    const state = await gqlOk(server.url, STATE, { id: subscribers[0]!.peer.sessionId });
    expect(state.session.dataChannels.map((c: { dataChannel: { name: string } }) => c.dataChannel.name)).toEqual(['closing-too']);

    // 2. The publisher leaves: its PeerConnection closes (DTLS close alert), its session ends.
    publisher.stop();
    await closed(followerChannel);
    await waitFor('the second DATA_CHANNEL_ENDED', () => events[0]!.items.filter((i) => i.type === 'DATA_CHANNEL_ENDED').length === 2);
    expect(events[0]!.items.filter((i) => i.type === 'DATA_CHANNEL_ENDED').at(-1)).toEqual({ type: 'DATA_CHANNEL_ENDED', dataChannelId: follower!.id, dataChannelEndReason: 'SOURCE_ENDED' });
    await waitFor('both UNPUBLISHED', () => trackEvents.items.filter((e) => e.type === 'UNPUBLISHED' && e.track.sessionId === publisher.sessionId).length === 2);
    // Presence from events alone: each channel PUBLISHED, then UNPUBLISHED. A channel published before its publisher's
    // SCTP association is up is PUBLISHED as WAITING and then turns ACTIVE (seen on a loaded machine), and the second
    // may turn INACTIVE before it is UNPUBLISHED, as its publisher's association closes: status changes are not presence.
    const mine = trackEvents.items.filter((e) => e.track.sessionId === publisher.sessionId);
    const presence = mine.filter((e) => e.type === 'PUBLISHED' || e.type === 'UNPUBLISHED').map((e) => `${e.type} ${e.track.name}`);
    expect(presence).toEqual(['PUBLISHED closing', 'PUBLISHED closing-too', 'UNPUBLISHED closing', 'UNPUBLISHED closing-too']);
    expect(mine.filter((e) => e.type === 'UNPUBLISHED').map((e) => e.track.status)).toEqual(['INACTIVE', 'INACTIVE']);
    // Both were ACTIVE before they went: the first by its PUBLISHED event or an ACTIVE change after it.
    for (const name of ['closing', 'closing-too']) expect(mine.some((e) => e.track.name === name && e.track.status === 'ACTIVE')).toBe(true);
    expect((await gqlOk(server.url, STATE, { id: subscribers[0]!.peer.sessionId })).session.dataChannels).toEqual([]);
  });

  it('lets a subscriber close its subscription while the others go on', { timeout: 60_000 }, async () => {
    const { server } = file;
    const { sending, subscribers } = await fanOut('leaving', 2);
    const result = await gqlOk(server.url, CLOSE_DATA, { input: { sessionId: subscribers[0]!.peer.sessionId, ids: [subscribers[0]!.result.id, 999] } });
    expect(result.closeDataChannels.dataChannels).toMatchObject([
      { id: subscribers[0]!.result.id, error: null },
      { id: 999, error: { code: 'TRACK_NOT_FOUND' } },
    ]);
    await closed(subscribers[0]!.channel);
    sending.send('to those who stayed');
    await waitFor('the message at the other subscriber', () => subscribers[1]!.messages.length === 1);
    expect(subscribers[0]!.messages).toEqual([]);
  });

  it('refuses what cannot work with its code, and leaves the session as it was', { timeout: 60_000 }, async () => {
    const { server, cleanups } = file;
    const peer = await connectedPeer(cleanups);
    // No data m-section: a session made without an offer.
    const bare = new TestPeer(server.url);
    cleanups.push(() => bare.stop());
    await bare.createSession({ dataChannel: false });
    const noSctp = await gql(server.url, PUBLISH_DATA, { input: { sessionId: bare.sessionId, dataChannels: [{ name: 'x' }] } });
    expect(errorCode(noSctp)).toBe('BAD_REQUEST');
    expect(noSctp.errors![0]!.message).toMatch(/no data m-section/);
    // Unknown session.
    expect(errorCode(await gql(server.url, PUBLISH_DATA, { input: { sessionId: 'nope', dataChannels: [{ name: 'x' }] } }))).toBe('SESSION_NOT_FOUND');
    // A media track and a data channel share the session's names.
    const camera = fakeCamera(160, 120, 5);
    cleanups.push(camera.stop);
    await peer.push([{ track: camera.track, name: 'camera' }]);
    const [clash, fine, twice] = await publishData(peer, [{ name: 'camera' }, { name: 'chat' }, { name: 'chat' }]);
    expect(clash!.error?.code).toBe('BAD_REQUEST');
    expect(fine!.error).toBeNull();
    expect(twice!.error?.code).toBe('BAD_REQUEST');
    // ... in both directions: a media track may not take a data channel's name either.
    const [mediaClash] = await peer.push([{ track: camera.track.clone(), name: 'chat' }]);
    expect(mediaClash!.error?.code).toBe('BAD_REQUEST');
    expect((await gqlOk(server.url, 'query($id: ID!) { track(sessionId: $id, name: "chat") { kind } }', { id: peer.sessionId })).track).toEqual({ kind: 'DATA' });
    // Pulling a data channel as media, subscribing to media as data, unknown names.
    const other = await connectedPeer(cleanups);
    const [asMedia] = await other.pull([{ sessionId: peer.sessionId, trackName: 'chat' }]);
    expect(asMedia!.error).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/data channel/) });
    const [asData, missing] = await subscribeData(other, [
      { sessionId: peer.sessionId, name: 'camera' },
      { sessionId: peer.sessionId, name: 'nothing' },
    ]);
    expect(asData!.error).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/media track/) });
    expect(missing!.error?.code).toBe('TRACK_NOT_FOUND');
    // The per-session limit: the whole call is refused, nothing is added.
    const many = Array.from({ length: MAX_CHANNELS }, (_, i) => ({ name: `c${i}` }));
    const over = await gql(server.url, PUBLISH_DATA, { input: { sessionId: peer.sessionId, dataChannels: many } });
    expect(errorCode(over)).toBe('LIMIT_EXCEEDED');
    expect(over.errors![0]!.message).toMatch(/MAX_DATA_CHANNELS_PER_SESSION/);
    const state = await gqlOk(server.url, STATE, { id: peer.sessionId });
    expect(state.session.dataChannels.map((c: { dataChannel: { name: string } }) => c.dataChannel.name)).toEqual(['chat']);
    const upTo = await publishData(peer, many.slice(1));
    expect(upTo.every((r) => r.error === null)).toBe(true);
    const atCap = await gql(server.url, SUBSCRIBE_DATA, { input: { sessionId: peer.sessionId, dataChannels: [{ sessionId: other.sessionId, name: 'x' }] } });
    expect(errorCode(atCap)).toBe('LIMIT_EXCEEDED');
  });

  it('leaves nothing behind in the workers: rounds of publishing, subscribing across workers and closing end where they started', { timeout: 90_000 }, async () => {
    const { server } = file;
    const round = async (i: number) => {
      const peers: TestPeer[] = [];
      for (let p = 0; p < 3; p += 1) {
        const peer = new TestPeer(server.url);
        peers.push(peer);
        await peer.createSession();
      }
      const published = await Promise.all(peers.map((peer) => publishData(peer, [{ name: `a${i}` }, { name: `b${i}`, maxRetransmits: 3 }])));
      for (const [p, peer] of peers.entries()) {
        const others = peers.filter((_, q) => q !== p);
        await subscribeData(peer, others.flatMap((other) => [{ sessionId: other.sessionId, name: `a${i}` }, { sessionId: other.sessionId, name: `b${i}` }]));
      }
      // Some closed by the API, the rest with their sessions. The first publisher's transport, as its worker sees it:
      // 2 published channels; 2 bootstrap ids + 2 reservations + 4 subscriptions held by data consumers.
      const transport = server.sessions.get(peers[0]!.sessionId)!.transport;
      const held = async () => {
        const dump = await transport.dump();
        return { dataProducers: dump.dataProducerIds.length, dataConsumers: dump.dataConsumerIds.length };
      };
      expect(await held()).toEqual({ dataProducers: 2, dataConsumers: 8 });
      await gqlOk(server.url, CLOSE_DATA, { input: { sessionId: peers[0]!.sessionId, ids: [published[0]![0]!.id] } });
      // Closing a published channel frees its producer and its reservation.
      expect(await held()).toEqual({ dataProducers: 1, dataConsumers: 7 });
      const subscribed = server.sessions.get(peers[1]!.sessionId)!.dataChannels.filter((c) => c.location === 'REMOTE').map((c) => c.id);
      await gqlOk(server.url, CLOSE_DATA, { input: { sessionId: peers[1]!.sessionId, ids: subscribed.slice(0, 2) } });
      for (const peer of peers) {
        await gqlOk(server.url, 'mutation($id: ID!) { closeSession(input: { sessionId: $id }) { sessionId } }', { id: peer.sessionId });
        peer.stop();
      }
    };
    // The first round makes what stays for good: a silent data producer per router (stream id reservations) and the pipes between workers.
    await round(0);
    const sessionsBefore = server.sessions.sessionCount;
    const before = await takeCensus(server.pool);
    for (let i = 1; i <= 3; i += 1) await round(i);
    await expect.poll(() => takeCensus(server.pool), { timeout: 5000 }).toEqual(before);
    expect(server.sessions.sessionCount).toBe(sessionsBefore);
    expect(server.sessions.data.registry.size).toBe(0);
  });
});
