import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { gql, gqlOk } from '../helpers/graphql.js';
import { fakeCamera, pullVideo, waitFor } from '../helpers/media.js';
import { sample, scrape } from '../helpers/metrics.js';
import { TestPeer } from '../helpers/peer.js';
import { startTestServer } from '../helpers/server.js';
import { collect, wsClient } from '../helpers/subscriptions.js';

/**
 * /metrics during a call with real libwebrtc peers: the gauges follow the
 * call (sessions, tracks, consumers, subscriptions), the counters move as
 * media and API calls do, and production protects the endpoint.
 */
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('/metrics follows a call', () => {
  let server: Switchyard;
  const cleanups: (() => void)[] = [];
  beforeAll(async () => {
    server = await startTestServer({ WORKERS: '2' });
  });
  afterEach(() => {
    for (const cleanup of cleanups.reverse()) cleanup();
    cleanups.length = 0;
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('sessions, tracks, consumers, subscriptions, RTP and API latency move with the call and return when it ends', { timeout: 60_000 }, async () => {
    const url = `${server.url}/metrics`;
    const before = await scrape(url);
    expect(sample(before, 'switchyard_sessions', { state: 'CONNECTED' })).toBe(0);
    expect(sample(before, 'switchyard_worker_cpu_seconds_total', { worker: '0' })).toBeGreaterThan(0);
    expect(sample(before, 'switchyard_worker_memory_bytes', { worker: '1' })).toBeGreaterThan(1_000_000);

    const publisher = new TestPeer(server.url);
    cleanups.push(() => publisher.stop());
    const cam = fakeCamera(320, 240);
    cleanups.push(cam.stop);
    await publisher.createSession();
    await publisher.push([{ track: cam.track, name: 'cam', tags: ['room:metrics'] }]);
    const subscriber = new TestPeer(server.url);
    cleanups.push(() => subscriber.stop());
    await subscriber.createSession();
    const ws = wsClient(server.url);
    cleanups.push(() => void ws.dispose());
    const events = collect(ws, 'subscription($id: ID!) { sessionEvents(sessionId: $id) { type } }', { id: subscriber.sessionId }, (d) => d.sessionEvents);
    await pullVideo(subscriber, { sessionId: publisher.sessionId, trackName: 'cam' }, cleanups, 10);
    // The activity monitor reports ACTIVE after its first look at the media.
    await waitFor('the track ACTIVE', () => server.sessions.tracks.get(publisher.sessionId, 'cam')?.status === 'ACTIVE');
    // A refused call shows under its code.
    await gql(server.url, 'mutation { closeSession(input: { sessionId: "no-such-session" }) { sessionId } }');

    const during = await scrape(url);
    await sleep(1500);
    const later = await scrape(url);
    expect(sample(during, 'switchyard_sessions', { state: 'CONNECTED' })).toBe(2);
    expect(sample(during, 'switchyard_published_tracks', { kind: 'video', status: 'active' })).toBe(1);
    expect(sample(during, 'switchyard_consumers', { kind: 'video' })).toBe(1);
    expect(sample(during, 'switchyard_graphql_ws_connections')).toBe(1);
    expect(sample(during, 'switchyard_subscriptions')).toBe(1);
    expect(sample(during, 'switchyard_sessions_created_total') - sample(before, 'switchyard_sessions_created_total')).toBe(2);
    expect(sample(during, 'switchyard_api_request_duration_seconds_count', { operation: 'pushTracks', code: 'OK' })).toBe(1);
    expect(sample(during, 'switchyard_api_request_duration_seconds_count', { operation: 'pullTracks', code: 'OK' })).toBe(1);
    expect(sample(during, 'switchyard_api_request_duration_seconds_count', { operation: 'closeSession', code: 'SESSION_NOT_FOUND' })).toBe(1);
    expect(sample(during, 'switchyard_api_request_duration_seconds_sum', { operation: 'pushTracks', code: 'OK' })).toBeGreaterThan(0);
    expect(sample(during, 'switchyard_events_published_total', { stream: 'track' })).toBeGreaterThan(sample(before, 'switchyard_events_published_total', { stream: 'track' }));
    // Media: bytes in from the publisher and out to the subscriber, rising between two scrapes 1.5 s apart.
    for (const direction of ['in', 'out']) {
      const grew = sample(later, 'switchyard_rtp_bytes_total', { direction }) - sample(during, 'switchyard_rtp_bytes_total', { direction });
      const packets = sample(later, 'switchyard_rtp_packets_total', { direction }) - sample(during, 'switchyard_rtp_packets_total', { direction });
      expect(grew, `rtp bytes ${direction}`).toBeGreaterThan(10_000);
      expect(packets, `rtp packets ${direction}`).toBeGreaterThan(20);
    }
    expect(sample(later, 'switchyard_rtp_packets_lost_total', { direction: 'in' })).toBe(0);
    console.log(
      `metrics: in 1.5 s ${Math.round((sample(later, 'switchyard_rtp_bytes_total', { direction: 'in' }) - sample(during, 'switchyard_rtp_bytes_total', { direction: 'in' })) / 1.5 / 125)} kbit/s in, ` +
        `${Math.round((sample(later, 'switchyard_rtp_bytes_total', { direction: 'out' }) - sample(during, 'switchyard_rtp_bytes_total', { direction: 'out' })) / 1.5 / 125)} kbit/s out`,
    );

    await events.close();
    await ws.dispose();
    publisher.stop();
    subscriber.stop();
    await waitFor('both sessions ended', () => server.sessions.sessionCount === 0, 10_000);
    const after = await scrape(url);
    expect(sample(after, 'switchyard_sessions', { state: 'CONNECTED' })).toBe(0);
    expect(sample(after, 'switchyard_published_tracks', { kind: 'video', status: 'active' })).toBe(0);
    expect(sample(after, 'switchyard_consumers', { kind: 'video' })).toBe(0);
    expect(sample(after, 'switchyard_subscriptions')).toBe(0);
    expect(sample(after, 'switchyard_sessions_closed_total') - sample(before, 'switchyard_sessions_closed_total')).toBe(2);
    // Counters never go back.
    expect(sample(after, 'switchyard_rtp_bytes_total', { direction: 'out' })).toBeGreaterThanOrEqual(sample(later, 'switchyard_rtp_bytes_total', { direction: 'out' }));
  });
});

describe('/metrics protection', () => {
  const APPS = `acme:${'a'.repeat(40)}`;
  const TOKEN = 'metrics-token-0123456789';

  it('production behind METRICS_TOKEN: 401 without it, 200 with it', async () => {
    const server = await startTestServer({ WORKERS: '1', SWITCHYARD_MODE: 'production', APPS, METRICS_TOKEN: TOKEN });
    try {
      expect((await fetch(`${server.url}/metrics`)).status).toBe(401);
      expect((await fetch(`${server.url}/metrics`, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status).toBe(401);
      const scraped = await scrape(`${server.url}/metrics`, TOKEN);
      expect(scraped.has('switchyard_sessions{state="CONNECTED"}')).toBe(true);
    } finally {
      await server.stop();
    }
  });

  it('production on METRICS_PORT: served there only; production without either has no /metrics', async () => {
    const server = await startTestServer({ WORKERS: '1', SWITCHYARD_MODE: 'production', APPS, METRICS_PORT: '0', METRICS_HOST: '127.0.0.1' });
    try {
      expect(server.metrics.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      expect(server.metrics.url).not.toContain(`:${server.address.port}/`);
      expect((await scrape(server.metrics.url!)).has('switchyard_sessions{state="CONNECTED"}')).toBe(true);
      expect((await fetch(`${server.url}/metrics`)).status).toBe(404);
    } finally {
      await server.stop();
    }
    const closed = await startTestServer({ WORKERS: '1', SWITCHYARD_MODE: 'production', APPS });
    try {
      expect(closed.metrics.metrics).toBeUndefined();
      expect((await fetch(`${closed.url}/metrics`)).status).toBe(404);
    } finally {
      await closed.stop();
    }
  });
});

describe('/metrics counts refusals', () => {
  it('RATE_LIMITED calls show in switchyard_api_refusals_total', async () => {
    const server = await startTestServer({ WORKERS: '1', RATE_LIMIT_MUTATIONS_PER_SECOND: '2' });
    try {
      const { createSession } = await gqlOk(server.url, 'mutation { createSession { session { id } } }');
      const id = createSession.session.id as string;
      const results = await Promise.all(
        Array.from({ length: 6 }, () => gql(server.url, 'mutation($id: ID!) { rollbackOffer(input: { sessionId: $id }) { withdrawnMids } }', { id })),
      );
      const limited = results.filter((r) => r.errors?.[0]?.extensions?.code === 'RATE_LIMITED').length;
      expect(limited).toBeGreaterThan(0);
      const scraped = await scrape(`${server.url}/metrics`);
      expect(sample(scraped, 'switchyard_api_refusals_total', { code: 'RATE_LIMITED' })).toBe(limited);
      expect(sample(scraped, 'switchyard_api_request_duration_seconds_count', { operation: 'rollbackOffer', code: 'RATE_LIMITED' })).toBe(limited);
    } finally {
      await server.stop();
    }
  });
});
