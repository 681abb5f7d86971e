import type { Logger } from '../logger.js';
import type { Cluster } from './Cluster.js';
import type { NodeWatch } from './NodeWatch.js';
import type { SessionService } from '../session/SessionService.js';
import { trackView } from '../tracks/PublishedTrack.js';
import type { PipeServer } from './PipeServer.js';
import type { RemoteTracks } from './RemoteTracks.js';
import type { RedisTrackEventBus } from './RedisTrackEventBus.js';
import type { SharedState } from './sharedState.js';
import type { NodeStatus } from './NodeRegistry.js';
import { ParentWatch } from '../relay/ParentWatch.js';
import type { TrackEventType, TrackView } from '../events/TrackEventBus.js';

async function publish(log: RedisTrackEventBus, type: TrackEventType, view: TrackView): Promise<number> {
  await log.publish(type, view);
  return 1;
}

/** A restore this recent explains a missing heartbeat key: it is not a sign of having been declared dead. */
const RESTORE_GRACE_MS = 10_000;

/**
 * Makes a started node a member of its cluster and keeps it one:
 * - closed sessions leave the directory; pipes follow the event log;
 * - the heartbeat starts, and the watch for nodes that die;
 * - Redis that lost its data (a new log epoch): this node restores what it
 *   owns (its heartbeat, its sessions in the directory, its tracks in the log)
 *   without a restart; after an outage with the data kept, it repairs what
 *   failed to be written meanwhile (sessions closed, tracks unpublished,
 *   status changes);
 * - a heartbeat found expired: if the cluster declared this node dead (it
 *   stalled), it closes its old sessions and joins under a new id; if the key
 *   merely lapsed while Redis was away for everyone, it joins again as it was.
 */
export async function joinCluster(options: {
  shared: SharedState;
  cluster: Cluster;
  watch: NodeWatch;
  sessions: SessionService;
  pipeServer: PipeServer;
  remoteTracks: RemoteTracks;
  /** Where other nodes reach this node's API. */
  url: string;
  /** What this node says of itself at each heartbeat: region, load, capacity, draining. */
  status: () => NodeStatus;
  logger: Logger;
}): Promise<() => void> {
  const { shared, cluster, watch, sessions, pipeServer, remoteTracks, url, logger } = options;
  const log = shared.trackEvents as RedisTrackEventBus;
  let lastRestore = 0;
  let handling = false;

  sessions.sessionEvents.watchAll((event) => {
    if (event.type === 'CLOSED') cluster.forgetSession(event.session.id);
  });
  // A track that ends takes its relay tree's records with it.
  sessions.tracks.on('change', (type, track) => {
    if (type === 'UNPUBLISHED') cluster.carriers.forget(track.sessionId, track.name).catch(() => undefined);
  });

  /**
   * Brings the cluster's view of this node back in line with what it holds:
   * after Redis lost its data (restore everything), or after an outage during
   * which writes failed (a closed session still listed, a status change lost).
   */
  const reconcile = async (reason: 'reset' | 'reconnected') => {
    if (reason === 'reset') {
      lastRestore = Date.now();
      await cluster.nodes.rejoin({ newId: false });
    }
    const local = new Set(sessions.sessionIds());
    for (const id of local) {
      const session = sessions.get(id);
      // A cap no one reaches: the subject's set is refilled, nothing is refused.
      if (session) {
        const entry = { appId: session.ownership.appId, owner: session.ownership.owner, secretHash: session.resumeSecretHash, correlationId: session.correlationId };
        await cluster.registerSession(id, entry, Number.MAX_SAFE_INTEGER);
      }
    }
    let changed = 0;
    for (const id of await cluster.directory.sessionsOf(cluster.nodeId)) {
      if (local.has(id)) continue;
      for (const view of await log.tracksOfSession(id)) changed += await publish(log, 'UNPUBLISHED', { ...view, status: 'INACTIVE' });
      await cluster.directory.forget(id);
    }
    for (const id of local) {
      for (const view of await log.tracksOfSession(id)) {
        if (!sessions.tracks.get(id, view.name) && !sessions.data.registry.get(id, view.name)) changed += await publish(log, 'UNPUBLISHED', { ...view, status: 'INACTIVE' });
      }
    }
    for (const track of [...sessions.tracks.list(), ...sessions.data.registry.list()]) {
      const shared = await log.track(track.sessionId, track.name);
      const view = trackView(track);
      if (!shared) changed += await publish(log, 'PUBLISHED', view);
      else if (shared.status !== track.status && track.status !== 'WAITING') changed += await publish(log, track.status, view);
      else if (shared.muted !== track.muted) changed += await publish(log, track.muted ? 'MUTED' : 'UNMUTED', view);
    }
    logger.warn({ reason, sessions: local.size, changes: changed }, 'brought the cluster\'s view of this node\'s sessions and tracks up to date');
  };
  // One at a time: a reconnection to an emptied Redis brings both reasons at once, and the second finds nothing left to do.
  let reconciling: Promise<void> = Promise.resolve();
  const reconcileLogged = (reason: 'reset' | 'reconnected') => {
    reconciling = reconciling
      .then(() => reconcile(reason))
      .catch((error: unknown) => logger.error({ err: error, reason }, 'could not bring the cluster\'s view of this node up to date; it will be tried at the next reconnection'));
  };
  log.onReset = () => reconcileLogged('reset');
  shared.onReconnect = () => reconcileLogged('reconnected');

  cluster.nodes.onExpired = () => {
    if (handling) return;
    handling = true;
    void (async () => {
      // An emptied Redis found here: the reset handler restores everything.
      if (await log.checkEpoch()) return;
      // Just after a reset or a restore (found by the log's own check on reconnection), a missing key is their doing;
      // otherwise ask whether the others gave this node up. Either way a lapsed key is put back under the same id.
      const justRestored = Date.now() - Math.max(lastRestore, log.resetAt) < RESTORE_GRACE_MS;
      if (justRestored || (await cluster.nodes.expiry()) === 'lapsed') {
        await cluster.nodes.rejoin({ newId: false });
        return;
      }
      const ids = sessions.sessionIds();
      logger.error({ node: cluster.nodeId, sessions: ids.length }, 'the cluster declared this node gone (its heartbeat expired): closing its sessions and joining again');
      for (const id of ids) await sessions.closeSession(id, 'the cluster declared this node gone').catch(() => undefined);
      remoteTracks.closePipes();
      await cluster.nodes.rejoin({ newId: true });
    })()
      .catch((error: unknown) => logger.error({ err: error }, 'could not rejoin the cluster; will try again'))
      .finally(() => {
        handling = false;
      });
  };

  await remoteTracks.follow(shared.trackEvents);
  // Other nodes' PipeServers send piped media only to these addresses (checkDestination).
  await cluster.nodes.join(url, pipeServer.announcedIps, options.status);
  watch.onNodeGone = (nodeId) => {
    pipeServer.closeTowards(nodeId);
    // Tracks this node took from the dead one come from another carrier now.
    remoteTracks.parentGone(nodeId);
  };
  watch.start();
  // Parents are watched closer than heartbeats: a dead relay's tracks move within a second or so.
  const parents = new ParentWatch(() => remoteTracks.parents(), (nodeId) => remoteTracks.parentGone(nodeId), logger);
  parents.start();
  return () => parents.stop();
}
