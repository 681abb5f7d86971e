import { ErrorCode, SwitchyardError, unavailable } from '../errors.js';

/**
 * Refusals of createSession that are about this node, not the caller: full
 * (MAX_SESSIONS_PER_NODE) or draining. Another node of the cluster may take
 * the session (placement); alone, the client hears them as they are. They
 * are told apart by their words because they cross between nodes as code
 * and message only.
 */
const NODE_FULL = 'this node holds its maximum of';
const NODE_DRAINING = 'this node is shutting down and takes no new sessions';
const NODE_RECORDING_FULL = 'this node records its maximum of';

export const nodeFull = (max: number) =>
  new SwitchyardError(ErrorCode.LIMIT_EXCEEDED, `${NODE_FULL} ${max} sessions (MAX_SESSIONS_PER_NODE); try another node or later`);

export const nodeDraining = () => unavailable(`${NODE_DRAINING}; create the session on another node`);

/** startRecording on a node that records MAX_RECORDINGS_PER_NODE already: another node records it, through a pipe. */
export const recorderFull = (max: number) =>
  new SwitchyardError(ErrorCode.LIMIT_EXCEEDED, `${NODE_RECORDING_FULL} ${max} recordings (MAX_RECORDINGS_PER_NODE); try another node or later`);

/** Whether another node could take the session (or recording) this refusal is about. */
export function isPlaceable(error: unknown): boolean {
  return error instanceof SwitchyardError && [NODE_FULL, NODE_DRAINING, NODE_RECORDING_FULL].some((words) => error.message.startsWith(words));
}
