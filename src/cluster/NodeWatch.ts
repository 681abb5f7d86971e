import type { Redis } from 'ioredis';
import type { Logger } from '../logger.js';
import { HEARTBEAT_MS, type NodeRegistry } from './NodeRegistry.js';
import type { RedisTrackEventBus } from './RedisTrackEventBus.js';
import type { SessionDirectory } from './SessionDirectory.js';
import type { CarrierDirectory } from '../relay/CarrierDirectory.js';

/** How often each node looks for dead members: twice per heartbeat, so a death is noticed at most half a beat after the key expires. */
const CHECK_MS = HEARTBEAT_MS / 2;
/** How long one node holds the claim to clean up after a dead node before another may try. */
const CLAIM_MS = 30_000;

/**
 * Notices nodes that die without a goodbye (SIGKILL, power, network): every
 * CHECK_MS each node looks for members whose heartbeat key expired.
 * Each node then drops its own links to the dead one (`onNodeGone`: pipes it
 * was sending there); one node, chosen by `SET NX` on a claim key, unpublishes,
 * once SESSION_RESUME_GRACE_MS has passed (its clients resume their sessions
 * elsewhere meanwhile, and those leave its list), the dead node's tracks in the cluster's log (subscribers everywhere get
 * UNPUBLISHED; pipes from it close and its subscribers' transceivers end)
 * and forgets its sessions, which then answer SESSION_NOT_FOUND everywhere.
 */
export class NodeWatch {
  private timer: NodeJS.Timeout | undefined;
  private readonly gone = new Set<string>();
  /** Members seen alive at the last check: one that left since (a stop, its key and membership removed) is gone too. */
  private seenAlive = new Set<string>();
  private checking = false;
  /** The other members as this node saw them at its last check (metrics). */
  peers = { alive: 0, gone: 0 };

  /** Called once per node found gone, on every node (each drops its own links to it). */
  onNodeGone: (nodeId: string) => void = () => undefined;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly nodes: NodeRegistry,
    private readonly directory: SessionDirectory,
    private readonly log: RedisTrackEventBus,
    private readonly logger: Logger,
    private readonly carriers: CarrierDirectory,
    /** How long a dead node's sessions stay resumable (SESSION_RESUME_GRACE_MS) before its tracks are unpublished. */
    private readonly resumeGraceMs = 0,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.check(), CHECK_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One look at the members (exposed for tests). */
  async check(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      const settled = this.nodes.settled;
      const seen = { alive: 0, gone: 0 };
      const members = await this.nodes.members();
      const alive = new Set<string>();
      // A member list without this node is not the cluster's (Redis came back empty, or a failover lost the set): judge nobody by it.
      const listIntact = settled && members.includes(this.nodes.selfId);
      for (const id of this.seenAlive) {
        // It left the cluster (a stop or drain): nothing to clean up, but what this node took from it must come from elsewhere.
        if (listIntact && !members.includes(id) && !(await this.nodes.alive(id))) {
          this.logger.info({ node: id }, 'a node left the cluster');
          this.nodes.forgetPeer(id);
          this.onNodeGone(id);
        } else if (!members.includes(id)) {
          alive.add(id);
        }
      }
      for (const id of members) {
        if (id === this.nodes.selfId) continue;
        if (await this.nodes.alive(id)) {
          this.gone.delete(id);
          alive.add(id);
          seen.alive += 1;
          continue;
        }
        seen.gone += 1;
        // Until this node's own heartbeat has gone through for a full TTL (after a
        // start, or after Redis was away), others' missing keys may just mean they
        // have not beaten again yet.
        if (!settled) continue;
        if (!this.gone.has(id)) {
          this.gone.add(id);
          this.logger.warn({ node: id }, 'a node of the cluster stopped answering its heartbeat: dropping what this node sent it');
          this.nodes.forgetPeer(id);
          this.onNodeGone(id);
        }
        if (await this.claim(id)) await this.cleanUp(id);
      }
      this.peers = seen;
      this.seenAlive = alive;
    } catch (error) {
      this.logger.debug({ err: error }, 'could not check the cluster\'s nodes; trying again');
    } finally {
      this.checking = false;
    }
  }

  /** The right to clean up after `id`: one node at a time, and only while `id` is still gone. */
  private async claim(id: string): Promise<boolean> {
    const key = `${this.prefix}cleanup:${id}`;
    if ((await this.redis.set(key, this.nodes.selfId, 'PX', CLAIM_MS, 'NX')) !== 'OK') return false;
    if (!(await this.nodes.alive(id))) return true;
    await this.redis.del(key);
    return false;
  }

  private async cleanUp(id: string): Promise<void> {
    const started = Date.now();
    // Its sessions stay resumable for the grace (their clients move them to another node, resumeSession): not before it ends
    // are what is left unpublished. The first node to find it dead sets the time; whoever holds the claim then cleans up.
    const sinceKey = `${this.prefix}dead-since:${id}`;
    await this.redis.set(sinceKey, String(started), 'PX', this.resumeGraceMs + CLAIM_MS * 4, 'NX');
    const since = Number(await this.redis.get(sinceKey)) || started;
    if (started - since < this.resumeGraceMs) {
      await this.redis.del(`${this.prefix}cleanup:${id}`);
      return;
    }
    const sessions = await this.directory.sessionsOf(id);
    let tracks = 0;
    for (const sessionId of sessions) {
      for (const view of await this.log.tracksOfSession(sessionId)) {
        await this.log.publish('UNPUBLISHED', { ...view, status: 'INACTIVE' });
        // Its relay tree's records go with it (its node cannot forget them any more).
        await this.carriers.forget(view.sessionId, view.name);
        tracks += 1;
      }
      await this.directory.forget(sessionId);
    }
    await this.nodes.remove(id);
    await this.redis.del(sinceKey);
    this.logger.warn({ node: id, sessions: sessions.length, tracks, ms: Date.now() - started }, 'cleaned up after a node that died: its tracks are unpublished, its sessions forgotten');
  }
}
