/**
 * What a client token allows, as the app's backend wrote it into the token's
 * `grant` claim. Everything not granted is refused; an empty grant allows
 * nothing but reading the sessions the token names.
 *
 * Patterns are exact strings or contain `*`, which matches any run of
 * characters (`room:*`, `cam-*`).
 */
export interface ClientGrant {
  /** May call createSession; the sessions it creates belong to the token's subject. */
  createSession: boolean;
  /** Sessions this token may act on besides the ones its subject created. */
  sessions: string[];
  /** null: may not publish. Otherwise every track name must match `names`, and every tag `tags`. */
  publish: { names: string[]; tags: string[] } | null;
  /** null: may not pull. Otherwise tracks of `sessions`, or tracks carrying a tag that matches `tags`. */
  pull: { sessions: string[]; tags: string[] } | null;
  /** May create and close WebSocket adapters (egress of the tracks it may pull, ingest under names it may publish). */
  adapters: boolean;
  /** May start and stop recordings of the tracks it may pull. */
  record: boolean;
}

/** A grant as an app backend writes it: whatever is left out is not granted (publish.names defaults to "*"). */
export interface GrantInput {
  createSession?: boolean;
  sessions?: string[];
  publish?: { names?: string[]; tags?: string[] } | null;
  pull?: { sessions?: string[]; tags?: string[] } | null;
  adapters?: boolean;
  record?: boolean;
}

export const MAX_GRANT_ENTRIES = 64;
const MAX_ENTRY_LENGTH = 128;

export class GrantError extends Error {}

function stringList(value: unknown, where: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > MAX_GRANT_ENTRIES) {
    throw new GrantError(`${where} must be a list of at most ${MAX_GRANT_ENTRIES} strings`);
  }
  for (const entry of value) {
    if (typeof entry !== 'string' || entry.length === 0 || entry.length > MAX_ENTRY_LENGTH) {
      throw new GrantError(`${where} entries must be strings of 1-${MAX_ENTRY_LENGTH} characters`);
    }
  }
  return value as string[];
}

function object(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new GrantError(`${where} must be an object`);
  return value as Record<string, unknown>;
}

/** Reads and checks a grant claim; throws GrantError with what is wrong. */
export function parseGrant(claim: unknown): ClientGrant {
  const raw = object(claim ?? {}, 'grant');
  const known = new Set(['createSession', 'sessions', 'publish', 'pull', 'adapters', 'record']);
  const unknown = Object.keys(raw).filter((key) => !known.has(key));
  if (unknown.length) throw new GrantError(`grant has unknown fields: ${unknown.join(', ')}`);
  if (raw.createSession !== undefined && typeof raw.createSession !== 'boolean') throw new GrantError('grant.createSession must be a boolean');
  if (raw.adapters !== undefined && typeof raw.adapters !== 'boolean') throw new GrantError('grant.adapters must be a boolean');
  if (raw.record !== undefined && typeof raw.record !== 'boolean') throw new GrantError('grant.record must be a boolean');
  const publish = raw.publish == null ? null : object(raw.publish, 'grant.publish');
  const pull = raw.pull == null ? null : object(raw.pull, 'grant.pull');
  return {
    createSession: raw.createSession === true,
    sessions: stringList(raw.sessions, 'grant.sessions'),
    publish: publish && { names: stringList(publish.names ?? ['*'], 'grant.publish.names'), tags: stringList(publish.tags, 'grant.publish.tags') },
    pull: pull && { sessions: stringList(pull.sessions, 'grant.pull.sessions'), tags: stringList(pull.tags, 'grant.pull.tags') },
    adapters: raw.adapters === true,
    record: raw.record === true,
  };
}

/** True when `value` matches `pattern`, where `*` stands for any run of characters. */
export function matchesPattern(pattern: string, value: string): boolean {
  if (!pattern.includes('*')) return pattern === value;
  const parts = pattern.split('*');
  const first = parts[0] as string;
  const last = parts[parts.length - 1] as string;
  if (!value.startsWith(first) || value.length < first.length + last.length || !value.endsWith(last)) return false;
  // Middle parts in order, each after the previous one (no backtracking needed for '*').
  let at = first.length;
  const end = value.length - last.length;
  for (const part of parts.slice(1, -1)) {
    const found = value.indexOf(part, at);
    if (found < 0 || found + part.length > end) return false;
    at = found + part.length;
  }
  return true;
}

export const matchesAny = (patterns: readonly string[], value: string) => patterns.some((p) => matchesPattern(p, value));
