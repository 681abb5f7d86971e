import type { Redis } from 'ioredis';
import { ErrorCode, SwitchyardError } from '../errors.js';

/** Who a session belongs to, and where it lives. */
export interface SessionEntry {
  readonly nodeId: string;
  readonly appId: string;
  /** The client-token subject that created it; null for an app's backend. */
  readonly owner: string | null;
  /** SHA-256 of its resume secret (src/moves/resumeSecret.ts): a node it moves to checks the secret against it. */
  readonly secretHash: string;
  readonly correlationId: string | null;
}

/**
 * Where each session of the cluster lives (session id -> node), so that any
 * node can send a call about a session to the node that holds it, and the
 * per-subject session cap, counted across nodes. Entries live in Redis:
 * `<prefix>session:<id>` (a hash) and `<prefix>subject:<app>:<owner>` (the set
 * of that subject's session ids), changed together in Lua scripts.
 */
export class SessionDirectory {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {
    redis.defineCommand('switchyardRegisterSession', { numberOfKeys: 3, lua: REGISTER_SCRIPT });
    redis.defineCommand('switchyardForgetSession', { numberOfKeys: 1, lua: FORGET_SCRIPT });
    redis.defineCommand('switchyardMoveSession', { numberOfKeys: 3, lua: MOVE_SCRIPT });
  }

  /**
   * Records a new session. With `cap`, refuses (LIMIT_EXCEEDED) when its
   * owner already holds that many sessions anywhere in the cluster.
   */
  async register(sessionId: string, entry: SessionEntry, cap?: number): Promise<void> {
    const subjectKey = entry.owner === null ? '' : this.subjectKey(entry.appId, entry.owner);
    const held = Number(
      await (this.redis as unknown as Scripts).switchyardRegisterSession(
        this.sessionKey(sessionId),
        subjectKey || this.sessionKey(sessionId),
        this.nodeKey(entry.nodeId),
        entry.nodeId,
        entry.appId,
        entry.owner ?? '',
        subjectKey ? String(cap ?? 0) : '0',
        sessionId,
        entry.secretHash,
        entry.correlationId ?? '',
      ),
    );
    if (held < 0) {
      throw new SwitchyardError(ErrorCode.LIMIT_EXCEEDED, `this subject already holds ${-held - 1} sessions in the cluster, the most allowed; close one first`);
    }
  }

  /**
   * The session now lives on `toNode` (it was resumed there). Refused
   * (SESSION_NOT_FOUND) when it no longer lives on `fromNode`: it was closed,
   * or another resume moved it first.
   */
  async move(sessionId: string, fromNode: string, toNode: string): Promise<void> {
    const moved = Number(
      await (this.redis as unknown as Scripts).switchyardMoveSession(this.sessionKey(sessionId), this.nodeKey(fromNode), this.nodeKey(toNode), fromNode, toNode, sessionId),
    );
    if (moved !== 1) throw new SwitchyardError(ErrorCode.SESSION_NOT_FOUND, `session ${sessionId} was closed or moved meanwhile`);
  }

  async forget(sessionId: string): Promise<void> {
    await (this.redis as unknown as Scripts).switchyardForgetSession(this.sessionKey(sessionId), `${this.prefix}subject:`, sessionId, `${this.prefix}node-sessions:`);
  }

  /** The sessions a node holds (or held, for a node that died). */
  sessionsOf(nodeId: string): Promise<string[]> {
    return this.redis.smembers(this.nodeKey(nodeId));
  }

  private nodeKey(nodeId: string): string {
    return `${this.prefix}node-sessions:${nodeId}`;
  }

  async get(sessionId: string): Promise<SessionEntry | null> {
    if (typeof sessionId !== 'string' || sessionId.length > 64) return null;
    const fields = await this.redis.hgetall(this.sessionKey(sessionId));
    if (!fields.node) return null;
    return { nodeId: fields.node, appId: fields.app ?? '', owner: fields.owner ? fields.owner : null, secretHash: fields.secret ?? '', correlationId: fields.correlation ? fields.correlation : null };
  }

  /** Sessions one subject holds anywhere in the cluster. */
  async countOwnedBy(appId: string, owner: string): Promise<number> {
    return this.redis.scard(this.subjectKey(appId, owner));
  }

  private sessionKey(id: string): string {
    return `${this.prefix}session:${id}`;
  }

  private subjectKey(appId: string, owner: string): string {
    return `${this.prefix}subject:${appId}:${owner}`;
  }
}

interface Scripts {
  switchyardRegisterSession(...args: string[]): Promise<number>;
  switchyardForgetSession(...args: string[]): Promise<number>;
  switchyardMoveSession(...args: string[]): Promise<number>;
}

/**
 * KEYS: session hash, subject set (the session key again when there is no
 * subject), the node's session set. ARGV: node, app, owner, cap (0: none),
 * session id, secret hash, correlation id. Returns the subject's session count, or -(count + 1) when the
 * cap refuses.
 */
const REGISTER_SCRIPT = `
local cap = tonumber(ARGV[4])
local count = 0
if cap > 0 then
  count = redis.call('SCARD', KEYS[2])
  if count >= cap then return -(count + 1) end
  redis.call('SADD', KEYS[2], ARGV[5])
  count = count + 1
end
redis.call('HSET', KEYS[1], 'node', ARGV[1], 'app', ARGV[2], 'owner', ARGV[3], 'secret', ARGV[6], 'correlation', ARGV[7])
redis.call('SADD', KEYS[3], ARGV[5])
return count
`;

/** KEYS: session hash, old node's session set, new node's. ARGV: old node, new node, session id. 1 when moved, 0 when it was not on the old node. */
const MOVE_SCRIPT = `
if redis.call('HGET', KEYS[1], 'node') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'node', ARGV[2])
redis.call('SREM', KEYS[2], ARGV[3])
redis.call('SADD', KEYS[3], ARGV[3])
return 1
`;

/** KEYS: session hash. ARGV: subject key prefix, session id, node key prefix. */
const FORGET_SCRIPT = `
local app = redis.call('HGET', KEYS[1], 'app')
local owner = redis.call('HGET', KEYS[1], 'owner')
local node = redis.call('HGET', KEYS[1], 'node')
if owner and owner ~= '' then redis.call('SREM', ARGV[1] .. app .. ':' .. owner, ARGV[2]) end
if node then redis.call('SREM', ARGV[3] .. node, ARGV[2]) end
return redis.call('DEL', KEYS[1])
`;
