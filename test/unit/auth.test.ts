import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { AccessPolicy, type OwnedSession } from '../../src/auth/access.js';
import { matchesPattern, parseGrant } from '../../src/auth/grant.js';
import { Authenticator, DEVELOPMENT_APP, type Principal } from '../../src/auth/principal.js';
import { mintClientToken } from '../../src/auth/tokens.js';
import { parseAppList, parseAppsFile } from '../../src/config/apps.js';
import { loadConfig } from '../../src/config/config.js';
import { SwitchyardError } from '../../src/errors.js';
import type { TrackView } from '../../src/tracks/PublishedTrack.js';

const ACME = { id: 'acme', secret: 'a'.repeat(40) };
const BETA = { id: 'beta', secret: 'b'.repeat(40) };

async function refusal(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof SwitchyardError) return `${error.code}: ${error.message}`;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('grant patterns', () => {
  it.each([
    ['room:*', 'room:lobby', true],
    ['room:*', 'room:', true],
    ['room:*', 'rooms:lobby', false],
    ['cam', 'cam', true],
    ['cam', 'camera', false],
    ['*', 'anything', true],
    ['a*b*c', 'aXbYc', true],
    ['a*b*c', 'acb', false],
    ['ab*ba', 'aba', false],
    ['*-screen', 'user-1-screen', true],
  ])('%s against %s is %s', (pattern, value, expected) => {
    expect(matchesPattern(pattern, value)).toBe(expected);
  });

  it('refuses malformed grants with what is wrong', () => {
    expect(() => parseGrant({ publish: { names: 'cam' } })).toThrow(/grant.publish.names/);
    expect(() => parseGrant({ createSession: 'yes' })).toThrow(/createSession/);
    expect(() => parseGrant({ admin: true })).toThrow(/unknown fields: admin/);
    expect(() => parseGrant({ sessions: Array(65).fill('x') })).toThrow(/at most 64/);
    expect(parseGrant({ publish: {} })).toEqual({ createSession: false, sessions: [], publish: { names: ['*'], tags: [] }, pull: null, adapters: false, record: false });
    expect(parseGrant({ adapters: true, record: true })).toMatchObject({ adapters: true, record: true });
    expect(() => parseGrant({ adapters: 'yes' })).toThrow(/grant.adapters/);
    expect(() => parseGrant({ record: 1 })).toThrow(/grant.record/);
  });
});

describe('app configuration', () => {
  it('reads APPS and APPS_FILE and refuses weak secrets', () => {
    expect(parseAppList(`acme:${ACME.secret}, beta:${BETA.secret}`)).toEqual([ACME, BETA]);
    expect(parseAppsFile(JSON.stringify({ apps: [ACME] }))).toEqual([ACME]);
    expect(() => parseAppList('acme:short')).toThrow(/at least 32/);
    expect(() => parseAppList(`bad id:${ACME.secret}`)).toThrow(/app id/);
    expect(() => parseAppsFile('{"apps": {}}')).toThrow(/APPS_FILE must hold/);
  });

  it('production refuses to start without apps and turns GraphiQL and introspection off', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/production mode needs at least one app/);
    expect(() => loadConfig({ SWITCHYARD_MODE: 'production' })).toThrow(/needs at least one app/);
    const production = loadConfig({ NODE_ENV: 'production', APPS: `acme:${ACME.secret}` });
    expect(production).toMatchObject({ mode: 'production', graphiql: false, introspection: false, apps: [ACME] });
    expect(loadConfig({ NODE_ENV: 'production', APPS: `acme:${ACME.secret}`, GRAPHIQL: 'true' }).graphiql).toBe(true);
    expect(loadConfig({})).toMatchObject({ mode: 'development', graphiql: true, introspection: true, apps: [], mutationsPerSecond: 50 });
    expect(() => loadConfig({ APPS: `acme:${ACME.secret},acme:${BETA.secret}` })).toThrow(/configured twice/);
  });
});

describe('Authenticator', () => {
  const auth = new Authenticator([ACME, BETA]);

  it('takes an app secret as that app\'s backend', async () => {
    await expect(auth.authenticate(`Bearer ${ACME.secret}`)).resolves.toEqual({ kind: 'app', appId: 'acme' });
    await expect(auth.authenticate(`bearer ${BETA.secret}`)).resolves.toEqual({ kind: 'app', appId: 'beta' });
  });

  it('takes a client token signed with the app secret', async () => {
    const token = await mintClientToken({ appId: 'acme', secret: ACME.secret, subject: 'user-1', grant: { createSession: true } });
    const principal = await auth.authenticate(`Bearer ${token}`);
    expect(principal).toMatchObject({ kind: 'client', appId: 'acme', owner: 'user-1', grant: { createSession: true } });
  });

  it('refuses missing, malformed, forged, expired and foreign credentials with UNAUTHENTICATED', async () => {
    expect(await refusal(auth.authenticate(undefined))).toMatch(/^UNAUTHENTICATED: missing credentials/);
    expect(await refusal(auth.authenticate('Basic abc'))).toMatch(/^UNAUTHENTICATED: .*Bearer/);
    expect(await refusal(auth.authenticate('Bearer nope'))).toMatch(/^UNAUTHENTICATED: .*not a JWT/);
    const forged = await mintClientToken({ appId: 'acme', secret: BETA.secret, grant: {} });
    expect(await refusal(auth.authenticate(`Bearer ${forged}`))).toMatch(/^UNAUTHENTICATED: .*signature/);
    const unknownApp = await mintClientToken({ appId: 'gamma', secret: ACME.secret, grant: {} });
    expect(await refusal(auth.authenticate(`Bearer ${unknownApp}`))).toMatch(/^UNAUTHENTICATED: .*signature/);
    const key = new TextEncoder().encode(ACME.secret);
    const expired = await new SignJWT({ grant: {} })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('acme')
      .setAudience('switchyard')
      .setJti('x')
      .setIssuedAt(Math.floor(Date.now() / 1000) - 120)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
      .sign(key);
    expect(await refusal(auth.authenticate(`Bearer ${expired}`))).toMatch(/^UNAUTHENTICATED: .*expired/);
    const noExpiry = await new SignJWT({ grant: {} }).setProtectedHeader({ alg: 'HS256' }).setIssuer('acme').setAudience('switchyard').setJti('x').setIssuedAt().sign(key);
    expect(await refusal(auth.authenticate(`Bearer ${noExpiry}`))).toMatch(/^UNAUTHENTICATED: .*exp/);
    const tooLong = await new SignJWT({ grant: {} })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('acme')
      .setAudience('switchyard')
      .setJti('x')
      .setIssuedAt(Math.floor(Date.now() / 1000) - 25 * 3600)
      .setExpirationTime('1h')
      .sign(key);
    expect(await refusal(auth.authenticate(`Bearer ${tooLong}`))).toMatch(/^UNAUTHENTICATED/);
    const badGrant = await new SignJWT({ grant: { admin: true } }).setProtectedHeader({ alg: 'HS256' }).setIssuer('acme').setAudience('switchyard').setJti('x').setIssuedAt().setExpirationTime('1m').sign(key);
    expect(await refusal(auth.authenticate(`Bearer ${badGrant}`))).toMatch(/^UNAUTHENTICATED: .*grant/);
    // alg: none must never pass, whatever the claims say.
    const header = Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url');
    const body = Buffer.from(JSON.stringify({ iss: 'acme', aud: 'switchyard', exp: 9e9, iat: 1, jti: 'x', grant: {} })).toString('base64url');
    expect(await refusal(auth.authenticate(`Bearer ${header}.${body}.`))).toMatch(/^UNAUTHENTICATED/);
  });

  it('development mode without apps lets requests without credentials in as the one open app', async () => {
    const open = new Authenticator([]);
    expect(open.open).toBe(true);
    await expect(open.authenticate(undefined)).resolves.toEqual({ kind: 'app', appId: DEVELOPMENT_APP.id });
    expect(auth.open).toBe(false);
  });

  it('reads graphql-ws connectionParams', async () => {
    const token = await mintClientToken({ appId: 'acme', secret: ACME.secret, grant: {} });
    await expect(auth.authenticateConnection({ token }, undefined)).resolves.toMatchObject({ kind: 'client', appId: 'acme' });
    await expect(auth.authenticateConnection({ authorization: `Bearer ${ACME.secret}` }, undefined)).resolves.toEqual({ kind: 'app', appId: 'acme' });
    await expect(auth.authenticateConnection(undefined, `Bearer ${BETA.secret}`)).resolves.toEqual({ kind: 'app', appId: 'beta' });
  });
});

describe('AccessPolicy', () => {
  const sessions = new Map<string, OwnedSession>([
    ['mine', { id: 'mine', ownership: { appId: 'acme', owner: 'alice' } }],
    ['bobs', { id: 'bobs', ownership: { appId: 'acme', owner: 'bob' } }],
    ['backend', { id: 'backend', ownership: { appId: 'acme', owner: null } }],
    ['foreign', { id: 'foreign', ownership: { appId: 'beta', owner: 'alice' } }],
  ]);
  const policy = (principal: Principal) => new AccessPolicy(principal, (id) => sessions.get(id));
  const track = (sessionId: string, tags: string[], appId = 'acme'): TrackView => ({
    appId,
    owner: sessions.get(sessionId)?.ownership.owner ?? null,
    sessionId,
    name: 'cam',
    kind: 'video',
    status: 'ACTIVE',
    tags,
    simulcastRids: [],
    publishedAt: new Date(), muted: false,
  });
  const alice = (grant: Parameters<typeof parseGrant>[0]) =>
    policy({ kind: 'client', appId: 'acme', tokenId: 't1', owner: 'alice', grant: parseGrant(grant), expiresAt: Date.now() + 60_000 });

  it('an app backend does anything in its app and sees nothing of another', () => {
    const backend = policy({ kind: 'app', appId: 'acme' });
    expect(backend.createSession()).toBe('allowed');
    expect(['mine', 'bobs', 'backend'].map((id) => backend.session(sessions.get(id)!))).toEqual(['allowed', 'allowed', 'allowed']);
    expect(backend.session(sessions.get('foreign')!)).toBe('hidden');
    expect(backend.track(track('bobs', []))).toBe('allowed');
    expect(backend.track(track('foreign', [], 'beta'))).toBe('hidden');
    expect(backend.publishRefusal('anything', ['any:tag'])).toBeNull();
  });

  it('a client acts on the sessions its subject created or its token names', () => {
    const client = alice({ sessions: ['backend'] });
    expect(client.createSession()).toBe('forbidden');
    expect(client.session(sessions.get('mine')!)).toBe('allowed');
    expect(client.session(sessions.get('backend')!)).toBe('allowed');
    expect(client.session(sessions.get('bobs')!)).toBe('forbidden');
    expect(client.session(sessions.get('foreign')!)).toBe('hidden');
    expect(alice({ createSession: true }).createSession()).toBe('allowed');
  });

  it('a client publishes only names and tags its grant matches', () => {
    expect(alice({}).publishRefusal('cam', [])).toMatch(/may not publish/);
    const client = alice({ publish: { names: ['cam', 'mic'], tags: ['room:lobby', 'user:alice'] } });
    expect(client.publishRefusal('cam', ['room:lobby'])).toBeNull();
    expect(client.publishRefusal('screen', [])).toMatch(/named screen/);
    expect(client.publishRefusal('mic', ['room:other'])).toMatch(/tag room:other/);
    expect(client.mayAutoDiscover()).toBe(false);
    expect(alice({ publish: { names: ['*'] } }).mayAutoDiscover()).toBe(true);
  });

  it('a client pulls and sees its own tracks, granted sessions and granted tags only', () => {
    const client = alice({ pull: { sessions: ['backend'], tags: ['room:lobby'] } });
    expect(client.track(track('mine', []))).toBe('allowed');
    expect(client.track(track('backend', []))).toBe('allowed');
    expect(client.track(track('bobs', ['room:lobby', 'user:bob']))).toBe('allowed');
    expect(client.track(track('bobs', ['room:other']))).toBe('forbidden');
    expect(client.track(track('foreign', ['room:lobby'], 'beta'))).toBe('hidden');
    expect(alice({}).track(track('bobs', ['room:lobby']))).toBe('forbidden');
  });

  it('a track of a session on another node (not in this node\'s sessions) follows the owner its view records', () => {
    const remote = (owner: string | null): TrackView => ({ ...track('elsewhere', []), owner });
    expect(alice({}).track(remote('alice'))).toBe('allowed');
    expect(alice({}).track(remote('bob'))).toBe('forbidden');
    expect(alice({}).track(remote(null))).toBe('forbidden');
    expect(alice({ pull: { sessions: ['elsewhere'], tags: [] } }).track(remote('bob'))).toBe('allowed');
  });
});
