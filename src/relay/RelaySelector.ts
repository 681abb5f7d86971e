import { createHash } from 'node:crypto';

/** A node that carries a track (its owner, or a node with an inbound pipe of it) and where it sits in the track's tree. */
export interface Carrier {
  readonly nodeId: string;
  readonly region: string;
  /** Hops from the owner (the owner is 0). */
  readonly depth: number;
  /** The nodes above it, owner first: a node never attaches below itself. */
  readonly path: readonly string[];
}

/** A live node as the selector sees it (from the heartbeats). */
export interface RelayNode {
  readonly id: string;
  readonly url: string;
  readonly region: string;
  readonly draining: boolean;
}

/** One node to ask for a track, in order of preference. */
export interface RelayCandidate {
  readonly nodeId: string;
  readonly url: string;
  /** The node does not carry the track yet: it is its region's entry and fetches it first (PipeServer). */
  readonly attach: boolean;
  /** The last resort: the owner takes this node even past its fan-out rather than leave it without the track. */
  readonly force: boolean;
}

export interface RelayQuestion {
  readonly me: { id: string; region: string };
  /** Other regions, nearest first (REGION_ORDER). */
  readonly regionOrder: readonly string[];
  /** The track's publishing node. */
  readonly owner: { nodeId: string; region: string };
  /** Nodes with an inbound pipe of the track (the owner need not be listed). */
  readonly carriers: readonly Carrier[];
  /** The node that claimed to bring the track into this node's region, when it is another one. */
  readonly regionEntry?: string | undefined;
  /** Live nodes by id. */
  readonly nodes: ReadonlyMap<string, RelayNode>;
}

/**
 * Where a node takes a track from (docs/cluster.md, "Relay trees"): the
 * nearest node that carries it. Within its region, the carriers nearest the
 * owner first (each refuses past RELAY_FANOUT, and the next is asked), so a
 * region's tree grows level by level. A region with no carrier takes the
 * track from another region once: through its entry node, which the first
 * node to need it claimed; only the entry itself looks abroad (regions in
 * REGION_ORDER first). Ties are broken by a hash of the two node ids, so that
 * the children of one level spread over its carriers instead of queueing at
 * one. The owner comes last, forced, so that no node is ever left without
 * the track. A carrier whose path holds this node (its descendant) is never
 * chosen: a tree cannot become a loop when nodes re-attach.
 */
export function relayCandidates(question: RelayQuestion): RelayCandidate[] {
  const { me, nodes, owner } = question;
  const ownerNode = nodes.get(owner.nodeId);
  const usable = (carrier: Carrier): boolean => {
    const node = nodes.get(carrier.nodeId);
    return node !== undefined && carrier.nodeId !== me.id && !carrier.path.includes(me.id) && (carrier.nodeId === owner.nodeId || !node.draining);
  };
  const all: Carrier[] = [{ nodeId: owner.nodeId, region: owner.region, depth: 0, path: [] }, ...question.carriers.filter((c) => c.nodeId !== owner.nodeId)].filter(usable);
  const spread = (carrier: Carrier) => createHash('sha1').update(`${me.id}/${carrier.nodeId}`).digest().readUInt32BE(0);
  const byDepth = (a: Carrier, b: Carrier) => a.depth - b.depth || spread(a) - spread(b);
  const rank = (region: string) => {
    const at = question.regionOrder.indexOf(region);
    return at < 0 ? question.regionOrder.length : at;
  };
  const candidate = (carrier: Carrier, attach = false, force = false): RelayCandidate => ({ nodeId: carrier.nodeId, url: nodes.get(carrier.nodeId)!.url, attach, force });

  const home = all.filter((c) => c.region === me.region).sort(byDepth);
  const abroad = all.filter((c) => c.region !== me.region).sort((a, b) => rank(a.region) - rank(b.region) || byDepth(a, b));
  const chosen: RelayCandidate[] = home.map((c) => candidate(c));
  if (home.length === 0) {
    const entry = question.regionEntry && question.regionEntry !== me.id ? nodes.get(question.regionEntry) : undefined;
    if (entry && !entry.draining) chosen.push({ nodeId: entry.id, url: entry.url, attach: true, force: false });
    else chosen.push(...abroad.map((c) => candidate(c)));
  }
  if (ownerNode && owner.nodeId !== me.id) chosen.push({ nodeId: owner.nodeId, url: ownerNode.url, attach: false, force: true });
  return chosen;
}
