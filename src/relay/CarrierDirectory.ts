import type { Redis } from 'ioredis';
import type { Carrier } from './RelaySelector.js';

/** Which nodes carry each track, and which node brings it into each region. */
export interface CarrierDirectory {
  /** The carriers of a track and its region entries (region -> node id), in one read. */
  read(sessionId: string, trackName: string): Promise<{ carriers: Carrier[]; entries: Record<string, string> }>;
  /** This node carries the track now. */
  add(sessionId: string, trackName: string, carrier: Carrier): Promise<void>;
  /** This node stopped carrying the track (and gives up its region entry, if it held it). */
  remove(sessionId: string, trackName: string, nodeId: string, region: string): Promise<void>;
  /**
   * Claims to be the node that brings the track into `region`; answers the
   * entry (this node, or the one that claimed first and is still `alive`).
   */
  claimEntry(sessionId: string, trackName: string, region: string, nodeId: string, alive: (id: string) => boolean): Promise<string>;
  /** The track is gone: its carriers and entries with it. */
  forget(sessionId: string, trackName: string): Promise<void>;
}

/**
 * Takes this node off a track's carriers and gives up its region entry only
 * if it still holds it (another node may have replaced a dead one), in one
 * step: a release must not land after the same node's newer claim.
 */
const REMOVE_CARRIER = `redis.call('HDEL', KEYS[1], ARGV[2])
if redis.call('HGET', KEYS[2], ARGV[1]) == ARGV[2] then redis.call('HDEL', KEYS[2], ARGV[1]) end
return 1`;
/** Takes a region entry when it is free or held by `ARGV[3]` (a node found dead); answers the holder. */
const CLAIM_ENTRY = `local held = redis.call('HGET', KEYS[1], ARGV[1])
if (not held) or held == ARGV[3] then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) return ARGV[2] end
return held`;

/**
 * The carriers of each track in Redis: `<prefix>carriers:<session>:<track>`
 * (a hash: node id -> its region, depth and path) and
 * `<prefix>relayentry:<session>:<track>` (region -> the node that brings the
 * track there). Entries of dead nodes may linger until the track ends:
 * readers pass by nodes that have no heartbeat.
 */
export class RedisCarrierDirectory implements CarrierDirectory {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {
    redis.defineCommand('switchyardRemoveCarrier', { numberOfKeys: 2, lua: REMOVE_CARRIER });
    redis.defineCommand('switchyardClaimEntry', { numberOfKeys: 1, lua: CLAIM_ENTRY });
  }

  private keys(sessionId: string, trackName: string): { carriers: string; entries: string } {
    const id = `${sessionId}:${Buffer.from(trackName).toString('base64url')}`;
    return { carriers: `${this.prefix}carriers:${id}`, entries: `${this.prefix}relayentry:${id}` };
  }

  async read(sessionId: string, trackName: string): Promise<{ carriers: Carrier[]; entries: Record<string, string> }> {
    const keys = this.keys(sessionId, trackName);
    const replies = (await this.redis.multi().hgetall(keys.carriers).hgetall(keys.entries).exec()) ?? [];
    const [carriersReply, entriesReply] = replies.map(([error, value]) => {
      if (error) throw error;
      return (value ?? {}) as Record<string, string>;
    });
    const carriers = Object.values(carriersReply ?? {}).flatMap((text) => {
      try {
        return [JSON.parse(text) as Carrier];
      } catch {
        return [];
      }
    });
    return { carriers, entries: entriesReply ?? {} };
  }

  async add(sessionId: string, trackName: string, carrier: Carrier): Promise<void> {
    await this.redis.hset(this.keys(sessionId, trackName).carriers, carrier.nodeId, JSON.stringify(carrier));
  }

  async remove(sessionId: string, trackName: string, nodeId: string, region: string): Promise<void> {
    const keys = this.keys(sessionId, trackName);
    await (this.redis as unknown as EntryScripts).switchyardRemoveCarrier(keys.carriers, keys.entries, region, nodeId);
  }

  async claimEntry(sessionId: string, trackName: string, region: string, nodeId: string, alive: (id: string) => boolean): Promise<string> {
    const key = this.keys(sessionId, trackName).entries;
    const held = await this.redis.hget(key, region);
    if (held && held !== nodeId && alive(held)) return held;
    return String(await (this.redis as unknown as EntryScripts).switchyardClaimEntry(key, region, nodeId, held ?? ''));
  }

  async forget(sessionId: string, trackName: string): Promise<void> {
    const keys = this.keys(sessionId, trackName);
    await this.redis.del(keys.carriers, keys.entries);
  }
}

interface EntryScripts {
  switchyardRemoveCarrier(carriersKey: string, entriesKey: string, region: string, nodeId: string): Promise<number>;
  switchyardClaimEntry(key: string, region: string, nodeId: string, replace: string): Promise<string>;
}
