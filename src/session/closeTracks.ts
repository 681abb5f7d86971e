import { ErrorCode } from '../errors.js';
import type { Session, Transceiver } from './Session.js';
import { TrackResults } from './trackResults.js';
import type { DescriptionInput, TracksOutcome } from './types.js';

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

/**
 * closeTracks with the client's offer (those transceivers stopped): the offer
 * is applied with the known mids closed; a mid that carries no track gets
 * TRACK_NOT_FOUND in its result. Runs on the session's queue.
 */
export async function closeTracksWithOffer(
  session: Session,
  mids: string[],
  applyOffer: (close: string[]) => Promise<{ answer: DescriptionInput; results: TrackResults }>,
): Promise<TracksOutcome> {
  const known = new Set(session.transceivers.filter((t) => t.pushed || t.pulled).map((t) => t.section.mid));
  const { answer, results } = await applyOffer(mids.filter((mid) => known.has(mid)));
  for (const mid of mids) {
    const index = results.add({ mid, sessionId: session.id, trackName: null });
    if (!known.has(mid)) results.fail(index, ErrorCode.TRACK_NOT_FOUND, `no track on mid ${mid}`);
  }
  return { session, description: answer, requiresImmediateRenegotiation: false, tracks: results.items };
}
