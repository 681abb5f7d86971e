import type { ErrorCode } from '../errors.js';
import type { TrackView } from '../tracks/PublishedTrack.js';
import type { SimulcastPreference } from '../media/simulcastPolicy.js';
import type { Session } from './Session.js';
import type { TrackResult } from './trackResults.js';

export interface DescriptionInput {
  type: 'offer' | 'answer';
  sdp: string;
}

export interface PullRequest {
  sessionId: string;
  trackName: string;
  mid?: string | null;
  simulcast?: SimulcastPreference | null;
  /** The caller's access rule for the source track; without it every published track may be pulled. */
  allow?: SourceCheck;
}

/** Why a source track may not be pulled, as its TrackResult says it. */
export interface TrackRefusal {
  code: ErrorCode;
  message: string;
}

/** Null allows pulling `track`; a refusal names the code of its TrackResult. */
export type SourceCheck = (track: TrackView) => TrackRefusal | null;

export interface TracksOutcome {
  session: Session;
  /** The SFU's answer to the client's offer, or its own offer. */
  description: DescriptionInput | null;
  requiresImmediateRenegotiation: boolean;
  tracks: TrackResult[];
}
