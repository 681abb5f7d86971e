import type { ExecuteOperation } from '../http/inProcessGraphQL.js';
import { invalidParams, itemError, type ItemOperation } from './errors.js';
import { description, location, optionalArray, optionalBoolean, optionalObject, optionalString, toDescription, type Json } from './requests.js';

/** What every operation gets: the caller, the session the path names, the parsed body. */
export interface CallContext {
  execute: ExecuteOperation;
  authorization: string | undefined;
  sessionId: string;
  body: Json;
}

/** An operation's answer: 200 with a Cloudflare-shaped body, or the GraphQL API's error. */
export type Answer = { status: number; body: Json };

type GraphQLDescription = { type: 'OFFER' | 'ANSWER'; sdp: string } | null;
interface TrackResult {
  mid: string | null;
  sessionId: string | null;
  trackName: string | null;
  error: { code: string; message: string } | null;
}
interface TracksPayload {
  requiresImmediateRenegotiation: boolean;
  sessionDescription: GraphQLDescription;
  tracks: TrackResult[];
}

const TRACKS_PAYLOAD = 'requiresImmediateRenegotiation sessionDescription { type sdp } tracks { mid sessionId trackName error { code message } }';

/** Runs a GraphQL mutation; an operation error becomes the thrown OperationFailed the router answers. */
export async function mutate<T>(context: CallContext, query: string, variables: Json): Promise<T> {
  const result = await context.execute<T>(query, variables, context.authorization);
  if (result.error) throw new OperationFailed(result.error.code, result.error.message);
  return result.data;
}

export class OperationFailed extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Fields the GraphQL result has as null (a failed item has no mid) are left out: Cloudflare's schema types them as strings, never null. */
const present = (item: Record<string, string | null>): Json => Object.fromEntries(Object.entries(item).filter(([, value]) => value !== null));

const withError = (item: Record<string, string | null>, error: TrackResult['error'], operation: ItemOperation): Json =>
  error ? { ...present(item), ...itemError(error.code, error.message, operation) } : present(item);

/** Cloudflare's simulcast preferences in Switchyard's terms (all three published shapes are read). */
function simulcast(track: Json, what: string): { preferredRid?: string; fallback?: string } | undefined {
  const value = optionalObject(track, 'simulcast', `${what}.simulcast`);
  if (!value) return undefined;
  const preferredRid = optionalString(value, 'preferredRid', `${what}.simulcast.preferredRid`);
  const ordering = optionalString(value, 'priorityOrdering') ?? optionalString(value, 'ridNotAvailable') ?? optionalString(value, 'ridUnavailableStrategy');
  const strategy = optionalString(value, 'fallbackStrategy');
  // none: keep the preferred layer (pause while it is gone); asciibetical/nextPriority/auto: the best layer still arriving.
  const fallback = strategy === 'leastBandwidth' ? 'LEAST_BANDWIDTH' : strategy === 'auto' || (ordering !== undefined && ordering !== 'none') ? 'AUTO' : 'NONE';
  return { ...(preferredRid !== undefined ? { preferredRid } : {}), fallback };
}

function kind(track: Json, what: string): 'AUDIO' | 'VIDEO' | undefined {
  const value = optionalString(track, 'kind', `${what}.kind`);
  if (value === undefined) return undefined;
  if (value !== 'audio' && value !== 'video') throw invalidParams(`${what}.kind must be "audio" or "video"`);
  return value === 'audio' ? 'AUDIO' : 'VIDEO';
}

function tracksResponse(payload: Pick<TracksPayload, 'requiresImmediateRenegotiation' | 'sessionDescription'>, tracks: Json[]): Json {
  const sdp = toDescription(payload.sessionDescription);
  return { requiresImmediateRenegotiation: payload.requiresImmediateRenegotiation, ...(sdp ? { sessionDescription: sdp } : {}), tracks };
}

/** POST tracks/new: push local tracks (pushTracks) or pull remote ones (pullTracks). */
export async function newTracks(context: CallContext): Promise<Answer> {
  const { body, sessionId } = context;
  const tracks = optionalArray(body, 'tracks') ?? [];
  const offer = description(body);
  const autoDiscover = optionalBoolean(body, 'autoDiscover');
  const where = location(tracks, 'tracks') ?? (autoDiscover ? 'local' : undefined);
  if (!where) throw invalidParams('tracks/new needs tracks or autoDiscover: true');
  if (where === 'local') {
    const local = tracks.map((track, i) => {
      const trackName = optionalString(track, 'trackName', `tracks[${i}].trackName`);
      if (trackName === undefined) throw invalidParams(`tracks[${i}].trackName is missing`);
      const mid = optionalString(track, 'mid', `tracks[${i}].mid`);
      const trackKind = kind(track, `tracks[${i}]`);
      return { trackName, ...(mid !== undefined ? { mid } : {}), ...(trackKind ? { kind: trackKind } : {}) };
    });
    const { pushTracks } = await mutate<{ pushTracks: TracksPayload }>(context, `mutation Push($input: PushTracksInput!) { pushTracks(input: $input) { ${TRACKS_PAYLOAD} } }`, {
      input: { sessionId, tracks: local, ...(offer ? { sessionDescription: offer } : {}), ...(autoDiscover !== undefined ? { autoDiscover } : {}) },
    });
    const items = pushTracks.tracks.map((t) => withError({ trackName: t.trackName, mid: t.mid }, t.error, 'new'));
    return { status: 200, body: tracksResponse(pushTracks, items) };
  }
  const remote = tracks.map((track, i) => {
    const trackName = optionalString(track, 'trackName', `tracks[${i}].trackName`);
    const source = optionalString(track, 'sessionId', `tracks[${i}].sessionId`);
    if (trackName === undefined || source === undefined) throw invalidParams(`tracks[${i}] needs sessionId and trackName`);
    const mid = optionalString(track, 'mid', `tracks[${i}].mid`);
    const preference = simulcast(track, `tracks[${i}]`);
    return { sessionId: source, trackName, ...(mid !== undefined ? { mid } : {}), ...(preference ? { simulcast: preference } : {}) };
  });
  const { pullTracks } = await mutate<{ pullTracks: TracksPayload }>(context, `mutation Pull($input: PullTracksInput!) { pullTracks(input: $input) { ${TRACKS_PAYLOAD} } }`, {
    input: { sessionId, tracks: remote, ...(offer ? { sessionDescription: offer } : {}) },
  });
  const items = pullTracks.tracks.map((t) => withError({ sessionId: t.sessionId, trackName: t.trackName, mid: t.mid }, t.error, 'new'));
  return { status: 200, body: tracksResponse(pullTracks, items) };
}

/** PUT tracks/update: another source or simulcast layer for pulled transceivers (updateTracks). */
export async function updateTracks(context: CallContext): Promise<Answer> {
  const tracks = optionalArray(context.body, 'tracks') ?? [];
  const requests = tracks.map((track, i) => {
    const trackName = optionalString(track, 'trackName', `tracks[${i}].trackName`);
    const source = optionalString(track, 'sessionId', `tracks[${i}].sessionId`);
    const mid = optionalString(track, 'mid', `tracks[${i}].mid`);
    if (trackName === undefined || source === undefined || mid === undefined) throw invalidParams(`tracks[${i}] needs mid, sessionId and trackName`);
    const preference = simulcast(track, `tracks[${i}]`);
    return { sessionId: source, trackName, mid, ...(preference ? { simulcast: preference } : {}) };
  });
  const { updateTracks: payload } = await mutate<{ updateTracks: TracksPayload }>(context, `mutation Update($input: UpdateTracksInput!) { updateTracks(input: $input) { ${TRACKS_PAYLOAD} } }`, {
    input: { sessionId: context.sessionId, tracks: requests },
  });
  const items = payload.tracks.map((t) => withError({ sessionId: t.sessionId, trackName: t.trackName, mid: t.mid }, t.error, 'update'));
  // Cloudflare's update never needs SDP; Switchyard offers when a mid gets another source (documented).
  return { status: 200, body: tracksResponse(payload, items) };
}

/** PUT tracks/close: with the client's offer, or force. */
export async function closeTracks(context: CallContext): Promise<Answer> {
  const tracks = optionalArray(context.body, 'tracks') ?? [];
  const mids = tracks.map((track, i) => {
    const mid = optionalString(track, 'mid', `tracks[${i}].mid`);
    if (mid === undefined || mid === '') throw invalidParams(`tracks[${i}].mid is missing`);
    return mid;
  });
  const offer = description(context.body);
  const force = optionalBoolean(context.body, 'force');
  const { closeTracks: payload } = await mutate<{ closeTracks: TracksPayload }>(context, `mutation Close($input: CloseTracksInput!) { closeTracks(input: $input) { ${TRACKS_PAYLOAD} } }`, {
    input: { sessionId: context.sessionId, mids, ...(offer ? { sessionDescription: offer } : {}), ...(force !== undefined ? { force } : {}) },
  });
  // mid is required in a close result: the request's, should the GraphQL result have none.
  const items = payload.tracks.map((t, i) => withError({ mid: t.mid ?? mids[i] ?? null }, t.error, 'close'));
  return { status: 200, body: tracksResponse(payload, items) };
}

/** PUT renegotiate: the client's answer (or an offer of its own, answered). */
export async function renegotiate(context: CallContext): Promise<Answer> {
  const sdp = description(context.body);
  if (!sdp) throw invalidParams('renegotiate needs sessionDescription');
  const { renegotiate: payload } = await mutate<{ renegotiate: { sessionDescription: GraphQLDescription } }>(
    context,
    'mutation Renegotiate($input: RenegotiateInput!) { renegotiate(input: $input) { sessionDescription { type sdp } } }',
    { input: { sessionId: context.sessionId, sessionDescription: sdp } },
  );
  const answer = toDescription(payload.sessionDescription);
  return { status: 200, body: answer ? { sessionDescription: answer } : {} };
}
