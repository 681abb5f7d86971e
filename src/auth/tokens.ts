import { randomBytes, randomUUID } from 'node:crypto';
import { compactVerify, decodeJwt, errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { GrantError, parseGrant, type ClientGrant, type GrantInput } from './grant.js';

/**
 * Client tokens: short-lived JWTs that an app's backend signs with the app's
 * secret (HS256) and hands to a browser. `jose` does the signing and the
 * checks (signature, algorithm, expiry, audience): a well-kept library with no
 * dependencies, which refuses `alg: none` and algorithm confusion by design.
 */
export const TOKEN_AUDIENCE = 'switchyard';
/** A token that lives longer than this is refused, whatever its exp says. */
export const MAX_TOKEN_LIFETIME_SECONDS = 24 * 60 * 60;
const ALGORITHM = 'HS256';

export interface MintOptions {
  appId: string;
  secret: string;
  grant: GrantInput;
  /** Who the token is for (the app's user id); sessions it creates belong to this subject. */
  subject?: string;
  /** Lifetime in seconds (default 10 minutes, at most 24 hours). */
  ttlSeconds?: number;
}

/** Mints a client token. App backends call this (or `npm run token`); the SFU never does. */
export async function mintClientToken(options: MintOptions): Promise<string> {
  const ttl = options.ttlSeconds ?? 600;
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TOKEN_LIFETIME_SECONDS) {
    throw new RangeError(`ttlSeconds must be an integer from 1 to ${MAX_TOKEN_LIFETIME_SECONDS}`);
  }
  const grant = parseGrant(options.grant);
  const jwt = new SignJWT({ grant })
    .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
    .setIssuer(options.appId)
    .setAudience(TOKEN_AUDIENCE)
    .setJti(randomUUID())
    .setIssuedAt()
    .setExpirationTime(`${ttl}s`);
  if (options.subject) jwt.setSubject(options.subject);
  return jwt.sign(new TextEncoder().encode(options.secret));
}

export interface VerifiedToken {
  appId: string;
  tokenId: string;
  subject: string | null;
  grant: ClientGrant;
  /** When the token expires, in milliseconds since the epoch. */
  expiresAt: number;
}

export class TokenError extends Error {}

/** The one reason for every failure that depends on the named app: whether it exists, its secret, the algorithm it takes. */
const SIGNATURE_FAILS = 'the token signature does not verify';
/**
 * What a token naming an unknown app is checked against (random per process,
 * never any app's): it goes through the same checks, with the same answers
 * and about the same time, as a token of an app that exists.
 */
const UNKNOWN_APP_KEY = randomBytes(32);

/**
 * Checks a client token against the secret of the app it names as issuer.
 * Throws TokenError with a reason a developer can act on; the reason never
 * says whether an app exists. Everything jose checks before the signature
 * holds (header, algorithm, key, signature) answers SIGNATURE_FAILS alike,
 * because each could tell an existing app from an unknown one (jose names
 * the refused algorithm, say, only once it has an app's key). Reasons given
 * after the signature held (expired, audience, grant) need the app's secret
 * to provoke, so they can say what is wrong.
 */
export async function verifyClientToken(token: string, secretOf: (appId: string) => string | undefined): Promise<VerifiedToken> {
  let issuer: unknown;
  try {
    issuer = decodeJwt(token).iss;
  } catch {
    throw new TokenError('the token is not a JWT');
  }
  const secret = typeof issuer === 'string' ? secretOf(issuer) : undefined;
  const key = secret === undefined ? UNKNOWN_APP_KEY : new TextEncoder().encode(secret);
  try {
    await compactVerify(token, key, { algorithms: [ALGORITHM] });
  } catch {
    throw new TokenError(SIGNATURE_FAILS);
  }
  // Unreachable with a random key; an unknown app is never accepted even so.
  if (secret === undefined || typeof issuer !== 'string') throw new TokenError(SIGNATURE_FAILS);
  try {
    // The signature holds (checked again here, which costs microseconds): now the claims.
    const { payload } = await jwtVerify(token, key, {
      algorithms: [ALGORITHM],
      issuer,
      audience: TOKEN_AUDIENCE,
      requiredClaims: ['exp', 'iat', 'jti'],
      maxTokenAge: MAX_TOKEN_LIFETIME_SECONDS,
      clockTolerance: 5,
    });
    return {
      appId: issuer,
      tokenId: String(payload.jti),
      subject: payload.sub ?? null,
      grant: parseGrant(payload.grant),
      expiresAt: Number(payload.exp) * 1000,
    };
  } catch (error) {
    if (error instanceof GrantError) throw new TokenError(`the token's grant is invalid: ${error.message}`);
    if (error instanceof joseErrors.JWTExpired) throw new TokenError('the token has expired');
    if (error instanceof joseErrors.JOSEError) throw new TokenError(`the token is not valid: ${error.message}`);
    throw error;
  }
}
