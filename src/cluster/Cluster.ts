import { randomUUID, timingSafeEqual } from 'node:crypto';
import type { Redis } from 'ioredis';
import { unavailable } from '../errors.js';
import type { Logger } from '../logger.js';
import { NodeRegistry } from './NodeRegistry.js';
import { REDIS_UNAVAILABLE } from './redis.js';
import { SessionDirectory, type SessionEntry } from './SessionDirectory.js';
import { RedisCarrierDirectory, type CarrierDirectory } from '../relay/CarrierDirectory.js';

/** How many characters of a session id name its node: the first group of a UUID. */
const TAG_LENGTH = 8;
const nodeTag = (id: string) => id.slice(0, TAG_LENGTH);

/** Where a call about a session goes: this node, another live node, or nowhere (the session is unknown or its node gone). */
export type SessionRoute = { kind: 'local' } | { kind: 'remote'; nodeId: string; url: string } | { kind: 'unknown' };

/**
 * This node as a member of a cluster: its heartbeat (NodeRegistry), where
 * every session lives (SessionDirectory), and the cluster secret that
 * authenticates calls between nodes. Only built with REDIS_URL; a node alone
 * has none of this.
 */
export class Cluster {
  readonly nodes: NodeRegistry;
  readonly directory: SessionDirectory;
  /** Which nodes carry each track (relay trees). */
  readonly carriers: CarrierDirectory;
  private readonly secret: Buffer;
  /** This node's region and the other regions nearest first (NODE_REGION, REGION_ORDER): placement and relays start from them. */
  topology: { region: string; regionOrder: string[] } = { region: 'default', regionOrder: [] };

  constructor(
    redis: Redis,
    prefix: string,
    secret: string,
    /** This node's logger, for what the cluster code replaces with a stable message (raw errors of other nodes and Redis). */
    readonly logger: Logger,
  ) {
    this.nodes = new NodeRegistry(redis, prefix, (error) => logger.warn({ err: error }, 'could not refresh this node\'s heartbeat in Redis'));
    this.directory = new SessionDirectory(redis, prefix);
    this.carriers = new RedisCarrierDirectory(redis, prefix);
    this.secret = Buffer.from(secret);
  }

  get nodeId(): string {
    return this.nodes.selfId;
  }

  /** The header value that marks a call as one node's forwarded call to another. */
  get internalToken(): string {
    return this.secret.toString();
  }

  /** Whether a request carries the cluster secret (a call forwarded by another node). */
  isInternal(token: string | null | undefined): boolean {
    if (!token) return false;
    const given = Buffer.from(token);
    return given.length === this.secret.length && timingSafeEqual(given, this.secret);
  }

  /** Records a session this node created (LIMIT_EXCEEDED when its subject holds `cap` already, cluster-wide). */
  async registerSession(sessionId: string, entry: Omit<SessionEntry, 'nodeId'>, cap?: number): Promise<void> {
    await this.shared(() => this.directory.register(sessionId, { ...entry, nodeId: this.nodeId }, cap));
  }

  forgetSession(sessionId: string): void {
    this.directory.forget(sessionId).catch((error: unknown) => this.logger.warn({ err: error, session: sessionId }, 'could not remove a closed session from the cluster directory'));
  }

  /**
   * A new session id that names this node: a UUID whose first group is the
   * first group of this node's id. Any node then finds the session's node in
   * the heartbeats it already holds (route), with no round trip to Redis.
   * 90 random bits are left, as unguessable as any id needs to be.
   */
  readonly newSessionId = (): string => `${nodeTag(this.nodeId)}${randomUUID().slice(TAG_LENGTH)}`;

  /**
   * Where calls about a session go. A session id that names a live node
   * (newSessionId) goes there at once; that node answers for it, even that
   * it is gone, unless it is draining (its sessions move elsewhere). Other ids (sessions of nodes that did not name themselves)
   * are looked up in the directory. A session whose node stopped answering
   * its heartbeat is unknown. `fresh` asks the directory and the heartbeat
   * keys themselves (a node that just died may still be in the heartbeats
   * this node read a beat ago).
   */
  async route(sessionId: string, options: { fresh?: boolean } = {}): Promise<SessionRoute> {
    const named = options.fresh ? [] : this.nodes.peers.filter((node) => nodeTag(node.id) === nodeTag(sessionId));
    const tagged = named.length === 1 ? named[0]! : undefined;
    // A session moves away from its first node when that node drains (resumeSession): the directory says where it went.
    // Not on this node (callers look here first) and not moved: gone, or never was.
    if (tagged && !tagged.draining) return tagged.id === this.nodeId ? { kind: 'unknown' } : { kind: 'remote', nodeId: tagged.id, url: tagged.url };
    const entry = await this.shared(() => this.directory.get(sessionId));
    if (!entry) return { kind: 'unknown' };
    if (entry.nodeId === this.nodeId) return { kind: 'local' };
    const node = await this.shared(() => this.nodes.node(entry.nodeId));
    if (node) return { kind: 'remote', nodeId: node.id, url: node.url };
    // Just after Redis was away (a failover), every heartbeat key may have lapsed: a member's session is not gone, only unreachable now.
    // With Redis steady, a missing key means the node died: its session is gone (it answers SESSION_NOT_FOUND at once).
    if (!this.nodes.settled && (await this.shared(() => this.nodes.isMember(entry.nodeId)))) {
      throw unavailable(`the node that holds session ${sessionId} did not answer its heartbeat; retry shortly`);
    }
    return { kind: 'unknown' };
  }

  private async shared<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (error instanceof Error && error.name === 'SwitchyardError') throw error;
      // ioredis's words can name Redis's address and commands: kept as the cause, which the error masker logs.
      throw unavailable(REDIS_UNAVAILABLE, error);
    }
  }
}
