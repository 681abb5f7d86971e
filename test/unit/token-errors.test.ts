import { createHmac } from 'node:crypto';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { Authenticator } from '../../src/auth/principal.js';
import { SwitchyardError } from '../../src/errors.js';

/**
 * A refused client token must not tell whether the app it names exists: a
 * token of an existing app that fails before its signature holds (another
 * algorithm, `none`, a malformed header, the wrong key) is answered exactly
 * as the same token naming an app that does not exist.
 */
const ACME = { id: 'acme', secret: 'a'.repeat(40) };
const auth = new Authenticator([ACME]);
const SIGNATURE = 'UNAUTHENTICATED: invalid credentials: the token signature does not verify';

const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const claims = (iss: string) => ({ iss, aud: 'switchyard', exp: Math.floor(Date.now() / 1000) + 600, iat: Math.floor(Date.now() / 1000), jti: 'x', grant: {} });

/** A compact JWS with any header, signed with HMAC of `hash` (or with the signature given). */
function handMade(header: unknown, payload: unknown, sign: { hash: string; secret: string } | string): string {
  const input = `${b64(header)}.${b64(payload)}`;
  const signature = typeof sign === 'string' ? sign : createHmac(sign.hash, sign.secret).update(input).digest('base64url');
  return `${input}.${signature}`;
}

async function refusal(token: string): Promise<string> {
  try {
    await auth.authenticate(`Bearer ${token}`);
  } catch (error) {
    if (error instanceof SwitchyardError) return `${error.code}: ${error.message}`;
    throw error;
  }
  throw new Error('expected a refusal');
}

/** Each builds the same token for an issuer; every one is refused before its signature could hold. */
const TOKENS: Record<string, (iss: string) => Promise<string> | string> = {
  'HS512 with the app secret': (iss) => new SignJWT({ grant: {} }).setProtectedHeader({ alg: 'HS512' }).setIssuer(iss).setAudience('switchyard').setJti('x').setIssuedAt().setExpirationTime('5m').sign(new TextEncoder().encode(ACME.secret)),
  'HS384 with the app secret': (iss) => handMade({ alg: 'HS384', typ: 'JWT' }, claims(iss), { hash: 'sha384', secret: ACME.secret }),
  'alg none': (iss) => handMade({ alg: 'none' }, claims(iss), ''),
  'RS256 with a made-up signature': (iss) => handMade({ alg: 'RS256' }, claims(iss), b64('not a signature')),
  'no alg': (iss) => handMade({ typ: 'JWT' }, claims(iss), { hash: 'sha256', secret: ACME.secret }),
  'a header that is not JSON': (iss) => `${b64('{not json')}.${b64(claims(iss))}.${b64('sig')}`,
  'an unknown critical header': (iss) => handMade({ alg: 'HS256', crit: ['x-unknown'], 'x-unknown': 1 }, claims(iss), { hash: 'sha256', secret: ACME.secret }),
  'HS256 with another secret': (iss) => handMade({ alg: 'HS256' }, claims(iss), { hash: 'sha256', secret: 'b'.repeat(40) }),
  'HS256 with no signature': (iss) => handMade({ alg: 'HS256' }, claims(iss), ''),
};

describe('client tokens refused before their signature holds', () => {
  it.each(Object.keys(TOKENS))('%s: the same answer for an existing app and an unknown one', async (name) => {
    const build = TOKENS[name]!;
    const known = await refusal(await build(ACME.id));
    const unknown = await refusal(await build('no-such-app'));
    expect(known).toBe(unknown);
    expect(known).toBe(SIGNATURE);
  });

  it('names what is wrong once the signature holds (only the app secret can make such a token)', async () => {
    const key = new TextEncoder().encode(ACME.secret);
    const now = Math.floor(Date.now() / 1000);
    const expired = await new SignJWT({ grant: {} }).setProtectedHeader({ alg: 'HS256' }).setIssuer('acme').setAudience('switchyard').setJti('x').setIssuedAt(now - 120).setExpirationTime(now - 60).sign(key);
    expect(await refusal(expired)).toBe('UNAUTHENTICATED: invalid credentials: the token has expired');
    const otherAudience = await new SignJWT({ grant: {} }).setProtectedHeader({ alg: 'HS256' }).setIssuer('acme').setAudience('elsewhere').setJti('x').setIssuedAt().setExpirationTime('1m').sign(key);
    expect(await refusal(otherAudience)).toMatch(/^UNAUTHENTICATED: invalid credentials: the token is not valid: .*aud/);
    // And a token that is no JWT at all says so, whatever app it might have meant.
    expect(await refusal('abc.def')).toBe('UNAUTHENTICATED: invalid credentials: the token is not a JWT');
  });
});
