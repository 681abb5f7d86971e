import type { GraphQLFieldResolver } from 'graphql';
import { ErrorCode, SwitchyardError } from '../errors.js';
import { isPlaceable } from '../placement/refusals.js';
import { placementCandidates } from '../placement/placementCandidates.js';
import type { ApiContext } from './context.js';
import { forward } from './forwarding.js';

/**
 * createSession in a cluster: a node that is full or draining places the
 * session on another node (placementCandidates: its own region first, least
 * full first, then the regions of REGION_ORDER) by forwarding the call
 * there, so the session, and the candidates in its answer, are that node's.
 * A load balancer that knows nothing of load thus never overfills a node.
 * LIMIT_EXCEEDED only when every node refused.
 */
export function placedCreateSession(resolve: GraphQLFieldResolver<unknown, ApiContext>): GraphQLFieldResolver<unknown, ApiContext> {
  return async (parent, args, context, info) => {
    try {
      return await resolve(parent, args, context, info);
    } catch (error) {
      const forwarding = context.forwarding;
      // A call another node placed here is answered as it is: that node asks the next one.
      if (!forwarding || forwarding.internal || !isPlaceable(error)) throw error;
      const { cluster } = forwarding;
      const candidates = placementCandidates({ id: cluster.nodeId, ...cluster.topology }, cluster.nodes.peers);
      for (const node of candidates) {
        try {
          const placed = await forward(node.url, forwarding, info, { placing: true });
          cluster.logger.info({ node: node.id, region: node.region, why: (error as Error).message }, 'placed a new session on another node');
          return placed;
        } catch (refusal) {
          // Only a node that says it is full or draining is passed by: one that did not answer may have made the session (the client retries).
          if (isPlaceable(refusal)) continue;
          throw refusal;
        }
      }
      throw new SwitchyardError(ErrorCode.LIMIT_EXCEEDED, 'every node of the cluster is full or draining (MAX_SESSIONS_PER_NODE); retry later');
    }
  };
}
