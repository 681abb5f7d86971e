import { transportStats } from '../media/streamStats.js';
import type { Session } from './Session.js';

export interface LivenessOptions {
  /** A session that never connects, or stays connecting, is closed after this long. */
  idleTimeoutMs: number;
  /** A session that lost ICE consent is closed unless an ICE restart reconnects it within this long. */
  reconnectGraceMs: number;
  /**
   * A session without ICE consent checks from which nothing at all arrived
   * (RTP, RTCP, SCTP, DTLS, STUN) for this long is gone: the engine gives
   * TRACK_INACTIVE_AFTER_MS + RECONNECT_GRACE_MS, what its silent tracks get.
   */
  silenceMs?: number;
  /**
   * Bytes the session's transport has received so far (undefined once it is
   * closed). Default: mediasoup's transport stats, which count every packet.
   */
  bytesReceived?: (session: Session) => Promise<number | undefined>;
}

/** How often sessions without ICE consent checks have their media looked at. */
const MEDIA_SWEEP_MS = 1_000;
/** How often their transports' byte counts are read (one worker request each). */
const TRAFFIC_SAMPLE_MS = 2_500;

export interface LivenessHandlers {
  /** The session's PeerConnection is gone for good: close the session. */
  gone(session: Session, reason: string): void;
  /** ICE consent was lost: media stopped, the client may still restart ICE within the grace period. */
  lost(session: Session): void;
}

/**
 * Decides when a session's PeerConnection is over, so that its tracks are
 * unpublished and its subscribers told:
 * - at once when DTLS is closed (the client's close alert: `pc.close()`) or failed;
 * - after the reconnect grace period when ICE consent was lost (a tab that
 *   vanished without closing) and no ICE restart brought it back;
 * - after the idle timeout when it never connected;
 * - for a client that sends no ICE consent checks (iceConsentChecks false,
 *   so mediasoup never notices it vanished): after the reconnect grace period
 *   during which every track it publishes had no media (INACTIVE), or once
 *   nothing at all has arrived from it for `silenceMs`, whatever it publishes:
 *   a client that only pulls still sends RTCP receiver reports, one that
 *   vanished sends nothing.
 * Without this, sessions of clients that went away would hold their
 * transports and tracks until the end of the process.
 */
export class SessionLiveness {
  private readonly timers = new Map<Session, ReturnType<typeof setTimeout>>();
  /** Connected sessions without consent checks: their media says whether the client is there. */
  private readonly silentWatch = new Set<Session>();
  private sweeper: ReturnType<typeof setInterval> | undefined;
  private sampler: ReturnType<typeof setInterval> | undefined;
  /** Per silent-watched session: its transport's byte count when last read, and when it last grew. */
  private readonly traffic = new Map<Session, { bytes: number | undefined; heardAt: number }>();
  private readonly silenceMs: number;
  private readonly bytesReceived: (session: Session) => Promise<number | undefined>;

  constructor(
    private readonly options: LivenessOptions,
    private readonly handlers: LivenessHandlers,
  ) {
    this.silenceMs = options.silenceMs ?? options.reconnectGraceMs + 5_000;
    this.bytesReceived = options.bytesReceived ?? (async (session) => (session.transport.closed ? undefined : (await transportStats(session.transport)).bytesReceived));
  }

  /** Call on creation and on every connection state change. */
  watch(session: Session): void {
    this.forget(session);
    if (session.closed) return;
    const state = session.connectionState;
    if (state === 'CONNECTED' && session.iceConsentChecks === false) this.watchMedia(session);
    if (state === 'CONNECTED' || state === 'CLOSED') return;
    if (session.dtlsGone) {
      this.handlers.gone(session, 'the client closed its PeerConnection (DTLS closed)');
      return;
    }
    if (state === 'DISCONNECTED') {
      this.handlers.lost(session);
      this.later(session, this.options.reconnectGraceMs, 'ICE consent lost and no ICE restart within RECONNECT_GRACE_MS');
      return;
    }
    this.later(session, this.options.idleTimeoutMs, 'not connected within SESSION_IDLE_TIMEOUT_MS');
  }

  forget(session: Session): void {
    clearTimeout(this.timers.get(session));
    this.timers.delete(session);
    this.silentWatch.delete(session);
    this.traffic.delete(session);
    if (this.silentWatch.size === 0 && this.sweeper) {
      clearInterval(this.sweeper);
      clearInterval(this.sampler);
      this.sweeper = undefined;
      this.sampler = undefined;
    }
  }

  private watchMedia(session: Session): void {
    this.silentWatch.add(session);
    this.traffic.set(session, { bytes: undefined, heardAt: Date.now() });
    if (this.sweeper) return;
    this.sweeper = setInterval(() => this.sweep(), MEDIA_SWEEP_MS);
    this.sweeper.unref();
    this.sampler = setInterval(() => void this.sampleTraffic(), TRAFFIC_SAMPLE_MS);
    this.sampler.unref();
  }

  /** Reads each silent-watched transport's byte count; a session nothing arrived from for silenceMs is gone. */
  private async sampleTraffic(): Promise<void> {
    const now = Date.now();
    await Promise.all(
      [...this.traffic].map(async ([session, seen]) => {
        const bytes = await this.bytesReceived(session).catch(() => undefined);
        if (bytes === undefined || session.closed || !this.traffic.has(session)) return;
        if (seen.bytes === undefined || bytes > seen.bytes) {
          seen.heardAt = now;
          seen.bytes = bytes;
        } else if (now - seen.heardAt >= this.silenceMs) {
          this.traffic.delete(session); // reported once; the close forgets the rest
          this.handlers.gone(session, `no ICE consent checks and nothing received from the client for ${this.silenceMs} ms (TRACK_INACTIVE_AFTER_MS + RECONNECT_GRACE_MS)`);
        }
      }),
    );
  }

  /** A session that publishes and whose every track is INACTIVE gets the grace period; media back cancels it. */
  private sweep(): void {
    for (const session of this.silentWatch) {
      const pushed = session.transceivers.flatMap((t) => (t.pushed ? [t.pushed] : []));
      const silent = pushed.length > 0 && pushed.every((track) => track.status === 'INACTIVE');
      const timing = this.timers.has(session);
      if (silent && !timing) {
        const timer = setTimeout(() => {
          this.timers.delete(session);
          const still = session.transceivers.every((t) => !t.pushed || t.pushed.status === 'INACTIVE');
          if (!session.closed && still) this.handlers.gone(session, 'no ICE consent checks and no media from any published track within RECONNECT_GRACE_MS');
        }, this.options.reconnectGraceMs);
        timer.unref();
        this.timers.set(session, timer);
      } else if (!silent && timing) {
        clearTimeout(this.timers.get(session));
        this.timers.delete(session);
      }
    }
  }

  private later(session: Session, ms: number, reason: string): void {
    const timer = setTimeout(() => {
      this.timers.delete(session);
      if (!session.closed && session.connectionState !== 'CONNECTED') this.handlers.gone(session, reason);
    }, ms);
    timer.unref();
    this.timers.set(session, timer);
  }
}
