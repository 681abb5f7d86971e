import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { publishData } from '../helpers/dataChannels.js';
import { gqlOk } from '../helpers/graphql.js';
import { fakeCamera, waitFor } from '../helpers/media.js';
import { TestPeer } from '../helpers/peer.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { startTestServer } from '../helpers/server.js';
import { collect, wsClient } from '../helpers/subscriptions.js';

/**
 * Track.id: one track has one id everywhere the API shows it (tracks,
 * trackSnapshot, track, Session.tracks / dataChannels, trackEvents), on the
 * node that holds it and through another node of a cluster, and a track
 * published again under its name keeps it. Normalized client caches key
 * tracks by it (apollo-cache.test.ts shows one doing so).
 */
const cleanups: (() => unknown)[] = [];

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

const EVENTS = 'subscription($tags: [String!]) { trackEvents(filter: { tags: $tags }) { type track { id sessionId name publishedAt } } }';
type Event = { type: string; track: { id: string; sessionId: string; name: string; publishedAt: string } };

/** Every place a read shows the publisher's tracks, in one request. */
const READS = `query($tags: [String!], $session: ID!, $subscriber: ID!) {
  tracks(filter: { tags: $tags }) { id sessionId name }
  trackSnapshot(filter: { tags: $tags }) { tracks { id sessionId name } }
  camera: track(sessionId: $session, name: "camera") { id }
  chat: track(sessionId: $session, name: "chat") { id }
  publisher: session(id: $session) { tracks { location track { id name } } dataChannels { location dataChannel { id name } } }
  subscriber: session(id: $subscriber) { tracks { location track { id name } } }
}`;

/** A publisher (camera and data channel "chat") on `publishOn`, a subscriber pulling the camera on `pullOn`. */
async function publishAndPull(publishOn: Switchyard, pullOn: Switchyard, tags: string[]) {
  const camera = fakeCamera(160, 120);
  const publisher = new TestPeer(publishOn.url);
  const subscriber = new TestPeer(pullOn.url);
  cleanups.push(camera.stop, () => publisher.stop(), () => subscriber.stop());
  await publisher.createSession();
  const [pushed] = await publisher.push([{ track: camera.track, name: 'camera', tags }]);
  expect(pushed?.error).toBeNull();
  const [chat] = await publishData(publisher, [{ name: 'chat', tags }]);
  expect(chat?.error).toBeNull();
  await subscriber.createSession();
  const [pulled] = await subscriber.pull([{ sessionId: publisher.sessionId, trackName: 'camera' }]);
  expect(pulled?.error).toBeNull();
  return { publisher, subscriber, camera };
}

/** Reads the ids from every place on `node` and checks they are the one expected id per track. */
async function expectOneIdPerTrack(node: Switchyard, tags: string[], publisherId: string, subscriberId: string) {
  const camera = `${publisherId}:camera`;
  const chat = `${publisherId}:chat`;
  const read = await gqlOk(node.url, READS, { tags, session: publisherId, subscriber: subscriberId });
  const byName = (list: { id: string; name: string }[]) => Object.fromEntries(list.map((t) => [t.name, t.id]));
  expect(byName(read.tracks)).toEqual({ camera, chat });
  expect(byName(read.trackSnapshot.tracks)).toEqual({ camera, chat });
  expect([read.camera.id, read.chat.id]).toEqual([camera, chat]);
  expect(read.publisher.tracks).toEqual([{ location: 'LOCAL', track: { id: camera, name: 'camera' } }]);
  expect(read.publisher.dataChannels).toEqual([{ location: 'LOCAL', dataChannel: { id: chat, name: 'chat' } }]);
  expect(read.subscriber.tracks).toEqual([{ location: 'REMOTE', track: { id: camera, name: 'camera' } }]);
}

describe('Track.id on one node', () => {
  let node: Switchyard;
  beforeAll(async () => {
    node = await startTestServer({ WORKERS: '1' });
    cleanups.push(() => node.stop());
  });

  it('is the same in tracks, trackSnapshot, track, Session.tracks, Session.dataChannels and trackEvents', { timeout: 30_000 }, async () => {
    const tags = ['room:ids-1'];
    const ws = wsClient(node.url);
    cleanups.push(() => ws.dispose());
    const events = collect<Event>(ws, EVENTS, { tags }, (d) => d.trackEvents);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const { publisher, subscriber } = await publishAndPull(node, node, tags);

    await expectOneIdPerTrack(node, tags, publisher.sessionId, subscriber.sessionId);
    await waitFor('PUBLISHED of the camera and the channel', () => events.items.filter((e) => e.type === 'PUBLISHED').length === 2, 10_000);
    for (const event of events.items) expect(event.track.id).toBe(`${publisher.sessionId}:${event.track.name}`);
  });

  it('is kept by a track published again under the same name in the same session (a new publishedAt tells them apart)', { timeout: 30_000 }, async () => {
    const tags = ['room:ids-2'];
    const ws = wsClient(node.url);
    cleanups.push(() => ws.dispose());
    const events = collect<Event>(ws, EVENTS, { tags }, (d) => d.trackEvents);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const publisher = new TestPeer(node.url);
    const first = fakeCamera(160, 120);
    cleanups.push(first.stop, () => publisher.stop());
    await publisher.createSession();
    const [pushed] = await publisher.push([{ track: first.track, name: 'camera', tags }]);
    await publisher.close([pushed!.mid!]);
    const again = fakeCamera(160, 120);
    cleanups.push(again.stop);
    await publisher.push([{ track: again.track, name: 'camera', tags }]);

    const publications = () => events.items.filter((e) => e.type === 'PUBLISHED' || e.type === 'UNPUBLISHED');
    await waitFor('PUBLISHED, UNPUBLISHED, PUBLISHED', () => publications().length >= 3, 10_000);
    const lifecycle = publications();
    expect(lifecycle.map((e) => e.type)).toEqual(['PUBLISHED', 'UNPUBLISHED', 'PUBLISHED']);
    expect(new Set(lifecycle.map((e) => e.track.id))).toEqual(new Set([`${publisher.sessionId}:camera`]));
    expect(lifecycle[2]!.track.publishedAt > lifecycle[0]!.track.publishedAt).toBe(true);
    const { track } = await gqlOk(node.url, 'query($s: ID!) { track(sessionId: $s, name: "camera") { id publishedAt } }', { s: publisher.sessionId });
    expect(track).toEqual({ id: `${publisher.sessionId}:camera`, publishedAt: lifecycle[2]!.track.publishedAt });
  });
});

describe('Track.id in a cluster: two nodes on one Redis', () => {
  let redis: TestRedis;
  let a: Switchyard;
  let b: Switchyard;
  beforeAll(async () => {
    redis = await startRedis();
    cleanups.push(() => redis.close());
    a = await startTestServer({ WORKERS: '1', REDIS_URL: redis.url });
    cleanups.push(() => a.stop());
    b = await startTestServer({ WORKERS: '1', REDIS_URL: redis.url });
    cleanups.push(() => b.stop());
  });

  it('a track published on one node has the same id in every read and event of the other', { timeout: 40_000 }, async () => {
    const tags = ['room:ids-cluster'];
    const onB = collect<Event>(wsClient(b.url), EVENTS, { tags }, (d) => d.trackEvents);
    const onA = collect<Event>(wsClient(a.url), EVENTS, { tags }, (d) => d.trackEvents);
    cleanups.push(() => onA.close(), () => onB.close());
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Published on A, pulled by a session on B: B's reads of the publisher go through A, A's of the subscriber through B.
    const { publisher, subscriber } = await publishAndPull(a, b, tags);

    for (const node of [a, b]) await expectOneIdPerTrack(node, tags, publisher.sessionId, subscriber.sessionId);
    await waitFor('PUBLISHED of both on both nodes', () => [onA, onB].every((s) => s.items.filter((e) => e.type === 'PUBLISHED').length === 2), 15_000);
    for (const event of [...onA.items, ...onB.items]) expect(event.track.id).toBe(`${publisher.sessionId}:${event.track.name}`);
  });
});
