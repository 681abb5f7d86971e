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
}

export interface TracksOutcome {
  session: Session;
  /** The SFU's answer to the client's offer, or its own offer. */
  description: DescriptionInput | null;
  requiresImmediateRenegotiation: boolean;
  tracks: TrackResult[];
}
