/**
 * The journeys of the soak. Each is one peer doing one thing, chosen at
 * random from a seed:
 * - publish:        join, publish one or two fake cameras, stay, leave (politely or abruptly);
 * - pull:           join, pull one or two tracks that publishers hold, check that
 *                   frames decode within 10 s, stay, leave (politely or abruptly);
 * - leave-politely: join (sometimes publish), closeSession, then pc.close();
 * - leave-abruptly: join (sometimes publish), pc.close() only: the server must
 *                   close the session at once (DTLS close);
 * - vanish:         createSession with an offer whose answer is never applied,
 *                   stop the media and drop the peer: SESSION_IDLE_TIMEOUT_MS must close it;
 * - never-connect:  createSession without an offer, and nothing else: the same.
 * Some peers also follow trackEvents and their own sessionEvents over graphql-ws;
 * they must see their tracks PUBLISHED and their session CLOSED.
 *
 * Journeys holds what outlives one journey: the publishers that pulls choose
 * from, the peers not yet released, and the checks that the server closes the
 * sessions peers left. When and how many journeys run is runner.ts's business.
 *
 * Never read pc.localDescription here (@roamhq/wrtc races ICE gathering and
 * segfaults): TestPeer keeps the SDP it created.
 */
import type { Client } from 'graphql-ws';
import type { Switchyard } from '../../src/app.js';
import type { Rng } from '../../test/helpers/fuzz.js';
import { gqlOk } from '../../test/helpers/graphql.js';
import { fakeCamera, watchVideo } from '../../test/helpers/media.js';
import { TestPeer } from '../../test/helpers/peer.js';
import { collect, wsClient, type Collector } from '../../test/helpers/subscriptions.js';
import { errorMessage, until } from './util.js';

export type JourneyKind = 'publish' | 'pull' | 'leave-politely' | 'leave-abruptly' | 'vanish' | 'never-connect';

/** How often each journey is chosen, relative to the others. */
const JOURNEY_WEIGHTS: readonly [JourneyKind, number][] = [
  ['publish', 3],
  ['pull', 3],
  ['leave-politely', 1.5],
  ['leave-abruptly', 1.5],
  ['vanish', 1],
  ['never-connect', 1],
];

export function pickJourney(r: Rng): JourneyKind {
  const total = JOURNEY_WEIGHTS.reduce((sum, [, weight]) => sum + weight, 0);
  let x = r.next() * total;
  for (const [kind, weight] of JOURNEY_WEIGHTS) {
    x -= weight;
    if (x < 0) return kind;
  }
  return 'publish';
}

const SOAK_TAG = 'room:soak';
const FRAME_DEADLINE_MS = 10_000;
const CONNECT_DEADLINE_MS = 10_000;
/** The server closes a session at once on DTLS close; this much slack for "at once". */
const ABRUPT_CLOSE_MS = 5_000;
/** Slack on top of SESSION_IDLE_TIMEOUT_MS for a never-connected session to be closed. */
const IDLE_SLACK_MS = 3_000;
const SUBSCRIPTION_PROBABILITY = 0.4;

const CREATE_WITH_OFFER =
  'mutation($sdp: String!) { createSession(input: { sessionDescription: { type: OFFER, sdp: $sdp } }) { session { id } sessionDescription { sdp } } }';
const CREATE_WITHOUT_OFFER = 'mutation { createSession { session { id } } }';
const CLOSE_SESSION = 'mutation($id: ID!) { closeSession(input: { sessionId: $id }) { sessionId } }';
const TRACK_EVENTS_CURSOR = '{ trackEventsCursor }';
const TRACK_EVENTS = `subscription($after: String) { trackEvents(after: $after, filter: { tags: ["${SOAK_TAG}"] }) { type track { sessionId name } } }`;
const SESSION_EVENTS = 'subscription($id: ID!) { sessionEvents(sessionId: $id) { type } }';

interface Subscriptions {
  client: Client;
  trackEvents: Collector<{ type: string; track: { sessionId: string; name: string } }>;
  sessionEvents: Collector<{ type: string }>;
}

/** One peer of a journey and everything it holds. */
interface PeerState {
  readonly name: string;
  readonly peer: TestPeer;
  /** Sinks and fake media, stopped before the PeerConnection closes. */
  readonly cleanups: (() => void)[];
  subs?: Subscriptions;
  released: boolean;
}

/** A publishing session whose tracks pull journeys may choose. */
interface Publisher {
  sessionId: string;
  trackNames: string[];
  /** Pull journeys checking frames of these tracks: the publisher stays until they are done. */
  pins: number;
  leaving: boolean;
}

const between = (r: Rng, low: number, high: number) => low + Math.floor(r.next() * (high - low));

/** What the journeys need from the churn that runs them (runner.ts). */
export interface JourneyHost {
  /** True once the churn stopped: a pull waiting for publishers gives up. */
  stopping(): boolean;
  /** Records a failure of `journey` (a peer's name, or what failed). */
  fail(journey: string, message: string): void;
  /** Waits, but returns at once when the churn stops. */
  sleep(ms: number): Promise<void>;
  /** A journey is over: counts it as `kind` (a pull with nothing to pull from counts as a publish). */
  finished(kind: JourneyKind): void;
}

export class Journeys {
  /** Checks that outlive their journey: the server closing a session the peer left. */
  private readonly checks = new Set<Promise<void>>();
  /** Every peer not yet released, to close whatever is left at the end. */
  private readonly open = new Set<PeerState>();
  private readonly publishers = new Map<string, Publisher>();

  constructor(
    private readonly node: Switchyard,
    private readonly host: JourneyHost,
  ) {}

  private get idleTimeoutMs(): number {
    return this.node.config.sessionIdleTimeoutMs;
  }

  /** The checks under way, for the end of the churn to wait for. */
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

  /** One journey of one peer, start to end: what goes wrong is reported to the host as a failure of this peer. */
  async run(chosen: JourneyKind, id: number, r: Rng): Promise<void> {
    const state: PeerState = { name: `${chosen}#${id}`, peer: new TestPeer(this.node.url), cleanups: [], released: false };
    this.open.add(state);
    const subscribe = r.next() < SUBSCRIPTION_PROBABILITY;
    let done: JourneyKind | null = chosen;
    try {
      switch (chosen) {
        case 'publish':
          await this.publish(state, r, subscribe);
          break;
        case 'pull':
          done = await this.pull(state, r, subscribe);
          break;
        case 'leave-politely':
        case 'leave-abruptly':
          await this.join(state, subscribe);
          if (r.next() < 0.5) await this.pushCameras(state, 1, `brief${id}`);
          // Connected first: an abrupt leave is then a DTLS close the server must act on at once.
          await this.connected(state);
          await this.host.sleep(between(r, 1_000, 4_000));
          await this.leave(state, chosen === 'leave-politely' ? 'polite' : 'abrupt');
          break;
        case 'vanish':
          await this.vanish(state, r, subscribe);
          break;
        case 'never-connect':
          await this.neverConnect(state, subscribe);
          break;
      }
    } catch (error) {
      this.host.fail(state.name, errorMessage(error));
      this.release(state);
      await this.disposeSubscriptions(state);
    } finally {
      this.release(state);
      if (done) this.host.finished(done);
    }
  }

  /** createSession with a data-channel offer, the answer applied; optionally the graphql-ws subscriptions. */
  private async join(state: PeerState, subscribe: boolean): Promise<void> {
    await state.peer.createSession();
    if (subscribe) await this.subscribe(state);
  }

  private async connected(state: PeerState): Promise<void> {
    if (!(await until(() => state.peer.pc.connectionState === 'connected', CONNECT_DEADLINE_MS))) {
      throw new Error(`PeerConnection not connected within ${CONNECT_DEADLINE_MS / 1000} s (state ${state.peer.pc.connectionState})`);
    }
  }

  private async pushCameras(state: PeerState, count: number, prefix: string): Promise<string[]> {
    const cameras = Array.from({ length: count }, () => fakeCamera(160, 120, 15));
    for (const camera of cameras) state.cleanups.push(camera.stop);
    const names = cameras.map((_, i) => `${prefix}-cam${i}`);
    const results = await state.peer.push(cameras.map((camera, i) => ({ track: camera.track, name: names[i]!, tags: [SOAK_TAG] })));
    const refused = results.filter((t) => t.error);
    if (refused.length > 0) throw new Error(`pushTracks refused: ${JSON.stringify(refused.map((t) => t.error))}`);
    return names;
  }

  private async publish(state: PeerState, r: Rng, subscribe: boolean): Promise<void> {
    await this.join(state, subscribe);
    const names = await this.pushCameras(state, r.next() < 0.3 ? 2 : 1, state.name.replace('#', ''));
    await this.connected(state);
    const { sessionId } = state.peer;
    const events = state.subs?.trackEvents;
    if (events) {
      const seen = () => names.every((name) => events.items.some((e) => e.type === 'PUBLISHED' && e.track.sessionId === sessionId && e.track.name === name));
      if (!(await until(seen, 5_000))) this.host.fail(state.name, `trackEvents: no PUBLISHED event for its own tracks within 5 s (${events.items.length} events, errors ${JSON.stringify(events.errors).slice(0, 200)})`);
    }
    const publisher: Publisher = { sessionId, trackNames: names, pins: 0, leaving: false };
    this.publishers.set(sessionId, publisher);
    try {
      await this.host.sleep(between(r, 10_000, 30_000));
      publisher.leaving = true;
      // Pulls that chose these tracks are checking frames: let them finish.
      await until(() => publisher.pins === 0, 25_000);
    } finally {
      publisher.leaving = true;
      this.publishers.delete(sessionId);
    }
    await this.leave(state, r.next() < 0.5 ? 'polite' : 'abrupt');
  }

  /** Returns the journey done: a pull, or a publish when nobody publishes; null when the churn stopped first. */
  private async pull(state: PeerState, r: Rng, subscribe: boolean): Promise<JourneyKind | null> {
    const waitUntil = Date.now() + 5_000;
    let available = this.availableTracks();
    while (available.length === 0 && !this.host.stopping() && Date.now() < waitUntil) {
      await this.host.sleep(250);
      available = this.availableTracks();
    }
    if (this.host.stopping()) return null;
    if (available.length === 0) {
      await this.publish(state, r, subscribe);
      return 'publish';
    }
    const wanted = Math.min(available.length, r.next() < 0.4 ? 2 : 1);
    const targets: { publisher: Publisher; trackName: string }[] = [];
    while (targets.length < wanted) {
      const candidate = r.pick(available);
      if (!targets.includes(candidate)) targets.push(candidate);
    }
    for (const t of targets) t.publisher.pins += 1;
    try {
      await this.join(state, subscribe);
      await this.connected(state);
      const started = Date.now();
      const results = await state.peer.pull(targets.map((t) => ({ sessionId: t.publisher.sessionId, trackName: t.trackName })));
      for (const [i, result] of results.entries()) {
        const what = `${targets[i]?.publisher.sessionId.slice(0, 8)}/${targets[i]?.trackName}`;
        if (result.error || !result.mid) {
          this.host.fail(state.name, `pull of ${what} refused: ${JSON.stringify(result.error)}`);
          continue;
        }
        const mid = result.mid;
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
        }, Math.max(0, started + FRAME_DEADLINE_MS - Date.now()));
        if (!decoded) {
          this.host.fail(state.name, `frames of ${what} (mid ${mid}) did not arrive within ${FRAME_DEADLINE_MS / 1000} s (${video ? `${video.stats.frames} frames` : 'no ontrack'})`);
        }
      }
    } finally {
      for (const t of targets) t.publisher.pins -= 1;
    }
    await this.host.sleep(between(r, 8_000, 20_000));
    await this.leave(state, r.next() < 0.5 ? 'polite' : 'abrupt');
    return 'pull';
  }

  private availableTracks(): { publisher: Publisher; trackName: string }[] {
    return [...this.publishers.values()].filter((p) => !p.leaving).flatMap((publisher) => publisher.trackNames.map((trackName) => ({ publisher, trackName })));
  }

  /** A session whose PeerConnection never connects: the answer is never applied, the media stops, the peer goes. */
  private async vanish(state: PeerState, r: Rng, subscribe: boolean): Promise<void> {
    const camera = fakeCamera(160, 120, 15);
    state.cleanups.push(camera.stop);
    const { peer } = state;
    peer.pc.createDataChannel('switchyard');
    const sdp = await peer.setLocal(await peer.pc.createOffer());
    const data = await gqlOk(this.node.url, CREATE_WITH_OFFER, { sdp });
    peer.sessionId = data.createSession.session.id as string;
    const createdAt = Date.now();
    if (subscribe) await this.subscribe(state);
    await this.host.sleep(between(r, 500, 2_000));
    this.release(state);
    this.expectClosed(state, createdAt + this.idleTimeoutMs + IDLE_SLACK_MS, 'vanishing (SESSION_IDLE_TIMEOUT_MS)');
  }

  /** createSession without an offer, and nothing else. */
  private async neverConnect(state: PeerState, subscribe: boolean): Promise<void> {
    const data = await gqlOk(this.node.url, CREATE_WITHOUT_OFFER);
    state.peer.sessionId = data.createSession.session.id as string;
    const createdAt = Date.now();
    if (subscribe) await this.subscribe(state);
    this.release(state);
    this.expectClosed(state, createdAt + this.idleTimeoutMs + IDLE_SLACK_MS, 'never connecting (SESSION_IDLE_TIMEOUT_MS)');
  }

  private async leave(state: PeerState, how: 'polite' | 'abrupt'): Promise<void> {
    const { sessionId } = state.peer;
    if (how === 'polite') {
      await gqlOk(this.node.url, CLOSE_SESSION, { id: sessionId });
      if (this.node.sessions.get(sessionId)) this.host.fail(state.name, 'session still open when closeSession answered');
      this.release(state);
      this.expectClosed(state, Date.now() + 1_000, 'closeSession');
    } else {
      this.release(state);
      this.expectClosed(state, Date.now() + ABRUPT_CLOSE_MS, 'pc.close() (DTLS close)');
    }
  }

  /** In the background: the server must close the session by `deadline`; a subscribed peer must see CLOSED. */
  private expectClosed(state: PeerState, deadline: number, after: string): void {
    const { sessionId } = state.peer;
    const check = (async () => {
      const closed = await until(() => this.node.sessions.get(sessionId) === undefined, Math.max(0, deadline - Date.now()));
      if (!closed) {
        const session = this.node.sessions.get(sessionId);
        this.host.fail(state.name, `session ${sessionId.slice(0, 8)} still open after ${after} (connectionState ${session?.connectionState ?? '?'})`);
      }
      const events = state.subs?.sessionEvents;
      if (closed && events && !(await until(() => events.items.some((e) => e.type === 'CLOSED'), 3_000))) {
        this.host.fail(state.name, `sessionEvents: no CLOSED event (got ${JSON.stringify(events.items.map((e) => e.type))}, errors ${JSON.stringify(events.errors).slice(0, 200)})`);
      }
      await this.disposeSubscriptions(state);
    })().finally(() => this.checks.delete(check));
    this.checks.add(check);
  }

  /**
   * trackEvents from the cursor of now (so that the peer's own PUBLISHED is
   * replayed even when its push reaches the server before the subscription
   * does) and the session's sessionEvents, over one graphql-ws connection.
   */
  private async subscribe(state: PeerState): Promise<void> {
    const { trackEventsCursor } = await gqlOk(this.node.url, TRACK_EVENTS_CURSOR);
    const client = wsClient(this.node.url);
    state.subs = {
      client,
      trackEvents: collect(client, TRACK_EVENTS, { after: trackEventsCursor }, (data) => data.trackEvents),
      sessionEvents: collect(client, SESSION_EVENTS, { id: state.peer.sessionId }, (data) => data.sessionEvents),
    };
  }

  private async disposeSubscriptions(state: PeerState): Promise<void> {
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

  /** Stops sinks and fake media, then closes the PeerConnection. Idempotent. */
  private release(state: PeerState): void {
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
