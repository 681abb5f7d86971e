import type { TrackEventBus } from '../events/TrackEventBus.js';
import { trackKey } from '../events/TrackEventBus.js';

/**
 * Tracks of sessions that are moving away from this node's sessions'
 * consumers: a session released here (resumed on another PeerConnection or
 * node) withdrew its tracks without UNPUBLISHED, and their subscribers here
 * wait for each to be published again (a MOVED event, from this node or any
 * other) to follow it on the same transceiver. A track not back within the
 * session's resume grace ends for them as any other.
 */
export class TrackMoves {
  private readonly waiting = new Map<string, { promise: Promise<boolean>; settle: (back: boolean) => void; timer: NodeJS.Timeout }>();
  private stopFollowing: (() => void) | undefined;

  /** Follows the (node's or cluster's) track events: MOVED settles a wait, UNPUBLISHED ends it. */
  follow(events: TrackEventBus): void {
    this.stopFollowing?.();
    this.stopFollowing = events.observe((event) => {
      if (!this.waiting.has(trackKey(event.track.sessionId, event.track.name))) return;
      if (event.type === 'MOVED') this.settle(event.track.sessionId, event.track.name, true);
      else if (event.type === 'UNPUBLISHED') this.settle(event.track.sessionId, event.track.name, false);
    });
  }

  /** The track is leaving its session's old PeerConnection: its subscribers here wait up to `graceMs` for it. */
  expect(sessionId: string, trackName: string, graceMs: number): void {
    const key = trackKey(sessionId, trackName);
    if (this.waiting.has(key)) return;
    let settle: (back: boolean) => void = () => undefined;
    const promise = new Promise<boolean>((resolve) => (settle = resolve));
    const timer = setTimeout(() => this.settle(sessionId, trackName, false), graceMs);
    timer.unref();
    this.waiting.set(key, { promise, settle, timer });
  }

  /** Resolves true once the track is published again, false when it ended; undefined when it is not moving. */
  moving(sessionId: string, trackName: string): Promise<boolean> | undefined {
    return this.waiting.get(trackKey(sessionId, trackName))?.promise;
  }

  /** The track is back (published on this node under its moved session), or gone for good. */
  settle(sessionId: string, trackName: string, back: boolean): void {
    const key = trackKey(sessionId, trackName);
    const wait = this.waiting.get(key);
    if (!wait) return;
    this.waiting.delete(key);
    clearTimeout(wait.timer);
    wait.settle(back);
  }

  get size(): number {
    return this.waiting.size;
  }

  close(): void {
    this.stopFollowing?.();
    this.stopFollowing = undefined;
    for (const [key, wait] of this.waiting) {
      clearTimeout(wait.timer);
      wait.settle(false);
      this.waiting.delete(key);
    }
  }
}
