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
  /** NODE_REGION; absent for nodes of versions that did not say (counted as "default"). */
  readonly region?: string;
  /** Taking no new sessions (SIGTERM): placement and relays pass it by. */
  readonly draining?: boolean;
  /** Where clients reach this node's API (PUBLIC_URL; in development mode its advertised URL): where a drain sends sessions. */
  readonly publicUrl?: string;
  /** How busy the node is, at its last beat. */
  readonly load?: NodeLoad;
  /** What the node takes at most. */
  readonly capacity?: NodeCapacity;
}

/** A node's load as it reports it with each heartbeat (also in its /metrics). */
export interface NodeLoad {
  sessions: number;
  /** Pulled tracks forwarded to this node's subscribers. */
  consumers: number;
  /** Mean CPU share of its mediasoup workers over the last beat, 0 to 1. */
  workerCpu: number;
  /** Media this node sends (to clients and other nodes), bits per second. */
  outgoingBitrate: number;
}

export interface NodeCapacity {
  /** MAX_SESSIONS_PER_NODE. */
  maxSessions: number;
  workers: number;
}

/** What a node says about itself at each beat, beside where it is reached. */
export type NodeStatus = Pick<NodeInfo, 'region' | 'draining' | 'load' | 'capacity' | 'publicUrl'>;

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
  /** What this node says of itself at each beat (region, load, capacity). */
  private status: () => NodeStatus = () => ({});
  /** The live nodes (this one included) as read at the last beat: placement and relays choose from it without a round trip. */
  private known: NodeInfo[] = [];

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly onError: (error: unknown) => void,
  ) {
    // Back after an outage (a Sentinel failover takes 2-3 s, close to the TTL): beat at once, not at the next tick, so that the
    // other nodes find this node's key again (or it learns the key lapsed, onExpired) as soon as Redis answers.
    redis.on('ready', () => {
      if (this.timer) void this.beat().catch((error: unknown) => this.failed(error));
    });
  }

  /**
   * Joins the cluster: announces this node at `url` (its pipes at `pipeIps`)
   * and keeps announcing it, with what `status` says at each beat.
   */
  async join(url: string, pipeIps?: string[], status?: () => NodeStatus): Promise<void> {
    if (status) this.status = status;
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

  /** Whether a node joined and has not been cleaned up after (it may be gone without being declared so yet). */
  async isMember(id: string): Promise<boolean> {
    return (await this.redis.sismember(this.membersKey, id)) === 1;
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

  /** Beats now rather than at the next tick: a node that starts draining says so at once. */
  async beatNow(): Promise<void> {
    if (this.timer) await this.beat().catch((error: unknown) => this.failed(error));
  }

  /** This node as it announces itself now. */
  get me(): NodeInfo | undefined {
    return this.self && { ...this.self, id: this.selfId, ...this.status() };
  }

  /** The live nodes as read at the last beat (this one as it is now): at most a beat old, no round trip. */
  get peers(): NodeInfo[] {
    const me = this.me;
    return me ? [me, ...this.known.filter((node) => node.id !== this.selfId)] : [...this.known];
  }

  /** A node found gone (or left) since the last read: out of the heartbeats this node holds at once, not at the next beat. */
  forgetPeer(id: string): void {
    this.known = this.known.filter((node) => node.id !== id);
  }

  /** Reads every live node's announcement (one round trip for the member list, one for their keys). */
  private async readPeers(): Promise<void> {
    const ids = await this.members();
    if (ids.length === 0) {
      this.known = [];
      return;
    }
    const texts = await this.redis.mget(ids.map((id) => this.key(id)));
    this.known = texts.flatMap((text) => (text ? [JSON.parse(text) as NodeInfo] : []));
  }

  /** A live node (one whose heartbeat has not expired), or null. */
  async node(id: string): Promise<NodeInfo | null> {
    if (id === this.selfId && this.self) return this.me ?? null;
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
    const me = this.me;
    if (!me) return;
    const text = JSON.stringify(me);
    if (!this.joined) {
      await this.redis.multi().set(this.key(this.selfId), text, 'PX', HEARTBEAT_TTL_MS).sadd(this.membersKey, this.selfId).exec();
      this.joined = true;
    } else if ((await this.redis.set(this.key(this.selfId), text, 'PX', HEARTBEAT_TTL_MS, 'XX')) === null) {
      this.onExpired?.();
    }
    this.beatingSince ||= Date.now();
    await this.readPeers();
  }

  private key(id: string): string {
    return `${this.prefix}node:${id}`;
  }
}
