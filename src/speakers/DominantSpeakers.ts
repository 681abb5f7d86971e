import type { types } from 'mediasoup';
import type { Logger } from '../logger.js';
import type { PulledSource, Session } from '../session/Session.js';

/** How often mediasoup's observer decides who speaks (ms): fast enough to follow a conversation, slow enough not to flap. */
export const SPEAKER_INTERVAL_MS = 300;

/** Louder than this (dBov, as publishers measure it) counts as sound: a room's quiet background sits lower. */
export const HEARD_THRESHOLD_DBOV = -50;

interface Watch {
  observer: Promise<types.ActiveSpeakerObserver | undefined>;
  /** The same producers' levels: whether the speaker the observer names makes any sound. */
  levels: Promise<types.AudioLevelObserver | undefined>;
  /** Producer id on the session's router -> consumers of it in this session. */
  producers: Map<string, number>;
  /** The observer's latest pick, announced or not. */
  named: string | undefined;
  /** The speaker last announced to the session. */
  current: string | undefined;
  /** When each producer was last louder than HEARD_THRESHOLD_DBOV. */
  heardAt: Map<string, number>;
}

/**
 * Who is speaking, for each session: the dominant speaker among the audio
 * tracks it pulls. mediasoup's ActiveSpeakerObserver (the dominant speaker
 * identification of Volfin and Cohen, from the audio levels publishers put
 * in their RTP, ssrc-audio-level) runs on the session's own router, where
 * every track it pulls is a producer: its own worker's, one piped from
 * another worker, or one piped from another node. So the answer is the same
 * whichever node or worker the speakers publish on.
 *
 * The observer names someone at its first look even when nobody makes a
 * sound (in a room of two, always the other one), so a speaker is announced
 * only once an AudioLevelObserver on the same producers heard it above
 * HEARD_THRESHOLD_DBOV.
 *
 * The observer tells only changes, so its pick is kept until it can be
 * announced: once heard, and once the session has the transceiver. A pull
 * creates its consumers (and observes them) before it commits them to the
 * session, and a pull that waits for another publisher to connect takes
 * seconds: a pick made meanwhile is announced at the next levels report
 * after the commit, not lost.
 */
export class DominantSpeakers {
  private readonly watches = new Map<string, Watch>();

  constructor(
    /** A session's dominant speaker changed: the track, and the transceiver (mid) that carries it in the session. */
    private readonly changed: (session: Session, mid: string, speaker: PulledSource) => void,
    private readonly logger: Logger,
  ) {}

  /** A consumer of an audio track in `session`: its producer joins the session's observer while the consumer lives. */
  add(session: Session, consumer: types.Consumer): void {
    if (consumer.kind !== 'audio' || session.closed) return;
    const watch = this.watchOf(session);
    const producerId = consumer.producerId;
    const count = watch.producers.get(producerId) ?? 0;
    watch.producers.set(producerId, count + 1);
    if (count === 0) {
      const observe = (observer: types.RtpObserver | undefined) => observer?.addProducer({ producerId });
      void Promise.all([watch.observer.then(observe), watch.levels.then(observe)]).catch((error: unknown) => this.logger.debug({ err: error }, 'could not observe a pulled audio track'));
    }
    consumer.observer.once('close', () => {
      const left = (watch.producers.get(producerId) ?? 1) - 1;
      if (left > 0) return void watch.producers.set(producerId, left);
      watch.producers.delete(producerId);
      if (watch.current === producerId) watch.current = undefined;
      if (watch.named === producerId) watch.named = undefined;
      watch.heardAt.delete(producerId);
      const unobserve = (observer: types.RtpObserver | undefined) => (observer && !observer.closed ? observer.removeProducer({ producerId }) : undefined);
      void Promise.all([watch.observer.then(unobserve), watch.levels.then(unobserve)]).catch(() => undefined);
    });
  }

  /** The session ended: its observer goes. */
  forget(sessionId: string): void {
    const watch = this.watches.get(sessionId);
    if (!watch) return;
    this.watches.delete(sessionId);
    void watch.observer.then((observer) => observer?.close());
    void watch.levels.then((observer) => observer?.close());
  }

  private watchOf(session: Session): Watch {
    const existing = this.watches.get(session.id);
    if (existing) return existing;
    const watch: Watch = { producers: new Map(), current: undefined, observer: Promise.resolve(undefined), levels: Promise.resolve(undefined), heardAt: new Map(), named: undefined };
    watch.observer = session.router
      .createActiveSpeakerObserver({ interval: SPEAKER_INTERVAL_MS })
      .then((observer) => {
        observer.on('dominantspeaker', ({ producer }) => {
          watch.named = producer.id;
          this.announce(session, watch);
        });
        if (this.watches.get(session.id) !== watch) observer.close();
        return observer;
      })
      .catch((error: unknown) => {
        this.logger.warn({ err: error, session: session.id }, 'could not watch who speaks in a session');
        return undefined;
      });
    watch.levels = session.router
      .createAudioLevelObserver({ interval: SPEAKER_INTERVAL_MS, threshold: HEARD_THRESHOLD_DBOV, maxEntries: 64 })
      .then((observer) => {
        observer.on('volumes', (volumes) => this.onVolumes(session, watch, volumes));
        if (this.watches.get(session.id) !== watch) observer.close();
        return observer;
      })
      .catch(() => undefined);
    this.watches.set(session.id, watch);
    return watch;
  }

  private onVolumes(session: Session, watch: Watch, volumes: types.AudioLevelObserverVolume[]): void {
    const now = performance.now();
    for (const { producer } of volumes) watch.heardAt.set(producer.id, now);
    this.announce(session, watch);
  }

  /** Announces the observer's pick if it is new, was heard lately (two observer intervals) and the session carries it. */
  private announce(session: Session, watch: Watch): void {
    const producerId = watch.named;
    if (producerId === undefined || watch.current === producerId || session.closed) return;
    const heardAt = watch.heardAt.get(producerId);
    if (heardAt === undefined || performance.now() - heardAt > 2 * SPEAKER_INTERVAL_MS) return;
    const transceiver = session.transceivers.find((t) => t.pulled && !t.pulled.ended && t.pulled.consumer.producerId === producerId);
    if (!transceiver?.pulled) return;
    watch.current = producerId;
    this.changed(session, transceiver.section.mid, transceiver.pulled.source);
  }
}
