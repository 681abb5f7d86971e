import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * A session's resume secret: what proves that a client holds the session
 * (resumeSession), where the session id alone only names it (ids are read
 * by everyone who pulls its tracks). 32 random bytes, base64url, given once
 * in createSession's payload. Nodes keep only its SHA-256 (in memory and in
 * the cluster's session directory), so a leaked directory resumes nothing.
 */
export function newResumeSecret(): { secret: string; hash: string } {
  const secret = randomBytes(32).toString('base64url');
  return { secret, hash: hashResumeSecret(secret) };
}

export function hashResumeSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Whether `secret` is the one whose hash is `hash` (constant time; false for anything malformed). */
export function resumeSecretMatches(secret: unknown, hash: string | undefined): boolean {
  if (typeof secret !== 'string' || !hash || secret.length === 0 || secret.length > 128) return false;
  const given = Buffer.from(hashResumeSecret(secret), 'hex');
  const kept = Buffer.from(hash, 'hex');
  return given.length === kept.length && timingSafeEqual(given, kept);
}
