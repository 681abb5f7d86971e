/**
 * The hardening journeys: the edges issue 23 bounded, each with the outcome
 * the node must give (anything else is a failure of the run).
 * - hoard:             pull one published track over and over, in calls of up
 *                      to 64 (the list bound), sometimes answering the SFU's offer,
 *                      until the node refuses with LIMIT_EXCEEDED naming the bound
 *                      the call would pass (MAX_TRANSCEIVERS_PER_SESSION or
 *                      MAX_PENDING_PULLS_PER_SESSION); the refusal must leave the
 *                      session as it was; then leave;
 * - silent-no-consent: a session without ICE consent checks (iceConsentChecks
 *                      false, which the app backend may ask for) that only pulls
 *                      must stay while its client is there, and be closed within
 *                      TRACK_INACTIVE_AFTER_MS + RECONNECT_GRACE_MS (plus the node's
 *                      2.5 s reads: 8.5 s with the soak's settings) once every
 *                      packet from the client is dropped;
 * - list-flood:        one call with a list argument one item over MAX_LIST_ITEMS
 *                      (in variables, in the document, over graphql-ws) must be
 *                      refused with LIMIT_EXCEEDED naming MAX_LIST_ITEMS, the session untouched.
 */
import type { Rng } from '../../../test/helpers/fuzz.js';
import { errorCode, gql, gqlOk } from '../../../test/helpers/graphql.js';
import { collect, wsClient } from '../../../test/helpers/subscriptions.js';
import { dropUdpFrom, type UdpDrop } from '../udpDrop.js';
import { until } from '../util.js';
import { between, CREATE_WITHOUT_OFFER, FRAME_DEADLINE_MS, type JourneyContext, type PeerState } from './context.js';
import { publish } from './everyday.js';
import type { JourneyKind } from './kinds.js';

const PULL =
  'mutation($input: PullTracksInput!) { pullTracks(input: $input) { requiresImmediateRenegotiation sessionDescription { sdp } tracks { mid error { code message } } } }';
const TRACKS_OF = 'query($id: ID!) { session(id: $id) { tracks { mid location } } }';
const CREATE_WITHOUT_CONSENT =
  'mutation($sdp: String!) { createSession(input: { iceConsentChecks: false, sessionDescription: { type: OFFER, sdp: $sdp } }) { session { id } sessionDescription { sdp } } }';
/** A hoard refused by neither bound after this many calls has found a node without them. */
const MAX_HOARD_CALLS = 60;
/** How often the node reads a no-consent transport's byte count (TRAFFIC_SAMPLE_MS in src/session/SessionLiveness.ts). */
const NODE_READ_MS = 2_500;
/**
 * How long after its client vanished the node may take to close a session
 * silent for `silenceMs`: the silence counts from the read that last saw the
 * byte count grow (up to one read after the client vanished), and the close
 * comes at the first read past the window (floor(window / read) + 1 reads
 * later: a window that is a whole number of reads may find a read a
 * millisecond short of it); plus 1 s for a loaded machine. With the soak's
 * 4 s window: 2.5 + 5 + 1 = 8.5 s.
 */
const closeDeadlineMs = (silenceMs: number) => NODE_READ_MS + (Math.floor(silenceMs / NODE_READ_MS) + 1) * NODE_READ_MS + 1_000;
/** How long a late close is still waited for, so that the failure says when it came (or that it did not). */
const LATE_CLOSE_MS = 15_000;

const PULL_FOR_ANSWER = 'mutation($input: PullTracksInput!) { pullTracks(input: $input) { sessionDescription { sdp } tracks { mid error { code message } } } }';
const RENEGOTIATE = 'mutation($input: RenegotiateInput!) { renegotiate(input: $input) { sessionDescription { sdp } } }';

const T_BOUND = 'MAX_TRANSCEIVERS_PER_SESSION';
const P_BOUND = 'MAX_PENDING_PULLS_PER_SESSION';

/** What a refusal must not change: the node's count of the session's transceivers, and its tracks as the API lists them. */
async function snapshot(ctx: JourneyContext, sessionId: string): Promise<string> {
  const view = await ctx.node.session(sessionId);
  const { session } = await gqlOk(ctx.url, TRACKS_OF, { id: sessionId });
  return JSON.stringify({ holdings: view?.holdings, tracks: session?.tracks });
}

/** Returns the journey done: hoard, or publish when nobody publishes; null when the churn stopped first. */
export async function hoard(ctx: JourneyContext, state: PeerState, r: Rng): Promise<JourneyKind | null> {
  const targets = await ctx.borrowTracks(r, 1);
  if (targets === null) return null;
  const [target] = targets;
  if (!target) {
    await publish(ctx, state, r, false);
    return 'publish';
  }
  const { maxTransceiversPerSession: maxT, maxPendingPullsPerSession: maxP, maxListItems } = ctx.node.info;
  const source = { sessionId: target.publisher.sessionId, trackName: target.trackName };
  try {
    await ctx.join(state, false);
    await ctx.connected(state);
    const { sessionId } = state.peer;
    // What the session holds as the bounds count it: the pulls made, and those the SFU offered without an answer yet.
    let inUse = 0;
    let pending = 0;
    // Never answering piles pulls into one offer (MAX_PENDING_PULLS_PER_SESSION, the smaller bound, refuses);
    // always answering piles transceivers (MAX_TRANSCEIVERS_PER_SESSION); in between, either.
    const answerProbability = r.pick([0, 0.5, 1]);
    for (let call = 1; ; call += 1) {
      if (call > MAX_HOARD_CALLS) {
        ctx.host.fail(state.name, `never refused in ${MAX_HOARD_CALLS} calls (holding ${inUse} transceivers, ${pending} pending pulls; ${T_BOUND} ${maxT}, ${P_BOUND} ${maxP})`);
        break;
      }
      // Mostly a few at a time; sometimes a whole call's worth, the most one list may carry.
      const count = r.next() < 0.1 ? Math.min(64, maxListItems) : between(r, 1, 7);
      const overT = inUse + count > maxT;
      const overP = pending + count > maxP;
      const holding = `holding ${inUse} transceivers, ${pending} pending pulls, adding ${count}; ${T_BOUND} ${maxT}, ${P_BOUND} ${maxP}`;
      const before = await snapshot(ctx, sessionId);
      const result = await gql(ctx.url, PULL, { input: { sessionId, tracks: Array.from({ length: count }, () => source) } });
      if (result.errors?.length) {
        const message = result.errors[0]?.message ?? '';
        // Past both bounds, the node may name either; past one, that one.
        const names = [...(overT ? [T_BOUND] : []), ...(overP ? [P_BOUND] : [])];
        const named = names.find((name) => message.includes(name));
        if (names.length === 0) ctx.host.fail(state.name, `refused a pull that fits (${holding}): ${errorCode(result)} ${message}`);
        else if (errorCode(result) !== 'LIMIT_EXCEEDED' || !named) ctx.host.fail(state.name, `expected LIMIT_EXCEEDED naming ${names.join(' or ')} (${holding}), got ${errorCode(result)}: ${message}`);
        else ctx.host.tally(`hoard refused by ${named}`);
        const after = await snapshot(ctx, sessionId);
        if (after !== before) ctx.host.fail(state.name, `the refusal changed the session: before ${before.slice(0, 300)}, after ${after.slice(0, 300)}`);
        break;
      }
      if (overT || overP) {
        ctx.host.fail(state.name, `not refused (${holding}): the node took the pull (${overT ? T_BOUND : P_BOUND} not enforced?)`);
        break;
      }
      const payload = result.data!.pullTracks;
      const refused = (payload.tracks as { error: unknown }[]).filter((t) => t.error);
      if (refused.length > 0) {
        ctx.host.fail(state.name, `pull of ${count} (${holding}): ${refused.length} tracks refused: ${JSON.stringify(refused[0])}`);
        break;
      }
      inUse += count;
      pending += count;
      if (r.next() < answerProbability && payload.requiresImmediateRenegotiation) {
        // The SFU's latest offer carries every pull so far: one answer settles them all.
        await state.peer.applyOffer(payload.sessionDescription.sdp);
        pending = 0;
      }
      const view = await ctx.node.session(sessionId);
      if (view?.holdings.transceivers !== inUse || view.holdings.pendingPulls !== pending) {
        ctx.host.fail(state.name, `the node counts ${JSON.stringify(view?.holdings)}, the hoard ${inUse} transceivers and ${pending} pending pulls`);
        break;
      }
    }
  } finally {
    ctx.giveBack(targets);
  }
  await ctx.leave(state, r.next() < 0.5 ? 'polite' : 'abrupt');
  return 'hoard';
}

/**
 * The node's description without its TCP candidates. The silent peer takes
 * only UDP: the node offers ICE over TCP too (RTC_TCP), and libwebrtc, once
 * its UDP pairs go quiet (about 5 s, as long as the node's silence window),
 * tries its TCP pair, which a UDP rule does not stop: the node would then
 * rightly go on hearing from the client, and the check would race.
 */
const udpOnly = (sdp: string) =>
  sdp
    .split('\r\n')
    .filter((line) => !/^a=candidate:\S+ \d+ tcp /i.test(line))
    .join('\r\n');

/** The local ports of every UDP candidate the peer gathered: it may move to any of them when one goes quiet. */
async function localUdpPorts(state: PeerState): Promise<number[]> {
  const ports = new Set<number>();
  (await state.peer.pc.getStats()).forEach((s: Record<string, unknown>) => {
    if (s.type === 'local-candidate' && String(s.protocol).toLowerCase() === 'udp' && Number(s.port) > 0) ports.add(Number(s.port));
  });
  if (ports.size === 0) throw new Error('no local UDP candidate in getStats');
  return [...ports];
}

/** The selected candidate pair's local side (protocol, address, port), for a failure's message. */
async function selectedPath(state: PeerState): Promise<string> {
  const stats = new Map<string, Record<string, unknown>>();
  (await state.peer.pc.getStats()).forEach((s: Record<string, unknown>) => stats.set(s.id as string, s));
  const transport = [...stats.values()].find((s) => s.type === 'transport' && s.selectedCandidatePairId);
  const pair = transport && stats.get(transport.selectedCandidatePairId as string);
  const local = pair && stats.get(pair.localCandidateId as string);
  return local ? `selected pair from ${local.protocol} ${local.address}:${local.port} (${pair.state})` : 'no selected pair';
}

/** Returns the journey done: silent-no-consent, or publish when nobody publishes; null when the churn stopped first. */
export async function silentWithoutConsent(ctx: JourneyContext, state: PeerState, r: Rng): Promise<JourneyKind | null> {
  const targets = await ctx.borrowTracks(r, 1);
  if (targets === null) return null;
  const [target] = targets;
  if (!target) {
    await publish(ctx, state, r, false);
    return 'publish';
  }
  const { peer } = state;
  const silenceMs = ctx.node.info.trackInactiveAfterMs + ctx.node.info.reconnectGraceMs;
  let drop: UdpDrop | undefined;
  try {
    peer.pc.createDataChannel('switchyard');
    const offer = await peer.setLocal(await peer.pc.createOffer());
    // No credential: in development mode without APPS that is the app backend, which may ask for no consent checks.
    const created = await gqlOk(ctx.url, CREATE_WITHOUT_CONSENT, { sdp: offer });
    await peer.pc.setRemoteDescription({ type: 'answer', sdp: udpOnly(created.createSession.sessionDescription.sdp) });
    peer.sessionId = created.createSession.session.id as string;
    await ctx.connected(state);
    const started = Date.now();
    const what = `${target.publisher.sessionId.slice(0, 8)}/${target.trackName}`;
    // TestPeer.pull would apply the node's offer as it comes, TCP candidates and all: the same steps, UDP only.
    const pulled = await gqlOk(ctx.url, PULL_FOR_ANSWER, { input: { sessionId: peer.sessionId, tracks: [{ sessionId: target.publisher.sessionId, trackName: target.trackName }] } });
    const [result] = pulled.pullTracks.tracks as { mid: string | null; error: unknown }[];
    if (result?.error || !result?.mid) throw new Error(`pull of ${what} refused: ${JSON.stringify(result?.error)}`);
    await peer.pc.setRemoteDescription({ type: 'offer', sdp: udpOnly(pulled.pullTracks.sessionDescription.sdp) });
    const answer = await peer.setLocal(await peer.pc.createAnswer());
    await gqlOk(ctx.url, RENEGOTIATE, { input: { sessionId: peer.sessionId, sessionDescription: { type: 'ANSWER', sdp: answer } } });
    await ctx.expectFrames(state, result.mid, what, started + FRAME_DEADLINE_MS);

    // Longer than the silence window with the client there (its RTCP keeps arriving): the session must stay.
    await ctx.host.sleep(silenceMs + between(r, 1_000, 4_000));
    const view = await ctx.node.session(peer.sessionId);
    if (view?.connectionState !== 'CONNECTED') {
      ctx.host.fail(state.name, `closed or not connected while its client was there (${view?.connectionState ?? 'closed'}, ${Date.now() - started} ms after pulling)`);
      return 'silent-no-consent';
    }

    // The client vanishes without closing anything: every packet from it, from any of its candidates, is dropped from now on.
    const ports = await localUdpPorts(state);
    drop = await dropUdpFrom(ports);
    const vanishedAt = Date.now();
    ctx.giveBack(targets);
    const closed = await ctx.sessionGone(peer.sessionId, closeDeadlineMs(silenceMs));
    const took = Date.now() - vanishedAt;
    if (closed) ctx.host.time('no-consent session closed after its client vanished', took);
    else {
      const still = await ctx.node.session(peer.sessionId);
      const path = await selectedPath(state);
      const late = await ctx.sessionGone(peer.sessionId, LATE_CLOSE_MS);
      ctx.host.fail(
        state.name,
        `session ${peer.sessionId.slice(0, 8)} still ${still?.connectionState ?? 'open'} ${took} ms after its client vanished, ` +
          `${late ? `closed after ${Date.now() - vanishedAt} ms` : `still open after ${Date.now() - vanishedAt} ms`} ` +
          `(expected within ${closeDeadlineMs(silenceMs)} ms: TRACK_INACTIVE_AFTER_MS + RECONNECT_GRACE_MS = ${silenceMs} ms and the node's reads every ${NODE_READ_MS} ms; dropping UDP from ports ${ports.join(', ')}, the peer's ${path})`,
      );
    }
  } finally {
    if (!drop) ctx.giveBack(targets);
    // Released before the rule goes: a vanished client says no goodbye, even one the node failed to close.
    ctx.release(state);
    await drop?.remove();
  }
  return 'silent-no-consent';
}

const LIST_CALLS = {
  /** A list in the variables, of a mutation. */
  closeDataChannels: (sessionId: string, n: number) => ({
    query: 'mutation($input: CloseDataChannelsInput!) { closeDataChannels(input: $input) { dataChannels { id } } }',
    variables: { input: { sessionId, ids: Array.from({ length: n }, (_, i) => i) } },
  }),
  /** A list written in the document. */
  closeTracks: (sessionId: string, n: number) => ({
    query: `mutation { closeTracks(input: { sessionId: "${sessionId}", force: true, mids: [${Array.from({ length: n }, (_, i) => `"${i + 1}"`).join(',')}] }) { tracks { mid } } }`,
    variables: {},
  }),
  /** A list in a query's filter. */
  tracks: (sessionId: string, n: number) => ({
    query: 'query($ids: [ID!]) { tracks(filter: { sessionIds: $ids }) { name } }',
    variables: { ids: Array.from({ length: n }, (_, i) => (i === 0 ? sessionId : `s${i}`)) },
  }),
};
type ListVariant = keyof typeof LIST_CALLS | 'trackEvents over graphql-ws';
const LIST_VARIANTS: readonly ListVariant[] = [...(Object.keys(LIST_CALLS) as (keyof typeof LIST_CALLS)[]), 'trackEvents over graphql-ws'];

/** The errors a graphql-ws subscription received, flattened (an error message carries an array). */
const flatten = (errors: readonly unknown[]): { message?: string; extensions?: { code?: string } }[] => errors.flatMap((e) => (Array.isArray(e) ? e : [e]));

export async function listFlood(ctx: JourneyContext, state: PeerState, r: Rng): Promise<void> {
  const n = ctx.node.info.maxListItems + 1;
  const created = await gqlOk(ctx.url, CREATE_WITHOUT_OFFER);
  const sessionId = created.createSession.session.id as string;
  state.peer.sessionId = sessionId;
  const variant = r.pick(LIST_VARIANTS);
  let errors: { message?: string; extensions?: { code?: string } }[];
  if (variant === 'trackEvents over graphql-ws') {
    const client = wsClient(ctx.url);
    const tags = Array.from({ length: n }, (_, i) => `tag${i}`);
    const events = collect(client, 'subscription($tags: [String!]) { trackEvents(filter: { tags: $tags }) { type } }', { tags }, (data) => data.trackEvents);
    await until(() => events.errors.length > 0 || events.done || events.items.length > 0, 5_000);
    errors = flatten(events.errors);
    await events.close();
    await client.dispose();
  } else {
    const { query, variables } = LIST_CALLS[variant](sessionId, n);
    errors = (await gql(ctx.url, query, variables)).errors ?? [];
  }
  if (errors.some((e) => e.extensions?.code === 'LIMIT_EXCEEDED' && e.message?.includes('MAX_LIST_ITEMS'))) ctx.host.tally(`list flood refused (${variant})`);
  else ctx.host.fail(state.name, `${variant} with ${n} items: expected LIMIT_EXCEEDED naming MAX_LIST_ITEMS, got ${errors.length > 0 ? JSON.stringify(errors).slice(0, 300) : 'no error'}`);
  if (!(await ctx.isOpen(sessionId))) ctx.host.fail(state.name, 'the refused call closed the session');
  await ctx.leave(state, 'polite');
}
