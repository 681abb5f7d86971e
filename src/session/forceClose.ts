import { ErrorCode } from '../errors.js';
import type { Session, Transceiver } from './Session.js';
import { TrackResults } from './trackResults.js';
import type { TracksOutcome } from './types.js';

/**
 * closeTracks with force: stops the media on these mids at once, without
 * renegotiation. The m-sections stay, idle: the client's next offer is
 * answered with them inactive. Runs on the session's queue.
 */
export function forceCloseTracks(session: Session, mids: string[], stopMedia: (transceiver: Transceiver) => void): TracksOutcome {
  const results = new TrackResults();
  for (const mid of mids) {
    const index = results.add({ mid, sessionId: session.id, trackName: null });
    const transceiver = session.transceivers.find((t) => t.section.mid === mid);
    if (!transceiver || !(transceiver.pushed || transceiver.pulled)) {
      results.fail(index, ErrorCode.TRACK_NOT_FOUND, `no track on mid ${mid}`);
      continue;
    }
    stopMedia(transceiver);
    transceiver.pushed = undefined;
    transceiver.pulled = undefined;
    transceiver.section = { ...transceiver.section, direction: 'inactive', outgoing: undefined };
  }
  return { session, description: null, requiresImmediateRenegotiation: false, tracks: results.items };
}
