import { negotiationConflict } from '../errors.js';

/**
 * Where the offer/answer exchange of one session stands. The SFU's view of
 * JSEP: `stable`, or `have-local-offer` while an offer of the SFU waits for
 * the client's answer.
 */
export type NegotiationState = 'stable' | 'have-local-offer';

/** What can happen to the exchange. */
export type NegotiationEvent =
  /** The client sends an offer (pushTracks, closeTracks, renegotiate); the SFU answers it. */
  | 'client-offer'
  /** The SFU makes an offer (pullTracks, updateTracks, pushTracks without an offer). */
  | 'sfu-offer'
  /** The client answers the SFU's latest offer (renegotiate with an ANSWER). */
  | 'client-answer';

/**
 * The state after `event`, or NEGOTIATION_CONFLICT when the event contradicts
 * the state (the session is then left as it was). A second SFU offer while
 * one is unanswered is folded: the new offer carries everything and replaces
 * the first, so the client answers only the latest.
 */
export function transition(state: NegotiationState, event: NegotiationEvent): NegotiationState {
  switch (event) {
    case 'client-offer':
      if (state === 'have-local-offer') {
        throw negotiationConflict('the SFU\'s offer is waiting for an answer; send it with renegotiate before a new offer');
      }
      return 'stable';
    case 'sfu-offer':
      return 'have-local-offer';
    case 'client-answer':
      if (state === 'stable') throw negotiationConflict('there is no SFU offer waiting for an answer');
      return 'stable';
  }
}
