import type { ExecuteOperation, OperationError } from '../http/inProcessGraphQL.js';
import { InvalidRequest, requestError, type CloudflareError } from './errors.js';
import type { Json } from './requests.js';
import type { Answer } from './tracks.js';

/**
 * Cloudflare's WebSocket adapter API (Realtime SFU "media transport
 * adapters", GA contract of the 2024-05-21 OpenAPI document):
 * POST /v1/apps/{appId}/adapters/websocket/new and .../close, as an adapter
 * over the GraphQL mutations createWebSocketAdapter and closeWebSocketAdapter
 * (src/api/schema/adapters.ts), one mutation per item, run in parallel.
 *
 * Cloudflare's status rules differ from the session routes': a body or field
 * of the wrong JSON type is 400 decoding_error, a missing or invalid value
 * (and a batch outside 1..4 items) is 406 invalid_params, and the outcome of
 * a batch is 200 when at least one item succeeded, 503 (same body) when all
 * failed. Item errors carry only errorCode and errorDescription.
 */
export interface AdapterContext {
  execute: ExecuteOperation;
  authorization: string | undefined;
  /** The parsed JSON body (undefined: there was none); this module decodes it. */
  body: unknown;
}

const MAX_ITEMS = 4;

const decodingError = (message: string) => new InvalidRequest(400, 'decoding_error', `The request could not be decoded: ${message}`);
const invalid = (message: string) => new InvalidRequest(406, 'invalid_params', message);

// Decoding: a value of the wrong JSON type is a decoding error (Cloudflare's 400), an absent one is left to the caller (406 when required).

function record(value: unknown, what: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw decodingError(`${what} must be a JSON object`);
  return value as Json;
}

function string(item: Json, key: string, what: string): string | undefined {
  const value = item[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw decodingError(`${what}.${key} must be a string`);
  return value;
}

/** A required non-empty string: absent or "" is invalid_params, as Cloudflare's minLength: 1. */
function required(item: Json, key: string, what: string, why = ''): string {
  const value = string(item, key, what);
  if (value === undefined || value === '') throw invalid(`${what}.${key} is required${why}`);
  return value;
}

/** Integers go to GraphQL Int: beyond 32 bits they could not be decoded there either. */
function integer(item: Json, key: string, what: string): number | undefined {
  const value = item[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || Math.abs(value) > 2 ** 31 - 1) throw decodingError(`${what}.${key} must be an integer`);
  return value;
}

function number(item: Json, key: string, what: string): number | undefined {
  const value = item[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw decodingError(`${what}.${key} must be a number`);
  return value;
}

/** The `tracks` array of either request: required, 1..4 objects (Cloudflare's own wording for the bound). */
function trackItems(body: unknown): Json[] {
  if (body === undefined) throw decodingError('the body is empty');
  const tracks = record(body, 'the body').tracks;
  if (tracks === undefined || tracks === null) throw invalid('tracks is required');
  if (!Array.isArray(tracks)) throw decodingError('tracks must be an array');
  if (tracks.length < 1) throw invalid('Expecting at least 1 track in the request');
  if (tracks.length > MAX_ITEMS) throw invalid(`Expecting at most ${MAX_ITEMS} track in the request`);
  return tracks.map((item, i) => record(item, `tracks[${i}]`));
}

/** Cloudflare's AdapterObject.endpoint: a URI matching ^wss?:// (the URL's other limits are the GraphQL API's, per item). */
function endpoint(item: Json, what: string): string {
  const value = required(item, 'endpoint', what);
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!/^wss?:\/\//.test(value) || !url) throw invalid(`${what}.endpoint must be a ws:// or wss:// URL`);
  return value;
}

/** Switchyard's own fields (not Cloudflare's): the PCM format, JPEG rate and size, and the upgrade request's headers and subprotocols. */
function extensions(item: Json, what: string): Json {
  const fields: Json = {};
  for (const key of ['sampleRate', 'channels', 'width', 'height'] as const) {
    const value = integer(item, key, what);
    if (value !== undefined) fields[key] = value;
  }
  const frameRate = number(item, 'frameRate', what);
  if (frameRate !== undefined) fields.frameRate = frameRate;
  if (item.headers !== undefined && item.headers !== null) {
    const headers = record(item.headers, `${what}.headers`);
    fields.headers = Object.entries(headers).map(([name, value]) => {
      if (typeof value !== 'string') throw decodingError(`${what}.headers.${name} must be a string`);
      return { name, value };
    });
  }
  if (item.subprotocols !== undefined && item.subprotocols !== null) {
    const protocols = item.subprotocols;
    if (!Array.isArray(protocols) || protocols.some((p) => typeof p !== 'string')) throw decodingError(`${what}.subprotocols must be an array of strings`);
    fields.subprotocols = protocols;
  }
  return fields;
}

interface CreateItem {
  location: 'local' | 'remote';
  trackName: string;
  endpoint: string;
  /** The GraphQL CreateWebSocketAdapterInput. */
  input: Json;
}

/** One AdapterObject of a create request; every item is checked before any adapter is created, so a 406 leaves nothing behind. */
function createItem(item: Json, i: number): CreateItem {
  const what = `tracks[${i}]`;
  const location = required(item, 'location', what);
  if (location !== 'local' && location !== 'remote') throw invalid(`${what}.location must be "local" or "remote"`);
  const trackName = required(item, 'trackName', what);
  const url = endpoint(item, what);
  // Decoded for their type only: Cloudflare ignores mode (the location selects it) and the other direction's codec.
  const mode = string(item, 'mode', what);
  if (mode !== undefined && mode !== 'stream' && mode !== 'buffer') throw invalid(`${what}.mode must be "stream" or "buffer"`);
  string(item, 'adapterId', what);
  const inputCodec = string(item, 'inputCodec', what);
  const outputCodec = string(item, 'outputCodec', what);
  const sessionId = string(item, 'sessionId', what);
  const input: Json = { location: location === 'local' ? 'LOCAL' : 'REMOTE', trackName, endpoint: url, ...extensions(item, what) };
  if (location === 'local') {
    if (inputCodec === undefined) throw invalid(`${what}.inputCodec is required for location "local"`);
    if (inputCodec !== 'pcm') throw invalid(`${what}.inputCodec must be "pcm"`);
    // Cloudflare ignores a local item's sessionId: the SFU allocates the publishing session.
    input.codec = 'PCM';
  } else {
    if (sessionId === undefined || sessionId === '') throw invalid(`${what}.sessionId is required for location "remote"`);
    if (outputCodec === undefined) throw invalid(`${what}.outputCodec is required for location "remote"`);
    if (outputCodec !== 'pcm' && outputCodec !== 'jpeg') throw invalid(`${what}.outputCodec must be "pcm" or "jpeg"`);
    input.sessionId = sessionId;
    input.codec = outputCodec === 'pcm' ? 'PCM' : 'JPEG';
  }
  return { location, trackName, endpoint: url, input };
}

/**
 * An item's Cloudflare error code: the adapter's own (websocket_handshake_failed,
 * adapter_not_found...) when the GraphQL error carries one, otherwise what the
 * session routes answer for that contract code (not_found_track_error,
 * session_error, unauthorized, temporarily_unavailable_error...).
 */
function itemFailure(error: OperationError): CloudflareError {
  const adapterCode = error.extensions?.adapterErrorCode;
  const errorCode = typeof adapterCode === 'string' ? adapterCode : requestError(error).body.errorCode;
  return { errorCode, errorDescription: error.message };
}

/**
 * execute() answers GraphQL errors as values; should it throw, that item
 * alone fails, so the other items' adapters (which exist by then) are still
 * reported and can be closed: Cloudflare's clients keep successful items of
 * a batch and retry only the failed ones.
 */
async function settle<T>(run: () => Promise<T>, failed: (error: CloudflareError) => T): Promise<T> {
  try {
    return await run();
  } catch {
    return failed({ errorCode: 'internal_error', errorDescription: 'Backend error' });
  }
}

const batch = (tracks: Json[], succeeded: boolean[]): Answer => ({ status: succeeded.some(Boolean) ? 200 : 503, body: { tracks } });

const CREATE = 'mutation CreateAdapter($input: CreateWebSocketAdapterInput!) { createWebSocketAdapter(input: $input) { id sessionId } }';

/** POST adapters/websocket/new: 1..4 adapters, each on its own; results in request order. */
export async function newAdapters(context: AdapterContext): Promise<Answer> {
  const items = trackItems(context.body).map(createItem);
  const results = await Promise.all(
    items.map((item) =>
      settle(
        async () => {
          const result = await context.execute<{ createWebSocketAdapter: { id: string; sessionId: string } }>(CREATE, { input: item.input }, context.authorization);
          if (result.error) return { ok: false, body: { trackName: item.trackName, ...itemFailure(result.error) } };
          const adapter = result.data.createWebSocketAdapter;
          // Cloudflare echoes the requested endpoint; a remote item's response omits sessionId (it is the caller's own).
          const body: Json = { trackName: item.trackName, adapterId: adapter.id };
          if (item.location === 'local') body.sessionId = adapter.sessionId;
          body.endpoint = item.endpoint;
          return { ok: true, body };
        },
        (error) => ({ ok: false, body: { trackName: item.trackName, ...error } }),
      ),
    ),
  );
  return batch(
    results.map((r) => r.body),
    results.map((r) => r.ok),
  );
}

const STATE = 'query AdapterState($id: ID!) { webSocketAdapter(id: $id) { state } }';
const CLOSE = 'mutation CloseAdapter($id: ID!) { closeWebSocketAdapter(id: $id) { state bytesProcessed } }';
const OPEN = new Set(['CONNECTED', 'RECONNECTING']);

/**
 * POST adapters/websocket/close: 1..4 adapters. Close is idempotent
 * (Cloudflare's GA contract): an adapter this call closes reports
 * bytesProcessed; one already closed (earlier, or on its own) is a bare
 * `{ adapterId }` success, as Cloudflare omits the statistic then. The GraphQL
 * close answers both alike (state CLOSED), so the state is read first.
 */
export async function closeAdapters(context: AdapterContext): Promise<Answer> {
  const ids = trackItems(context.body).map((item, i) => required(item, 'adapterId', `tracks[${i}]`));
  // The same id twice in one batch: the second waits for the first and so finds it closed, rather than both claiming the close.
  const previous = new Map<string, Promise<unknown>>();
  const results = await Promise.all(
    ids.map((adapterId) => {
      const run = settle(
        async () => {
          await previous.get(adapterId);
          const before = await context.execute<{ webSocketAdapter: { state: string } | null }>(STATE, { id: adapterId }, context.authorization);
          const wasOpen = !before.error && before.data.webSocketAdapter !== null && OPEN.has(before.data.webSocketAdapter.state);
          const closed = await context.execute<{ closeWebSocketAdapter: { state: string; bytesProcessed: number } }>(CLOSE, { id: adapterId }, context.authorization);
          if (closed.error) return { ok: false, body: { adapterId, ...itemFailure(closed.error) } };
          return { ok: true, body: wasOpen ? { adapterId, bytesProcessed: closed.data.closeWebSocketAdapter.bytesProcessed } : { adapterId } };
        },
        (error) => ({ ok: false, body: { adapterId, ...error } }),
      );
      previous.set(adapterId, run);
      return run;
    }),
  );
  return batch(
    results.map((r) => r.body),
    results.map((r) => r.ok),
  );
}
