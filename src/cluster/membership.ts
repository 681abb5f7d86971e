import type { Logger } from '../logger.js';
import type { SessionService } from '../session/SessionService.js';
import { trackView } from '../tracks/PublishedTrack.js';
import type { PipeServer } from './PipeServer.js';
import type { RemoteTracks } from './RemoteTracks.js';
import type { RedisTrackEventBus } from './RedisTrackEventBus.js';
import type { SharedState } from './sharedState.js';

type ClusterState = SharedState & { cluster: NonNullable<SharedState['cluster']>; watch: NonNullable<SharedState['watch']> };

/** A restore this recent explains a missing heartbeat key: it is not a sign of having been declared dead. */
const RESTORE_GRACE_MS = 10_000;

/**
 * Makes a started node a member of its cluster and keeps it one:
 * - closed sessions leave the directory; pipes follow the event log;
 * - the heartbeat starts, and the watch for nodes that die;
 * - Redis that lost its data (a new log epoch): this node restores what it
 *   owns (its heartbeat, its sessions in the directory, its tracks in the log)
 *   without a restart;
 * - a heartbeat found expired: if the cluster declared this node dead (it
 *   stalled), it closes its old sessions and joins under a new id; if the key
 *   merely lapsed while Redis was away for everyone, it joins again as it was.
 */
export async function joinCluster(options: {
  shared: ClusterState;
  sessions: SessionService;
  pipeServer: PipeServer;
  remoteTracks: RemoteTracks;
  /** Where other nodes reach this node's API. */
  url: string;
  logger: Logger;
}): Promise<void> {
  const { shared, sessions, pipeServer, remoteTracks, url, logger } = options;
  const { cluster, watch } = shared;
  const log = shared.trackEvents as RedisTrackEventBus;
  let lastRestore = 0;
  let handling = false;

  sessions.sessionEvents.watchAll((event) => {
    if (event.type === 'CLOSED') cluster.forgetSession(event.session.id);
  });

  const restore = async () => {
    lastRestore = Date.now();
    await cluster.nodes.rejoin({ newId: false });
    for (const id of sessions.sessionIds()) {
      const session = sessions.get(id);
      if (session) await cluster.registerSession(id, { appId: session.ownership.appId, owner: session.ownership.owner });
    }
    const tracks = sessions.tracks.list();
    for (const track of tracks) await log.publish('PUBLISHED', trackView(track));
    logger.warn({ sessions: sessions.sessionCount, tracks: tracks.length }, 'Redis had lost the cluster\'s state: restored this node\'s sessions and tracks');
  };
  log.onReset = () => void restore().catch((error: unknown) => logger.error({ err: error }, 'could not restore this node\'s state in Redis; will try again'));

  cluster.nodes.onExpired = () => {
    if (handling) return;
    handling = true;
    void (async () => {
      if ((await log.checkEpoch()) || Date.now() - lastRestore < RESTORE_GRACE_MS) return;
      if ((await cluster.nodes.expiry()) === 'lapsed') {
        await cluster.nodes.rejoin({ newId: false });
        return;
      }
      const ids = sessions.sessionIds();
      logger.error({ node: cluster.nodeId, sessions: ids.length }, 'the cluster declared this node gone (its heartbeat expired): closing its sessions and joining again');
      for (const id of ids) await sessions.closeSession(id).catch(() => undefined);
      remoteTracks.closePipes();
      await cluster.nodes.rejoin({ newId: true });
    })()
      .catch((error: unknown) => logger.error({ err: error }, 'could not rejoin the cluster; will try again'))
      .finally(() => {
        handling = false;
      });
  };

  await remoteTracks.follow(shared.trackEvents);
  await cluster.nodes.join(url);
  watch.onNodeGone = (nodeId) => pipeServer.closeTowards(nodeId);
  watch.start();
}
