import type { Redis } from 'ioredis';
import type { Logger } from '../logger.js';
import { HEARTBEAT_MS, type NodeRegistry } from './NodeRegistry.js';
import type { RedisTrackEventBus } from './RedisTrackEventBus.js';
import type { SessionDirectory } from './SessionDirectory.js';

/** How long one node holds the claim to clean up after a dead node before another may try. */
const CLAIM_MS = 30_000;

/**
 * Notices nodes that die without a goodbye (SIGKILL, power, network): every
 * HEARTBEAT_MS each node looks for members whose heartbeat key expired.
 * Each node then drops its own links to the dead one (`onNodeGone`: pipes it
 * was sending there); one node, chosen by `SET NX` on a claim key, unpublishes
 * the dead node's tracks in the cluster's log (subscribers everywhere get
 * UNPUBLISHED; pipes from it close and its subscribers' transceivers end)
 * and forgets its sessions, which then answer SESSION_NOT_FOUND everywhere.
 */
export class NodeWatch {
  private timer: NodeJS.Timeout | undefined;
  private readonly gone = new Set<string>();
  private checking = false;
  /** Called once per node found gone, on every node (each drops its own links to it). */
  onNodeGone: (nodeId: string) => void = () => undefined;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly nodes: NodeRegistry,
    private readonly directory: SessionDirectory,
    private readonly log: RedisTrackEventBus,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.check(), HEARTBEAT_MS);
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
      for (const id of await this.nodes.members()) {
        if (id === this.nodes.selfId || (await this.nodes.alive(id))) continue;
        if (!this.gone.has(id)) {
          this.gone.add(id);
          this.logger.warn({ node: id }, 'a node of the cluster stopped answering its heartbeat: dropping what this node sent it');
          this.onNodeGone(id);
        }
        if (await this.claim(id)) await this.cleanUp(id);
      }
    } catch (error) {
      this.logger.debug({ err: error }, 'could not check the cluster\'s nodes; trying again');
    } finally {
      this.checking = false;
    }
  }

  private async claim(id: string): Promise<boolean> {
    return (await this.redis.set(`${this.prefix}cleanup:${id}`, this.nodes.selfId, 'PX', CLAIM_MS, 'NX')) === 'OK';
  }

  private async cleanUp(id: string): Promise<void> {
    const started = Date.now();
    const sessions = await this.directory.sessionsOf(id);
    let tracks = 0;
    for (const sessionId of sessions) {
      for (const view of await this.log.tracksOfSession(sessionId)) {
        await this.log.publish('UNPUBLISHED', { ...view, status: 'INACTIVE' });
        tracks += 1;
      }
      await this.directory.forget(sessionId);
    }
    await this.nodes.remove(id);
    this.logger.warn({ node: id, sessions: sessions.length, tracks, ms: Date.now() - started }, 'cleaned up after a node that died: its tracks are unpublished, its sessions forgotten');
  }
}
