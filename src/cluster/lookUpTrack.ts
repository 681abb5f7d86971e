import type { TrackEventBus } from '../events/TrackEventBus.js';
import { ErrorCode, SwitchyardError } from '../errors.js';
import type { TrackView } from '../tracks/PublishedTrack.js';
import type { Cluster } from './Cluster.js';
import { callNode } from './internalCalls.js';

/**
 * Where a track of another node lives (its session's node, from the session
 * id or the directory) and its view: from the cluster's directory, or from
 * its owner when the directory has none yet. A track reaches Redis shortly
 * after pushTracks returns (its publication costs the push no round trip),
 * and a pull made at once on another node must find it all the same.
 * Null when no live node holds it.
 */
export async function lookUpTrack(
  cluster: Cluster,
  directory: TrackEventBus | undefined,
  sessionId: string,
  trackName: string,
): Promise<{ ownerId: string; ownerUrl: string; view: TrackView } | null> {
  const route = await cluster.route(sessionId);
  if (route.kind !== 'remote') return null;
  const known = await directory?.track(sessionId, trackName);
  if (known) return { ownerId: route.nodeId, ownerUrl: route.url, view: known };
  try {
    const view = (await callNode(cluster, route.url, 'track', { sessionId, trackName })) as unknown as TrackView;
    return { ownerId: route.nodeId, ownerUrl: route.url, view };
  } catch (error) {
    if (error instanceof SwitchyardError && error.code === ErrorCode.TRACK_NOT_FOUND) return null;
    throw error;
  }
}
