import type { Session } from './Session.js';

/**
 * Notices sessions whose PeerConnection is not connected for too long: a
 * client that never connected, or whose browser went away without leaving
 * (ICE then reports it disconnected). Without this such sessions, and their
 * transports, would live forever.
 */
export class IdleSessions {
  private readonly timers = new Map<Session, ReturnType<typeof setTimeout>>();

  constructor(
    private readonly timeoutMs: number,
    /** Called once a session stayed unconnected for timeoutMs. */
    private readonly onIdle: (session: Session) => void,
  ) {}

  /** (Re)starts the clock when the session is not connected; stops it when it is. Call on every state change. */
  watch(session: Session): void {
    this.forget(session);
    if (session.closed || session.connectionState === 'CONNECTED') return;
    const timer = setTimeout(() => {
      this.timers.delete(session);
      if (!session.closed && session.connectionState !== 'CONNECTED') this.onIdle(session);
    }, this.timeoutMs);
    timer.unref();
    this.timers.set(session, timer);
  }

  forget(session: Session): void {
    clearTimeout(this.timers.get(session));
    this.timers.delete(session);
  }
}
