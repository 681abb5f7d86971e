import { ErrorCode, SwitchyardError } from '../errors.js';
import type { Session, Transceiver } from './Session.js';

/**
 * What one session may hold, whatever its caller's rate: without these a
 * session could pull one track a thousand times (a paused consumer each,
 * created at once), keep piling pulls into an offer it never answers, or make
 * every offer the SFU writes longer without end.
 */
export interface SessionBounds {
  /** Media transceivers in use: pushed, pulled, and offered by the SFU waiting for an answer (MAX_TRANSCEIVERS_PER_SESSION). */
  maxTransceivers: number;
  /** Pulls the SFU has offered that the client has not answered yet (MAX_PENDING_PULLS_PER_SESSION). */
  maxPendingPulls: number;
  /** m-sections of the session's description, idle and stopped ones included: each offer rewrites them all (MAX_SECTIONS_PER_SESSION). */
  maxSections: number;
}

/**
 * Defaults: a 100-person room (audio and video of everyone) fits in 256
 * transceivers; two full calls (64 tracks each) of pulls may wait for one
 * answer; 1,024 m-sections keep the SFU's offer under ~1 MB of SDP, and a
 * session that churns through more reuses idle transceivers by mid.
 */
export const DEFAULT_SESSION_BOUNDS: SessionBounds = { maxTransceivers: 256, maxPendingPulls: 128, maxSections: 1024 };

/** A media transceiver that carries, or is about to carry, a track. */
export function inUse(transceiver: Transceiver): boolean {
  const { section } = transceiver;
  if (section.kind === 'application' || section.rejected) return false;
  return Boolean(transceiver.pushed || (transceiver.pulled && !transceiver.pulled.ended) || transceiver.pending || transceiver.pendingPush);
}

/** What the session holds now, as the bounds count it. */
export function sessionHoldings(transceivers: readonly Transceiver[]): { transceivers: number; pendingPulls: number; sections: number } {
  return {
    transceivers: transceivers.filter(inUse).length,
    pendingPulls: transceivers.filter((t) => t.pending && t.pulled).length,
    sections: transceivers.length,
  };
}

const exceeded = (message: string) => new SwitchyardError(ErrorCode.LIMIT_EXCEEDED, message);

/**
 * Refuses a change that would take the session past a bound, before anything
 * is created: `adding` is the most it may add (every requested track counted,
 * even those that may fail), so a refusal never depends on which would.
 */
export function checkSessionBounds(
  session: Session,
  bounds: SessionBounds,
  adding: { transceivers: number; pendingPulls?: number; sections: number },
): void {
  const now = sessionHoldings(session.transceivers);
  if (now.transceivers + adding.transceivers > bounds.maxTransceivers) {
    throw exceeded(
      `this session holds ${now.transceivers} media transceivers and this call would add ${adding.transceivers}: at most ${bounds.maxTransceivers} (MAX_TRANSCEIVERS_PER_SESSION); close tracks first`,
    );
  }
  const pending = adding.pendingPulls ?? 0;
  if (pending > 0 && now.pendingPulls + pending > bounds.maxPendingPulls) {
    throw exceeded(
      `this session has ${now.pendingPulls} pulls waiting for its answer and this call would add ${pending}: at most ${bounds.maxPendingPulls} (MAX_PENDING_PULLS_PER_SESSION); answer the SFU's offer with renegotiate first`,
    );
  }
  if (now.sections + adding.sections > bounds.maxSections) {
    throw exceeded(
      `this session's description has ${now.sections} m-sections and this call would add ${adding.sections}: at most ${bounds.maxSections} (MAX_SECTIONS_PER_SESSION); reuse idle transceivers by mid, or start a new session`,
    );
  }
}

/** A client's offer is the whole description: refused when it has more m-sections, or more in use, than a session may. */
export function checkOfferBounds(bounds: SessionBounds, counts: { sections: number; transceivers: number }): void {
  if (counts.sections > bounds.maxSections) {
    throw exceeded(`the offer has ${counts.sections} m-sections: at most ${bounds.maxSections} (MAX_SECTIONS_PER_SESSION)`);
  }
  if (counts.transceivers > bounds.maxTransceivers) {
    throw exceeded(`the offer would have this session carry ${counts.transceivers} media tracks: at most ${bounds.maxTransceivers} (MAX_TRANSCEIVERS_PER_SESSION)`);
  }
}
