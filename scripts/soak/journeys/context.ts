/**
 * What the journeys share and the steps they are made of: the peers not yet
 * released, the publishers whose tracks pulls choose from, the checks that
 * outlive a journey (the node closing a session its peer left), and joining,
 * publishing, watching frames, leaving and following events over graphql-ws.
 *
 * The node is asked over SoakNode (node.ts), never touched: in separate mode
 * it lives in another process, so every check of a session is async.
 *
 * Never read pc.localDescription here (@roamhq/wrtc races ICE gathering and
 * segfaults): TestPeer keeps the SDP it created.
 */
import type { Client } from 'graphql-ws';
import type { Rng } from '../../../test/helpers/fuzz.js';
import { gqlOk } from '../../../test/helpers/graphql.js';
import { fakeCamera, watchVideo } from '../../../test/helpers/media.js';
import { TestPeer } from '../../../test/helpers/peer.js';
import { collect, wsClient, type Collector } from '../../../test/helpers/subscriptions.js';
import type { SoakNode } from '../node.js';
import { errorMessage, until } from '../util.js';
import type { JourneyKind } from './kinds.js';

export const SOAK_TAG = 'room:soak';
export const CONNECT_DEADLINE_MS = 10_000;
export const FRAME_DEADLINE_MS = 10_000;
/** How often a check asks the node whether a session is still open (an IPC round trip in separate mode). */
const SESSION_POLL_MS = 100;

export const CREATE_WITH_OFFER =
  'mutation($sdp: String!) { createSession(input: { sessionDescription: { type: OFFER, sdp: $sdp } }) { session { id } sessionDescription { sdp } } }';
export const CREATE_WITHOUT_OFFER = 'mutation { createSession { session { id } } }';
const CLOSE_SESSION = 'mutation($id: ID!) { closeSession(input: { sessionId: $id }) { sessionId } }';
const TRACK_EVENTS_CURSOR = '{ trackEventsCursor }';
const TRACK_EVENTS = `subscription($after: String) { trackEvents(after: $after, filter: { tags: ["${SOAK_TAG}"] }) { type track { sessionId name } } }`;
const SESSION_EVENTS = 'subscription($id: ID!) { sessionEvents(sessionId: $id) { type } }';

export const between = (r: Rng, low: number, high: number) => low + Math.floor(r.next() * (high - low));

/** What the journeys need from the churn that runs them (runner.ts). */
export interface JourneyHost {
  /** True once the churn stopped: a journey waiting for publishers gives up. */
  stopping(): boolean;
  /** Records a failure of `journey` (a peer's name, or what failed). */
  fail(journey: string, message: string): void;
  /** Waits, but returns at once when the churn stops. */
  sleep(ms: number): Promise<void>;
  /** A journey is over: counts it as `kind` (a pull with nothing to pull from counts as a publish). */
  finished(kind: JourneyKind): void;
  /** Counts an outcome for the report (which bound refused a hoard, a journey that subscribed, …). */
  tally(outcome: string): void;
  /** Records a duration for the report. */
  time(label: string, ms: number): void;
}

interface Subscriptions {
  client: Client;
  trackEvents: Collector<{ type: string; track: { sessionId: string; name: string } }>;
  sessionEvents: Collector<{ type: string }>;
}

/** One peer of a journey and everything it holds. */
export interface PeerState {
  readonly name: string;
  readonly peer: TestPeer;
  /** Sinks, fake media and nftables rules, undone before the PeerConnection closes. */
  readonly cleanups: (() => void)[];
  subs?: Subscriptions;
  released: boolean;
}

/** A publishing session whose tracks pull journeys may choose. */
export interface Publisher {
  sessionId: string;
  trackNames: string[];
  /** Journeys using these tracks: the publisher stays until they are done. */
  pins: number;
  leaving: boolean;
}

export interface Borrowed {
  publisher: Publisher;
  trackName: string;
}

export class JourneyContext {
  /** Checks that outlive their journey: the node closing a session the peer left. */
  private readonly checks = new Set<Promise<void>>();
  /** Every peer not yet released, to close whatever is left at the end. */
  private readonly open = new Set<PeerState>();
  readonly publishers = new Map<string, Publisher>();

  constructor(
    readonly node: SoakNode,
    readonly host: JourneyHost,
  ) {}

  get url(): string {
    return this.node.info.url;
  }

  newPeer(name: string): PeerState {
    const state: PeerState = { name, peer: new TestPeer(this.url), cleanups: [], released: false };
    this.open.add(state);
    return state;
  }

  pendingChecks(): Promise<void>[] {
    return [...this.checks];
  }

  get pendingCheckCount(): number {
    return this.checks.size;
  }

  /** At the end: releases every peer still open and disposes its subscriptions. */
  async closeAll(): Promise<void> {
    for (const state of [...this.open]) {
      this.release(state);
      await this.disposeSubscriptions(state);
    }
  }

  async isOpen(sessionId: string): Promise<boolean> {
    return (await this.node.session(sessionId)) !== undefined;
  }

  /** True once the node no longer holds the session, false after `timeoutMs`. */
  sessionGone(sessionId: string, timeoutMs: number): Promise<boolean> {
    return until(async () => !(await this.isOpen(sessionId)), timeoutMs, SESSION_POLL_MS);
  }

  /** createSession with a data-channel offer, the answer applied; optionally the graphql-ws subscriptions. */
  async join(state: PeerState, subscribe: boolean): Promise<void> {
    await state.peer.createSession();
    if (subscribe) await this.subscribe(state);
  }

  async connected(state: PeerState): Promise<void> {
    if (!(await until(() => state.peer.pc.connectionState === 'connected', CONNECT_DEADLINE_MS))) {
      throw new Error(`PeerConnection not connected within ${CONNECT_DEADLINE_MS / 1000} s (state ${state.peer.pc.connectionState})`);
    }
  }

  async pushCameras(state: PeerState, count: number, prefix: string): Promise<string[]> {
    const cameras = Array.from({ length: count }, () => fakeCamera(160, 120, 15));
    for (const camera of cameras) state.cleanups.push(camera.stop);
    const names = cameras.map((_, i) => `${prefix}-cam${i}`);
    const results = await state.peer.push(cameras.map((camera, i) => ({ track: camera.track, name: names[i]!, tags: [SOAK_TAG] })));
    const refused = results.filter((t) => t.error);
    if (refused.length > 0) throw new Error(`pushTracks refused: ${JSON.stringify(refused.map((t) => t.error))}`);
    return names;
  }

  /**
   * `wanted` tracks (different ones while there are enough) of publishers
   * not leaving, pinned so that their publishers stay until giveBack; waits
   * up to 5 s for a publisher. [] when nobody publishes, null when the churn stopped.
   */
  async borrowTracks(r: Rng, wanted: number): Promise<Borrowed[] | null> {
    const waitUntil = Date.now() + 5_000;
    let available = this.availableTracks();
    while (available.length === 0 && !this.host.stopping() && Date.now() < waitUntil) {
      await this.host.sleep(250);
      available = this.availableTracks();
    }
    if (this.host.stopping()) return null;
    const targets: Borrowed[] = [];
    while (targets.length < Math.min(available.length, wanted)) {
      const candidate = r.pick(available);
      if (!targets.includes(candidate)) targets.push(candidate);
    }
    for (const t of targets) t.publisher.pins += 1;
    return targets;
  }

  giveBack(targets: readonly Borrowed[]): void {
    for (const t of targets) t.publisher.pins -= 1;
  }

  private availableTracks(): Borrowed[] {
    return [...this.publishers.values()].filter((p) => !p.leaving).flatMap((publisher) => publisher.trackNames.map((trackName) => ({ publisher, trackName })));
  }

  /** Three frames of the track received on `mid` decoded by `deadline` (a time); fails the journey otherwise. */
  async expectFrames(state: PeerState, mid: string, what: string, deadline: number): Promise<void> {
    let video: ReturnType<typeof watchVideo> | undefined;
    const decoded = await until(() => {
      if (!video) {
        const track = state.peer.received.get(mid);
        if (track) {
          video = watchVideo(track);
          state.cleanups.unshift(video.stop);
        }
      }
      return (video?.stats.frames ?? 0) >= 3;
    }, Math.max(0, deadline - Date.now()));
    if (!decoded) {
      this.host.fail(state.name, `frames of ${what} (mid ${mid}) did not arrive within ${FRAME_DEADLINE_MS / 1000} s (${video ? `${video.stats.frames} frames` : 'no ontrack'})`);
    }
  }

  /** Leaves politely (closeSession: closed at once) or abruptly (pc.close(): the DTLS close must close it within 5 s). */
  async leave(state: PeerState, how: 'polite' | 'abrupt'): Promise<void> {
    const { sessionId } = state.peer;
    if (how === 'polite') {
      await gqlOk(this.url, CLOSE_SESSION, { id: sessionId });
      if (await this.isOpen(sessionId)) this.host.fail(state.name, 'session still open when closeSession answered');
      this.release(state);
      this.expectClosed(state, Date.now() + 1_000, 'closeSession');
    } else {
      this.release(state);
      this.expectClosed(state, Date.now() + 5_000, 'pc.close() (DTLS close)');
    }
  }

  /** In the background: the node must close the session by `deadline`; a subscribed peer must see CLOSED. */
  expectClosed(state: PeerState, deadline: number, after: string): void {
    const { sessionId } = state.peer;
    const check = (async () => {
      try {
        const closed = await this.sessionGone(sessionId, Math.max(0, deadline - Date.now()));
        if (!closed) {
          const session = await this.node.session(sessionId);
          this.host.fail(state.name, `session ${sessionId.slice(0, 8)} still open after ${after} (connectionState ${session?.connectionState ?? '?'})`);
        }
        const events = state.subs?.sessionEvents;
        if (closed && events && !(await until(() => events.items.some((e) => e.type === 'CLOSED'), 3_000))) {
          this.host.fail(state.name, `sessionEvents: no CLOSED event (got ${JSON.stringify(events.items.map((e) => e.type))}, errors ${JSON.stringify(events.errors).slice(0, 200)})`);
        }
        await this.disposeSubscriptions(state);
      } catch (error) {
        this.host.fail(state.name, `checking that session ${sessionId.slice(0, 8)} closed: ${errorMessage(error)}`);
      }
    })().finally(() => this.checks.delete(check));
    this.checks.add(check);
  }

  /**
   * trackEvents from the cursor of now (so that the peer's own PUBLISHED is
   * replayed even when its push reaches the server before the subscription
   * does) and the session's sessionEvents, over one graphql-ws connection.
   */
  async subscribe(state: PeerState): Promise<void> {
    const { trackEventsCursor } = await gqlOk(this.url, TRACK_EVENTS_CURSOR);
    const client = wsClient(this.url);
    state.subs = {
      client,
      trackEvents: collect(client, TRACK_EVENTS, { after: trackEventsCursor }, (data) => data.trackEvents),
      sessionEvents: collect(client, SESSION_EVENTS, { id: state.peer.sessionId }, (data) => data.sessionEvents),
    };
    this.host.tally('subscribed over graphql-ws');
  }

  /** The peer's PUBLISHED events for its own tracks within 5 s, when it subscribed. */
  async expectPublished(state: PeerState, names: readonly string[]): Promise<void> {
    const events = state.subs?.trackEvents;
    if (!events) return;
    const { sessionId } = state.peer;
    const seen = () => names.every((name) => events.items.some((e) => e.type === 'PUBLISHED' && e.track.sessionId === sessionId && e.track.name === name));
    if (!(await until(seen, 5_000))) {
      this.host.fail(state.name, `trackEvents: no PUBLISHED event for its own tracks within 5 s (${events.items.length} events, errors ${JSON.stringify(events.errors).slice(0, 200)})`);
    }
  }

  async disposeSubscriptions(state: PeerState): Promise<void> {
    const subs = state.subs;
    if (!subs) return;
    state.subs = undefined;
    const errors = [...subs.trackEvents.errors, ...subs.sessionEvents.errors];
    if (errors.length > 0) this.host.fail(state.name, `subscription errors: ${JSON.stringify(errors).slice(0, 300)}`);
    await subs.trackEvents.close();
    await subs.sessionEvents.close();
    await subs.client.dispose();
    this.forgetIfDone(state);
  }

  /** Undoes the cleanups (sinks, fake media), then closes the PeerConnection. Idempotent. */
  release(state: PeerState): void {
    if (state.released) return;
    state.released = true;
    for (const cleanup of state.cleanups.splice(0)) {
      try {
        cleanup();
      } catch (error) {
        this.host.fail(state.name, `cleanup threw: ${errorMessage(error)}`);
      }
    }
    state.peer.stop();
    this.forgetIfDone(state);
  }

  /** A peer leaves `open` once it is released and its subscriptions are disposed. */
  private forgetIfDone(state: PeerState): void {
    if (state.released && !state.subs) this.open.delete(state);
  }
}
