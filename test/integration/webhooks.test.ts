import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { CLOSE_DATA, PUBLISH_DATA } from '../helpers/dataChannels.js';
import { gqlOk } from '../helpers/graphql.js';
import { sample, scrape } from '../helpers/metrics.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { startTestServer } from '../helpers/server.js';
import { startWebhookReceiver, verifySwitchyard, type WebhookReceiver } from '../helpers/webhookReceiver.js';

/**
 * Webhooks end to end: real nodes post to a real HTTP receiver the test
 * starts on loopback (development mode allows loopback targets). Sessions,
 * tracks and data channels are made through the GraphQL API with recorded
 * browser offers (test/fixtures/sdp): tracks and channels are published when
 * the offer is applied, no media needed. Backoff is short here (100 ms
 * doubling to 1 s), so that retries and an outage fit in a test.
 */
const APP_SECRET = 'webhook-test-app-secret-0123456789abcdef';
const HOOK_SECRET = 'webhook-test-signing-secret-0123456789ab';
const FAST_RETRIES = { WEBHOOK_BACKOFF_BASE_MS: '100', WEBHOOK_BACKOFF_MAX_MS: '1000', WEBHOOK_MAX_ATTEMPTS: '60' };
const SDP = (name: string) => readFileSync(join(import.meta.dirname, '../fixtures/sdp', name), 'utf8');

async function waitFor(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function appsFile(receiverUrl: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'switchyard-webhooks-')), 'apps.json');
  writeFileSync(path, JSON.stringify({ apps: [{ id: 'acme', secret: APP_SECRET, webhooks: [{ url: receiverUrl, secret: HOOK_SECRET }] }] }));
  return path;
}

const CREATE = 'mutation($input: CreateSessionInput) { createSession(input: $input) { session { id } } }';
const PUSH = 'mutation($input: PushTracksInput!) { pushTracks(input: $input) { tracks { mid trackName error { code message } } } }';
const CLOSE_TRACKS = 'mutation($input: CloseTracksInput!) { closeTracks(input: $input) { tracks { mid error { code } } } }';
const CLOSE_SESSION = 'mutation($id: ID!) { closeSession(input: { sessionId: $id }) { sessionId } }';

async function createSession(url: string, offer?: string): Promise<string> {
  const input = offer ? { sessionDescription: { type: 'OFFER', sdp: offer } } : {};
  return (await gqlOk(url, CREATE, { input }, APP_SECRET)).createSession.session.id;
}

/**
 * One session's whole life, each step through the node given (a cluster
 * forwards it to the session's own node): created, camera and microphone
 * published, the camera closed, the session closed with the microphone
 * still published. Returns the session id.
 */
async function sessionLife(urls: { create: string; push: string; closeTracks: string; close: string }): Promise<string> {
  const id = await createSession(urls.create);
  const pushed = await gqlOk(urls.push, PUSH, { input: { sessionId: id, sessionDescription: { type: 'OFFER', sdp: SDP('chrome-push.sdp') }, tracks: [{ mid: '0', trackName: 'cam' }, { mid: '1', trackName: 'mic' }] } }, APP_SECRET);
  expect(pushed.pushTracks.tracks.map((t: { error: unknown }) => t.error)).toEqual([null, null]);
  await gqlOk(urls.closeTracks, CLOSE_TRACKS, { input: { sessionId: id, mids: ['0'], force: true } }, APP_SECRET);
  await gqlOk(urls.close, CLOSE_SESSION, { id }, APP_SECRET);
  return id;
}

/** What sessionLife's session must bring, in this order. */
const LIFE = ['session.created', 'track.published cam', 'track.published mic', 'track.unpublished cam CLOSED', 'track.unpublished mic SESSION_CLOSED', 'session.closed CLOSE_SESSION'];

/** The acknowledged events of one session, as "type [name] [reason]", in the order they arrived. */
function story(receiver: WebhookReceiver, sessionId: string): string[] {
  return receiver
    .acknowledged()
    .map((r) => r.event)
    .filter((e) => (e.data.session?.id ?? e.data.track?.sessionId ?? e.data.dataChannel?.sessionId) === sessionId)
    .map((e) => [e.type, e.data.track?.name ?? e.data.dataChannel?.name, e.data.reason].filter(Boolean).join(' '));
}

describe('webhooks of one node', () => {
  let receiver: WebhookReceiver;
  let node: Switchyard;

  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    node = await startTestServer({ WORKERS: '1', APPS_FILE: appsFile(receiver.url), ...FAST_RETRIES });
  });

  afterAll(async () => {
    await node?.stop();
    await receiver?.stop();
  });

  it('post a session\'s events signed, with their id, in the order they happened', { timeout: 30_000 }, async () => {
    const id = await sessionLife({ create: node.url, push: node.url, closeTracks: node.url, close: node.url });
    await waitFor('the session\'s six events', () => story(receiver, id).length >= 6, 10_000);
    expect(story(receiver, id)).toEqual(LIFE);

    const requests = receiver.requests.filter((r) => r.event.data.session?.id === id || r.event.data.track?.sessionId === id);
    for (const request of requests) {
      // The documented check, on the raw body; a wrong secret or another body fails it.
      expect(verifySwitchyard(HOOK_SECRET, request.headers['switchyard-signature'] as string, request.rawBody)).toBe(true);
      expect(verifySwitchyard(APP_SECRET, request.headers['switchyard-signature'] as string, request.rawBody)).toBe(false);
      expect(verifySwitchyard(HOOK_SECRET, request.headers['switchyard-signature'] as string, request.rawBody.replace('acme', 'acmf'))).toBe(false);
      expect(request.headers['switchyard-event-id']).toBe(request.event.id);
      expect(request.headers['switchyard-event-type']).toBe(request.event.type);
      expect(request.headers['content-type']).toBe('application/json');
      expect(request.event.appId).toBe('acme');
      expect(request.path).toBe('/hooks');
    }
    expect(new Set(requests.map((r) => r.event.id)).size).toBe(6);
    const closed = requests.find((r) => r.event.type === 'session.closed')!.event;
    expect(closed.data).toMatchObject({ reason: 'CLOSE_SESSION', detail: 'closeSession', session: { id, correlationId: null, owner: null } });
    expect(closed.data.session.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('post data channels published and unpublished, those left open before the session.closed', { timeout: 30_000 }, async () => {
    const id = await createSession(node.url, SDP('chrome-data.sdp'));
    const published = await gqlOk(node.url, PUBLISH_DATA, { input: { sessionId: id, dataChannels: [{ name: 'chat', tags: ['room:1'] }, { name: 'cursor', ordered: false, maxRetransmits: 2 }] } }, APP_SECRET);
    const chat = published.publishDataChannels.dataChannels[0].id;
    await gqlOk(node.url, CLOSE_DATA, { input: { sessionId: id, ids: [chat] } }, APP_SECRET);
    await gqlOk(node.url, CLOSE_SESSION, { id }, APP_SECRET);
    await waitFor('the session\'s six events', () => story(receiver, id).length >= 6, 10_000);
    expect(story(receiver, id)).toEqual([
      'session.created',
      'data_channel.published chat',
      'data_channel.published cursor',
      'data_channel.unpublished chat CLOSED',
      'data_channel.unpublished cursor SESSION_CLOSED',
      'session.closed CLOSE_SESSION',
    ]);
    const cursor = receiver.acknowledged().find((r) => r.event.type === 'data_channel.published' && r.event.data.dataChannel.name === 'cursor')!.event;
    expect(cursor.data.dataChannel).toMatchObject({ sessionId: id, ordered: false, maxRetransmits: 2, maxPacketLifeTime: null });
  });

  it('retry after 500s with the same event id and body, and stop once one is acknowledged', { timeout: 30_000 }, async () => {
    let failures = 2;
    let target: string | undefined;
    receiver.answer = (request) => {
      if (request.event.type === 'session.created' && (target ??= request.event.id) === request.event.id && failures > 0) {
        failures -= 1;
        return 500;
      }
      return 200;
    };
    const id = await createSession(node.url);
    await gqlOk(node.url, CLOSE_SESSION, { id }, APP_SECRET);
    await waitFor('the session.closed', () => story(receiver, id).includes('session.closed CLOSE_SESSION'), 10_000);
    // Anything else would have come by now (the backoff is 1 s at most).
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    receiver.answer = () => 200;

    const attempts = receiver.requests.filter((r) => r.event.id === target);
    expect(attempts.map((r) => [r.status, r.headers['switchyard-delivery-attempt']])).toEqual([[500, '1'], [500, '2'], [200, '3']]);
    expect(new Set(attempts.map((r) => r.rawBody)).size).toBe(1);
    expect(attempts[0]!.event.data.session.id).toBe(id);
    for (const attempt of attempts) expect(verifySwitchyard(HOOK_SECRET, attempt.headers['switchyard-signature'] as string, attempt.rawBody)).toBe(true);
    // The session's next event waited behind the retried one.
    expect(story(receiver, id)).toEqual(['session.created', 'session.closed CLOSE_SESSION']);
    expect(receiver.requests.findIndex((r) => r.event.type === 'session.closed' && r.event.data.session.id === id)).toBeGreaterThan(receiver.requests.indexOf(attempts[2]!));

    const metrics = await scrape(`${node.url}/metrics`);
    expect(sample(metrics, 'switchyard_webhook_retries_total')).toBeGreaterThanOrEqual(2);
    expect(sample(metrics, 'switchyard_webhook_deliveries_total', { outcome: 'delivered' })).toBeGreaterThanOrEqual(14);
    expect(sample(metrics, 'switchyard_webhook_deliveries_total', { outcome: 'dropped' })).toBe(0);
    expect(sample(metrics, 'switchyard_webhook_queue_length')).toBe(0);
  });

  it('lose nothing while the receiver is down for 10 s: everything arrives once it is back, each session in order', { timeout: 60_000 }, async () => {
    await receiver.stop();
    const ids: string[] = [];
    for (let i = 0; i < 3; i += 1) ids.push(await sessionLife({ create: node.url, push: node.url, closeTracks: node.url, close: node.url }));
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    expect(node.webhooks.stats().queued).toBe(18);
    expect(node.webhooks.stats().retries).toBeGreaterThan(3);
    await receiver.start();
    await waitFor('all 18 events', () => ids.every((id) => story(receiver, id).length >= 6), 15_000);
    for (const id of ids) expect(story(receiver, id)).toEqual(LIFE);
    const delivered = receiver.acknowledged().filter((r) => ids.includes(r.event.data.session?.id ?? r.event.data.track?.sessionId));
    expect(new Set(delivered.map((r) => r.event.id)).size).toBe(18);
    expect(node.webhooks.stats()).toMatchObject({ queued: 0, gaveUp: 0, dropped: 0 });
  });
});

describe('webhooks of a three-node cluster', () => {
  let redis: TestRedis;
  let receiver: WebhookReceiver;
  const nodes: Switchyard[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    receiver = await startWebhookReceiver();
    const apps = appsFile(receiver.url);
    for (let i = 0; i < 3; i += 1) {
      nodes.push(await startTestServer({ WORKERS: '1', REDIS_URL: redis.url, APPS_FILE: apps, CLUSTER_SECRET: 'webhook-cluster-test-secret-0123456789', ...FAST_RETRIES }));
    }
  });

  afterAll(async () => {
    for (const node of nodes) await node.stop();
    await receiver?.stop();
    await redis?.close();
  });

  it('post each event once, from the node that owns it, whichever node the calls came through', { timeout: 60_000 }, async () => {
    const url = (i: number) => nodes[i % 3]!.url;
    const ids: string[] = [];
    // A session on each node; its tracks pushed, closed and the session ended through the two others (forwarded to the owner).
    for (let i = 0; i < 3; i += 1) ids.push(await sessionLife({ create: url(i), push: url(i + 1), closeTracks: url(i + 2), close: url(i + 1) }));
    await waitFor('all 18 events', () => ids.every((id) => story(receiver, id).length >= 6), 15_000);
    // Time for a duplicate from another node to show up, if there were one.
    await new Promise((resolve) => setTimeout(resolve, 2_000));

    for (const id of ids) expect(story(receiver, id)).toEqual(LIFE);
    const ours = receiver.requests.filter((r) => ids.includes(r.event.data.session?.id ?? r.event.data.track?.sessionId));
    expect(ours).toHaveLength(18);
    expect(new Set(ours.map((r) => r.event.id)).size).toBe(18);
    // Each node posted its own session's six, and nothing of the others'.
    expect(nodes.map((node) => node.webhooks.stats().delivered)).toEqual([6, 6, 6]);
  });
});
