import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode } from '../../errors.js';
import type { CorsPolicy } from '../cors.js';
import type { ExecuteOperation, OperationError } from '../http/inProcessGraphQL.js';
import { BodyError, mediaType, readBody, sendJson } from '../http/messages.js';
import { httpStatus } from '../http/status.js';

/**
 * What WHIP (RFC 9725) and WHEP (draft-ietf-wish-whep) share: an endpoint
 * that takes an SDP offer and answers 201 with the SFU's answer and the
 * session's resource URL, and that resource, which DELETE ends and PATCH
 * trickles ICE to. Both are adapters over the GraphQL API.
 */
export interface IngestProtocolOptions {
  execute: ExecuteOperation;
  cors: CorsPolicy;
  maxSdpBytes: number;
}

export const CLOSE_SESSION = `mutation Close($sessionId: ID!) { closeSession(input: { sessionId: $sessionId }) { sessionId } }`;
const RENEGOTIATE = `mutation Answer($input: RenegotiateInput!) { renegotiate(input: $input) { sessionDescription { sdp } } }`;
export const CREATE_SESSION = `mutation Create($correlationId: String, $iceConsentChecks: Boolean) {
  createSession(input: { correlationId: $correlationId, iceConsentChecks: $iceConsentChecks }) { session { id } }
}`;

/**
 * Headers a page of another origin may read. whip-web-client decides whether
 * to trickle from the Access-Control-Allow-Methods of its OPTIONS request,
 * which it can only read when that header is exposed too.
 */
const EXPOSED = 'Location, ETag, Link, Accept-Patch, Accept-Post, Access-Control-Allow-Methods';
/** What a page may do with an endpoint and its resources: POST the offer, PATCH trickle or an answer, DELETE. */
const CORS_METHODS = 'POST, PATCH, DELETE, OPTIONS';
const PATCH_TYPE = 'application/trickle-ice-sdpfrag';

const ICE_SERVERS = 'query { iceServers { iceServers { urls username credential } } }';

/** RFC 8288 quoted-string: credentials are base64 and usernames plain, but quote what needs it anyway. */
const quoted = (value: string) => `"${value.replace(/["\\]/g, '\\$&')}"`;

/**
 * The deployment's TURN relays as RFC 9725 Link headers (section 4.6), with
 * credentials made for the caller: a client adds them (setConfiguration) and
 * trickles its relay candidates, or reaches the ICE-lite SFU from them. None
 * without TURN_URLS, or when the caller may not have them.
 */
export async function iceServerLinks(execute: ExecuteOperation, authorization: string | undefined): Promise<string[]> {
  const answer = await execute<{ iceServers: { iceServers: { urls: string[]; username: string | null; credential: string | null }[] } }>(ICE_SERVERS, {}, authorization);
  if (answer.error) return [];
  return answer.data.iceServers.iceServers.flatMap((server) =>
    server.urls.map((url) => {
      const credentials = server.username !== null && server.credential !== null ? `; username=${quoted(server.username)}; credential=${quoted(server.credential)}; credential-type="password"` : '';
      return `<${url}>; rel="ice-server"${credentials}`;
    }),
  );
}

/** The ETag of a resource: one ICE session, which Switchyard never restarts through PATCH. */
export const etagOf = (sessionId: string) => `"${sessionId}"`;

/** CORS headers for a WHIP or WHEP request from a page of an allowed origin (preflights need no credentials). */
export function corsHeaders(cors: CorsPolicy, req: IncomingMessage): Record<string, string> {
  const headers = cors.headers(req.headers.origin, CORS_METHODS);
  if (headers['access-control-allow-origin']) {
    headers['access-control-expose-headers'] = EXPOSED;
    // whip-web-client sends its trickle PATCHes with an ETag header (instead of If-Match).
    headers['access-control-allow-headers'] = 'Authorization, Content-Type, If-Match, ETag';
  }
  return headers;
}

/** Answers an operation's error with its HTTP status and a JSON body that names the contract code. */
export function sendError(res: ServerResponse, error: OperationError, headers: Record<string, string>): void {
  sendJson(res, httpStatus(error.code), { code: error.code, message: error.message }, headers);
}

/** Reads the SDP body (an offer, or a WHEP player's answer); null when it answered an error itself. */
export async function readOffer(req: IncomingMessage, res: ServerResponse, maxSdpBytes: number, headers: Record<string, string>): Promise<string | null> {
  if (mediaType(req) !== 'application/sdp') {
    sendJson(res, 415, { code: ErrorCode.BAD_REQUEST, message: 'send the SDP as Content-Type: application/sdp' }, { ...headers, 'accept-post': 'application/sdp' });
    return null;
  }
  try {
    return await readBody(req, maxSdpBytes);
  } catch (error) {
    if (!(error instanceof BodyError)) throw error;
    sendJson(res, error.status, { code: error.status === 413 ? ErrorCode.LIMIT_EXCEEDED : ErrorCode.BAD_REQUEST, message: error.message }, headers);
    return null;
  }
}

/**
 * The session resource: DELETE ends the session; PATCH with a trickled ICE
 * candidate is accepted and needs nothing (the SFU is ICE-lite: it learns the
 * client's address from its connectivity checks); an ICE restart (If-Match: *)
 * is not supported (405 would say PATCH is not, so 422 as the RFC allows for
 * fragments the resource cannot process) and the client starts a new session.
 */
export async function handleResource(
  req: IncomingMessage,
  res: ServerResponse,
  sessionId: string,
  options: IngestProtocolOptions,
): Promise<void> {
  const allow = 'PATCH, DELETE, OPTIONS';
  const headers = corsHeaders(options.cors, req);
  const authorization = req.headers.authorization;
  if (req.method === 'OPTIONS') {
    res.writeHead(204, { ...headers, allow, 'accept-patch': `${PATCH_TYPE}, application/sdp`, 'content-length': '0' }).end();
    return;
  }
  if (req.method === 'DELETE') {
    const result = await options.execute(CLOSE_SESSION, { sessionId }, authorization);
    if (result.error) return sendError(res, result.error, headers);
    res.writeHead(200, { ...headers, 'content-length': '0' }).end();
    return;
  }
  if (req.method === 'PATCH' && mediaType(req) === 'application/sdp') {
    // WHEP: the player's answer to the SFU's counter-offer.
    const answer = await readOffer(req, res, options.maxSdpBytes, headers);
    if (answer === null) return;
    const result = await options.execute(RENEGOTIATE, { input: { sessionId, sessionDescription: { type: 'ANSWER', sdp: answer } } }, authorization);
    if (result.error) return sendError(res, result.error, headers);
    res.writeHead(204, { ...headers, etag: etagOf(sessionId) }).end();
    return;
  }
  if (req.method === 'PATCH') {
    if (mediaType(req) !== PATCH_TYPE) {
      sendJson(res, 415, { code: ErrorCode.BAD_REQUEST, message: `PATCH takes ${PATCH_TYPE} (or, answering a WHEP counter-offer, application/sdp)` }, { ...headers, 'accept-patch': `${PATCH_TYPE}, application/sdp` });
      req.resume();
      return;
    }
    let fragment: string;
    try {
      fragment = await readBody(req, options.maxSdpBytes);
    } catch (error) {
      if (!(error instanceof BodyError)) throw error;
      return sendJson(res, error.status, { code: error.status === 413 ? ErrorCode.LIMIT_EXCEEDED : ErrorCode.BAD_REQUEST, message: error.message }, headers);
    }
    // The session must exist and be the caller's: the same check as every other call about it.
    const known = await options.execute<{ session: { id: string } | null }>(`query Exists($id: ID!) { session(id: $id) { id } }`, { id: sessionId }, authorization);
    if (known.error) return sendError(res, known.error, headers);
    if (!known.data.session) return sendError(res, { code: ErrorCode.SESSION_NOT_FOUND, message: `session ${sessionId} does not exist` }, headers);
    const ifMatch = req.headers['if-match'];
    if (ifMatch === '*') {
      return sendJson(res, 422, { code: ErrorCode.BAD_REQUEST, message: 'ICE restart is not supported through PATCH: end this session (DELETE) and start a new one' }, headers);
    }
    if (ifMatch !== undefined && ifMatch !== etagOf(sessionId)) {
      return sendJson(res, 412, { code: ErrorCode.BAD_REQUEST, message: 'If-Match does not match the ICE session (ETag)' }, headers);
    }
    if (!/^a=/m.test(fragment) && fragment.trim() !== '') {
      return sendJson(res, 400, { code: ErrorCode.BAD_REQUEST, message: 'the body is not an SDP fragment' }, headers);
    }
    res.writeHead(204, { ...headers, etag: etagOf(sessionId) }).end();
    return;
  }
  req.resume();
  res.writeHead(405, { ...headers, allow, 'content-length': '0' }).end();
}
