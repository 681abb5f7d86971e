import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/config.js';

const PRODUCTION = { NODE_ENV: 'production', APPS: `acme:${'a'.repeat(40)}` };

describe('loadConfig: HOST', () => {
  it('binds to loopback in development mode, so the open development app is not on the network', () => {
    expect(loadConfig({}).host).toBe('127.0.0.1');
    expect(loadConfig({ SWITCHYARD_MODE: 'development', APPS: PRODUCTION.APPS }).host).toBe('127.0.0.1');
  });

  it('binds to every interface in production mode', () => {
    expect(loadConfig(PRODUCTION).host).toBe('0.0.0.0');
    expect(loadConfig({ SWITCHYARD_MODE: 'production', APPS: PRODUCTION.APPS }).host).toBe('0.0.0.0');
  });

  it('takes HOST over either default; an empty HOST is the default', () => {
    expect(loadConfig({ HOST: '0.0.0.0' }).host).toBe('0.0.0.0');
    expect(loadConfig({ ...PRODUCTION, HOST: '127.0.0.1' }).host).toBe('127.0.0.1');
    expect(loadConfig({ ...PRODUCTION, HOST: '' }).host).toBe('0.0.0.0');
  });
});

describe('loadConfig: CORS_ORIGINS', () => {
  it('allows any origin in development and none in production by default', () => {
    expect(loadConfig({}).corsOrigins).toEqual(['*']);
    expect(loadConfig(PRODUCTION).corsOrigins).toEqual([]);
    expect(loadConfig({ ...PRODUCTION, CORS_ORIGINS: '' }).corsOrigins).toEqual([]);
  });

  it('reads * and comma-separated origins', () => {
    expect(loadConfig({ ...PRODUCTION, CORS_ORIGINS: '*' }).corsOrigins).toEqual(['*']);
    expect(loadConfig({ ...PRODUCTION, CORS_ORIGINS: 'https://app.example.com, http://localhost:5173' }).corsOrigins).toEqual([
      'https://app.example.com',
      'http://localhost:5173',
    ]);
    expect(loadConfig({ CORS_ORIGINS: 'https://App.Example.com' }).corsOrigins).toEqual(['https://app.example.com']);
    expect(loadConfig({ CORS_ORIGINS: 'https://app.example.com' }).corsOrigins).toEqual(['https://app.example.com']);
  });

  it.each([
    ['https://app.example.com/', /no path.*"https:\/\/app\.example\.com\/" \(did you mean https:\/\/app\.example\.com\?\)/],
    ['https://app.example.com/room', /did you mean https:\/\/app\.example\.com\?/],
    ['https://app.example.com:443', /did you mean https:\/\/app\.example\.com\?/],
    ['app.example.com', /"app\.example\.com"$/],
    ['ftp://files.example.com', /"ftp:\/\/files\.example\.com"$/],
    ['https://a.example.com,,https://b.example.com', /got ""/],
    ['null', /got "null"/],
  ])('refuses %s with an error that names CORS_ORIGINS', (value, message) => {
    const load = () => loadConfig({ ...PRODUCTION, CORS_ORIGINS: value });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(/^CORS_ORIGINS must be \* or comma-separated origins such as https:\/\/app\.example\.com/);
    expect(load).toThrow(message);
  });
});

describe('loadConfig: cluster and media quality settings', () => {
  it('runs embedded without REDIS_URL, and takes redis:// or rediss:// URLs only', () => {
    expect(loadConfig({}).redisUrl).toBeUndefined();
    expect(loadConfig({ REDIS_URL: 'redis://10.0.0.5:6379' }).redisUrl).toBe('redis://10.0.0.5:6379');
    expect(loadConfig({ REDIS_URL: 'rediss://user:pw@redis.example.com:6380/2' }).redisUrl).toContain('rediss://');
    expect(() => loadConfig({ REDIS_URL: 'http://10.0.0.5:6379' })).toThrow(/REDIS_URL must be a redis:\/\//);
    expect(() => loadConfig({ REDIS_URL: 'not a url' })).toThrow(ConfigError);
  });

  it('needs CLUSTER_SECRET in a cluster in production or with apps, of 32 characters at least; development has a default', () => {
    expect(() => loadConfig({ ...PRODUCTION, REDIS_URL: 'redis://127.0.0.1:6379' })).toThrow(/needs CLUSTER_SECRET/);
    expect(() => loadConfig({ APPS: PRODUCTION.APPS, REDIS_URL: 'redis://127.0.0.1:6379' })).toThrow(/needs CLUSTER_SECRET/);
    expect(loadConfig({ ...PRODUCTION, REDIS_URL: 'redis://127.0.0.1:6379', CLUSTER_SECRET: 's'.repeat(32) }).clusterSecret).toBe('s'.repeat(32));
    expect(() => loadConfig({ CLUSTER_SECRET: 'short' })).toThrow(/at least 32/);
    expect(loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379' }).clusterSecret.length).toBeGreaterThanOrEqual(32);
    expect(loadConfig(PRODUCTION).redisUrl).toBeUndefined();
  });

  it('checks PUBLIC_URL and SESSION_RESUME_GRACE_MS', () => {
    expect(loadConfig({}).publicUrl).toBeUndefined();
    expect(loadConfig({ PUBLIC_URL: 'https://sfu-a.example.com/' }).publicUrl).toBe('https://sfu-a.example.com');
    expect(() => loadConfig({ PUBLIC_URL: 'https://sfu-a.example.com/graphql' })).toThrow(/PUBLIC_URL/);
    expect(() => loadConfig({ PUBLIC_URL: 'ftp://sfu-a.example.com' })).toThrow(/PUBLIC_URL/);
    expect(loadConfig({}).sessionResumeGraceMs).toBe(20_000);
    expect(loadConfig({ SESSION_RESUME_GRACE_MS: '0' }).sessionResumeGraceMs).toBe(0);
    expect(() => loadConfig({ SESSION_RESUME_GRACE_MS: '-1' })).toThrow(/SESSION_RESUME_GRACE_MS/);
  });

  it('checks CLUSTER_NAME, CLUSTER_ADVERTISE_URL and PIPE_ANNOUNCED_IP', () => {
    expect(loadConfig({}).clusterName).toBe('default');
    expect(() => loadConfig({ CLUSTER_NAME: 'a b' })).toThrow(/CLUSTER_NAME/);
    expect(loadConfig({ CLUSTER_ADVERTISE_URL: 'http://10.0.0.7:4000' }).clusterAdvertiseUrl).toBe('http://10.0.0.7:4000');
    expect(() => loadConfig({ CLUSTER_ADVERTISE_URL: 'http://10.0.0.7:4000/graphql' })).toThrow(/CLUSTER_ADVERTISE_URL/);
    expect(loadConfig({ PIPE_ANNOUNCED_IP: '10.0.0.7' }).pipeAnnouncedIp).toBe('10.0.0.7');
    expect(() => loadConfig({ PIPE_ANNOUNCED_IP: 'node-a' })).toThrow(/PIPE_ANNOUNCED_IP/);
  });

  it('has defaults for the key-frame delay, the layer-off delay and the drain, and bounds them', () => {
    expect(loadConfig({})).toMatchObject({ keyFrameRequestDelayMs: 1000, layerOffDelayMs: 2000, drainTimeoutMs: 30_000 });
    expect(loadConfig({ KEY_FRAME_REQUEST_DELAY_MS: '0', LAYER_OFF_DELAY_MS: '0', DRAIN_TIMEOUT_MS: '0' })).toMatchObject({ keyFrameRequestDelayMs: 0, layerOffDelayMs: 0, drainTimeoutMs: 0 });
    expect(() => loadConfig({ KEY_FRAME_REQUEST_DELAY_MS: '-1' })).toThrow(/KEY_FRAME_REQUEST_DELAY_MS/);
  });
});
