import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/config.js';

describe('REDIS_SENTINELS and REDIS_SENTINEL_MASTER', () => {
  it('take host:port Sentinels (26379 by default, IPv6 in brackets) and a master name, as the other way into cluster mode', () => {
    const config = loadConfig({ REDIS_SENTINELS: '10.0.0.5:26380, redis-s2 ,[::1]:26381', REDIS_SENTINEL_MASTER: 'mymaster', REDIS_PASSWORD: 'pw' });
    expect(config.redisUrl).toBeUndefined();
    expect(config.redisSentinel).toEqual({
      sentinels: [{ host: '10.0.0.5', port: 26380 }, { host: 'redis-s2', port: 26379 }, { host: '::1', port: 26381 }],
      masterName: 'mymaster',
      password: 'pw',
      sentinelPassword: undefined,
    });
    expect(loadConfig({}).redisSentinel).toBeUndefined();
  });

  it('refuses half a setting, both ways at once, bad entries and passwords without Sentinels', () => {
    expect(() => loadConfig({ REDIS_SENTINELS: '10.0.0.5:26379' })).toThrow(/needs REDIS_SENTINEL_MASTER/);
    expect(() => loadConfig({ REDIS_SENTINEL_MASTER: 'mymaster' })).toThrow(/needs REDIS_SENTINELS/);
    expect(() => loadConfig({ REDIS_URL: 'redis://10.0.0.5:6379', REDIS_SENTINELS: '10.0.0.5:26379', REDIS_SENTINEL_MASTER: 'm' })).toThrow(/either REDIS_URL or REDIS_SENTINELS/);
    expect(() => loadConfig({ REDIS_SENTINELS: '10.0.0.5:99999', REDIS_SENTINEL_MASTER: 'm' })).toThrow(/host:port entries/);
    expect(() => loadConfig({ REDIS_SENTINELS: '10.0.0.5:26379,,10.0.0.6', REDIS_SENTINEL_MASTER: 'm' })).toThrow(ConfigError);
    expect(() => loadConfig({ REDIS_SENTINELS: 'a:1,a:1', REDIS_SENTINEL_MASTER: 'm' })).toThrow(/twice/);
    expect(() => loadConfig({ REDIS_SENTINELS: 'a:1', REDIS_SENTINEL_MASTER: 'my master' })).toThrow(/REDIS_SENTINEL_MASTER must be/);
    expect(() => loadConfig({ REDIS_URL: 'redis://10.0.0.5:6379', REDIS_PASSWORD: 'pw' })).toThrow(/put the password in the URL/);
    expect(() => loadConfig({ REDIS_PASSWORD: 'pw' })).toThrow(/need REDIS_SENTINELS/);
  });

  it('is cluster mode: production and apps need CLUSTER_SECRET with it too', () => {
    expect(() => loadConfig({ APPS: 'acme:' + 's'.repeat(32), REDIS_SENTINELS: 'a:1', REDIS_SENTINEL_MASTER: 'm' })).toThrow(/needs CLUSTER_SECRET/);
  });
});
