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
  /**
   * Where this node's pipe transports are reached (PIPE_ANNOUNCED_IP, else
   * RTC_ANNOUNCED_IP, else RTC_LISTEN_IP): the only addresses other nodes
   * send piped media to when this node asks (PipeServer). Absent for nodes
   * of versions that did not say.
   */
  readonly pipeIps?: string[];
}

/**
 * The nodes of a cluster, on Redis: each node refreshes a key with a short
 * TTL (`<prefix>node:<id>`) every HEARTBEAT_MS; a node whose key expired is
 * gone. A node's id is new at every start, so a restarted node never speaks
 * for the sessions of its previous run.
 */
export class NodeRegistry {
  /** This node's id in the cluster: new at every start, and again if the cluster declared it gone (stall). */
  selfId = randomUUID();
  private timer: NodeJS.Timeout | undefined;
  private self: NodeInfo | undefined;
  /** Called when this node finds that its heartbeat had expired: the cluster has forgotten it. */
  onExpired: (() => void) | undefined;
  /** Whether the first beat of this id went through (it creates the key; later beats only refresh it). */
  private joined = false;
  /** Since when this node's beats have been going through without a failure (0 while they fail). */
  private beatingSince = 0;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Joins the cluster: announces this node at `url` (its pipes at `pipeIps`) and keeps announcing it. */
  async join(url: string, pipeIps?: string[]): Promise<void> {
    this.self = { id: this.selfId, url, startedAt: new Date().toISOString(), ...(pipeIps ? { pipeIps } : {}) };
    this.joined = false;
    // The timer first: a first beat that fails (Redis flapping) is retried by the next one.
    clearInterval(this.timer);
    this.timer = setInterval(() => void this.beat().catch((error: unknown) => this.failed(error)), HEARTBEAT_MS);
    this.timer.unref();
    await this.beat().catch((error: unknown) => this.failed(error));
  }

  /**
   * Whether this node's own heartbeat has gone through for long enough that
   * other nodes' missing keys mean something: just after Redis came back,
   * every key has expired and every node is about to beat again.
   */
  get settled(): boolean {
    return this.beatingSince > 0 && Date.now() - this.beatingSince >= HEARTBEAT_TTL_MS + HEARTBEAT_MS;
  }

  private failed(error: unknown): void {
    this.beatingSince = 0;
    this.onError(error);
  }

  /** Joins again: under a new id after the cluster declared this node gone, under the same one after Redis lost its data. */
  async rejoin(options: { newId: boolean }): Promise<void> {
    const self = this.self;
    clearInterval(this.timer);
    if (options.newId) this.selfId = randomUUID();
    if (self) await this.join(self.url, self.pipeIps);
  }

  /**
   * Why this node's heartbeat key was gone: other nodes declared it dead and
   * cleaned up after it (a claim on it, or it is no member any more), or its
   * key merely lapsed while Redis was out of reach for everyone.
   */
  async expiry(): Promise<'declared-dead' | 'lapsed'> {
    const [claimed, member] = await Promise.all([this.redis.exists(`${this.prefix}cleanup:${this.selfId}`), this.redis.sismember(this.membersKey, this.selfId)]);
    return claimed === 1 || member === 0 ? 'declared-dead' : 'lapsed';
  }

  /** Every node that joined and has not been cleaned up after (alive or not). */
  members(): Promise<string[]> {
    return this.redis.smembers(this.membersKey);
  }

  async alive(id: string): Promise<boolean> {
    return (await this.redis.exists(this.key(id))) === 1;
  }

  /** Takes a gone node off the member list, once its state has been cleaned up. */
  async remove(id: string): Promise<void> {
    await this.redis.srem(this.membersKey, id);
  }

  private get membersKey(): string {
    return `${this.prefix}nodes`;
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
    await this.redis.multi().del(this.key(this.selfId)).srem(this.membersKey, this.selfId).exec().catch(() => undefined);
  }

  /**
   * Refreshes the key only while it still exists (XX): a node whose key had
   * expired (it stalled, or Redis lost it) has been declared gone, and its
   * sessions unpublished by the others, so it must not quietly come back.
   */
  private async beat(): Promise<void> {
    if (!this.self) return;
    if (!this.joined) {
      await this.redis.multi().set(this.key(this.selfId), JSON.stringify(this.self), 'PX', HEARTBEAT_TTL_MS).sadd(this.membersKey, this.selfId).exec();
      this.joined = true;
    } else if ((await this.redis.set(this.key(this.selfId), JSON.stringify(this.self), 'PX', HEARTBEAT_TTL_MS, 'XX')) === null) {
      this.onExpired?.();
    }
    this.beatingSince ||= Date.now();
  }

  private key(id: string): string {
    return `${this.prefix}node:${id}`;
  }
}
