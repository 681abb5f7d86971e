import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/config.js';
import { IceServerIssuer, turnPassword } from '../../src/turn/iceServers.js';
import { AccessPolicy } from '../../src/auth/access.js';
import { parseGrant } from '../../src/auth/grant.js';

const SECRET = 'a-shared-secret-of-coturn';
const turn = { urls: ['stun:turn.example.com:3478', 'turn:turn.example.com:3478?transport=udp', 'turns:turn.example.com:5349?transport=tcp'], secret: SECRET, defaultTtlS: 3600, maxTtlS: 7200 };

describe('TURN credentials (coturn use-auth-secret)', () => {
  it('are "expiry:identity" with base64 HMAC-SHA1 of it under the shared secret, expiring after the ttl', () => {
    const issuer = new IceServerIssuer(turn, () => 1_800_000_000_500);
    const grant = issuer.issue('acme/user:7 é', 600);
    expect(grant.iceServers).toEqual([
      { urls: ['stun:turn.example.com:3478'] },
      { urls: ['turn:turn.example.com:3478?transport=udp', 'turns:turn.example.com:5349?transport=tcp'], username: '1800000600:acme/user_7__', credential: expect.any(String) },
    ]);
    const relay = grant.iceServers[1]!;
    // What coturn computes to check it (RFC 2104 HMAC, as in its TURN REST API draft).
    expect(relay.credential).toBe(createHmac('sha1', SECRET).update('1800000600:acme/user_7__').digest('base64'));
    expect(turnPassword(SECRET, relay.username!)).toBe(relay.credential);
    expect(grant.expiresAt).toEqual(new Date(1_800_000_600_000));
    expect(issuer.issue('acme').iceServers[1]!.username).toBe('1800003600:acme');
  });

  it('without TURN configured: no servers, no expiry; STUN only: no credentials', () => {
    expect(new IceServerIssuer(undefined).issue('acme')).toEqual({ iceServers: [], expiresAt: null });
    expect(new IceServerIssuer({ ...turn, urls: ['stun:stun.example.com:3478'] }).issue('acme')).toEqual({ iceServers: [{ urls: ['stun:stun.example.com:3478'] }], expiresAt: null });
  });

  it('go to app backends and to tokens that may connect a session, not to a token that may only read', () => {
    const policy = (grant: unknown) => new AccessPolicy({ kind: 'client', appId: 'acme', tokenId: 't', owner: 'u', grant: parseGrant(grant), expiresAt: 0 }, () => undefined);
    expect(new AccessPolicy({ kind: 'app', appId: 'acme' }, () => undefined).iceServers()).toBe('allowed');
    expect(policy({ createSession: true }).iceServers()).toBe('allowed');
    expect(policy({ pull: { tags: ['room:a'] } }).iceServers()).toBe('allowed');
    expect(policy({ sessions: ['s1'] }).iceServers()).toBe('allowed');
    expect(policy({}).iceServers()).toBe('forbidden');
    expect(policy({}).identity).toBe('acme/u');
  });
});

describe('loadConfig: TURN_URLS and TURN_SECRET', () => {
  it('has no TURN by default and reads the URLs, the secret and the lifetimes', () => {
    expect(loadConfig({}).turn).toBeUndefined();
    expect(loadConfig({ TURN_URLS: 'turn:t.example.com:3478?transport=udp, stun:t.example.com:3478', TURN_SECRET: SECRET }).turn).toEqual({
      urls: ['turn:t.example.com:3478?transport=udp', 'stun:t.example.com:3478'],
      secret: SECRET,
      defaultTtlS: 86_400,
      maxTtlS: 172_800,
    });
    expect(loadConfig({ TURN_URLS: 'stun:t.example.com:3478' }).turn?.urls).toEqual(['stun:t.example.com:3478']);
  });

  it('refuses a half configuration, other schemes, a short secret and a default above the maximum', () => {
    const refused = (env: Record<string, string>) => {
      try {
        loadConfig(env);
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as Error).message;
      }
      throw new Error('accepted');
    };
    expect(refused({ TURN_SECRET: SECRET })).toMatch(/TURN_SECRET is set but TURN_URLS is not/);
    expect(refused({ TURN_URLS: 'turn:t.example.com:3478' })).toMatch(/set TURN_SECRET/);
    expect(refused({ TURN_URLS: 'turn:t.example.com:3478', TURN_SECRET: 'short' })).toMatch(/16 or more characters/);
    expect(refused({ TURN_URLS: 'https://t.example.com', TURN_SECRET: SECRET })).toMatch(/turn:, turns: or stun: URLs/);
    expect(refused({ TURN_URLS: 'turn:t.example.com', TURN_SECRET: SECRET, TURN_CREDENTIAL_MAX_TTL_S: '3600', TURN_CREDENTIAL_TTL_S: '7200' })).toMatch(/TURN_CREDENTIAL_TTL_S must be an integer from 60 to 3600/);
  });
});

describe('loadConfig: metrics', () => {
  it('serves /metrics openly in development; production needs a port of its own or a token, or METRICS=false', () => {
    expect(loadConfig({}).metrics).toEqual({ enabled: true, port: undefined, host: '127.0.0.1', token: undefined });
    const production = { SWITCHYARD_MODE: 'production', APPS: `acme:${'s'.repeat(32)}` };
    expect(loadConfig(production).metrics.enabled).toBe(false);
    // Its own port without a token listens on loopback unless METRICS_HOST says where (the API host is 0.0.0.0 here).
    expect(loadConfig({ ...production, METRICS_PORT: '9464' }).metrics).toEqual({ enabled: true, port: 9464, host: '127.0.0.1', token: undefined });
    expect(loadConfig({ ...production, METRICS_PORT: '9464', METRICS_HOST: '10.0.0.7' }).metrics.host).toBe('10.0.0.7');
    expect(loadConfig({ ...production, METRICS_PORT: '9464', METRICS_TOKEN: 't'.repeat(16) }).metrics.host).toBe('0.0.0.0');
    expect(loadConfig({ ...production, METRICS_TOKEN: 't'.repeat(16) }).metrics).toMatchObject({ enabled: true, token: 't'.repeat(16) });
    expect(() => loadConfig({ ...production, METRICS: 'true' })).toThrow(/METRICS_PORT .* or METRICS_TOKEN/);
    expect(() => loadConfig({ METRICS_TOKEN: 'short' })).toThrow(/at least 16 characters/);
  });
});
