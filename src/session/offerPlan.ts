import { badRequest, ErrorCode, invalidSdp } from '../errors.js';
import type { RemoteDescription, RemoteSection } from '../sdp/types.js';
import type { Session, Transceiver } from './Session.js';
import { TrackResults } from './trackResults.js';
import type { PullRequest } from './types.js';
import { isValidTrackName } from './limits.js';

/** A track the client asks to publish from its offer. */
export interface PushRequest {
  /** mid of the sending transceiver; absent with autoDiscover. */
  mid?: string;
  trackName: string;
  tags: string[];
}

export interface OfferIntents {
  push: PushRequest[];
  /** mids whose tracks the client closes with this offer. */
  close: string[];
  /** Publish every new sending m-section, named by the SFU. */
  autoDiscover: boolean;
  /** Pull tracks into receiving m-sections of this offer, named by mid (the SFU answers with the media). */
  pull?: PullRequest[];
}

/** What to do with one m-section of the client's offer. */
export type SectionAction =
  /** An m-section already negotiated: keep what it carries. */
  | { type: 'keep'; transceiver: Transceiver }
  /** Publish what the client sends on it. */
  | { type: 'produce'; trackName: string; tags: string[]; resultIndex: number }
  /** Send a pulled track on it (the client offered to receive there). */
  | { type: 'consume'; request: PullRequest; resultIndex: number }
  /** Stop what it carries; `reject` when the client stopped the transceiver. */
  | { type: 'close'; transceiver: Transceiver; reject: boolean }
  /** Nothing to carry: answered inactive (or rejected when the client stopped it). */
  | { type: 'idle'; reject: boolean }
  | { type: 'data' };

export interface SectionPlan {
  offered: RemoteSection;
  action: SectionAction;
}

export interface OfferPlan {
  sections: SectionPlan[];
  results: TrackResults;
}

const sends = (section: RemoteSection) => section.direction === 'sendonly' || section.direction === 'sendrecv';

/**
 * Decides, without touching media, what a client's offer does to the session:
 * which m-sections keep their tracks, which start publishing, which close.
 * Whole-offer problems (m-sections removed or reordered, a changed DTLS
 * identity) throw; a problem with one requested track becomes that track's
 * error in `results` while the rest of the offer goes ahead.
 */
export function planClientOffer(session: Session, description: RemoteDescription, intents: OfferIntents): OfferPlan {
  const existing = session.transceivers;
  const offered = description.sections;
  if (offered.length < existing.length) {
    throw invalidSdp(
      `the offer has ${offered.length} m-sections but the session has ${existing.length}; m-sections are never removed, stop the transceiver instead`,
    );
  }
  if (description.transport && session.remoteFingerprint) {
    const { algorithm, value } = description.transport.fingerprint;
    if (algorithm !== session.remoteFingerprint.algorithm || value !== session.remoteFingerprint.value) {
      throw invalidSdp('the DTLS fingerprint changed; a new PeerConnection needs a new session');
    }
  }

  // The first live m-section carries the BUNDLE transport. A client that stops
  // it moves to a new transport with a new DTLS handshake, which the SFU's
  // transport cannot do: refuse rather than let the connection fail, and say
  // how to close that track instead (the SFU's own first offers start with a
  // data section, so only clients that put media first meet this).
  const tagIndex = existing.findIndex((t) => !t.section.rejected);
  // Stopping it together with every other m-section is refused too: Chromium
  // cannot even apply such an offer itself (max-bundle without a BUNDLE group).
  const tag = existing[tagIndex];
  if (tag && offered[tagIndex]?.rejected && (offered.some((s) => !s.rejected) || tag.pushed || tag.pulled)) {
    const mid = tag.section.mid;
    throw badRequest(
      `the offer stops m-section ${mid}, which carries the session's BUNDLE transport (it is the first m-section). ` +
        `Do not stop() that transceiver: set its direction to 'inactive' and send that offer with closeTracks (mids: ["${mid}"]); ` +
        `a later push (direction 'sendonly' and replaceTrack) or pull (pullTracks with mid "${mid}", then direction 'recvonly' before answering) can reuse the m-section. ` +
        'A stop() cannot be undone: every later offer of this PeerConnection stops it again and is refused; roll back this offer ' +
        '(setLocalDescription({ type: "rollback" })) to keep the session\'s other tracks and SFU-offered pulls, or start a new session. ' +
        'Sessions that start with a data channel never meet this',
    );
  }

  const kept = new Map<number, Transceiver>();
  offered.forEach((section, index) => {
    const current = existing[index];
    if (!current) return;
    if (section.mid === current.section.mid) {
      if (section.kind !== current.section.kind) {
        throw invalidSdp(`m-section ${section.mid} changed its media type from ${current.section.kind} to ${section.kind}`);
      }
      kept.set(index, current);
    } else if (!current.section.rejected) {
      // Only a stopped m-section may be recycled for a new transceiver.
      throw invalidSdp(`m-section ${index} has mid ${section.mid}, the session has ${current.section.mid} there`);
    }
  });

  const results = new TrackResults();
  const pushByMid = new Map<string, { request: PushRequest; resultIndex: number }>();
  const names = session.publishedNames();
  for (const request of intents.push) {
    const resultIndex = results.add({ mid: request.mid ?? null, sessionId: session.id, trackName: request.trackName });
    if (request.mid === undefined) {
      results.fail(resultIndex, ErrorCode.BAD_REQUEST, 'a track pushed with an offer needs the mid of its transceiver');
      continue;
    }
    const index = offered.findIndex((s) => s.mid === request.mid);
    const section = offered[index];
    if (!section) {
      results.fail(resultIndex, ErrorCode.BAD_REQUEST, `the offer has no m-section with mid ${request.mid}`);
    } else if (section.rejected || section.kind === 'application' || !sends(section)) {
      results.fail(resultIndex, ErrorCode.BAD_REQUEST, `m-section ${request.mid} does not send audio or video`);
    } else if (kept.get(index)?.pushed || kept.get(index)?.pulled) {
      results.fail(resultIndex, ErrorCode.BAD_REQUEST, `m-section ${request.mid} already carries a track`);
    } else if (pushByMid.has(request.mid)) {
      results.fail(resultIndex, ErrorCode.BAD_REQUEST, `mid ${request.mid} is named twice`);
    } else if (names.has(request.trackName)) {
      results.fail(resultIndex, ErrorCode.BAD_REQUEST, `this session already publishes a track named ${request.trackName}`);
    } else {
      names.add(request.trackName);
      pushByMid.set(request.mid, { request, resultIndex });
    }
  }

  const pullByMid = planPulls(intents.pull ?? [], offered, kept, pushByMid, results);

  const closeMids = new Set(intents.close);
  const sections = offered.map((section, index): SectionPlan => {
    const transceiver = kept.get(index);
    const push = pushByMid.get(section.mid);
    if (transceiver) {
      const carries = Boolean(transceiver.pushed || transceiver.pulled);
      if (carries && (section.rejected || closeMids.has(section.mid))) {
        return { offered: section, action: { type: 'close', transceiver, reject: section.rejected } };
      }
      if (!carries && push) {
        return { offered: section, action: { type: 'produce', ...push.request, resultIndex: push.resultIndex } };
      }
      const pull = pullByMid.get(section.mid);
      if (pull && !transceiver.pushed && (!transceiver.pulled || transceiver.pulled.ended)) return { offered: section, action: { type: 'consume', ...pull } };
      if (!carries && section.rejected) return { offered: section, action: { type: 'idle', reject: true } };
      return { offered: section, action: { type: 'keep', transceiver } };
    }
    if (section.rejected) return { offered: section, action: { type: 'idle', reject: true } };
    if (section.kind === 'application') return { offered: section, action: { type: 'data' } };
    if (push) return { offered: section, action: { type: 'produce', ...push.request, resultIndex: push.resultIndex } };
    const pull = pullByMid.get(section.mid);
    if (pull) return { offered: section, action: { type: 'consume', ...pull } };
    if (intents.autoDiscover && sends(section)) {
      const trackName = discoveredName(section, names);
      names.add(trackName);
      const resultIndex = results.add({ mid: section.mid, sessionId: session.id, trackName });
      return { offered: section, action: { type: 'produce', trackName, tags: [], resultIndex } };
    }
    return { offered: section, action: { type: 'idle', reject: false } };
  });

  return { sections, results };
}

const receives = (section: RemoteSection) => section.direction === 'recvonly' || section.direction === 'sendrecv';

/** Which receiving m-sections of the offer the pulls name, each checked; a refused pull is its result's error. */
function planPulls(
  pulls: PullRequest[],
  offered: RemoteSection[],
  kept: Map<number, Transceiver>,
  pushByMid: Map<string, unknown>,
  results: TrackResults,
): Map<string, { request: PullRequest; resultIndex: number }> {
  const pullByMid = new Map<string, { request: PullRequest; resultIndex: number }>();
  for (const request of pulls) {
    const resultIndex = results.add({ mid: request.mid ?? null, sessionId: request.sessionId, trackName: request.trackName });
    const mid = request.mid;
    const index = mid == null ? -1 : offered.findIndex((s) => s.mid === mid);
    const section = offered[index];
    const current = kept.get(index);
    let problem: string | undefined;
    if (mid == null) problem = 'a track pulled with an offer needs the mid of the receiving transceiver in that offer';
    else if (mid.startsWith('#')) problem = 'with an offer, name the receiving transceiver by its mid';
    else if (!section) problem = `the offer has no m-section with mid ${mid}`;
    else if (section.rejected || section.kind === 'application' || !receives(section)) problem = `m-section ${mid} does not receive audio or video`;
    else if (current?.pushed || (current?.pulled && !current.pulled.ended) || current?.pending) problem = `m-section ${mid} already carries a track`;
    else if (pullByMid.has(mid) || pushByMid.has(mid)) problem = `mid ${mid} is named twice`;
    if (problem !== undefined || mid == null) {
      results.fail(resultIndex, ErrorCode.BAD_REQUEST, problem ?? '');
      continue;
    }
    pullByMid.set(mid, { request, resultIndex });
  }
  return pullByMid;
}

/** Name for an auto-discovered track: the client's own track id when it is free. */
function discoveredName(section: RemoteSection, taken: Set<string>): string {
  const own = section.msid?.trackId;
  // The client's id only when it passes the rules every track name does (it travels in URLs, logs and SDP).
  if (own && own !== '-' && !taken.has(own) && isValidTrackName(own)) return own;
  let name = `${section.kind}-${section.mid}`;
  for (let n = 2; taken.has(name); n += 1) name = `${section.kind}-${section.mid}-${n}`;
  return name;
}
