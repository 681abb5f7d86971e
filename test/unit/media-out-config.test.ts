import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { parseAppsFile } from '../../src/config/apps.js';

const PRODUCTION = { NODE_ENV: 'production', APPS: `acme:${'a'.repeat(40)}` };
const SECRET = 's'.repeat(40);

describe('WebSocket adapter settings', () => {
  it('allows private endpoints in development only, unless configured', () => {
    const dev = loadConfig({}).adapters.endpoints;
    expect(dev.allows('127.0.0.1')).toBe(true);
    const prod = loadConfig(PRODUCTION).adapters.endpoints;
    expect(prod.allows('127.0.0.1')).toBe(false);
    expect(prod.allows('10.1.2.3')).toBe(false);
    expect(prod.allows('169.254.169.254')).toBe(false);
    expect(prod.allows('::ffff:127.0.0.1')).toBe(false);
    expect(prod.allows('93.184.216.34')).toBe(true);
    expect(prod.refusesLiteral(new URL('ws://localhost:9/'))).toBe(true);
    expect(loadConfig({ ...PRODUCTION, ADAPTER_ALLOW_PRIVATE_ENDPOINTS: 'true' }).adapters.endpoints.allows('10.1.2.3')).toBe(true);
  });

  it('allows listed private networks only', () => {
    const listed = loadConfig({ ...PRODUCTION, ADAPTER_PRIVATE_NETWORKS: '10.1.0.0/16, 127.0.0.1, fd00::/8' }).adapters.endpoints;
    expect(listed.allows('10.1.200.3')).toBe(true);
    expect(listed.allows('10.2.0.1')).toBe(false);
    expect(listed.allows('127.0.0.1')).toBe(true);
    expect(listed.allows('127.0.0.2')).toBe(false);
    expect(listed.allows('fd00::5')).toBe(true);
    expect(listed.refusesLiteral(new URL('ws://localhost:9/'))).toBe(false);
    expect(() => loadConfig({ ...PRODUCTION, ADAPTER_PRIVATE_NETWORKS: '10.1.0.0/33' })).toThrow(/ADAPTER_PRIVATE_NETWORKS/);
    expect(() => loadConfig({ ...PRODUCTION, ADAPTER_PRIVATE_NETWORKS: 'intranet' })).toThrow(/ADAPTER_PRIVATE_NETWORKS/);
  });

  it('has Cloudflare\'s defaults and bounds its numbers', () => {
    const { adapters } = loadConfig({});
    expect(adapters).toMatchObject({ reconnectWindowMs: 15_000, handshakeTimeoutMs: 5_000, ingestBufferMs: 30_000, maxPerSession: 8 });
    expect(() => loadConfig({ ADAPTER_INGEST_BUFFER_MS: '10' })).toThrow(/ADAPTER_INGEST_BUFFER_MS/);
  });
});

describe('recording settings', () => {
  it('records to a directory by default, and to S3 once a bucket and credentials are given', () => {
    const local = loadConfig({ RECORDINGS_DIR: '/var/rec' }).recordings;
    expect(local).toMatchObject({ dir: '/var/rec', s3: undefined, defaultStorage: 'local' });
    const s3 = loadConfig({ RECORDINGS_S3_BUCKET: 'b', RECORDINGS_S3_ENDPOINT: 'http://127.0.0.1:9000', RECORDINGS_S3_ACCESS_KEY_ID: 'k', RECORDINGS_S3_SECRET_ACCESS_KEY: 's' }).recordings;
    expect(s3.defaultStorage).toBe('s3');
    expect(s3.s3).toMatchObject({ bucket: 'b', endpoint: 'http://127.0.0.1:9000', region: 'us-east-1' });
    expect(loadConfig({ RECORDINGS_S3_BUCKET: 'b', AWS_ACCESS_KEY_ID: 'k', AWS_SECRET_ACCESS_KEY: 's', RECORDINGS_STORAGE: 'local' }).recordings.defaultStorage).toBe('local');
  });

  it('refuses S3 settings that cannot work', () => {
    expect(() => loadConfig({ RECORDINGS_S3_BUCKET: 'b' })).toThrow(/ACCESS_KEY_ID/);
    expect(() => loadConfig({ RECORDINGS_STORAGE: 's3' })).toThrow(/RECORDINGS_S3_BUCKET/);
    expect(() => loadConfig({ RECORDINGS_STORAGE: 'tape' })).toThrow(/RECORDINGS_STORAGE/);
    expect(() => loadConfig({ RECORDINGS_S3_BUCKET: 'b', RECORDINGS_S3_ENDPOINT: 'ftp://x', AWS_ACCESS_KEY_ID: 'k', AWS_SECRET_ACCESS_KEY: 's' })).toThrow(/RECORDINGS_S3_ENDPOINT/);
  });

  it('takes an app\'s own storage from APPS_FILE', () => {
    const apps = parseAppsFile(JSON.stringify({ apps: [{ id: 'acme', secret: SECRET, recordingStorage: 's3' }, { id: 'beta', secret: SECRET }] }));
    expect(apps.map((a) => a.recordingStorage)).toEqual(['s3', undefined]);
    expect(() => parseAppsFile(JSON.stringify({ apps: [{ id: 'acme', secret: SECRET, recordingStorage: 'disk' }] }))).toThrow(/recordingStorage/);
  });
});
