import type { SwitchyardError } from './errors.js';

/** How long `disconnected` may last before a restart: it often comes back by itself (a short Wi-Fi hiccup). */
export const DISCONNECTED_GRACE_MS = 2000;
/** The wait after the first attempt; it doubles after every further one, up to MAX_BACKOFF_MS. */
export const FIRST_BACKOFF_MS = 1000;
export const MAX_BACKOFF_MS = 10_000;

export interface IceRestartHost {
  /** The PeerConnection's state now. */
  connectionState(): RTCPeerConnectionState;
  /** One restart (offer with iceRestart, renegotiate, answer), run in the session's operation queue. */
  restart(): Promise<void>;
  /** An attempt begins (1, 2, …): applications show "reconnecting". */
  attempting(attempt: number): void;
  /** An attempt failed; the next one follows after the backoff. */
  failed(error: SwitchyardError): void;
}

/**
 * Restarts ICE by itself when the connection is lost: at once on `failed`,
 * after DISCONNECTED_GRACE_MS on a `disconnected` that has not come back, and
 * again with backoff (1 s, 2 s, 4 s … 10 s) for as long as the connection is
 * not `connected` again. A network change (Wi-Fi to mobile, a new address)
 * leaves the ICE candidates of the old path dead; without a restart the
 * PeerConnection would stay `failed` and the call would be over.
 */
export class IceRestart {
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** Attempts since the connection was last `connected`; 0 when none is under way. */
  private attempt = 0;
  private running = false;
  private stopped = false;

  constructor(private readonly host: IceRestartHost) {}

  /** Follows the PeerConnection's connectionstatechange. */
  onStateChange(state: RTCPeerConnectionState): void {
    if (this.stopped) return;
    switch (state) {
      case 'connected':
        // A running attempt settles this itself when it ends.
        if (!this.running) this.reset();
        break;
      case 'failed':
        // At once, unless attempts are under way already: they keep their backoff.
        if (this.attempt === 0 && !this.running) this.schedule(0);
        break;
      case 'disconnected':
        if (this.attempt === 0 && !this.running && this.timer === undefined) this.schedule(DISCONNECTED_GRACE_MS);
        break;
      case 'closed':
        this.stop();
        break;
      default:
        break;
    }
  }

  /** No more attempts (leave, or the session was closed). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private reset(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.attempt = 0;
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.run();
    }, ms);
  }

  private async run(): Promise<void> {
    const state = this.host.connectionState();
    if (this.stopped || state === 'closed') return this.stop();
    if (state === 'connected') return this.reset();
    this.attempt += 1;
    this.running = true;
    this.host.attempting(this.attempt);
    try {
      await this.host.restart();
    } catch (error) {
      if (this.stopped) return;
      this.host.failed(error as SwitchyardError);
      // The session is gone at the SFU (or closed here): no restart can bring it back.
      if ((error as SwitchyardError).code === 'SESSION_NOT_FOUND') return this.stop();
    } finally {
      this.running = false;
    }
    if (this.stopped) return;
    if (this.host.connectionState() === 'connected') this.reset();
    else this.schedule(Math.min(FIRST_BACKOFF_MS * 2 ** (this.attempt - 1), MAX_BACKOFF_MS));
  }
}
