import type { types } from 'mediasoup';
import type { Cluster } from '../cluster/Cluster.js';
import { callNode } from '../cluster/internalCalls.js';
import { pipeListenInfo, type PipeAddress, type PipeAnswer } from '../cluster/PipeServer.js';
import { ErrorCode, SwitchyardError, trackNotFound } from '../errors.js';
import type { Logger } from '../logger.js';
import type { CarrierDirectory } from './CarrierDirectory.js';
import { relayCandidates, type Carrier, type RelayCandidate, type RelayNode } from './RelaySelector.js';
import type { NodeInfo } from '../cluster/NodeRegistry.js';

/** What joining a track's tree needs of this node (its region and REGION_ORDER are the cluster's topology). */
export interface TreeContext {
  cluster: Cluster;
  carriers: CarrierDirectory;
  address: PipeAddress;
  logger: Logger;
}

/** A heartbeat as the relay selector reads it (nodes of versions that did not say their region are in "default"). */
const relayNode = (node: NodeInfo): RelayNode => ({ id: node.id, url: node.url, region: node.region ?? 'default', draining: node.draining === true });

/** A pipe into this node from a carrier of the track: its producer here, where it comes from, and this node's place in the tree. */
export interface TreeJoin {
  producer: types.Producer;
  parentId: string;
  parentUrl: string;
  carrier: Carrier;
  answer: PipeAnswer;
}

/**
 * Joins a track's relay tree: reads its carriers and region entries (one
 * round trip), claims its region's entry if the region has no carrier yet,
 * and asks the candidates (relayCandidates; `preferred` first: a parent that
 * is taking the track again itself) in turn until one feeds this node. A
 * carrier at its fan-out, gone, or no longer carrying the track passes the
 * question on to the next; the owner's own refusals are the answer.
 */
export async function joinTree(
  context: TreeContext,
  request: { sessionId: string; trackName: string; ownerId: string; router: types.Router; preferred?: string | undefined; avoid?: string | undefined },
): Promise<TreeJoin> {
  const { cluster } = context;
  const { sessionId, trackName, ownerId } = request;
  const { region, regionOrder } = cluster.topology;
  const me = { id: cluster.nodeId, region };
  const nodes = new Map<string, RelayNode>(cluster.nodes.peers.map((n) => [n.id, relayNode(n)]));
  if (!nodes.has(ownerId)) {
    // Joined since this node last read the heartbeats (at most a beat ago): read it now.
    const info = await cluster.nodes.node(ownerId);
    if (info) nodes.set(ownerId, relayNode(info));
  }
  // A parent given up (it stopped answering) is not asked again: it may be alive but too slow.
  if (request.avoid !== undefined && request.avoid !== ownerId) nodes.delete(request.avoid);
  const owner = { nodeId: ownerId, region: nodes.get(ownerId)?.region ?? 'default' };
  let carriers: Carrier[] = [];
  let regionEntry: string | undefined;
  try {
    const read = await context.carriers.read(sessionId, trackName);
    carriers = read.carriers;
    regionEntry = read.entries[me.region];
    const carriedHere = owner.region === me.region || carriers.some((c) => c.region === me.region && nodes.has(c.nodeId) && c.nodeId !== me.id && !c.path.includes(me.id));
    if (!carriedHere) regionEntry = await context.carriers.claimEntry(sessionId, trackName, me.region, me.id, (id) => nodes.has(id));
  } catch (error) {
    // Redis away (a failover): the owner still feeds this node, from the heartbeats already held; the tree is tidied by later joins.
    context.logger.warn({ err: error, session: sessionId, track: trackName }, 'could not read a track\'s relay tree; taking it from its owner');
    carriers = [];
    regionEntry = me.id;
  }
  const candidates = relayCandidates({ me, regionOrder, owner, carriers, regionEntry, nodes });
  const again = request.preferred === undefined ? undefined : nodes.get(request.preferred);
  if (again && again.id !== me.id && !again.draining) candidates.unshift({ nodeId: again.id, url: again.url, attach: false, force: false });
  let last: unknown = trackNotFound(sessionId, trackName);
  for (const candidate of candidates) {
    try {
      return await pipeFrom(context, candidate, request);
    } catch (error) {
      const passable = error instanceof SwitchyardError && (error.code === ErrorCode.LIMIT_EXCEEDED || error.code === ErrorCode.UNAVAILABLE || (error.code === ErrorCode.TRACK_NOT_FOUND && candidate.nodeId !== ownerId));
      if (!passable) throw error;
      context.logger.debug({ err: error, session: sessionId, track: trackName, node: candidate.nodeId }, 'a carrier did not feed this node; asking the next');
      last = error;
    }
  }
  throw last;
}

/** One pipe from `candidate`: this node's end, the call, the other end's answer, the pipe producer. */
async function pipeFrom(context: TreeContext, candidate: RelayCandidate, request: { sessionId: string; trackName: string; router: types.Router }): Promise<TreeJoin> {
  const { cluster } = context;
  const transport = await request.router.createPipeTransport({ listenInfo: pipeListenInfo(context.address), enableSrtp: true, enableRtx: true });
  try {
    const answer = (await callNode(cluster, candidate.url, 'pipe', {
      sessionId: request.sessionId,
      trackName: request.trackName,
      fromNode: cluster.nodeId,
      ip: transport.tuple.localAddress,
      port: transport.tuple.localPort,
      srtpParameters: transport.srtpParameters,
      attach: candidate.attach,
      force: candidate.force,
    })) as unknown as PipeAnswer;
    await transport.connect({ ip: answer.ip, port: answer.port, ...(answer.srtpParameters ? { srtpParameters: answer.srtpParameters } : {}) });
    const producer = await transport.produce({ id: answer.producerId, kind: answer.kind, rtpParameters: answer.rtpParameters, paused: answer.paused });
    producer.observer.once('close', () => transport.close());
    const parent = answer.carrier ?? { nodeId: candidate.nodeId, region: 'default', depth: 0, path: [] };
    const carrier: Carrier = { nodeId: cluster.nodeId, region: cluster.topology.region, depth: parent.depth + 1, path: [...parent.path, candidate.nodeId] };
    return { producer, parentId: candidate.nodeId, parentUrl: candidate.url, carrier, answer };
  } catch (error) {
    transport.close();
    throw error;
  }
}
