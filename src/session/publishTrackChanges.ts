import type { TrackEventBus } from '../events/TrackEventBus.js';
import type { Logger } from '../logger.js';
import { trackView } from '../tracks/PublishedTrack.js';
import type { Publication, TrackRegistry } from '../tracks/TrackRegistry.js';

/**
 * Every change of this node's registry goes to the track event log, in
 * order (the log appends one node's events in the order of the calls).
 * Returns `flushed()`: resolves once everything published so far is in the
 * log, so that a node that stops has told the cluster its tracks are gone.
 */
export function publishTrackChanges<T extends Publication>(tracks: TrackRegistry<T>, log: TrackEventBus, logger: Logger): { flushed(): Promise<unknown> } {
  let last: Promise<unknown> = Promise.resolve();
  tracks.on('change', (type, track) => {
    last = log.publish(type, trackView(track)).catch((error: unknown) =>
      logger.error({ err: error, session: track.sessionId, track: track.name, event: type }, 'could not publish a track event'),
    );
  });
  return { flushed: () => last };
}
