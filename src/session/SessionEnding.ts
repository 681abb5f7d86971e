import type { Logger } from '../logger.js';
import type { MediaWorker } from '../media/workerPool.js';
import { trackView, type PublishedTrack, type TrackView } from '../tracks/PublishedTrack.js';
import type { TrackRegistry } from '../tracks/TrackRegistry.js';
import type { DataChannels } from './DataChannels.js';
import type { Session, Transceiver } from './Session.js';
import type { SessionLiveness } from './SessionLiveness.js';

export interface SessionEndingParts {
  /** The engine's live sessions: an ended one leaves this map. */
  sessions: Map<string, Session>;
  tracks: TrackRegistry;
  data: DataChannels;
  logger: Logger;
  /** The session's CLOSED event. */
  closed: (session: Session) => void;
}

/**
 * How sessions and their media end: a client that is gone, a worker that
 * died, a transceiver that stops. Ending a session unpublishes its tracks and
 * data channels; sessions that pulled them see those transceivers go
 * inactive (their consumers close with the producers).
 */
export class SessionEnding {
  /** Set once SessionLiveness exists: the two refer to each other. */
  liveness: SessionLiveness | undefined;
  /** Sessions that ended since the node started (metrics). */
  closedCount = 0;

  constructor(private readonly parts: SessionEndingParts) {}

  /** A session whose PeerConnection is gone (SessionLiveness) is closed on its queue: its tracks are unpublished. */
  closeGone(session: Session, reason: string): void {
    void session.queue.run(async () => {
      // CONNECTED means alive only where ICE consent is checked; without, SessionLiveness judged by the media.
      if (session.closed || (session.connectionState === 'CONNECTED' && session.iceConsentChecks)) return;
      session.closeReason ??= `client gone: ${reason}`;
      session.transport.close();
      this.forget(session);
    });
  }

  /** ICE consent lost: no media can arrive, so its tracks are INACTIVE now rather than after the quiet period. */
  connectionLost(session: Session): void {
    for (const t of session.transceivers) {
      if (t.pushed) this.parts.tracks.setStatus(t.pushed, 'INACTIVE');
    }
  }

  /** The session is over (its transport closed): it leaves the engine with what it published. */
  forget(session: Session): void {
    if (session.closed) return;
    this.liveness?.forget(session);
    session.closed = true;
    this.closedCount += 1;
    this.parts.sessions.delete(session.id);
    this.parts.closed(session);
    session.worker.load -= 1;
    for (const t of session.transceivers) {
      if (t.pushed) this.unpublish(t.pushed);
    }
    this.parts.data.forget(session);
    // A transport closed by nobody here: the client ended DTLS (pc.close()), or mediasoup closed it.
    session.log.info({ reason: session.closeReason ?? 'transport closed (the client closed its PeerConnection)', state: session.connectionState, lifetimeMs: Date.now() - session.createdAt.getTime() }, 'session closed');
  }

  /**
   * The session moves to another PeerConnection (resumeSession, here or on
   * another node): it leaves this engine without CLOSED and without
   * unpublishing. Its tracks and data channels are withdrawn (for the cluster
   * they stay published) and `waitFor` is told of each before its producer
   * closes, so that its subscribers here wait for it to come back (MOVED)
   * rather than end. Returns the views of what it published, names it had
   * not published again since an earlier move included.
   */
  release(session: Session, waitFor: (view: TrackView) => void): TrackView[] {
    if (session.closed) return [];
    this.liveness?.forget(session);
    session.closed = true;
    session.closeReason ??= 'moved to another PeerConnection (resumeSession)';
    this.parts.sessions.delete(session.id);
    session.worker.load -= 1;
    const views: TrackView[] = [...session.movedNames.values()];
    // Carried over to where the session goes next: the grace timer of this PeerConnection's session must not end them.
    session.movedNames.clear();
    for (const t of session.transceivers) {
      if (t.pushed && this.parts.tracks.withdraw(t.pushed)) views.push(trackView(t.pushed));
    }
    for (const channel of this.parts.data.release(session)) views.push(trackView(channel));
    for (const view of views) waitFor(view);
    this.parts.data.closeReleased(session);
    session.transport.close();
    session.log.info({ tracks: views.map((v) => v.name), lifetimeMs: Date.now() - session.createdAt.getTime() }, 'session moved away from this PeerConnection');
    return views;
  }

  onWorkerDied(worker: MediaWorker): void {
    for (const session of [...this.parts.sessions.values()]) {
      if (session.worker === worker) {
        session.closeReason ??= `its mediasoup worker ${worker.index} died`;
        session.log.warn({ worker: worker.index }, 'closing session: its worker died');
        this.forget(session);
      }
    }
  }

  /** Stops what a transceiver carries: its pushed track is unpublished, its pulled one's consumer closed (both, "#name"). */
  stopTransceiverMedia(transceiver: Transceiver): void {
    if (transceiver.pushed) this.unpublish(transceiver.pushed);
    if (transceiver.pulled) transceiver.pulled.consumer.close();
  }

  private unpublish(track: PublishedTrack): void {
    this.parts.tracks.unpublish(track);
    track.producer.close();
  }
}
