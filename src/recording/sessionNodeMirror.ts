import type { Cluster } from '../cluster/Cluster.js';
import { callNode } from '../cluster/internalCalls.js';
import { badRequest } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Recording, RecordingState } from './Recording.js';
import type { Recordings } from './Recordings.js';

/** The internal call (under /internal/) that tells a session's node about a recording of that session running on another node. */
export const RECORDING_STATE_CALL = 'recordingState';

/** A recording as the session's node is told it: enough to list it and tell its changes. */
export interface RecordingSnapshot {
  id: string;
  appId: string;
  owner: string | null;
  sessionId: string;
  trackName: string | null;
  trackNames: string[];
  storage: 'local' | 's3';
  state: RecordingState;
  reason: string | null;
  sizeBytes: number | null;
  durationMs: number | null;
  location: string | null;
  format: string | null;
}

export function snapshotOf(recording: Recording): RecordingSnapshot {
  const { id, appId, owner, storage, state, reason, sizeBytes, durationMs, location, format } = recording;
  return { id, appId, owner, sessionId: recording.target.sessionId, trackName: recording.target.trackName, trackNames: [...recording.target.trackNames], storage, state, reason, sizeBytes, durationMs, location, format };
}

const STATES = new Set<RecordingState>(['STARTING', 'RECORDING', 'FINISHING', 'DONE', 'FAILED']);
const text = (value: unknown) => typeof value === 'string';
const textOrNull = (value: unknown) => value === null || typeof value === 'string';
const numberOrNull = (value: unknown) => value === null || typeof value === 'number';

/** An internal call's body as a snapshot; anything else is BAD_REQUEST. */
export function parseSnapshot(body: Record<string, unknown>): RecordingSnapshot {
  const b = body as Partial<Record<keyof RecordingSnapshot, unknown>>;
  const valid =
    text(b.id) && text(b.appId) && textOrNull(b.owner) && text(b.sessionId) && textOrNull(b.trackName) &&
    Array.isArray(b.trackNames) && b.trackNames.every(text) && (b.storage === 'local' || b.storage === 's3') &&
    STATES.has(b.state as RecordingState) && textOrNull(b.reason) && numberOrNull(b.sizeBytes) && numberOrNull(b.durationMs) &&
    textOrNull(b.location) && textOrNull(b.format);
  if (!valid) throw badRequest(`${RECORDING_STATE_CALL} needs a recording snapshot`);
  return b as RecordingSnapshot;
}

/**
 * A recording placed on another node because its session's node records its
 * maximum (placedStartRecording) is told to the session's node, at its start
 * and at each change: recordingEvents and Session.recordings are answered
 * there (subscriptions and session fields are routed to the session's
 * node), and list and watch it like its own. The session's node only
 * mirrors it: it does not count it against its limits, send its webhook or
 * stop it (its id names the node that runs it, where stopRecording goes).
 * Changes are told in order, one call at a time per recording; a session
 * node that does not answer misses them (logged), the recording goes on.
 */
export function tellSessionNodes(recordings: Recordings, cluster: Cluster, isLocalSession: (sessionId: string) => boolean, logger: Logger): void {
  const queues = new Map<string, Promise<void>>();
  const tell = (recording: Recording) => {
    if (recording.elsewhere || isLocalSession(recording.target.sessionId)) return;
    const snapshot = snapshotOf(recording);
    const previous = queues.get(recording.id) ?? Promise.resolve();
    const next = previous.then(async () => {
      const route = await cluster.route(snapshot.sessionId);
      if (route.kind === 'remote') await callNode(cluster, route.url, RECORDING_STATE_CALL, snapshot);
    }).catch((error: unknown) => logger.warn({ err: error, recording: snapshot.id, session: snapshot.sessionId }, 'could not tell a session\'s node about its recording'));
    queues.set(recording.id, next);
    if (recording.finished) void next.finally(() => queues.get(recording.id) === next && queues.delete(recording.id));
  };
  recordings.on('started', tell);
  recordings.on('state', tell);
}
