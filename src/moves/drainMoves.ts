import type { Cluster } from '../cluster/Cluster.js';
import type { Logger } from '../logger.js';
import { placementCandidates } from '../placement/placementCandidates.js';
import type { SessionService } from '../session/SessionService.js';

/**
 * A draining node asks each of its sessions to move (MOVE_REQUESTED, reason
 * DRAINING): to a node of its own region with room, the sessions spread
 * over those nodes in turn, least full first, named by their PUBLIC_URL; to
 * any node (moveTo null: through the URL the client uses, a load balancer)
 * when placement knows none or the node has no public URL. The client resumes there (resumeSession) and the
 * session leaves this node without ending. Returns how many were asked.
 */
export function askSessionsToMove(sessions: SessionService, cluster: Cluster, logger: Logger): number {
  const candidates = placementCandidates({ id: cluster.nodeId, ...cluster.topology }, cluster.nodes.peers);
  const nearest = candidates.filter((node) => node.region === candidates[0]?.region);
  const live = sessions.list();
  live.forEach((session, index) => {
    const target = nearest.length > 0 ? nearest[index % nearest.length]! : undefined;
    // A node's public URL only: the URL nodes reach each other at may be private, out of the client's reach.
    sessions.sessionEvents.publish({ type: 'MOVE_REQUESTED', session, mid: null, moveTo: target?.publicUrl ?? null, moveReason: 'DRAINING', at: new Date() });
  });
  logger.info({ sessions: live.length, targets: nearest.map((node) => node.id) }, 'draining: asked every session to move to another node');
  return live.length;
}
