import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { gqlOk } from '../helpers/graphql.js';
import { waitFor, watchVideo } from '../helpers/media.js';
import { TestPeer } from '../helpers/peer.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { startTestServer } from '../helpers/server.js';
import { completeWhep, whepPlay, whipPublish } from '../helpers/whipClients.js';

/**
 * No regions for the other protocols either: two nodes on one real
 * redis-server. A WHIP stream published on A plays through WHEP on B, its
 * resource is ended through B, and a Cloudflare-style session on B pulls it
 * with its calls sent to A.
 */
let redis: TestRedis;
const nodes: Switchyard[] = [];
const cleanups: (() => void)[] = [];
const SECRET = 'cluster-protocols-app-secret-0123456789';
const AUTH = { authorization: `Bearer ${SECRET}` };

beforeAll(async () => {
  redis = await startRedis();
  for (let i = 0; i < 2; i += 1) {
    nodes.push(await startTestServer({ WORKERS: '1', REDIS_URL: redis.url, APPS: `acme:${SECRET}`, CLUSTER_SECRET: 'cluster-protocols-test-secret-0123456789' }));
  }
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) cleanup();
  for (const node of nodes) await node.stop();
  await redis?.close();
});

const [A, B] = [0, 1];
const url = (i: number) => nodes[i]!.url;

describe('WHIP, WHEP and the Cloudflare API in a cluster', () => {
  it('publishes with WHIP on A, plays with WHEP on B, pulls with the Cloudflare API through both, ends through B', { timeout: 60_000 }, async () => {
    const publisher = await whipPublish(url(A), 'across', '', AUTH);
    cleanups.push(publisher.close);
    expect(publisher.response.status, publisher.answer).toBe(201);
    await publisher.pc.setRemoteDescription({ type: 'answer', sdp: publisher.answer });
    const whipResource = publisher.response.headers.get('location') as string;
    const publisherSession = whipResource.split('/').pop() as string;
    expect(nodes[A]!.sessions.get(publisherSession)).toBeDefined();

    // WHEP on B: the stream's tracks are A's; B pipes them in.
    const player = await whepPlay(url(B), '/whep/across', { headers: AUTH });
    cleanups.push(player.close);
    expect([201, 406]).toContain(player.response.status);
    expect(await completeWhep(url(B), player, AUTH)).toBe(player.response.status === 201 ? 201 : 204);
    await waitFor('the stream at the player on B', () => player.tracks.some((t) => t.kind === 'video'), 15_000);
    const atPlayer = watchVideo(player.tracks.find((t) => t.kind === 'video') as MediaStreamTrack);
    await waitFor('frames at the player on B', () => atPlayer.stats.frames > 10, 15_000);
    atPlayer.stop();

    // The Cloudflare API: a session made on B pulls A's video, its answer goes through A (forwarded to B).
    const cf = new TestPeer(url(B), SECRET);
    cleanups.push(() => cf.pc.close());
    const created = await fetch(`${url(B)}/v1/apps/acme/sessions/new`, { method: 'POST', headers: AUTH });
    expect(created.status).toBe(201);
    cf.sessionId = ((await created.json()) as { sessionId: string }).sessionId;
    const pulled = await fetch(`${url(A)}/v1/apps/acme/sessions/${cf.sessionId}/tracks/new`, {
      method: 'POST',
      headers: AUTH,
      body: JSON.stringify({ tracks: [{ location: 'remote', sessionId: publisherSession, trackName: 'video' }] }),
    });
    const pull = (await pulled.json()) as { requiresImmediateRenegotiation: boolean; sessionDescription: { type: string; sdp: string }; tracks: { mid: string }[] };
    expect(pull.requiresImmediateRenegotiation).toBe(true);
    await cf.pc.setRemoteDescription({ type: 'offer', sdp: pull.sessionDescription.sdp });
    const answer = await cf.pc.createAnswer();
    await cf.pc.setLocalDescription(answer);
    const renegotiated = await fetch(`${url(A)}/v1/apps/acme/sessions/${cf.sessionId}/renegotiate`, {
      method: 'PUT',
      headers: AUTH,
      body: JSON.stringify({ sessionDescription: { type: 'answer', sdp: answer.sdp } }),
    });
    expect(renegotiated.status).toBe(200);
    await waitFor('A\'s video at the Cloudflare session', () => cf.received.has(pull.tracks[0]!.mid), 15_000);
    const atCf = watchVideo(cf.received.get(pull.tracks[0]!.mid) as MediaStreamTrack);
    await waitFor('frames at the Cloudflare session', () => atCf.stats.frames > 10, 15_000);
    atCf.stop();
    const state = await fetch(`${url(A)}/v1/apps/acme/sessions/${cf.sessionId}`, { headers: AUTH });
    expect(await state.json()).toEqual({ tracks: [{ location: 'remote', mid: pull.tracks[0]!.mid, sessionId: publisherSession, trackName: 'video', status: 'active' }], dataChannels: [] });

    // The WHIP resource lives on A; B ends it (forwarded), and the stream is gone everywhere.
    expect((await fetch(`${url(B)}${whipResource}`, { method: 'DELETE', headers: AUTH })).status).toBe(200);
    await waitFor('the stream unpublished on B', () => false === Boolean(nodes[A]!.sessions.get(publisherSession)));
    await expect
      .poll(async () => (await gqlOk(url(B), 'query { tracks(filter: { tags: ["stream:across"] }) { name } }', {}, SECRET)).tracks.length, { timeout: 5000 })
      .toBe(0);
  });
});
