import type { ExecuteOperation, OperationError } from '../http/inProcessGraphQL.js';
import { InvalidRequest } from './errors.js';
import type { Json } from './requests.js';
import { OperationFailed, type Answer } from './tracks.js';

/**
 * Recordings over REST, beside the Cloudflare-compatible routes and in their
 * style (Cloudflare's SFU API has no recordings: these paths are
 * Switchyard's own; docs/recording-rest.md), as an adapter over the GraphQL
 * startRecording, stopRecording and recording operations:
 *
 *   POST /v1/apps/{appId}/recordings/new             { sessionId, trackName?, storage?, spatialLayer? } → 201
 *   POST /v1/apps/{appId}/recordings/{recordingId}/stop → 200, the recording
 *   GET  /v1/apps/{appId}/recordings/{recordingId}      → 200, the recording
 *
 * As for the WebSocket adapter routes: a body that is not JSON (or not an
 * object) is 400 decoding_error, a field of the wrong type or value 406
 * invalid_params; the GraphQL API's errors are answered as for the session
 * routes (requestError: 404 session_error and not_found_track_error, 403,
 * 429, 503...), and an unknown recording is 404 recording_not_found. Enum
 * values are lowercase, as Cloudflare's bodies write theirs.
 */
export const RECORDINGS = /^\/v1\/apps\/([^/]+)\/recordings\/([^/]+)(\/[^/]*)?$/;

export interface RecordingContext {
  execute: ExecuteOperation;
  authorization: string | undefined;
  /** Percent-decoded; "new" for POST recordings/new. */
  recordingId: string;
  /** The parsed JSON body (undefined: there was none); this module decodes it. */
  body: unknown;
}

type Operation = (context: RecordingContext) => Promise<Answer>;

/** The operation for a method and the path's last parts (still encoded, as the path has them); undefined: there is none. */
export function recordingOperation(method: string | undefined, recordingId: string, action: string | undefined): Operation | undefined {
  if (recordingId === 'new') return method === 'POST' && action === undefined ? startRecording : undefined;
  if (method === 'POST' && action === '/stop') return stopRecording;
  if (method === 'GET' && action === undefined) return getRecording;
  return undefined;
}

const decodingError = (message: string) => new InvalidRequest(400, 'decoding_error', `The request could not be decoded: ${message}`);
const invalid = (message: string) => new InvalidRequest(406, 'invalid_params', message);
const notFound = (id: string, message = `recording ${id} does not exist`) => new InvalidRequest(404, 'recording_not_found', message);

function optionalString(body: Json, key: string): string | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalid(`${key} must be a string`);
  if (value === '') throw invalid(`${key} must not be empty`);
  return value;
}

/** The GraphQL StartRecordingInput of a recordings/new body; every field is checked before anything starts. */
function startInput(body: unknown): Json {
  if (body === undefined) throw decodingError('the body is empty; send { "sessionId": "..." }');
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw decodingError('the body must be a JSON object');
  const fields = body as Json;
  const sessionId = optionalString(fields, 'sessionId');
  if (sessionId === undefined) throw invalid('sessionId is required');
  const input: Json = { sessionId };
  const trackName = optionalString(fields, 'trackName');
  if (trackName !== undefined) input.trackName = trackName;
  const storage = fields.storage;
  if (storage !== undefined && storage !== null) {
    if (storage !== 'local' && storage !== 's3') throw invalid('storage must be "local" or "s3"');
    input.storage = storage === 'local' ? 'LOCAL' : 'S3';
  }
  const layer = fields.spatialLayer;
  if (layer !== undefined && layer !== null) {
    if (typeof layer !== 'number' || !Number.isInteger(layer) || layer < 0 || layer > 3) throw invalid('spatialLayer must be an integer from 0 to 3');
    input.spatialLayer = layer;
  }
  return input;
}

interface GraphQLRecording {
  id: string;
  sessionId: string;
  trackName: string | null;
  trackNames: string[];
  state: string;
  reason: string | null;
  format: string | null;
  storage: 'LOCAL' | 'S3';
  location: string | null;
  sizeBytes: number | null;
  durationMs: number | null;
  createdAt: string;
  endedAt: string | null;
}

const FIELDS = 'id sessionId trackName trackNames state reason format storage location sizeBytes durationMs createdAt endedAt';
const START = `mutation StartRecording($input: StartRecordingInput!) { startRecording(input: $input) { ${FIELDS} } }`;
const STOP = `mutation StopRecording($id: ID!) { stopRecording(id: $id) { ${FIELDS} } }`;
const READ = `query Recording($id: ID!) { recording(id: $id) { ${FIELDS} } }`;

/** A recording as these routes answer it: what is not known yet (location, size...) is null. */
function recordingBody(r: GraphQLRecording): Json {
  return {
    recordingId: r.id,
    sessionId: r.sessionId,
    trackName: r.trackName,
    trackNames: r.trackNames,
    state: r.state.toLowerCase(),
    reason: r.reason,
    format: r.format,
    storage: r.storage.toLowerCase(),
    location: r.location,
    sizeBytes: r.sizeBytes,
    durationMs: r.durationMs,
    createdAt: r.createdAt,
    endedAt: r.endedAt,
  };
}

/** A GraphQL error as the router answers it; an unknown recording (recordingErrorCode) is a 404 here, not GraphQL's BAD_REQUEST. */
function failed(error: OperationError, id: string): Error {
  if (error.extensions?.recordingErrorCode === 'recording_not_found') return notFound(id, error.message);
  return new OperationFailed(error.code, error.message);
}

/** POST recordings/new: 201 once the recorder listens (state "starting", then "recording" when media flows). */
async function startRecording(context: RecordingContext): Promise<Answer> {
  const input = startInput(context.body);
  const result = await context.execute<{ startRecording: GraphQLRecording }>(START, { input }, context.authorization);
  if (result.error) throw failed(result.error, '');
  const body = recordingBody(result.data.startRecording);
  const { recordingId, sessionId, trackName, trackNames, state, format, storage } = body;
  return { status: 201, body: { recordingId, sessionId, trackName, trackNames, state, format, storage } };
}

/** POST recordings/{id}/stop: the recording as it stands (finishing follows; GET tells when it is done). No body is needed. */
async function stopRecording(context: RecordingContext): Promise<Answer> {
  const body = context.body;
  if (body !== undefined && (typeof body !== 'object' || body === null || Array.isArray(body))) throw decodingError('the body must be empty or a JSON object');
  const result = await context.execute<{ stopRecording: GraphQLRecording }>(STOP, { id: context.recordingId }, context.authorization);
  if (result.error) throw failed(result.error, context.recordingId);
  return { status: 200, body: recordingBody(result.data.stopRecording) };
}

/** GET recordings/{id}: running, or finished within the last day; another app's (or client's) is not found. */
async function getRecording(context: RecordingContext): Promise<Answer> {
  const result = await context.execute<{ recording: GraphQLRecording | null }>(READ, { id: context.recordingId }, context.authorization);
  if (result.error) throw failed(result.error, context.recordingId);
  if (!result.data.recording) throw notFound(context.recordingId);
  return { status: 200, body: recordingBody(result.data.recording) };
}
