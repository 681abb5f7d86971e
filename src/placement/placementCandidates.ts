import type { NodeInfo } from '../cluster/NodeRegistry.js';

/** Where this node stands: its id and region, and the other regions nearest first (REGION_ORDER). */
export interface PlacementOrigin {
  readonly id: string;
  readonly region: string;
  readonly regionOrder: readonly string[];
}

/** How full a node is, 0 (empty) to 1 (at MAX_SESSIONS_PER_NODE); nodes that did not say count as half full. */
export function fullness(node: NodeInfo): number {
  const max = node.capacity?.maxSessions;
  const sessions = node.load?.sessions;
  return max && sessions !== undefined ? sessions / max : 0.5;
}

/** Whether a node, as it last announced itself, takes new sessions. */
export function hasRoom(node: NodeInfo): boolean {
  if (node.draining) return false;
  const max = node.capacity?.maxSessions;
  return max === undefined || (node.load?.sessions ?? 0) < max;
}

/**
 * The nodes a session that this node cannot take goes to, best first (LiveKit
 * calls this the node selector): nodes of this region with room, least full
 * first (then least worker CPU), then those of the other regions in
 * REGION_ORDER, then any other region. Each is asked in turn, and refuses
 * if it filled meanwhile (announcements are up to a heartbeat old).
 */
export function placementCandidates(origin: PlacementOrigin, nodes: readonly NodeInfo[]): NodeInfo[] {
  const rank = (node: NodeInfo) => {
    const region = node.region ?? 'default';
    if (region === origin.region) return -1;
    const at = origin.regionOrder.indexOf(region);
    return at < 0 ? origin.regionOrder.length : at;
  };
  return nodes
    .filter((node) => node.id !== origin.id && hasRoom(node))
    .sort((a, b) => rank(a) - rank(b) || fullness(a) - fullness(b) || (a.load?.workerCpu ?? 0) - (b.load?.workerCpu ?? 0) || a.id.localeCompare(b.id));
}
