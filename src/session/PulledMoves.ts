import type { types } from 'mediasoup';
import type { RemoteTrackSource } from '../cluster/RemoteTracks.js';
import { bidirectionalSection } from './bidirectional.js';
import type { PulledTrack, Session, Transceiver } from './Session.js';
import type { SfuOffers } from './SfuOffers.js';
import type { PullRequest } from './types.js';

/** What following a moved track needs of the puller. */
export interface PulledMovesParts {
  remote: RemoteTrackSource | undefined;
  /** Tracks whose session moved to another PeerConnection (TrackMoves): back once published again (MOVED). */
  sessionMoves: { moving(sessionId: string, trackName: string): Promise<boolean> | undefined } | undefined;
  offers: SfuOffers;
  /** A new consumer of `request` on the transceiver `mid` (Puller.consume). */
  consumeOn: (session: Session, request: PullRequest, mid: string) => Promise<Transceiver | undefined>;
  onTrackEnded: (session: Session, mid: string) => void;
  onSourceMoved: (session: Session, mid: string) => void;
}

/**
 * What happens to a pull whose source producer closed: the track ended
 * (its transceiver goes inactive, TRACK_ENDED), or it is moving: a track of
 * another node whose relay was replaced or whose session moved to another
 * node, or a track of a session here that moved to another PeerConnection
 * (TrackMoves). Once it is back the pull follows it onto the new producer on
 * the same mid (an SFU offer).
 */
export class PulledMoves {
  constructor(private readonly parts: PulledMovesParts) {}

  /**
   * A pulled source went away: its transceiver stays, inactive (receiving
   * only, when it also carries a pushed track). A track of another node
   * whose relay died is not gone: it is re-attaching, and the transceiver
   * follows it (follow) once it is back.
   */
  sourceEnded(session: Session, consumer: types.Consumer, source: { sessionId: string; name: string }): void {
    // Asked now: a move settles and is forgotten soon after the consumers of its old source heard of it.
    const moving = this.parts.remote?.moving(source.sessionId, source.name) ?? this.parts.sessionMoves?.moving(source.sessionId, source.name);
    const pulledBy = () => session.transceivers.find((t) => t.pulled?.consumer === consumer)?.pulled;
    const pulled = pulledBy();
    if (pulled) return this.ended(session, pulled, moving);
    // The pull that made this consumer is still under way (its transceiver is not the session's yet): once its operation is over.
    void session.queue
      .run(async () => {
        const later = pulledBy();
        if (later && !session.closed) this.ended(session, later, moving);
      })
      .catch((error: unknown) => session.log.warn({ err: error }, 'could not end or follow a pull whose source went away'));
  }

  private ended(session: Session, pulled: PulledTrack, moving: Promise<boolean> | undefined): void {
    const transceiver = session.transceivers.find((t) => t.pulled === pulled);
    if (!transceiver) return;
    pulled.ended = true;
    const { sessionId, name } = pulled.source;
    session.log.info({ mid: transceiver.section.mid, source: sessionId, track: name, moving: Boolean(moving) }, moving ? 'a pulled track is moving: the transceiver waits for it' : 'a pulled track ended');
    if (!moving) return this.endTransceiver(session, transceiver);
    void moving
      .then((back) => {
        // The transceiver that still carries this pull (a negotiation meanwhile may have rebuilt the object; a retarget or close took the pull away).
        const current = session.transceivers.find((t) => t.pulled === pulled);
        if (!current || session.closed) return;
        if (back) this.parts.onSourceMoved(session, current.section.mid);
        else this.endTransceiver(session, current);
      })
      .catch((error: unknown) => session.log.warn({ err: error }, 'could not follow a pulled track that moved'));
  }

  endTransceiver(session: Session, transceiver: Transceiver): void {
    transceiver.section = { ...transceiver.section, direction: transceiver.pushed ? 'recvonly' : 'inactive' };
    this.parts.onTrackEnded(session, transceiver.section.mid);
  }

  /**
   * On the session's queue: the track pulled on `mid` came back on a new
   * producer (its relay was replaced): a new consumer on the same mid and
   * the SFU's offer of its new stream. No TRACK_ENDED: the client's
   * transceiver and track stay; the SDK applies the offer by itself.
   */
  async follow(session: Session, mid: string): Promise<void> {
    const transceiver = session.transceivers.find((t) => t.section.mid === mid);
    const pulled = transceiver?.pulled;
    // Only a pull whose consumer closed under it (not one the client retargeted or that ended for good meanwhile).
    if (!transceiver || !pulled?.ended || !pulled.consumer.closed || session.closed) return;
    // An SFU offer waits for its answer: this one follows after it, or the client's answer to that offer would be taken for this one's.
    if (session.negotiation !== 'stable') {
      session.whenStable.push(() => this.parts.onSourceMoved(session, mid));
      return;
    }
    const preferredRid = pulled.simulcast?.preferredRid ?? null;
    const request: PullRequest = { sessionId: pulled.source.sessionId, trackName: pulled.source.name, mid: null, simulcast: preferredRid ? { preferredRid } : null };
    const replacement = await this.parts.consumeOn(session, request, mid);
    if (!replacement?.pulled) return this.endTransceiver(session, transceiver);
    transceiver.section = (transceiver.pushed && bidirectionalSection(transceiver.section, replacement.section)) || replacement.section;
    transceiver.pulled = replacement.pulled;
    transceiver.pending = true;
    this.parts.offers.offer(session);
    session.log.info({ mid, source: request.sessionId, track: request.trackName, producer: replacement.pulled.consumer.producerId }, 'a pulled track follows its source onto a new producer (SFU offer)');
  }

}
