/**
 * The everyday journeys: what real clients do, most of the mix.
 * - publish:        join, publish one or two fake cameras, stay, leave (politely or abruptly);
 * - pull:           join, pull one or two tracks that publishers hold, check that
 *                   frames decode within 10 s, stay, leave (politely or abruptly);
 * - leave-politely: join (sometimes publish), closeSession, then pc.close();
 * - leave-abruptly: join (sometimes publish), pc.close() only: the server must
 *                   close the session at once (DTLS close);
 * - vanish:         createSession with an offer whose answer is never applied,
 *                   stop the media and drop the peer: SESSION_IDLE_TIMEOUT_MS must close it;
 * - never-connect:  createSession without an offer, and nothing else: the same.
 * Some peers (`subscribe`) also hold trackEvents and their own sessionEvents
 * over graphql-ws and close them once their session is closed; they must see
 * their tracks PUBLISHED and their session CLOSED.
 */
import type { Rng } from '../../../test/helpers/fuzz.js';
import { gqlOk } from '../../../test/helpers/graphql.js';
import { fakeCamera } from '../../../test/helpers/media.js';
import { until } from '../util.js';
import { between, CREATE_WITH_OFFER, CREATE_WITHOUT_OFFER, FRAME_DEADLINE_MS, type JourneyContext, type PeerState, type Publisher } from './context.js';
import type { JourneyKind } from './kinds.js';

/** Slack on top of SESSION_IDLE_TIMEOUT_MS for a never-connected session to be closed. */
const IDLE_SLACK_MS = 3_000;

export async function publish(ctx: JourneyContext, state: PeerState, r: Rng, subscribe: boolean): Promise<void> {
  await ctx.join(state, subscribe);
  const names = await ctx.pushCameras(state, r.next() < 0.3 ? 2 : 1, state.name.replace('#', ''));
  await ctx.connected(state);
  await ctx.expectPublished(state, names);
  const { sessionId } = state.peer;
  const publisher: Publisher = { sessionId, trackNames: names, pins: 0, leaving: false };
  ctx.publishers.set(sessionId, publisher);
  try {
    await ctx.host.sleep(between(r, 10_000, 30_000));
    publisher.leaving = true;
    // Journeys that chose these tracks are checking frames: let them finish.
    await until(() => publisher.pins === 0, 25_000);
  } finally {
    publisher.leaving = true;
    ctx.publishers.delete(sessionId);
  }
  await ctx.leave(state, r.next() < 0.5 ? 'polite' : 'abrupt');
}

/** Returns the journey done: a pull, or a publish when nobody publishes; null when the churn stopped first. */
export async function pull(ctx: JourneyContext, state: PeerState, r: Rng, subscribe: boolean): Promise<JourneyKind | null> {
  const targets = await ctx.borrowTracks(r, r.next() < 0.4 ? 2 : 1);
  if (targets === null) return null;
  if (targets.length === 0) {
    await publish(ctx, state, r, subscribe);
    return 'publish';
  }
  try {
    await ctx.join(state, subscribe);
    await ctx.connected(state);
    const started = Date.now();
    const results = await state.peer.pull(targets.map((t) => ({ sessionId: t.publisher.sessionId, trackName: t.trackName })));
    for (const [i, result] of results.entries()) {
      const what = `${targets[i]?.publisher.sessionId.slice(0, 8)}/${targets[i]?.trackName}`;
      if (result.error || !result.mid) {
        ctx.host.fail(state.name, `pull of ${what} refused: ${JSON.stringify(result.error)}`);
        continue;
      }
      await ctx.expectFrames(state, result.mid, what, started + FRAME_DEADLINE_MS);
    }
  } finally {
    ctx.giveBack(targets);
  }
  await ctx.host.sleep(between(r, 8_000, 20_000));
  await ctx.leave(state, r.next() < 0.5 ? 'polite' : 'abrupt');
  return 'pull';
}

/** Joins, sometimes publishes, stays a little and leaves: politely, or abruptly once connected (a DTLS close to act on). */
export async function briefly(ctx: JourneyContext, state: PeerState, r: Rng, subscribe: boolean, how: 'polite' | 'abrupt', id: number): Promise<void> {
  await ctx.join(state, subscribe);
  if (r.next() < 0.5) await ctx.pushCameras(state, 1, `brief${id}`);
  await ctx.connected(state);
  await ctx.host.sleep(between(r, 1_000, 4_000));
  await ctx.leave(state, how);
}

/** A session whose PeerConnection never connects: the answer is never applied, the media stops, the peer goes. */
export async function vanish(ctx: JourneyContext, state: PeerState, r: Rng, subscribe: boolean): Promise<void> {
  const camera = fakeCamera(160, 120, 15);
  state.cleanups.push(camera.stop);
  const { peer } = state;
  peer.pc.createDataChannel('switchyard');
  const sdp = await peer.setLocal(await peer.pc.createOffer());
  const data = await gqlOk(ctx.url, CREATE_WITH_OFFER, { sdp });
  peer.sessionId = data.createSession.session.id as string;
  const createdAt = Date.now();
  if (subscribe) await ctx.subscribe(state);
  await ctx.host.sleep(between(r, 500, 2_000));
  ctx.release(state);
  ctx.expectClosed(state, createdAt + ctx.node.info.sessionIdleTimeoutMs + IDLE_SLACK_MS, 'vanishing (SESSION_IDLE_TIMEOUT_MS)');
}

/** createSession without an offer, and nothing else. */
export async function neverConnect(ctx: JourneyContext, state: PeerState, subscribe: boolean): Promise<void> {
  const data = await gqlOk(ctx.url, CREATE_WITHOUT_OFFER);
  state.peer.sessionId = data.createSession.session.id as string;
  const createdAt = Date.now();
  if (subscribe) await ctx.subscribe(state);
  ctx.release(state);
  ctx.expectClosed(state, createdAt + ctx.node.info.sessionIdleTimeoutMs + IDLE_SLACK_MS, 'never connecting (SESSION_IDLE_TIMEOUT_MS)');
}
