import { PULL_TRACKS } from './documents.js';
import { OfferRefusedError, SwitchyardError } from './errors.js';
import { asSwitchyardError, trackError, type Negotiation } from './negotiation.js';
import type { Transport } from './transport.js';
import type { SimulcastPreference, TracksPayload } from './types.js';

/** The most tracks Switchyard takes in one pullTracks call. */
const MAX_TRACKS_PER_CALL = 64;

interface PullRequest {
  sessionId: string;
  trackName: string;
  simulcast?: SimulcastPreference;
}

interface WaitingPull {
  request: PullRequest;
  resolve(track: MediaStreamTrack): void;
  reject(error: SwitchyardError): void;
}

/**
 * Pulls asked for while other operations run are sent together: one
 * pullTracks and one renegotiation for all of them (joining a room of ten
 * costs one offer, not twenty).
 */
export class PullBatcher {
  private readonly waiting: WaitingPull[] = [];

  constructor(
    private readonly session: {
      sessionId: string;
      transport: Transport;
      pc: RTCPeerConnection;
      negotiation: Negotiation;
      /** Runs work on the session's operation queue. */
      operation<T>(work: () => Promise<T>): Promise<T>;
    },
  ) {}

  /** Resolves to the MediaStreamTrack that plays the pulled track. */
  pull(request: PullRequest): Promise<MediaStreamTrack> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ request, resolve, reject });
      // One queued batch at a time collects every pull asked for until it runs.
      if (this.waiting.length === 1) this.schedule();
    });
  }

  /** Queues a batch for the waiting pulls; if the session closed meanwhile, they fail with its error. */
  private schedule(): void {
    this.session.operation(() => this.sendWaiting()).catch((error: SwitchyardError) => {
      for (const waiting of this.waiting.splice(0)) waiting.reject(error);
    });
  }

  /** Sends the waiting pulls (at most the SFU's 64 per call; the rest form the next batch). */
  private async sendWaiting(): Promise<void> {
    const batch = this.waiting.splice(0, MAX_TRACKS_PER_CALL);
    if (this.waiting.length > 0) this.schedule();
    const { transport, sessionId, negotiation, pc } = this.session;
    try {
      const { pullTracks: payload } = await transport.request<{ pullTracks: TracksPayload }>(PULL_TRACKS, {
        input: { sessionId, tracks: batch.map((waiting) => waiting.request) },
      });
      let refused: OfferRefusedError | undefined;
      try {
        if (payload.requiresImmediateRenegotiation && payload.sessionDescription) await negotiation.answerOffer(payload.sessionDescription.sdp);
      } catch (error) {
        if (!(error instanceof OfferRefusedError)) throw error;
        refused = error;
      }
      batch.forEach((waiting, i) => {
        const result = payload.tracks[i];
        // The refused offer carried every new m-section of this batch: the SFU withdrew them, nothing was received.
        const failure = trackError(result, `${waiting.request.sessionId}/${waiting.request.trackName}`) ?? refused;
        const transceiver = failure ? undefined : pc.getTransceivers().find((t) => t.mid === result?.mid);
        if (transceiver) waiting.resolve(transceiver.receiver.track);
        else waiting.reject(failure ?? new SwitchyardError('INTERNAL', `no transceiver for mid ${result?.mid} after the SFU's offer`));
      });
    } catch (error) {
      for (const waiting of batch) waiting.reject(asSwitchyardError(error));
    }
  }
}
