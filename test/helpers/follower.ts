import wrtc from '@roamhq/wrtc';
import { gqlOk } from './graphql.js';
import { TestPeer } from './peer.js';
import { waitFor } from './media.js';
import { collect, wsClient, type Collector } from './subscriptions.js';

const { RTCVideoSink } = wrtc.nonstandard;

/**
 * A subscriber as the SDK behaves: it answers the SFU's offers by itself
 * (RENEGOTIATION_NEEDED on its session's events: read the pending offer,
 * apply it, answer), and keeps its session's events for the test.
 */
export interface Follower {
  readonly peer: TestPeer;
  readonly events: Collector<{ type: string; mid: string | null }>;
  /** Offers of the SFU it applied by itself. */
  readonly offersApplied: () => number;
  stop(): void;
}

export async function follower(url: string, credential?: string): Promise<Follower> {
  const peer = new TestPeer(url, credential);
  await peer.createSession();
  const client = wsClient(url, credential);
  const events = collect(client, 'subscription($id: ID!) { sessionEvents(sessionId: $id) { type mid } }', { id: peer.sessionId }, (d) => d.sessionEvents as { type: string; mid: string | null });
  let seen = 0;
  let applied = 0;
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    const fresh = events.items.slice(seen);
    if (!fresh.some((e) => e.type === 'RENEGOTIATION_NEEDED')) return;
    seen = events.items.length;
    busy = true;
    void gqlOk(peer.url, 'query($id: ID!) { session(id: $id) { pendingOffer { sdp } } }', { id: peer.sessionId }, credential)
      .then(async (data) => {
        if (!data.session.pendingOffer) return;
        await peer.applyOffer(data.session.pendingOffer.sdp);
        applied += 1;
      })
      .catch(() => undefined)
      .finally(() => (busy = false));
  }, 50);
  return {
    peer,
    events,
    offersApplied: () => applied,
    stop: () => {
      clearInterval(timer);
      void events.close();
      void client.dispose();
      peer.stop();
    },
  };
}

/** Decoded frames of a video track with their times: the longest gap between two frames since `mark()`. */
export function frameClock(track: MediaStreamTrack): { frames: () => number; mark(): void; longestGapMs(): number; lastFrameAt(): number; stop(): void } {
  const sink = new RTCVideoSink(track);
  let frames = 0;
  let last = 0;
  let longest = 0;
  sink.onframe = () => {
    const now = performance.now();
    if (last > 0) longest = Math.max(longest, now - last);
    last = now;
    frames += 1;
  };
  return {
    frames: () => frames,
    mark: () => {
      longest = 0;
    },
    longestGapMs: () => Math.max(longest, last > 0 ? performance.now() - last : 0),
    lastFrameAt: () => last,
    stop: () => sink.stop(),
  };
}

/**
 * Pulls `source` into the follower, waits for its track and for more than 10
 * decoded frames; returns its mid and a frame clock (whose stop goes to `cleanups`).
 */
export async function watchPull(sub: Follower, source: { sessionId: string; trackName: string }, cleanups: (() => void)[]): Promise<{ mid: string; clock: ReturnType<typeof frameClock> }> {
  const [result] = await sub.peer.pull([source]);
  const mid = result!.mid as string;
  await waitFor('the pulled track', () => sub.peer.received.has(mid));
  const clock = frameClock(sub.peer.received.get(mid)!);
  cleanups.push(() => clock.stop());
  await waitFor('decoded frames', () => clock.frames() > 10, 15_000);
  return { mid, clock };
}
