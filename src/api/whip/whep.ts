import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode, SwitchyardError } from '../../errors.js';
import { parseDescription } from '../../sdp/parse.js';
import type { RemoteSection } from '../../sdp/types.js';
import type { OperationError } from '../http/inProcessGraphQL.js';
import { CLOSE_SESSION, CREATE_SESSION, corsHeaders, etagOf, iceServerLinks, readOffer, sendError, type IngestProtocolOptions } from './ingestProtocol.js';
import { streamTag } from './whip.js';

interface PlayableTrack {
  sessionId: string;
  name: string;
  kind: 'AUDIO' | 'VIDEO' | 'DATA';
  publishedAt: string;
  simulcastRids: string[];
}

const TRACKS = `query Playable($filter: TrackFilter) { tracks(filter: $filter) { sessionId name kind publishedAt simulcastRids } }`;
const PULL = `mutation Pull($input: PullTracksInput!) {
  pullTracks(input: $input) { sessionDescription { sdp } tracks { mid trackName error { code message } } }
}`;

/** What a WHEP endpoint plays: the tracks of a WHIP stream (by its tag) or of one session. */
export type PlaySource = { stream: string } | { sessionId: string };

/**
 * WHEP playback (draft-ietf-wish-whep): the player POSTs its offer (receiving
 * transceivers) to /whep/{stream} (the newest audio and video track tagged
 * `stream:{stream}`, as WHIP publishes them) or to /whep/sessions/{sessionId}
 * (that session's tracks; `tracks=a,b` names them). A new session pulls them
 * into the offer's receiving m-sections (one per track, in order of kind) and
 * the SFU answers: 201 with the answer and the resource URL; or, when it
 * cannot answer that offer with media, it counter-offers (406 with its offer;
 * the player PATCHes its answer to the resource). `layer=h` picks a simulcast
 * layer of the video.
 */
export async function handleWhepEndpoint(req: IncomingMessage, res: ServerResponse, source: PlaySource, url: URL, options: IngestProtocolOptions): Promise<void> {
  const allow = 'POST, OPTIONS';
  const headers = corsHeaders(options.cors, req);
  if (req.method === 'OPTIONS') {
    res.writeHead(204, { ...headers, allow, 'accept-post': 'application/sdp', 'content-length': '0' }).end();
    return;
  }
  if (req.method !== 'POST') {
    req.resume();
    res.writeHead(405, { ...headers, allow, 'content-length': '0' }).end();
    return;
  }
  const offer = await readOffer(req, res, options.maxSdpBytes, headers);
  if (offer === null) return;
  let receiving: RemoteSection[];
  try {
    receiving = parseDescription('offer', offer, options.maxSdpBytes).sections.filter(
      (s) => !s.rejected && s.kind !== 'application' && (s.direction === 'recvonly' || s.direction === 'sendrecv'),
    );
  } catch (error) {
    if (!(error instanceof SwitchyardError)) throw error;
    return sendError(res, { code: error.code, message: error.message }, headers);
  }
  const authorization = req.headers.authorization;
  const filter = 'stream' in source ? { tags: [streamTag(source.stream)] } : { sessionIds: [source.sessionId] };
  const listed = await options.execute<{ tracks: PlayableTrack[] }>(TRACKS, { filter }, authorization);
  if (listed.error) return sendError(res, listed.error, headers);
  const named = url.searchParams.get('tracks')?.split(',').filter((n) => n !== '');
  const wanted = chooseTracks(listed.data.tracks, named, 'stream' in source);
  const layer = url.searchParams.get('layer');
  const pulls = assign(wanted, receiving).map(({ track, mid }) => ({
    sessionId: track.sessionId,
    trackName: track.name,
    mid,
    ...(layer && track.simulcastRids.includes(layer) ? { simulcast: { preferredRid: layer } } : {}),
  }));
  if (pulls.length === 0) {
    const what = 'stream' in source ? `stream ${source.stream}` : `session ${source.sessionId}`;
    const why = wanted.length === 0 ? `${what} publishes no audio or video now` : 'the offer has no receiving audio or video transceiver for its tracks';
    return sendError(res, { code: wanted.length === 0 ? ErrorCode.TRACK_NOT_FOUND : ErrorCode.BAD_REQUEST, message: why }, headers);
  }

  // First the player's own offer; when the SFU cannot answer it with media (see
  // midExtensionClash and answerablePayloadTypes: what mediasoup writes must fit
  // the player's numbering), a counter-offer, as the draft allows: 406 with the
  // SFU's offer, answered by PATCH.
  const answered = await pullInto(options, authorization, pulls, offer);
  if ('sdp' in answered) return created(res, 201, answered, { ...headers, ...(await links(options, authorization)) });
  if (answered.error.code !== ErrorCode.BAD_REQUEST) return sendError(res, answered.error, headers);
  const countered = await pullInto(options, authorization, pulls.map(({ mid: _mid, ...pull }) => pull), null);
  if ('sdp' in countered) return created(res, 406, countered, { ...headers, ...(await links(options, authorization)) });
  return sendError(res, countered.error, headers);
}

/** A new session that pulls the tracks: answering the player's offer, or (offer null) offering itself. */
async function pullInto(
  options: IngestProtocolOptions,
  authorization: string | undefined,
  pulls: Record<string, unknown>[],
  offer: string | null,
): Promise<{ sessionId: string; sdp: string } | { error: OperationError }> {
  const made = await options.execute<{ createSession: { session: { id: string } } }>(CREATE_SESSION, { correlationId: 'whep' }, authorization);
  if (made.error) return { error: made.error };
  const sessionId = made.data.createSession.session.id;
  const pulled = await options.execute<{
    pullTracks: { sessionDescription: { sdp: string } | null; tracks: { error: { code: ErrorCode; message: string } | null }[] };
  }>(PULL, { input: { sessionId, tracks: pulls, ...(offer ? { sessionDescription: { type: 'OFFER', sdp: offer } } : {}) } }, authorization);
  const failed = pulled.error ?? pulled.data.pullTracks.tracks.find((t) => t.error)?.error ?? undefined;
  const sdp = pulled.data?.pullTracks.sessionDescription?.sdp;
  if (failed || !sdp) {
    await options.execute(CLOSE_SESSION, { sessionId }, authorization);
    return { error: failed ?? { code: ErrorCode.INTERNAL, message: 'no description' } };
  }
  return { sessionId, sdp };
}

/** The TURN relays as Link headers (RFC 9725 section 4.6, which WHEP reuses). */
async function links(options: IngestProtocolOptions, authorization: string | undefined): Promise<Record<string, string[]>> {
  const found = await iceServerLinks(options.execute, authorization);
  return found.length > 0 ? { link: found } : {};
}

/** 201 with the SFU's answer, or 406 with its counter-offer; both name the session's resource. */
function created(res: ServerResponse, status: 201 | 406, { sessionId, sdp }: { sessionId: string; sdp: string }, headers: Record<string, string | string[]>): void {
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/sdp',
    location: `/whep/resources/${sessionId}`,
    etag: etagOf(sessionId),
    'accept-patch': 'application/trickle-ice-sdpfrag, application/sdp',
    'content-length': String(Buffer.byteLength(sdp)),
  });
  res.end(sdp);
}

/**
 * Named tracks in the order named; otherwise, for a session, all its media
 * tracks, and for a stream the audio and video of the session that published
 * into it last (a publisher that reconnects replaces the old one; two
 * publishers' tracks are never mixed).
 */
function chooseTracks(tracks: PlayableTrack[], named: string[] | undefined, newestSession: boolean): PlayableTrack[] {
  const media = tracks.filter((t) => t.kind !== 'DATA').sort((a, b) => b.publishedAt.localeCompare(a.publishedAt));
  if (named) return named.flatMap((name) => media.filter((t) => t.name === name).slice(0, 1));
  if (!newestSession || media.length === 0) return media;
  const latest = media.filter((t) => t.sessionId === media[0]?.sessionId);
  const first = (kind: 'AUDIO' | 'VIDEO') => latest.find((t) => t.kind === kind);
  return [first('AUDIO'), first('VIDEO')].filter((t): t is PlayableTrack => t !== undefined);
}

/** Gives each track the first free receiving m-section of its kind. */
function assign(tracks: PlayableTrack[], receiving: RemoteSection[]): { track: PlayableTrack; mid: string }[] {
  const free = [...receiving];
  const assigned: { track: PlayableTrack; mid: string }[] = [];
  for (const track of tracks) {
    const at = free.findIndex((s) => s.kind === track.kind.toLowerCase());
    if (at < 0) continue;
    assigned.push({ track, mid: (free[at] as RemoteSection).mid });
    free.splice(at, 1);
  }
  return assigned;
}
