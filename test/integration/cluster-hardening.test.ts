import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { callNode, INTERNAL_HEADER, NODE_DID_NOT_ANSWER } from '../../src/cluster/internalCalls.js';
import { REDIS_UNAVAILABLE } from '../../src/cluster/redis.js';
import type { SwitchyardError } from '../../src/errors.js';
import { publishCamera } from '../helpers/call.js';
import { errorCode, gql } from '../helpers/graphql.js';
import { fakeMicrophone, pullVideo, waitFor } from '../helpers/media.js';
import { TestPeer } from '../helpers/peer.js';
import { freeTcpPort, startRedis, type TestRedis } from '../helpers/redis.js';
import { startTestServer } from '../helpers/server.js';
import { collect, wsClient } from '../helpers/subscriptions.js';

/**
 * What crosses the boundary of a cluster: two nodes on one real
 * redis-server, B advertising an API URL where nothing listens (a node alive
 * in the registry whose API does not answer). Clients never read a node's
 * internal address or a library's raw error in an error message, and the
 * internal pipe endpoint sends media only to the pipe addresses of live
 * members, whoever holds the cluster secret.
 */
let redis: TestRedis;
let a: Switchyard;
let b: Switchyard;
const cleanups: (() => void)[] = [];

beforeAll(async () => {
  redis = await startRedis();
  a = await startTestServer({ WORKERS: '1', REDIS_URL: redis.url });
  b = await startTestServer({ WORKERS: '1', REDIS_URL: redis.url, CLUSTER_ADVERTISE_URL: `http://127.0.0.1:${await freeTcpPort()}` });
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) cleanup();
  await a?.stop();
  await b?.stop();
  await redis?.close();
});

/** Fails when a client-facing message carries a URL, an IP address or port, or a library's words for a failed connection. */
function expectNoInternals(message: string | undefined): void {
  expect(message).toBeTypeOf('string');
  expect(message).not.toMatch(/https?:\/\//);
  expect(message).not.toMatch(/\b\d{1,3}(\.\d{1,3}){3}\b/);
  expect(message).not.toMatch(/:\d{2,5}\b/);
  expect(message).not.toMatch(/fetch failed|ECONNREFUSED|socket|Channel request|transport closed|Stream isn't writeable|Connection is closed|max retries/i);
}

/** A call between nodes, made as a node makes it: with the cluster secret. */
async function internal(node: Switchyard, path: string, body: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${node.url}/internal/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', [INTERNAL_HEADER]: node.config.clusterSecret },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

const SESSION = 'query($id: ID!) { session(id: $id) { id } }';
const srtp = (cryptoSuite = 'AEAD_AES_256_GCM') => ({ cryptoSuite, keyBase64: randomBytes(44).toString('base64') });

describe('a node that does not answer', () => {
  it('forwarded calls, subscriptions and HTTP adapters say so without its address', { timeout: 30_000 }, async () => {
    const peer = new TestPeer(b.url);
    cleanups.push(() => peer.stop());
    const id = await peer.createSession();

    const query = await gql(a.url, SESSION, { id });
    expect(errorCode(query)).toBe('UNAVAILABLE');
    expect(query.errors![0]!.message).toBe(`the node that holds session ${id} did not answer; retry shortly`);
    expectNoInternals(query.errors![0]!.message);

    const closing = await gql(a.url, 'mutation($id: ID!) { closeSession(input: { sessionId: $id }) { sessionId } }', { id });
    expect(errorCode(closing)).toBe('UNAVAILABLE');
    expectNoInternals(closing.errors![0]!.message);

    // The Cloudflare-compatible API goes through the same GraphQL call.
    const cf = await fetch(`${a.url}/v1/apps/dev/sessions/${id}`);
    const cfBody = (await cf.json()) as { errorCode: string; errorDescription: string };
    expect(cf.status).toBe(503);
    expectNoInternals(cfBody.errorDescription);

    const events = collect(wsClient(a.url), 'subscription($id: ID!) { sessionEvents(sessionId: $id) { type } }', { id }, (d) => d);
    cleanups.push(() => void events.close());
    await waitFor('the forwarded subscription fails', () => events.errors.length > 0);
    // graphql-ws hands an error message's errors over as one array.
    const [failure] = events.errors.flat() as { message: string; extensions?: { code?: string } }[];
    expect(failure?.extensions?.code).toBe('UNAVAILABLE');
    expect(failure?.message).toBe('the node that holds this session stopped answering; subscribe again');
    expectNoInternals(failure?.message);
  });

  it('a pull of its track fails with a stable reason that names no node', { timeout: 30_000 }, async () => {
    const published = await publishCamera(b.url, undefined, 'camera', []);
    cleanups.push(published.stop);
    expect(published.pushed?.error).toBeNull();
    const subscriber = new TestPeer(a.url);
    cleanups.push(() => subscriber.stop());
    await subscriber.createSession();
    const [pulled] = await subscriber.pull([{ sessionId: published.peer.sessionId, trackName: 'camera' }]);
    expect(pulled?.error?.code).toBe('UNAVAILABLE');
    expect(pulled?.error?.message).toBe(NODE_DID_NOT_ANSWER);
    expectNoInternals(pulled?.error?.message);
  });
});

describe('/internal/pipe', () => {
  it('pipes a track to a member that asks from its own address, and to no other address', { timeout: 60_000 }, async () => {
    const published = await publishCamera(a.url, undefined, 'camera', []);
    cleanups.push(published.stop);
    const source = { sessionId: published.peer.sessionId, trackName: 'camera' };
    // B reaches A's API: its pull opens a pipe as always, from the address B announced.
    const subscriber = new TestPeer(b.url);
    cleanups.push(() => subscriber.stop());
    await subscriber.createSession();
    await pullVideo(subscriber, source, cleanups, 5);
    const pipes = a.pipes!.server.size;
    expect(pipes).toBe(1);

    const fromB = b.shared.cluster!.nodeId;
    // The cluster secret and a live member's id, but an address no member announced (TEST-NET-1).
    const elsewhere = await internal(a, 'pipe', { ...source, fromNode: fromB, ip: '192.0.2.10', port: 40_000, srtpParameters: srtp() });
    expect(elsewhere.body.error?.code).toBe('FORBIDDEN');
    expectNoInternals(elsewhere.body.error?.message);
    // A member's address, but named by a node that is no member.
    const stranger = await internal(a, 'pipe', { ...source, fromNode: randomUUID(), ip: '127.0.0.1', port: 40_000, srtpParameters: srtp() });
    expect(stranger.body.error?.code).toBe('FORBIDDEN');
    // Data pipes alike, before anything about the channel is looked up.
    const data = await internal(a, 'pipeData', { sessionId: source.sessionId, trackName: 'no-such-channel', fromNode: fromB, ip: '192.0.2.10', port: 40_000 });
    expect(data.body.error?.code).toBe('FORBIDDEN');
    expect(a.pipes!.server.size).toBe(pipes);
  });

  it('answers a raw mediasoup failure as INTERNAL without its words, and the asking node passes on no words of the other\'s', { timeout: 30_000 }, async () => {
    const published = await publishCamera(a.url, undefined, 'camera2', []);
    cleanups.push(published.stop);
    const request = { sessionId: published.peer.sessionId, trackName: 'camera2', fromNode: b.shared.cluster!.nodeId, ip: '127.0.0.1', port: 40_000 };
    const failed = await internal(a, 'pipe', { ...request, srtpParameters: srtp('NOT_A_CRYPTO_SUITE') });
    expect(failed.status).toBe(500);
    expect(failed.body.error).toEqual({ code: 'INTERNAL', message: 'internal error' });
    // The asking node's side (B's pull would hear this as its track's error): a failure or a refusal about the nodes, in words of its own.
    const asked = (body: unknown) => callNode(b.shared.cluster!, a.url, 'pipe', body).then(() => null, (error: SwitchyardError) => ({ code: error.code, message: error.message }));
    expect(await asked({ ...request, srtpParameters: srtp('NOT_A_CRYPTO_SUITE') })).toEqual({ code: 'INTERNAL', message: 'another node of the cluster failed a call this needs (its log says why)' });
    const refused = await asked({ ...request, ip: '192.0.2.10', srtpParameters: srtp() });
    expect(refused?.code).toBe('UNAVAILABLE');
    expectNoInternals(refused?.message);
    expect(await asked({ ...request, trackName: 'no-such-track', srtpParameters: srtp() })).toEqual({ code: 'TRACK_NOT_FOUND', message: `track no-such-track of session ${request.sessionId} is not published` });
  });
});

describe('a client\'s offer mediasoup refuses', () => {
  it('names the m-section, not mediasoup\'s words', { timeout: 30_000 }, async () => {
    const peer = new TestPeer(a.url);
    cleanups.push(() => peer.stop());
    await peer.createSession();
    for (let i = 0; i < 2; i += 1) {
      const microphone = fakeMicrophone();
      cleanups.push(microphone.stop);
      peer.pc.addTransceiver(microphone.track, { direction: 'sendonly' });
    }
    const offer = await peer.pc.createOffer();
    // Both audio m-sections send the same SSRC: the SDP parses, mediasoup's RTP listener refuses the second producer.
    const sections = offer.sdp!.split(/(?=^m=)/m);
    const audio = sections.flatMap((section, index) => (section.startsWith('m=audio') ? [index] : []));
    const [first, second] = audio.map((index) => sections[index]!) as [string, string];
    const ssrc = /^a=ssrc:(\d+)/m.exec(first)![1]!;
    sections[audio[1]!] = second.replace(/^a=ssrc:\d+/gm, `a=ssrc:${ssrc}`);
    const mids = [first, second].map((section) => /^a=mid:(\S+)/m.exec(section)![1]!);
    const pushed = await gql(
      a.url,
      'mutation($input: PushTracksInput!) { pushTracks(input: $input) { tracks { mid error { code message } } } }',
      { input: { sessionId: peer.sessionId, sessionDescription: { type: 'OFFER', sdp: sections.join('') }, tracks: mids.map((mid, i) => ({ mid, trackName: `mic-${i}` })) } },
    );
    expect(pushed.errors).toBeUndefined();
    const refused = pushed.data!.pushTracks.tracks.find((t: { error: unknown }) => t.error);
    expect(refused?.mid).toBe(mids[1]);
    expect(refused?.error).toEqual({ code: 'INVALID_SDP', message: `m-section ${mids[1]}: the SFU could not receive what it offers (its codecs, SSRCs or header extensions)` });
  });
});

describe('Redis that does not answer', () => {
  it('is UNAVAILABLE in ioredis\'s stead', { timeout: 30_000 }, async () => {
    await redis.stop();
    try {
      const listed = await gql(a.url, 'query { tracks { name } }');
      expect(errorCode(listed)).toBe('UNAVAILABLE');
      expect(listed.errors![0]!.message).toBe(REDIS_UNAVAILABLE);
      const unknown = await gql(a.url, SESSION, { id: randomUUID() });
      expect(errorCode(unknown)).toBe('UNAVAILABLE');
      expect(unknown.errors![0]!.message).toBe(REDIS_UNAVAILABLE);
    } finally {
      await redis.start();
    }
  });
});
