import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

/** How often a node says it is alive, and how long after its last word it counts as gone. */
export const HEARTBEAT_MS = 1000;
export const HEARTBEAT_TTL_MS = 3000;

export interface NodeInfo {
  readonly id: string;
  /** Where other nodes reach this node's API (forwarded calls). */
  readonly url: string;
  readonly startedAt: string;
}

/**
 * The nodes of a cluster, on Redis: each node refreshes a key with a short
 * TTL (`<prefix>node:<id>`) every HEARTBEAT_MS; a node whose key expired is
 * gone. A node's id is new at every start, so a restarted node never speaks
 * for the sessions of its previous run.
 */
export class NodeRegistry {
  readonly selfId = randomUUID();
  private timer: NodeJS.Timeout | undefined;
  private self: NodeInfo | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Joins the cluster: announces this node at `url` and keeps announcing it. */
  async join(url: string): Promise<void> {
    this.self = { id: this.selfId, url, startedAt: new Date().toISOString() };
    await this.beat();
    this.timer = setInterval(() => void this.beat().catch(this.onError), HEARTBEAT_MS);
    this.timer.unref();
  }

  /** A live node (one whose heartbeat has not expired), or null. */
  async node(id: string): Promise<NodeInfo | null> {
    if (id === this.selfId && this.self) return this.self;
    const text = await this.redis.get(this.key(id));
    return text ? (JSON.parse(text) as NodeInfo) : null;
  }

  /** Leaves the cluster: the others see this node gone at once. */
  async leave(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.redis.del(this.key(this.selfId)).catch(() => undefined);
  }

  private async beat(): Promise<void> {
    if (this.self) await this.redis.set(this.key(this.selfId), JSON.stringify(this.self), 'PX', HEARTBEAT_TTL_MS);
  }

  private key(id: string): string {
    return `${this.prefix}node:${id}`;
  }
}
