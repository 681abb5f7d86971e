import { ConfigError, integer, type Env } from './parse.js';

/**
 * Where a node stands in a cluster that spans regions, and how media spreads
 * between nodes (docs/cluster.md, "Regions, relay trees and placement").
 */
export interface TopologyConfig {
  /** The region this node is in (NODE_REGION). Nodes of one region prefer each other for relays and placement. */
  region: string;
  /** The other regions, nearest first (REGION_ORDER): where sessions go when this region is full, and where a region's first relay looks. */
  regionOrder: string[];
  /** How many other nodes one node feeds with one track at most (RELAY_FANOUT); further nodes attach below those. */
  relayFanout: number;
  /** How long a node keeps a track's inbound pipe after its last subscriber (and last fed node) left (PIPE_IDLE_GRACE_MS). */
  pipeIdleGraceMs: number;
}

const REGION = /^[A-Za-z0-9_.-]{1,64}$/;

function region(raw: string, name: string): string {
  if (!REGION.test(raw)) throw new ConfigError(`${name} entries must be 1 to 64 letters, digits, ., - or _, got "${raw}"`);
  return raw;
}

/**
 * A fan-out of 4 keeps trees shallow (64 nodes within three hops of the
 * publisher's node) while no node sends one track more than four times: the
 * cost of a relay is its uplink, and every hop adds a little latency
 * (docs/benchmarks.md, bench:cascade).
 */
export const DEFAULT_RELAY_FANOUT = 4;

export function topologyConfig(env: Env): TopologyConfig {
  const own = region(env.NODE_REGION?.trim() || 'default', 'NODE_REGION');
  const order = (env.REGION_ORDER ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => region(entry, 'REGION_ORDER'));
  if (new Set(order).size !== order.length) throw new ConfigError('REGION_ORDER names a region twice');
  return {
    region: own,
    regionOrder: order.filter((entry) => entry !== own),
    relayFanout: integer(env, 'RELAY_FANOUT', DEFAULT_RELAY_FANOUT, 1, 1000),
    pipeIdleGraceMs: integer(env, 'PIPE_IDLE_GRACE_MS', 10_000, 0, 3_600_000),
  };
}
