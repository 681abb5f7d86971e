import type { types } from 'mediasoup';
import type { AccessPolicy } from '../auth/access.js';
import { ErrorCode, SwitchyardError, badRequest, sessionNotFound, trackNotFound } from '../errors.js';
import type { RemoteTrackSource } from '../cluster/RemoteTracks.js';
import type { TrackView } from '../tracks/PublishedTrack.js';
import type { TrackRegistry } from '../tracks/TrackRegistry.js';
import type { TrackRefusal } from '../session/types.js';

/** A track to record, made consumable on a router of this node. */
export interface RecordedSource {
  readonly name: string;
  readonly router: types.Router;
  readonly producerId: string;
  readonly mimeType: string;
  /** A track of another node: the pipe that brings it here is held while the recording consumes it. */
  readonly remote: boolean;
}

/** In a cluster: tracks of other nodes, piped here to be recorded. */
export interface RemoteRecordingSources {
  readonly tracks: RemoteTrackSource;
  /** The media tracks another node's session publishes, as the cluster's track directory says. */
  tracksOfSession(sessionId: string): Promise<TrackView[]>;
  /** A router of this node to pipe them to. */
  router(): types.Router;
}

/** At most this many tracks in one session recording (one file). */
export const MAX_TRACKS = 4;

/**
 * What a recording request names, as sources on this node: a track of this
 * node where it is published, one of another node piped here (the
 * recording runs where the call landed, so recorders spread with the calls,
 * not with the publishers). Access is the same as for pulling: a track the
 * caller may not see does not exist for it. A session recording takes the
 * session's tracks that send media when it starts.
 */
export async function recordedSources(
  access: AccessPolicy,
  sessionId: string,
  trackName: string | null,
  local: TrackRegistry,
  remote: RemoteRecordingSources | undefined,
): Promise<RecordedSource[]> {
  const refusal = (view: TrackView): TrackRefusal | null => {
    const verdict = access.track(view);
    if (verdict === 'hidden') return { code: ErrorCode.TRACK_NOT_FOUND, message: `track ${view.name} of session ${sessionId} is not published` };
    if (verdict === 'forbidden') return { code: ErrorCode.FORBIDDEN, message: `this token may not record ${view.name}` };
    return null;
  };
  const fail = (refused: TrackRefusal) => new SwitchyardError(refused.code, refused.message);
  let names: string[];
  if (trackName !== null) {
    names = [trackName];
  } else {
    const here = local.list({ sessionIds: [sessionId] });
    const views = here.length > 0 || !remote ? here : (await remote.tracksOfSession(sessionId)).filter((v) => v.kind !== 'data');
    const published = views.filter((v) => access.track(v) !== 'hidden');
    if (published.length === 0) throw sessionNotFound(sessionId);
    // The tracks that send media: a camera that is off would hold the file back (a muxer needs a picture's size before it writes).
    const sending = published.filter((v) => v.status === 'ACTIVE');
    const visible = sending.length > 0 ? sending : published;
    const refused = visible.map(refusal).find((r) => r !== null);
    if (refused) throw fail(refused);
    if (visible.length > MAX_TRACKS) throw badRequest(`session ${sessionId} publishes ${visible.length} tracks; a session recording takes at most ${MAX_TRACKS}: record tracks one by one`);
    names = visible.map((v) => v.name);
  }
  const sources: RecordedSource[] = [];
  for (const name of names) {
    const track = local.get(sessionId, name);
    if (track) {
      const refused = refusal(track);
      if (refused) throw refused.code === ErrorCode.TRACK_NOT_FOUND ? trackNotFound(sessionId, name) : fail(refused);
      sources.push({ name, router: track.router, producerId: track.producer.id, mimeType: track.producer.rtpParameters.codecs[0]!.mimeType, remote: false });
      continue;
    }
    if (!remote) throw trackNotFound(sessionId, name);
    const router = remote.router();
    const found = await remote.tracks.find(sessionId, name, router, refusal);
    if (!found) throw trackNotFound(sessionId, name);
    if (!('producerId' in found)) throw fail(found);
    if (found.view.kind === 'data') throw trackNotFound(sessionId, name);
    sources.push({ name, router, producerId: found.producerId, mimeType: found.producer.rtpParameters.codecs[0]!.mimeType, remote: true });
  }
  return sources;
}
