import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode, SwitchyardError } from '../../errors.js';
import { parseDescription } from '../../sdp/parse.js';
import type { RemoteSection } from '../../sdp/types.js';
import { CLOSE_SESSION, CREATE_SESSION, corsHeaders, etagOf, iceServerLinks, readOffer, sendError, type IngestProtocolOptions } from './ingestProtocol.js';

const PUSH = `mutation Push($input: PushTracksInput!) {
  pushTracks(input: $input) { sessionDescription { sdp } tracks { mid trackName error { code message } } }
}`;

/** The tag every track of a WHIP stream carries: WHEP plays streams by it. */
export const streamTag = (stream: string) => `stream:${stream}`;

/**
 * WHIP ingest (RFC 9725): POST /whip/{stream} with an SDP offer publishes
 * every audio and video m-section the client sends on as a Switchyard track
 * of a new session: the first audio track is named `audio`, the first video
 * `video` (further ones `audio-2`, …), each tagged `stream:{stream}` and with
 * the `tags` query parameter's comma-separated tags. Answers 201 with the SFU's
 * answer and the session's resource URL (/whip/resources/{sessionId}).
 */
export async function handleWhipEndpoint(req: IncomingMessage, res: ServerResponse, stream: string, url: URL, options: IngestProtocolOptions): Promise<void> {
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
  let tracks: { mid: string; trackName: string; tags: string[] }[];
  try {
    const extraTags = (url.searchParams.get('tags') ?? '').split(',').filter((tag) => tag !== '');
    tracks = namedTracks(parseDescription('offer', offer, options.maxSdpBytes).sections, [streamTag(stream), ...extraTags]);
  } catch (error) {
    if (!(error instanceof SwitchyardError)) throw error;
    return sendError(res, { code: error.code, message: error.message }, headers);
  }
  if (tracks.length === 0) return sendError(res, { code: ErrorCode.BAD_REQUEST, message: 'the offer sends no audio or video' }, headers);

  const authorization = req.headers.authorization;
  // GStreamer's webrtcbin sends no ICE consent checks once connected (measured: mediasoup dropped it after 10 s):
  // an ingest session is judged by its media instead, which a broadcaster sends all the time.
  const created = await options.execute<{ createSession: { session: { id: string } } }>(CREATE_SESSION, { correlationId: `whip:${stream}`, iceConsentChecks: false }, authorization);
  if (created.error) return sendError(res, created.error, headers);
  const sessionId = created.data.createSession.session.id;
  const pushed = await options.execute<{
    pushTracks: { sessionDescription: { sdp: string } | null; tracks: { mid: string | null; trackName: string | null; error: { code: ErrorCode; message: string } | null }[] };
  }>(PUSH, { input: { sessionId, sessionDescription: { type: 'OFFER', sdp: offer }, tracks } }, authorization);
  const failed = pushed.error ?? pushed.data.pushTracks.tracks.find((t) => t.error)?.error ?? undefined;
  const answer = pushed.data?.pushTracks.sessionDescription?.sdp;
  if (failed || !answer) {
    // Nothing half-published stays behind.
    await options.execute(CLOSE_SESSION, { sessionId }, authorization);
    return sendError(res, failed ?? { code: ErrorCode.INTERNAL, message: 'no answer' }, headers);
  }
  const links = await iceServerLinks(options.execute, authorization);
  res.writeHead(201, {
    ...headers,
    ...(links.length > 0 ? { link: links } : {}),
    'content-type': 'application/sdp',
    location: `/whip/resources/${sessionId}`,
    etag: etagOf(sessionId),
    'accept-patch': 'application/trickle-ice-sdpfrag',
    'content-length': String(Buffer.byteLength(answer)),
  });
  res.end(answer);
}

/** Names the offer's sending audio and video m-sections: audio, video, audio-2, … */
function namedTracks(sections: RemoteSection[], tags: string[]): { mid: string; trackName: string; tags: string[] }[] {
  const counts = { audio: 0, video: 0 };
  const tracks: { mid: string; trackName: string; tags: string[] }[] = [];
  for (const section of sections) {
    if (section.rejected || section.kind === 'application') continue;
    if (section.direction !== 'sendonly' && section.direction !== 'sendrecv') continue;
    counts[section.kind] += 1;
    const n = counts[section.kind];
    tracks.push({ mid: section.mid, trackName: n === 1 ? section.kind : `${section.kind}-${n}`, tags });
  }
  return tracks;
}
