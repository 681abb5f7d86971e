import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Authenticator } from '../../auth/principal.js';
import { SwitchyardError } from '../../errors.js';
import type { CorsPolicy } from '../cors.js';
import type { ExecuteOperation } from '../http/inProcessGraphQL.js';
import { BodyError, readBody, sendJson } from '../http/messages.js';
import { closeAdapters, newAdapters } from './adapters.js';
import { closeDataChannels, establishDataChannels, newDataChannels } from './dataChannels.js';
import { InvalidRequest, invalidParams, requestError } from './errors.js';
import { RECORDINGS, recordingOperation } from './recordings.js';
import { object, type Json } from './requests.js';
import { getSession, newSession } from './sessions.js';
import { closeTracks, newTracks, OperationFailed, renegotiate, updateTracks, type Answer, type CallContext } from './tracks.js';
import { TURN_KEYS_PREFIX, turnKeyCall } from './turnKeys.js';
import type { ErrorCode } from '../../errors.js';

export interface CloudflareRoutesOptions {
  execute: ExecuteOperation;
  authenticator: Authenticator;
  cors: CorsPolicy;
  maxRequestBytes: number;
}

type Operation = (context: CallContext) => Promise<Answer>;

/** Cloudflare's session operations: `${method} ${path after /sessions/{sessionId}}`. */
const SESSION_OPERATIONS: Record<string, Operation> = {
  'GET ': getSession,
  'POST /tracks/new': newTracks,
  'PUT /renegotiate': renegotiate,
  'PUT /tracks/update': updateTracks,
  'PUT /tracks/close': closeTracks,
  'POST /datachannels/establish': establishDataChannels,
  'POST /datachannels/new': newDataChannels,
  'PUT /datachannels/close': closeDataChannels,
  // canReply and waitForAck are all it updates, and Switchyard's channels are one way.
  'PUT /datachannels/update': async () => {
    throw invalidParams('datachannels/update is not supported: Switchyard\'s data channels are one way (no canReply); publish a channel of your own to answer');
  },
};

const PREFIX = /^\/v1\/apps\/([^/]+)\/sessions\/(new|[^/]+)((?:\/[a-z]+){0,2})$/;
/** Cloudflare's media transport adapters: /adapters/{adapterType}/new|close, where websocket is the only type (adapters.ts). */
const ADAPTERS = /^\/v1\/apps\/([^/]+)\/adapters\/([^/]+)\/([^/]+)$/;
const ADAPTER_OPERATIONS: Record<string, typeof newAdapters> = { 'POST websocket/new': newAdapters, 'POST websocket/close': closeAdapters };

/**
 * The Cloudflare Realtime SFU ("Calls") HTTPS API, version 2024-05-21, under
 * /v1/apps/{appId}/: the same paths, bodies and error fields, as an adapter
 * over the GraphQL API (docs/cloudflare-api.md). `Authorization: Bearer` is
 * the app's secret (or a client token of that app); without apps configured
 * (development) any app id is the development app. Its WebSocket adapters
 * are under /v1/apps/{appId}/adapters/websocket/ (adapters.ts). Cloudflare's TURN
 * credential API is under /v1/turn/keys/{keyId}/, where the key is an app
 * (turnKeys.ts). Switchyard's own recording routes are under
 * /v1/apps/{appId}/recordings/ (recordings.ts).
 */
export function cloudflareRoutes(options: CloudflareRoutesOptions) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    const url = new URL(req.url ?? '/', 'http://switchyard.internal');
    const turn = url.pathname.startsWith(TURN_KEYS_PREFIX);
    if (!turn && !url.pathname.startsWith('/v1/apps/')) return false;
    const cors = options.cors.headers(req.headers.origin, 'GET, POST, PUT, OPTIONS');
    if (cors['access-control-allow-origin']) cors['access-control-allow-headers'] = 'Authorization, Content-Type';
    cors.vary = 'Origin';
    const match = PREFIX.exec(url.pathname);
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { ...cors, 'content-length': '0' }).end();
      return true;
    }
    const reply = (answer: Answer) => sendJson(res, answer.status, answer.body, cors);
    try {
      if (turn) {
        const call = turnKeyCall(req.method, url.pathname);
        // One answer for a wrong token and for a key that does not exist: the route tells no one which keys exist.
        await checkApp(options.authenticator, req.headers.authorization, segment(call.keyId), 'TURN key');
        const body = await jsonBody(req, options.maxRequestBytes);
        reply(await call.run({ execute: options.execute, authorization: req.headers.authorization, body }));
        return true;
      }
      const authorization = req.headers.authorization;
      const adapters = ADAPTERS.exec(url.pathname);
      if (adapters) {
        const [, appId, type, action] = adapters as unknown as [string, string, string, string];
        await checkApp(options.authenticator, authorization, segment(appId));
        const operation = ADAPTER_OPERATIONS[`${req.method} ${segment(type)}/${segment(action)}`];
        if (!operation) throw new InvalidRequest(404, 'not_found', `no such operation: ${req.method} ${url.pathname}`);
        // Its own body rules: an empty or non-object body is decoding_error there (adapters.ts decodes it).
        reply(await operation({ execute: options.execute, authorization, body: await readJson(req, options.maxRequestBytes) }));
        return true;
      }
      const recordings = RECORDINGS.exec(url.pathname);
      if (recordings) {
        const [, appId, id, action] = recordings as unknown as [string, string, string, string | undefined];
        await checkApp(options.authenticator, authorization, segment(appId));
        const operation = recordingOperation(req.method, id, action);
        if (!operation) throw new InvalidRequest(404, 'not_found', `no such operation: ${req.method} ${url.pathname}`);
        const body = req.method === 'GET' ? undefined : await readJson(req, options.maxRequestBytes);
        reply(await operation({ execute: options.execute, authorization, recordingId: segment(id), body }));
        return true;
      }
      if (!match) throw new InvalidRequest(404, 'not_found', `no such operation: ${req.method} ${url.pathname}`);
      const [, appId, session, rest] = match as unknown as [string, string, string, string];
      await checkApp(options.authenticator, authorization, segment(appId));
      const body = req.method === 'GET' ? {} : await jsonBody(req, options.maxRequestBytes);
      if (session === 'new') {
        if (req.method !== 'POST' || rest !== '') throw new InvalidRequest(404, 'not_found', `no such operation: ${req.method} ${url.pathname}`);
        reply(await newSession({ execute: options.execute, authorization, body }, url.searchParams));
        return true;
      }
      const operation = SESSION_OPERATIONS[`${req.method} ${rest}`];
      if (!operation) throw new InvalidRequest(404, 'not_found', `no such operation: ${req.method} ${url.pathname}`);
      reply(await operation({ execute: options.execute, authorization, sessionId: segment(session), body }));
    } catch (error) {
      req.resume();
      if (error instanceof InvalidRequest) reply({ status: error.status, body: { errorCode: error.errorCode, errorDescription: error.message } });
      else if (error instanceof OperationFailed) reply(requestError({ code: error.code as ErrorCode, message: error.message }));
      else if (error instanceof SwitchyardError) reply(requestError(error));
      else throw error;
    }
    return true;
  };
}

/** The credentials must belong to the app the path names (any app id in development, where no apps are configured). */
async function checkApp(authenticator: Authenticator, authorization: string | undefined, appId: string, what = 'app'): Promise<void> {
  const principal = await authenticator.authenticate(authorization);
  if (authenticator.open) return;
  if (principal.appId !== appId) throw new InvalidRequest(401, 'unauthorized', `these credentials are not those of ${what} ${appId}`);
}

/**
 * A path segment, percent-decoded. Malformed encoding (%E0%A4%A) names
 * nothing: decodeURIComponent's URIError would escape this handler as an
 * unhandled rejection, which ends the Node process.
 */
function segment(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new InvalidRequest(404, 'not_found', 'the path is not valid percent-encoding');
  }
}

/** The JSON body as an object, whatever Content-Type says (Cloudflare's examples send JSON as text/plain); empty means {}. */
async function jsonBody(req: IncomingMessage, maxBytes: number): Promise<Json> {
  const parsed = await readJson(req, maxBytes);
  return parsed === undefined ? {} : object(parsed, 'the body');
}

/** The parsed JSON body, any JSON value, whatever Content-Type says; undefined when empty. */
async function readJson(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  let text: string;
  try {
    text = await readBody(req, maxBytes);
  } catch (error) {
    if (error instanceof BodyError) throw new InvalidRequest(413, 'payload_too_large', error.message);
    // The client went away mid-body (ECONNRESET "aborted"): answered (to no one) rather than rethrown, which would
    // escape the handler as an unhandled rejection and end the Node process.
    throw new InvalidRequest(400, 'decoding_error', `the request body could not be read: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new InvalidRequest(400, 'decoding_error', 'The request could not be decoded: the body is not JSON');
  }
}
