import type { types } from 'mediasoup';
import type { Session } from '../session/Session.js';
import type { PublishedTrack } from '../tracks/PublishedTrack.js';
import type { TrackRegistry } from '../tracks/TrackRegistry.js';

/** A session's connection quality, as apps show it (LiveKit's connection quality, from mediasoup's stream scores). */
export type ConnectionQuality = 'EXCELLENT' | 'GOOD' | 'POOR' | 'LOST' | 'UNKNOWN';

/**
 * mediasoup scores each RTP stream from 0 to 10 from the loss left after
 * NACK repairs (0 with no media). Measured on loopback with random loss
 * (docs/call-quality.md): 10 at 5 %, 7-8 at 20 %, a publisher's 3-4 at 40 %.
 */
export function qualityOf(score: number | null): ConnectionQuality {
  if (score === null) return 'UNKNOWN';
  if (score >= 9) return 'EXCELLENT';
  if (score >= 7) return 'GOOD';
  if (score >= 1) return 'POOR';
  return 'LOST';
}

/** A producer's score: its best encoding (a simulcast publisher's unwatched layers are off on purpose). */
function producerScore(producer: types.Producer): number | null {
  if (producer.closed || producer.paused || producer.score.length === 0) return null;
  return Math.max(...producer.score.map((s) => s.score));
}

/**
 * What the session sends on a pushed track. mediasoup keeps the last score of
 * a stream that stopped (it is computed from receiver reports, which need
 * packets), so a track the activity monitor found silent (INACTIVE) scores 0.
 */
function pushedScore(track: PublishedTrack): number | null {
  if (track.status === 'INACTIVE') return 0;
  if (track.status === 'WAITING') return null;
  return producerScore(track.producer);
}

function consumerScore(consumer: types.Consumer): number | null {
  if (consumer.closed || consumer.paused || consumer.producerPaused) return null;
  return consumer.score.score;
}

/**
 * The session's score: the worst of its own links, what it sends (each pushed
 * track that is not muted) and what it receives (each pulled track). A
 * publisher's bad link shows in its own session; what the SFU could not
 * repair is missing downstream too, so a subscriber's score can dip with it
 * (mediasoup scores what the subscriber reports). Null without media.
 */
export function sessionScore(session: Session): number | null {
  let worst: number | null = null;
  for (const t of session.transceivers) {
    const scores = [t.pushed && !t.pushed.muted ? pushedScore(t.pushed) : null, t.pulled && !t.pulled.ended ? consumerScore(t.pulled.consumer) : null];
    for (const score of scores) if (score !== null) worst = worst === null ? score : Math.min(worst, score);
  }
  return worst;
}

/**
 * Tells when a session's quality drops or recovers (QUALITY_CHANGED). It
 * listens to mediasoup's score events of the session's producers and
 * consumers, which the workers send when a score changes, to those closing,
 * and to its tracks turning silent or active: nothing is polled. The first level a session
 * reaches is its start, not a change.
 */
export class ConnectionQualityWatch {
  /** Each watched session's check, for the track changes of its own tracks. */
  private readonly checks = new Map<string, () => void>();

  constructor(
    tracks: TrackRegistry,
    private readonly changed: (session: Session, quality: ConnectionQuality) => void,
  ) {
    tracks.on('change', (type, track) => {
      if (type !== 'PUBLISHED' && type !== 'MOVED' && type !== 'UNPUBLISHED') this.checks.get(track.sessionId)?.();
    });
  }

  watch(session: Session): void {
    let reported: ConnectionQuality = 'UNKNOWN';
    let started = false;
    const check = () => {
      if (session.closed) return;
      const quality = qualityOf(sessionScore(session));
      if (quality === reported || (!started && quality === 'UNKNOWN')) return;
      reported = quality;
      // The first level is the call's start; after it every change counts,
      // UNKNOWN (no media left) too, so an app's indicator never goes stale.
      if (started) this.changed(session, quality);
      started = true;
    };
    this.checks.set(session.id, check);
    session.transport.observer.once('close', () => this.checks.delete(session.id));
    // A stream that closes takes its score with it: the session's worst link
    // may have been that one, and no score event tells of it.
    session.transport.observer.on('newproducer', (producer: types.Producer) => {
      producer.on('score', check);
      producer.observer.once('close', check);
    });
    session.transport.observer.on('newconsumer', (consumer: types.Consumer) => {
      consumer.on('score', check);
      consumer.observer.on('pause', check);
      consumer.observer.on('resume', check);
      consumer.observer.once('close', check);
    });
  }
}
