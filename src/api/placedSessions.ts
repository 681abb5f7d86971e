import type { GraphQLFieldResolver, GraphQLResolveInfo } from 'graphql';
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
      return placeElsewhere(error, context, info);
    }
  };
}

/**
 * resumeSession in a cluster: a session whose node is alive and not
 * draining resumes there (a new PeerConnection on the same node); one whose
 * node drains or died resumes here, or, when this node is full or draining
 * itself, where createSession would place a new session.
 */
export function placedResumeSession(resolve: GraphQLFieldResolver<unknown, ApiContext>): GraphQLFieldResolver<unknown, ApiContext> {
  return async (parent, args, context, info) => {
    const forwarding = context.forwarding;
    const sessionId = (args as { input?: { sessionId?: unknown } }).input?.sessionId;
    if (forwarding && !forwarding.internal && typeof sessionId === 'string' && !context.sessions.get(sessionId)) {
      const route = await forwarding.cluster.route(sessionId, { fresh: true });
      const holder = route.kind === 'remote' ? forwarding.cluster.nodes.peers.find((node) => node.id === route.nodeId) : undefined;
      if (route.kind === 'remote' && !holder?.draining) {
        try {
          return await forward(route.url, forwarding, info, { session: sessionId });
        } catch (error) {
          // A holder that does not answer is taken for dead: the session moves here.
          if (!(error instanceof SwitchyardError) || error.code !== ErrorCode.UNAVAILABLE) throw error;
        }
      }
    }
    try {
      return await resolve(parent, args, context, info);
    } catch (error) {
      return placeElsewhere(error, context, info);
    }
  };
}

/**
 * startRecording in a cluster, around its routing to the session's node:
 * that node records its own tracks, with no pipe; when it records its
 * maximum already, the node that took the call places the recording like a
 * full node's createSession, on a node with room, which records the tracks
 * through a pipe. Recorders thus spread over the cluster's capacity.
 */
export function placedStartRecording(
  routed: GraphQLFieldResolver<unknown, ApiContext>,
  here: GraphQLFieldResolver<unknown, ApiContext>,
): GraphQLFieldResolver<unknown, ApiContext> {
  return async (parent, args, context, info) => {
    try {
      return await routed(parent, args, context, info);
    } catch (error) {
      const forwarding = context.forwarding;
      if (!forwarding || forwarding.internal || !isPlaceable(error)) throw error;
      // The session's node is full: this node records it if it has room (the session is elsewhere), else the next with room.
      const sessionId = (args as { input?: { sessionId?: unknown } }).input?.sessionId;
      if (typeof sessionId === 'string' && !context.sessions.get(sessionId)) {
        try {
          return await here(parent, args, context, info);
        } catch (local) {
          if (!isPlaceable(local)) throw local;
        }
      }
      return placeElsewhere(error, context, info, 'every node of the cluster records its maximum (MAX_RECORDINGS_PER_NODE) or is draining; retry later');
    }
  };
}

async function placeElsewhere(error: unknown, context: ApiContext, info: GraphQLResolveInfo, exhausted = 'every node of the cluster is full or draining (MAX_SESSIONS_PER_NODE); retry later'): Promise<unknown> {
  const forwarding = context.forwarding;
  // A call another node placed here is answered as it is: that node asks the next one.
  if (!forwarding || forwarding.internal || !isPlaceable(error)) throw error;
  const { cluster } = forwarding;
  const candidates = placementCandidates({ id: cluster.nodeId, ...cluster.topology }, cluster.nodes.peers);
  for (const node of candidates) {
    try {
      const placed = await forward(node.url, forwarding, info, { placing: true });
      cluster.logger.info({ node: node.id, region: node.region, field: info.fieldName, why: (error as Error).message }, 'placed a call on another node');
      return placed;
    } catch (refusal) {
      // Only a node that says it is full or draining is passed by: one that did not answer may have made the session (the client retries).
      if (isPlaceable(refusal)) continue;
      throw refusal;
    }
  }
  throw new SwitchyardError(ErrorCode.LIMIT_EXCEEDED, exhausted);
}
