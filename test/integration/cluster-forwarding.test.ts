import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { mintClientToken } from '../../src/auth/tokens.js';
import { errorCode, gql, gqlOk } from '../helpers/graphql.js';
import { publishCamera } from '../helpers/call.js';
import { sample, scrape } from '../helpers/metrics.js';
import { fakeCamera, waitFor, watchVideo } from '../helpers/media.js';
import { SIMULCAST_LAYERS, TestPeer } from '../helpers/peer.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { startTestServer } from '../helpers/server.js';
import { collect, wsClient } from '../helpers/subscriptions.js';
import { closed, inbox, openNegotiated, opened, publishData, subscribeData } from '../helpers/dataChannels.js';

/**
 * Any node answers any call: three nodes on one real redis-server. A
 * session lives on the node that created it; calls about it made to another
 * node are forwarded there and answered exactly as there (results, errors,
 * codes), and the mutation budget and the per-subject cap hold across nodes.
 */
let redis: TestRedis;
const nodes: Switchyard[] = [];
const cleanups: (() => void)[] = [];
const [A, B, C] = [0, 1, 2];

const SECRET = 'cluster-test-app-secret-0123456789abcdef';
const OTHER_SECRET = 'another-app-secret-0123456789abcdefghij';
const APPS = `acme:${SECRET},other:${OTHER_SECRET}`;

beforeAll(async () => {
  redis = await startRedis();
  for (let i = 0; i < 3; i += 1) {
    nodes.push(await startTestServer({ WORKERS: '1', REDIS_URL: redis.url, APPS, CLUSTER_SECRET: 'cluster-forwarding-test-secret-0123456789', MAX_SESSIONS_PER_SUBJECT: '2', LAYER_OFF_DELAY_MS: '500' }));
  }
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) cleanup();
  for (const node of nodes) await node.stop();
  await redis?.close();
});

const url = (i: number) => nodes[i]!.url;
const SESSION = 'query($id: ID!) { session(id: $id) { id connectionState tracks { mid location status track { name } } } }';
const PULL_SIMULCAST = 'mutation($input: PullTracksInput!) { pullTracks(input: $input) { sessionDescription { sdp } tracks { mid error { code } } } }';
const FORCE_CLOSE = `mutation($id: ID!) { closeTracks(input: { sessionId: $id, mids: ["9"], force: true }) { tracks { error { code } } } }`;

function peerOn(i: number): TestPeer {
  const peer = new TestPeer(url(i), SECRET);
  cleanups.push(() => peer.stop());
  return peer;
}

describe('three nodes, one Redis', () => {
  it('serve every call about a session from any node: push through B, pull through C, answer through B, on sessions of A', { timeout: 60_000 }, async () => {
    const camera = fakeCamera(160, 120, 15);
    cleanups.push(camera.stop);
    const publisher = peerOn(A);
    await publisher.createSession();
    expect(nodes[A]!.sessions.get(publisher.sessionId)).toBeDefined();
    publisher.url = url(B);
    const [pushed] = await publisher.push([{ track: camera.track, name: 'camera' }]);
    expect(pushed?.error).toBeNull();

    const subscriber = peerOn(A);
    await subscriber.createSession();
    subscriber.url = url(C);
    const data = await gqlOk(
      url(C),
      'mutation($input: PullTracksInput!) { pullTracks(input: $input) { requiresImmediateRenegotiation sessionDescription { type sdp } tracks { mid error { code } } session { id tracks { mid location } } } }',
      { input: { sessionId: subscriber.sessionId, tracks: [{ sessionId: publisher.sessionId, trackName: 'camera' }] } },
      SECRET,
    );
    expect(data.pullTracks).toMatchObject({ requiresImmediateRenegotiation: true, sessionDescription: { type: 'OFFER' }, session: { id: subscriber.sessionId } });
    const mid = data.pullTracks.tracks[0].mid as string;
    subscriber.url = url(B);
    await subscriber.applyOffer(data.pullTracks.sessionDescription.sdp);
    await waitFor('the pulled track', () => subscriber.received.has(mid));
    const video = watchVideo(subscriber.received.get(mid)!);
    cleanups.push(video.stop);
    await waitFor('decoded frames', () => video.stats.frames > 5, 15_000);

    // Every node describes the session the same way, as its owner does.
    const views = await Promise.all([A, B, C].map((i) => gqlOk(url(i), SESSION, { id: subscriber.sessionId }, SECRET)));
    expect(views[B]).toEqual(views[A]);
    expect(views[C]).toEqual(views[A]);
    expect(views[A]!.session.tracks).toEqual([{ mid, location: 'REMOTE', status: expect.any(String), track: { name: 'camera' } }]);
  });

  it('answer with the owner\'s errors and codes, and SESSION_NOT_FOUND for sessions nobody holds', { timeout: 30_000 }, async () => {
    const peer = peerOn(A);
    await peer.createSession();
    const bad = { input: { sessionId: peer.sessionId, sessionDescription: { type: 'OFFER', sdp: 'v=0\r\nnot sdp' }, tracks: [{ trackName: 'x' }] } };
    const PUSH = 'mutation($input: PushTracksInput!) { pushTracks(input: $input) { tracks { error { code } } } }';
    const onOwner = await gql(url(A), PUSH, bad, SECRET);
    const viaC = await gql(url(C), PUSH, bad, SECRET);
    expect(errorCode(onOwner)).toBe('INVALID_SDP');
    expect(errorCode(viaC)).toBe('INVALID_SDP');
    expect(viaC.errors![0]!.message).toBe(onOwner.errors![0]!.message);
    const unknown = await gql(url(B), SESSION.replace('session(id: $id) {', 'session(id: $id) {'), { id: '00000000-0000-4000-8000-000000000000' }, SECRET);
    expect(unknown.data?.session).toBeNull();
    const closeUnknown = await gql(url(B), FORCE_CLOSE, { id: '00000000-0000-4000-8000-000000000000' }, SECRET);
    expect(errorCode(closeUnknown)).toBe('SESSION_NOT_FOUND');
  });

  it('count one session\'s mutations across nodes: 60 spread over A, B and C, exactly 50 pass', { timeout: 30_000 }, async () => {
    const peer = peerOn(A);
    await peer.createSession();
    await new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000)));
    const burst = await Promise.all(Array.from({ length: 60 }, (_, i) => gql(url(i % 3), FORCE_CLOSE, { id: peer.sessionId }, SECRET)));
    const codes = burst.map((r) => errorCode(r) ?? 'ok');
    expect(codes.filter((c) => c === 'ok')).toHaveLength(50);
    expect(codes.filter((c) => c === 'RATE_LIMITED')).toHaveLength(10);
  });

  it('cap a client-token subject\'s sessions across nodes', { timeout: 30_000 }, async () => {
    const token = await mintClientToken({ appId: 'acme', secret: SECRET, subject: 'zoe', grant: { createSession: true } });
    const create = (i: number) => gql(url(i), 'mutation { createSession { session { id } } }', {}, token);
    const first = await create(A);
    expect(errorCode(first)).toBeUndefined();
    expect(errorCode(await create(B))).toBeUndefined();
    const onC = nodes[C]!.sessions.sessionCount;
    const third = await create(C);
    expect(errorCode(third)).toBe('LIMIT_EXCEEDED');
    expect(third.errors![0]!.message).toMatch(/already holds 2 sessions in the cluster/);
    // The refused session is not left behind on C.
    expect(nodes[C]!.sessions.sessionCount).toBe(onC);
    // Closing one, through another node than its own, makes room.
    await gqlOk(url(C), 'mutation($id: ID!) { closeSession(input: { sessionId: $id }) { sessionId } }', { id: first.data!.createSession.session.id }, token);
    await expect.poll(async () => errorCode(await create(C)), { timeout: 5000 }).toBeUndefined();
  });
});

describe('access across nodes', () => {
  it('another app sees nothing of a session or its tracks on any node, exactly as on the owner', { timeout: 30_000 }, async () => {
    const published = await publishCamera(url(A), SECRET, 'secret-cam', []);
    cleanups.push(published.stop);
    const publisher = published.peer;
    for (const i of [A, B, C]) {
      expect((await gqlOk(url(i), SESSION, { id: publisher.sessionId }, OTHER_SECRET)).session).toBeNull();
      const listed = await gqlOk(url(i), 'query($ids: [ID!]) { tracks(filter: { sessionIds: $ids }) { name } }', { ids: [publisher.sessionId] }, OTHER_SECRET);
      expect(listed.tracks).toEqual([]);
      expect(errorCode(await gql(url(i), FORCE_CLOSE, { id: publisher.sessionId }, OTHER_SECRET))).toBe('SESSION_NOT_FOUND');
    }
    // And pulling it from a session of the other app, on another node, is TRACK_NOT_FOUND as for a track that does not exist.
    const stranger = new TestPeer(url(B), OTHER_SECRET);
    cleanups.push(() => stranger.stop());
    await stranger.createSession();
    const [refused] = await stranger.pull([{ sessionId: publisher.sessionId, trackName: 'secret-cam' }]);
    const [missing] = await stranger.pull([{ sessionId: publisher.sessionId, trackName: 'no-such-track' }]);
    expect(refused?.error?.code).toBe('TRACK_NOT_FOUND');
    expect(refused?.error?.message.replace('secret-cam', 'X')).toBe(missing?.error?.message.replace('no-such-track', 'X'));
  });
});

describe('session events from any node', () => {
  it('delivers a session\'s events to a subscriber on another node, resolved by the owner', { timeout: 30_000 }, async () => {
    const peer = peerOn(A);
    await peer.createSession();
    const events = collect(wsClient(url(B), SECRET), 'subscription($id: ID!) { sessionEvents(sessionId: $id) { type session { id connectionState } } }', { id: peer.sessionId }, (d) => d.sessionEvents);
    cleanups.push(() => void events.close());
    // Its stats too: read on A, through B, once and as a stream.
    const stats = collect(wsClient(url(B), SECRET), 'subscription($id: ID!) { sessionStats(sessionId: $id) { quality tracks { mid } } }', { id: peer.sessionId }, (d) => d.sessionStats);
    cleanups.push(() => void stats.close());
    await waitFor('stats through B', () => stats.items.length >= 2, 5000);
    expect(stats.items[0]).toEqual({ quality: 'UNKNOWN', tracks: [] });
    const read = await gqlOk(url(C), 'query($id: ID!) { session(id: $id) { quality stats { bitrateIn tracks { mid } } } }', { id: peer.sessionId }, SECRET);
    expect(read.session).toEqual({ quality: 'UNKNOWN', stats: { bitrateIn: 0, tracks: [] } });
    await gqlOk(url(C), 'mutation($id: ID!) { closeSession(input: { sessionId: $id }) { sessionId } }', { id: peer.sessionId }, SECRET);
    await waitFor('CLOSED through B', () => events.items.some((e: { type: string }) => e.type === 'CLOSED'), 5000);
    expect(events.items.at(-1)).toEqual({ type: 'CLOSED', session: { id: peer.sessionId, connectionState: 'CLOSED' } });
    expect(events.errors).toEqual([]);
    await waitFor('the stats stream ends with the session', () => stats.done, 5000);
    expect(stats.errors).toEqual([]);
    // A session nobody holds answers as on one node.
    const unknown = collect(wsClient(url(B), SECRET), 'subscription($id: ID!) { sessionEvents(sessionId: $id) { type } }', { id: peer.sessionId }, (d) => d);
    cleanups.push(() => void unknown.close());
    await waitFor('the refusal', () => unknown.errors.length > 0, 5000);
    expect(JSON.stringify(unknown.errors)).toContain('SESSION_NOT_FOUND');
  });
});

describe('forwarded subscriptions and the per-subject caps', () => {
  it('count where the client is connected: 17 sessionEvents of one subject through B reach a session on A over 17 connections, none refused there', { timeout: 30_000 }, async () => {
    const token = await mintClientToken({ appId: 'acme', secret: SECRET, subject: 'kim', grant: { createSession: true } });
    const created = await gqlOk(url(A), 'mutation { createSession { session { id } } }', {}, token);
    const id = created.createSession.session.id as string;
    // One connection to B; B forwards each subscription to A over a connection of its own, with kim's token.
    // MAX_CONNECTIONS_PER_SUBJECT (16 by default) must not count those on A: kim's connections are counted on B.
    const client = wsClient(url(B), token);
    cleanups.push(() => void client.dispose());
    const subscriptions = Array.from({ length: 17 }, () => collect(client, 'subscription($id: ID!) { sessionEvents(sessionId: $id) { type } }', { id }, (d) => d.sessionEvents.type as string));
    cleanups.push(() => subscriptions.forEach((s) => void s.close()));
    const refused = () => subscriptions.flatMap((s) => s.errors);
    await waitFor('17 forwarded subscriptions held on A', () => nodes[A]!.sessions.sessionEvents.subscriberCount >= 17 || refused().length > 0, 10_000);
    expect(refused()).toEqual([]);
    await gqlOk(url(B), 'mutation($id: ID!) { closeSession(input: { sessionId: $id }) { sessionId } }', { id }, token);
    await waitFor('CLOSED on every subscription', () => subscriptions.every((s) => s.items.includes('CLOSED') || s.errors.length > 0), 10_000);
    expect(refused()).toEqual([]);
  });
});

describe('media between nodes', () => {
  it('pipes a track published on A to subscribers on B, once for both, and ends their transceivers when it is unpublished', { timeout: 60_000 }, async () => {
    const published = await publishCamera(url(A), SECRET, 'camera', []);
    cleanups.push(published.stop);
    expect(published.pushed?.error).toBeNull();
    const publisher = published.peer;

    const subscribers = [peerOn(B), peerOn(B)];
    const videos: { video: ReturnType<typeof watchVideo>; mid: string; subscriber: TestPeer }[] = [];
    for (const [i, subscriber] of subscribers.entries()) {
      await subscriber.createSession();
      // The first pulls through its own node, the second through C.
      if (i === 1) subscriber.url = url(C);
      const started = Date.now();
      const [pulled] = await subscriber.pull([{ sessionId: publisher.sessionId, trackName: 'camera' }]);
      expect(pulled?.error).toBeNull();
      const mid = pulled!.mid!;
      await waitFor('the piped track', () => subscriber.received.has(mid));
      const video = watchVideo(subscriber.received.get(mid)!);
      cleanups.push(video.stop);
      await waitFor(`subscriber ${i} decodes the piped track`, () => video.stats.frames > 5, 15_000);
      console.log(`cluster: pull on B of a track of A -> ${video.stats.frames} frames decoded ${Date.now() - started} ms after the pull`);
      videos.push({ video, mid, subscriber });
    }
    expect(nodes[B]!.pipes!.remote.size).toBe(1);
    expect(nodes[A]!.pipes!.server.size).toBe(1);
    // /metrics of both nodes show the pipe, each from its side, and the other members alive.
    const [metricsA, metricsB] = [await scrape(`${nodes[A]!.url}/metrics`), await scrape(`${nodes[B]!.url}/metrics`)];
    expect(sample(metricsA, 'switchyard_pipes', { scope: 'node_out' })).toBe(1);
    expect(sample(metricsB, 'switchyard_pipes', { scope: 'node_in' })).toBe(1);
    expect(sample(metricsB, 'switchyard_consumers', { kind: 'video' })).toBe(2);
    for (const scraped of [metricsA, metricsB]) {
      expect(sample(scraped, 'switchyard_cluster_redis_up')).toBe(1);
      expect(sample(scraped, 'switchyard_cluster_peers', { state: 'alive' })).toBe(nodes.length - 1);
    }

    // A key-frame request of a subscriber on B reaches the publisher on A through the pipe.
    const producer = nodes[A]!.sessions.tracks.get(publisher.sessionId, 'camera')!.producer;
    const requests = async () => (await producer.getStats()).reduce((sum, s) => sum + (s.pliCount ?? 0) + (s.firCount ?? 0), 0);
    const before = await requests();
    const consumer = nodes[B]!.sessions.get(videos[0]!.subscriber.sessionId)!.transceivers.find((t) => t.section.mid === videos[0]!.mid)!.pulled!.consumer;
    await new Promise((resolve) => setTimeout(resolve, 1100)); // past the key-frame window of the pulls' own requests
    await consumer.requestKeyFrame();
    await expect.poll(requests, { timeout: 3000 }).toBeGreaterThan(before);

    // The publisher leaves: both subscribers on B hear TRACK_ENDED for their transceivers, and the pipes close.
    const ended = Date.now();
    await gqlOk(url(A), 'mutation($id: ID!) { closeSession(input: { sessionId: $id }) { sessionId } }', { id: publisher.sessionId }, SECRET);
    for (const { subscriber, mid } of videos) {
      await expect
        .poll(async () => (await gqlOk(url(B), SESSION, { id: subscriber.sessionId }, SECRET)).session.tracks.find((t: { mid: string }) => t.mid === mid)?.status, { timeout: 5000, interval: 50 })
        .toBe('INACTIVE');
    }
    console.log(`cluster: publisher on A closed -> its piped transceivers on B inactive after ${Date.now() - ended} ms`);
    await expect.poll(() => nodes[B]!.pipes!.remote.size, { timeout: 5000 }).toBe(0);
    await expect.poll(() => nodes[A]!.pipes!.server.size, { timeout: 5000 }).toBe(0);
  });

  it('tells a publisher on A which layers its subscribers on B watch, through the pipe\'s owner', { timeout: 60_000 }, async () => {
    const camera = fakeCamera(320, 180, 15);
    cleanups.push(camera.stop);
    const publisher = peerOn(A);
    await publisher.createSession();
    const events = collect(wsClient(url(A), SECRET), 'subscription($id: ID!) { sessionEvents(sessionId: $id) { type layersInDemand } }', { id: publisher.sessionId }, (d) => d.sessionEvents);
    cleanups.push(() => void events.close());
    const [pushed] = await publisher.push([{ track: camera.track, name: 'sim', sendEncodings: SIMULCAST_LAYERS }]);
    expect(pushed?.error).toBeNull();
    const demand = () => events.items.filter((e: { type: string }) => e.type === 'LAYERS_IN_DEMAND').map((e: { layersInDemand: string[] }) => e.layersInDemand.join(','));

    const subscriber = peerOn(B);
    await subscriber.createSession();
    const data = await gqlOk(url(B), PULL_SIMULCAST, { input: { sessionId: subscriber.sessionId, tracks: [{ sessionId: publisher.sessionId, trackName: 'sim', simulcast: { preferredRid: 'q' } }] } }, SECRET);
    const mid = data.pullTracks.tracks[0].mid;
    await subscriber.applyOffer(data.pullTracks.sessionDescription.sdp);
    // Only q is watched (on B): after the delays on B and on A, the publisher hears so.
    await expect.poll(() => demand().at(-1), { timeout: 10_000 }).toBe('q');
    const asked = Date.now();
    await gqlOk(url(B), 'mutation($input: UpdateTracksInput!) { updateTracks(input: $input) { tracks { error { code } } } }', {
      input: { sessionId: subscriber.sessionId, tracks: [{ mid, sessionId: publisher.sessionId, trackName: 'sim', simulcast: { preferredRid: 'f' } }] },
    }, SECRET);
    await expect.poll(() => demand().at(-1), { timeout: 3000, interval: 20 }).toBe('q,h,f');
    console.log(`cluster: a subscriber on B asks for f -> the publisher on A hears it after ${Date.now() - asked} ms`);
  });
});

describe('data channels between nodes', () => {
  it('pipes a data channel published on A to subscribers on B, in order and complete, and ends their channels when its session closes', { timeout: 60_000 }, async () => {
    // Earlier tests of this file may still hold pipes of their own.
    const pipesBefore = { remote: nodes[B]!.pipes!.remote.size, server: nodes[A]!.pipes!.server.size };
    const publisher = peerOn(A);
    await publisher.createSession();
    // Published through C: forwarded to A like every session mutation.
    publisher.url = url(C);
    const [published] = await publishData(publisher, [{ name: 'chat', tags: ['room:nodes'] }], SECRET);
    expect(published!.error).toBeNull();
    const sending = openNegotiated(publisher, published!);

    const subscribers: { peer: TestPeer; channel: RTCDataChannel; messages: (string | Uint8Array)[]; id: number }[] = [];
    for (let i = 0; i < 2; i += 1) {
      const peer = peerOn(B);
      await peer.createSession();
      if (i === 1) peer.url = url(C);
      const [result] = await subscribeData(peer, [{ sessionId: publisher.sessionId, name: 'chat' }], SECRET);
      expect(result!.error).toBeNull();
      const channel = openNegotiated(peer, result!);
      const messages = inbox(channel);
      await opened(channel);
      subscribers.push({ peer, channel, messages, id: result!.id! });
    }
    await opened(sending);
    // One pipe from A to B for both subscribers.
    expect(nodes[B]!.pipes!.remote.size).toBe(pipesBefore.remote + 1);
    expect(nodes[A]!.pipes!.server.size).toBe(pipesBefore.server + 1);

    const COUNT = 300;
    const started = Date.now();
    for (let i = 0; i < COUNT; i += 1) {
      if (i % 3 === 0) sending.send(new Uint8Array([i & 0xff, i >> 8]));
      else sending.send(`m${i}`);
    }
    await waitFor('every message on B', () => subscribers.every((s) => s.messages.length >= COUNT), 20_000);
    console.log(`cluster: ${COUNT} data channel messages from A reached both subscribers on B in ${Date.now() - started} ms`);
    for (const { messages } of subscribers) {
      expect(messages.map((m) => (typeof m === 'string' ? m : `bin ${m[0]! + m[1]! * 256}`))).toEqual(
        Array.from({ length: COUNT }, (_, i) => (i % 3 === 0 ? `bin ${i}` : `m${i}`)),
      );
    }
    const state = await gqlOk(url(C), 'query($id: ID!) { session(id: $id) { dataChannels { id location status dataChannel { sessionId name kind } } } }', { id: subscribers[1]!.peer.sessionId }, SECRET);
    expect(state.session.dataChannels).toEqual([{ id: subscribers[1]!.id, location: 'REMOTE', status: 'ACTIVE', dataChannel: { sessionId: publisher.sessionId, name: 'chat', kind: 'DATA' } }]);

    // The publisher's session closes on A: the subscribers on B get DATA_CHANNEL_ENDED and their channels close; the pipes go.
    const events = subscribers.map((s) => collect(wsClient(url(B), SECRET), 'subscription($id: ID!) { sessionEvents(sessionId: $id) { type dataChannelId } }', { id: s.peer.sessionId }, (d) => d.sessionEvents));
    for (const e of events) cleanups.push(() => void e.close());
    await new Promise((resolve) => setTimeout(resolve, 300));
    const ended = Date.now();
    await gqlOk(url(A), 'mutation($id: ID!) { closeSession(input: { sessionId: $id }) { sessionId } }', { id: publisher.sessionId }, SECRET);
    await Promise.all(subscribers.map((s) => closed(s.channel)));
    for (const [i, e] of events.entries()) await e.waitFor(1).then((items) => expect(items[0]).toEqual({ type: 'DATA_CHANNEL_ENDED', dataChannelId: subscribers[i]!.id }));
    console.log(`cluster: publisher on A closed -> data channels on B closed after ${Date.now() - ended} ms`);
    await expect.poll(() => nodes[B]!.pipes!.remote.size, { timeout: 5000 }).toBe(pipesBefore.remote);
    await expect.poll(() => nodes[A]!.pipes!.server.size, { timeout: 5000 }).toBe(pipesBefore.server);
  });
});
