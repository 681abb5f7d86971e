import { PENDING_OFFER, RENEGOTIATE, ROLLBACK_OFFER } from './documents.js';
import { OfferRefusedError, SwitchyardError, type ErrorCode } from './errors.js';
import type { Transport } from './transport.js';
import type { SessionDescriptionData, TrackResultData } from './types.js';

/** Anything thrown by the browser or the network, as a SwitchyardError. */
export function asSwitchyardError(error: unknown, code: ErrorCode = 'INTERNAL'): SwitchyardError {
  if (error instanceof SwitchyardError) return error;
  return new SwitchyardError(code, error instanceof Error ? error.message : String(error), { cause: error });
}

/** The error of one track's result in a multi-track payload, if it failed (or is missing). */
export function trackError(result: TrackResultData | undefined, what: string): SwitchyardError | undefined {
  if (!result) return new SwitchyardError('INTERNAL', `Switchyard returned no result for ${what}`);
  if (!result.error) return undefined;
  return new SwitchyardError(result.error.code as ErrorCode, result.error.message);
}

/**
 * The offer/answer steps of one session's PeerConnection with the SFU. Each
 * method is one step of an operation that the caller already runs in the
 * session's OperationQueue; none of them queue anything themselves.
 */
export class Negotiation {
  constructor(
    readonly pc: RTCPeerConnection,
    readonly transport: Transport,
    readonly sessionId: string,
  ) {}

  /** Creates and applies an offer of this client; returns its SDP. */
  async offer(options?: RTCOfferOptions): Promise<string> {
    return setLocal(this.pc, await this.pc.createOffer(options));
  }

  /** Applies the SFU's answer to this client's offer. */
  async applyAnswer(description: SessionDescriptionData | null): Promise<void> {
    if (!description || description.type !== 'ANSWER') throw new SwitchyardError('INTERNAL', 'Switchyard did not answer the offer');
    await this.pc.setRemoteDescription({ type: 'answer', sdp: description.sdp });
  }

  /** Takes this client's unanswered offer back (the SFU refused it or was not reached). */
  async rollback(): Promise<void> {
    if (this.pc.signalingState === 'have-local-offer') {
      await this.pc.setLocalDescription({ type: 'rollback' }).catch(() => undefined);
    }
  }

  /**
   * Applies the SFU's offer and sends this client's answer. When the browser
   * cannot apply it, the SFU is asked to withdraw it (rollbackOffer) and an
   * OfferRefusedError names the m-sections that went with it: without the
   * rollback the SFU would wait for an answer forever and refuse every later
   * offer of this client with NEGOTIATION_CONFLICT.
   */
  async answerOffer(sdp: string): Promise<void> {
    let answer: string;
    try {
      await this.pc.setRemoteDescription({ type: 'offer', sdp });
      answer = await setLocal(this.pc, await this.pc.createAnswer());
    } catch (browserError) {
      throw await this.refuse(browserError);
    }
    // The answer is applied here already: if sending it fails, the offer is no longer ours to withdraw.
    await this.transport.request(RENEGOTIATE, {
      input: { sessionId: this.sessionId, sessionDescription: { type: 'ANSWER', sdp: answer } },
    });
  }

  /** Answers the offer the SFU waits on, if any (after RENEGOTIATION_NEEDED). */
  async answerPendingOffer(): Promise<void> {
    const { session } = await this.transport.request<{ session: { pendingOffer: SessionDescriptionData | null } | null }>(PENDING_OFFER, {
      id: this.sessionId,
    });
    if (session?.pendingOffer) await this.answerOffer(session.pendingOffer.sdp);
  }

  /**
   * Restarts ICE: an offer with new ICE credentials, sent with renegotiate;
   * the SFU answers with its own new credentials and keeps every push and pull.
   */
  async restartIce(): Promise<void> {
    const offer = await this.offer({ iceRestart: true });
    try {
      const { renegotiate } = await this.transport.request<{ renegotiate: { sessionDescription: SessionDescriptionData | null } }>(RENEGOTIATE, {
        input: { sessionId: this.sessionId, sessionDescription: { type: 'OFFER', sdp: offer } },
      });
      await this.applyAnswer(renegotiate.sessionDescription);
    } catch (error) {
      // Not reached (the network that broke ICE may be down too) or refused: the next attempt makes a new offer.
      await this.rollback();
      throw error;
    }
  }

  /** Puts both sides back in `stable` after the browser refused the SFU's offer. */
  private async refuse(browserError: unknown): Promise<OfferRefusedError> {
    if (this.pc.signalingState === 'have-remote-offer') {
      await this.pc.setRemoteDescription({ type: 'rollback' }).catch(() => undefined);
    }
    try {
      const { rollbackOffer } = await this.transport.request<{ rollbackOffer: { withdrawnMids: string[] } }>(ROLLBACK_OFFER, {
        input: { sessionId: this.sessionId },
      });
      return new OfferRefusedError(rollbackOffer.withdrawnMids, browserError);
    } catch (rollbackError) {
      return new OfferRefusedError([], browserError, asSwitchyardError(rollbackError));
    }
  }
}

/**
 * Applies a description this client created and returns its SDP. The SFU is
 * ICE-lite and needs no candidates from the client, so the created SDP is
 * what it gets; reading pc.localDescription instead can crash libwebrtc in
 * Node (@roamhq/wrtc serializes it while ICE gathering changes it).
 */
export async function setLocal(pc: RTCPeerConnection, description: RTCSessionDescriptionInit): Promise<string> {
  await pc.setLocalDescription(description);
  return description.sdp ?? '';
}
