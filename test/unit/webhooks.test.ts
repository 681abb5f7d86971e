import { createHmac } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/config.js';
import { closeReasonCode, eventBody, published, unpublished } from '../../src/webhooks/events.js';
import { derivedWebhookSecret, signatureHeader, verifyWebhookSignature } from '../../src/webhooks/signature.js';
import { guardedLookup, isPrivateAddress, isPrivateLiteral } from '../../src/webhooks/targets.js';
import type { TrackView } from '../../src/tracks/PublishedTrack.js';

const SECRET = 'whsec-0123456789abcdef0123456789abcdef';
const APP_SECRET = 'a'.repeat(40);

function appsFile(apps: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-webhooks-'));
  const path = join(dir, 'apps.json');
  writeFileSync(path, JSON.stringify({ apps }));
  return path;
}

describe('webhook signatures', () => {
  it('are HMAC-SHA256 over "<t>.<body>", hex, in t=<unix>,v1=<hex>', () => {
    const body = '{"id":"evt_1"}';
    const header = signatureHeader(SECRET, body, 1_700_000_000);
    const expected = createHmac('sha256', SECRET).update(`1700000000.${body}`).digest('hex');
    expect(header).toBe(`t=1700000000,v1=${expected}`);
    expect(verifyWebhookSignature(SECRET, header, body, 300, 1_700_000_100)).toBe(true);
  });

  it('refuse another body, another secret, an old or future timestamp, and a missing header', () => {
    const body = '{"id":"evt_1"}';
    const header = signatureHeader(SECRET, body, 1_700_000_000);
    expect(verifyWebhookSignature(SECRET, header, '{"id":"evt_2"}', 300, 1_700_000_000)).toBe(false);
    expect(verifyWebhookSignature(`${SECRET}x`, header, body, 300, 1_700_000_000)).toBe(false);
    expect(verifyWebhookSignature(SECRET, header, body, 300, 1_700_000_301)).toBe(false);
    expect(verifyWebhookSignature(SECRET, header, body, 300, 1_699_999_699)).toBe(false);
    expect(verifyWebhookSignature(SECRET, undefined, body)).toBe(false);
    expect(verifyWebhookSignature(SECRET, 't=abc,v1=00', body)).toBe(false);
  });

  it('accept any one of several v1 values (room for a secret rotation)', () => {
    const body = '{}';
    const good = signatureHeader(SECRET, body, 1_700_000_000);
    const header = `t=1700000000,v1=${'0'.repeat(64)},${good.split(',')[1]}`;
    expect(verifyWebhookSignature(SECRET, header, body, 300, 1_700_000_000)).toBe(true);
  });

  it('derive the default secret from the app secret, as docs/webhooks.md shows', () => {
    expect(derivedWebhookSecret(APP_SECRET)).toBe(createHmac('sha256', APP_SECRET).update('switchyard webhook signing key').digest('hex'));
    expect(derivedWebhookSecret(APP_SECRET)).not.toBe(derivedWebhookSecret(`${APP_SECRET}b`));
  });
});

describe('webhook targets (SSRF)', () => {
  it('count loopback, private, link-local, CGNAT, multicast and their IPv6 forms as private', () => {
    for (const address of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1', '255.255.255.255', '::1', '::', 'fe80::1', 'fd00:ec2::254', 'fc00::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', '::ffff:7f00:1', 'ff02::1']) {
      expect(isPrivateAddress(address), address).toBe(true);
    }
    for (const address of ['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8']) {
      expect(isPrivateAddress(address), address).toBe(false);
    }
  });

  it('see private literals and localhost in URLs', () => {
    expect(isPrivateLiteral(new URL('http://127.0.0.1:8080/hook'))).toBe(true);
    expect(isPrivateLiteral(new URL('http://[::1]:8080/hook'))).toBe(true);
    expect(isPrivateLiteral(new URL('http://localhost/hook'))).toBe(true);
    expect(isPrivateLiteral(new URL('http://api.localhost/hook'))).toBe(true);
    expect(isPrivateLiteral(new URL('https://hooks.example.com/hook'))).toBe(false);
    expect(isPrivateLiteral(new URL('https://8.8.8.8/hook'))).toBe(false);
  });

  it('refuse, at connect time, a name that resolves only to private addresses', async () => {
    const error = await new Promise<Error | null>((resolve) => guardedLookup('localhost', { all: true }, (e) => resolve(e)));
    expect(error?.message).toMatch(/WEBHOOK_ALLOW_PRIVATE_URLS/);
  });
});

describe('loadConfig: webhooks', () => {
  it('read each app\'s endpoints from APPS_FILE, with all events and a derived secret by default', () => {
    const path = appsFile([
      { id: 'acme', secret: APP_SECRET, webhooks: [{ url: 'https://hooks.acme.example/sfu' }, { url: 'https://billing.acme.example/in', secret: SECRET, events: ['session.created', 'session.closed'] }] },
      { id: 'beta', secret: 'b'.repeat(40) },
    ]);
    const config = loadConfig({ APPS_FILE: path });
    expect(config.webhooks.endpoints).toEqual([
      { appId: 'acme', url: 'https://hooks.acme.example/sfu', secret: undefined, events: undefined },
      { appId: 'acme', url: 'https://billing.acme.example/in', secret: SECRET, events: ['session.created', 'session.closed'] },
    ]);
    expect(config.apps.map((a) => a.id)).toEqual(['acme', 'beta']);
  });

  it('refuse unknown events, unknown fields, bad URLs, credentials in URLs and short secrets', () => {
    const bad = (webhooks: unknown) => () => loadConfig({ APPS_FILE: appsFile([{ id: 'acme', secret: APP_SECRET, webhooks }]) });
    expect(bad([{ url: 'https://h.example/', events: ['session.create'] }])).toThrow(/unknown event "session.create"/);
    expect(bad([{ url: 'https://h.example/', event: ['session.created'] }])).toThrow(/unknown field event/);
    expect(bad([{ url: 'ftp://h.example/' }])).toThrow(ConfigError);
    expect(bad([{ url: 'https://user:pw@h.example/' }])).toThrow(/credentials/);
    expect(bad([{ url: 'https://h.example/', secret: 'short' }])).toThrow(/at least 32/);
    expect(bad({ url: 'https://h.example/' })).toThrow(/must be a list/);
  });

  it('refuse loopback and private URLs in production unless WEBHOOK_ALLOW_PRIVATE_URLS, and allow them in development', () => {
    const path = appsFile([{ id: 'acme', secret: APP_SECRET, webhooks: [{ url: 'http://10.0.0.5:9000/hook' }] }]);
    expect(() => loadConfig({ NODE_ENV: 'production', APPS_FILE: path })).toThrow(/WEBHOOK_ALLOW_PRIVATE_URLS=true/);
    expect(loadConfig({ NODE_ENV: 'production', APPS_FILE: path, WEBHOOK_ALLOW_PRIVATE_URLS: 'true' }).webhooks.allowPrivateUrls).toBe(true);
    expect(loadConfig({ APPS_FILE: path }).webhooks.allowPrivateUrls).toBe(true);
    expect(loadConfig({ NODE_ENV: 'production', APPS_FILE: appsFile([{ id: 'acme', secret: APP_SECRET, webhooks: [{ url: 'https://hooks.example.com/' }] }]) }).webhooks.allowPrivateUrls).toBe(false);
  });

  it('take WEBHOOK_URLS, WEBHOOK_SECRET and WEBHOOK_EVENTS for development mode\'s app only', () => {
    const config = loadConfig({ WEBHOOK_URLS: 'http://127.0.0.1:9000/a, http://127.0.0.1:9000/b', WEBHOOK_SECRET: SECRET, WEBHOOK_EVENTS: 'session.closed' });
    expect(config.webhooks.endpoints).toEqual([
      { appId: 'dev', url: 'http://127.0.0.1:9000/a', secret: SECRET, events: ['session.closed'] },
      { appId: 'dev', url: 'http://127.0.0.1:9000/b', secret: SECRET, events: ['session.closed'] },
    ]);
    expect(() => loadConfig({ APPS: `acme:${APP_SECRET}`, WEBHOOK_URLS: 'https://h.example/' })).toThrow(/APPS_FILE/);
    expect(() => loadConfig({ WEBHOOK_SECRET: SECRET })).toThrow(/go with WEBHOOK_URLS/);
  });

  it('have delivery settings with bounds, and none of them endpoints by default', () => {
    const config = loadConfig({});
    expect(config.webhooks).toMatchObject({ endpoints: [], queueSize: 10_000, maxAttempts: 15, backoffBaseMs: 1_000, backoffMaxMs: 300_000, timeoutMs: 10_000, concurrency: 8, shutdownFlushMs: 3_000 });
    expect(() => loadConfig({ WEBHOOK_BACKOFF_BASE_MS: '2000', WEBHOOK_BACKOFF_MAX_MS: '1000' })).toThrow(/at least WEBHOOK_BACKOFF_BASE_MS/);
    expect(() => loadConfig({ WEBHOOK_SHUTDOWN_FLUSH_MS: '60000' })).toThrow(/WEBHOOK_SHUTDOWN_FLUSH_MS/);
  });
});

describe('webhook events', () => {
  const view = (kind: TrackView['kind']): TrackView => ({
    appId: 'acme',
    owner: null,
    sessionId: 's1',
    name: kind === 'data' ? 'chat' : 'cam',
    kind,
    status: 'ACTIVE',
    tags: ['room:1'],
    simulcastRids: [],
    publishedAt: new Date('2025-01-01T00:00:00Z'),
    muted: false,
    ...(kind === 'data' ? { dataChannel: { ordered: true, maxRetransmits: null, maxPacketLifeTime: null } } : {}),
  });

  it('name tracks and data channels apart, in the session\'s order', () => {
    const track = published(view('video'));
    expect(track).toMatchObject({ type: 'track.published', appId: 'acme', orderingKey: 's1' });
    expect(JSON.parse(eventBody(track))).toMatchObject({ id: track.id, type: 'track.published', data: { track: { sessionId: 's1', name: 'cam', kind: 'VIDEO', tags: ['room:1'] } } });
    const channel = unpublished(view('data'), 'SESSION_CLOSED', new Date('2025-01-01T00:00:02Z'));
    expect(JSON.parse(eventBody(channel))).toMatchObject({ type: 'data_channel.unpublished', data: { reason: 'SESSION_CLOSED', dataChannel: { name: 'chat', ordered: true, durationMs: 2000 } } });
  });

  it('turn the engine\'s close sentences into codes', () => {
    expect(closeReasonCode('closeSession')).toBe('CLOSE_SESSION');
    expect(closeReasonCode(undefined)).toBe('CLIENT_CLOSED');
    expect(closeReasonCode('client gone: ICE consent lost and no ICE restart within RECONNECT_GRACE_MS')).toBe('CLIENT_GONE');
    expect(closeReasonCode('client gone: the client closed its PeerConnection (DTLS closed)')).toBe('CLIENT_CLOSED');
    expect(closeReasonCode('its mediasoup worker 1 died')).toBe('WORKER_DIED');
    expect(closeReasonCode('the node stopped')).toBe('NODE_STOPPED');
    expect(closeReasonCode('the cluster declared this node gone')).toBe('NODE_GONE');
    expect(closeReasonCode('the cluster refused to record it')).toBe('REFUSED');
    expect(closeReasonCode('something new')).toBe('OTHER');
  });
});
