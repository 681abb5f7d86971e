import { badRequest, ErrorCode, negotiationConflict } from '../errors.js';
import { receiveOffer } from '../sdp/rtpMapping.js';
import type { MediaKind } from '../sdp/types.js';
import { transition } from './negotiation.js';
import type { PushRequest } from './offerPlan.js';
import type { Session, Transceiver } from './Session.js';
import { receiveOnly } from './bidirectional.js';
import { TrackResults } from './trackResults.js';
import type { TracksOutcome } from './types.js';
import type { SessionEventType } from '../events/SessionEventBus.js';
import { checkSessionBounds, DEFAULT_SESSION_BOUNDS, type SessionBounds } from './bounds.js';

/** The m-sections a withdrawn offer added or changed, and so took back. */
export interface RollbackOutcome {
  session: Session;
  withdrawnMids: string[];
}

/**
 * The offers the SFU makes (pulls, pushes without an offer, retargets), and
 * their withdrawal when the client cannot apply one. Runs on the session's
 * queue, like every change of a session.
 */
export class SfuOffers {
  constructor(
    private readonly emit: (session: Session, type: SessionEventType, mid?: string | null) => void,
    private readonly bounds: SessionBounds = DEFAULT_SESSION_BOUNDS,
  ) {}

  /**
   * A session that has no m-section yet gets a data (m=application) section
   * first in the SFU's first offer. The first m-section carries the BUNDLE
   * transport: were it media, closing that track by stop() would take the
   * transport with it, and a stop() cannot be undone by the client.
   */
  startWithData(session: Session): void {
    if (session.transceivers.length > 0) return;
    session.transceivers.push({ section: session.dataSection('0'), pending: true, addedByPendingOffer: true });
  }

  /**
   * The SFU's offer of a data (m=application) section for a session that has
   * none, so that it can carry data channels (Cloudflare's
   * datachannels/establish without an offer). A first offer starts with it.
   */
  offerDataSection(session: Session): TracksOutcome {
    if (session.transceivers.some((t) => t.section.kind === 'application' && !t.section.rejected)) {
      throw badRequest('this session already has a data m-section: open data channels with publishDataChannels and subscribeDataChannels');
    }
    session.transceivers.push({ section: session.dataSection(session.nextMid()), pending: true, addedByPendingOffer: true });
    const sdp = this.offer(session);
    return { session, description: { type: 'offer', sdp }, requiresImmediateRenegotiation: true, tracks: [] };
  }

  /** The SFU's offer of new m-sections for the client to send the requested tracks on. */
  offerToReceive(session: Session, push: PushRequest[], kinds: MediaKind[]): TracksOutcome {
    checkSessionBounds(session, this.bounds, { transceivers: push.length, sections: push.length + (session.transceivers.length === 0 ? 1 : 0) });
    const results = new TrackResults();
    const names = session.publishedNames();
    const added: Transceiver[] = [];
    push.forEach((request, i) => {
      const kind = kinds[i] as MediaKind;
      const index = results.add({ mid: null, sessionId: session.id, trackName: request.trackName });
      if (names.has(request.trackName)) {
        results.fail(index, ErrorCode.BAD_REQUEST, `this session already publishes a track named ${request.trackName}`);
        return;
      }
      names.add(request.trackName);
      if (added.length === 0) this.startWithData(session);
      const mid = session.nextMid(added.map((t) => t.section.mid));
      const { codecs, headerExtensions } = receiveOffer(kind, session.router.rtpCapabilities, session.clientCapabilities);
      added.push({
        section: { mid, kind, direction: 'recvonly', rejected: false, codecs, headerExtensions },
        pending: true,
        addedByPendingOffer: true,
        pendingPush: { trackName: request.trackName, tags: request.tags },
      });
      results.setMid(index, mid);
    });
    if (added.length === 0 && session.negotiation === 'stable') {
      return { session, description: null, requiresImmediateRenegotiation: false, tracks: results.items };
    }
    session.transceivers.push(...added);
    const sdp = this.offer(session);
    return { session, description: { type: 'offer', sdp }, requiresImmediateRenegotiation: true, tracks: results.items };
  }

  /** Moves the session to have-local-offer with a new SFU offer, and says so on its event stream. */
  offer(session: Session): string {
    session.negotiation = transition(session.negotiation, 'sfu-offer');
    const sdp = session.describe(session.localSetup(false));
    session.pendingOffer = sdp;
    this.emit(session, 'RENEGOTIATION_NEEDED');
    return sdp;
  }

  /**
   * Withdraws the SFU's pending offer, for a client that could not apply it:
   * the m-sections it added are dropped (their pulls abandoned), mids it
   * reused or retargeted are left idle (TRACK_ENDED), and the session is
   * stable again, as the client's PeerConnection still is.
   */
  rollback(session: Session): RollbackOutcome {
    if (session.negotiation !== 'have-local-offer') {
      throw negotiationConflict('there is no SFU offer waiting for an answer: nothing to roll back');
    }
    const withdrawnMids: string[] = [];
    const ended: string[] = [];
    const kept: Transceiver[] = [];
    for (const transceiver of session.transceivers) {
      if (!transceiver.pending) {
        kept.push(transceiver);
        continue;
      }
      withdrawnMids.push(transceiver.section.mid);
      transceiver.pulled?.consumer.close();
      if (transceiver.addedByPendingOffer) continue;
      // A reused or retargeted mid: the client has it, carrying nothing now (or only its own track, "#name").
      kept.push(transceiver.pushed ? receiveOnly(transceiver) : { section: { ...transceiver.section, direction: 'inactive', outgoing: undefined } });
      if (transceiver.pulled) ended.push(transceiver.section.mid);
    }
    session.transceivers = kept;
    session.negotiation = 'stable';
    session.pendingOffer = undefined;
    for (const mid of ended) this.emit(session, 'TRACK_ENDED', mid);
    return { session, withdrawnMids };
  }
}
