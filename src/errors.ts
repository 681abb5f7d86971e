/**
 * The error codes of the API contract (../shared/contract/api.graphql). Every
 * failure that reaches a client carries one of them in `extensions.code`.
 */
export const ErrorCode = {
  BAD_REQUEST: 'BAD_REQUEST',
  INVALID_SDP: 'INVALID_SDP',
  SESSION_NOT_FOUND: 'SESSION_NOT_FOUND',
  TRACK_NOT_FOUND: 'TRACK_NOT_FOUND',
  NEGOTIATION_CONFLICT: 'NEGOTIATION_CONFLICT',
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  FORBIDDEN: 'FORBIDDEN',
  RATE_LIMITED: 'RATE_LIMITED',
  LIMIT_EXCEEDED: 'LIMIT_EXCEEDED',
  UNAVAILABLE: 'UNAVAILABLE',
  INTERNAL: 'INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * A failure the client caused or can act on; its message is safe to show.
 * `cause` keeps the raw error it stands for (a library's, with internal
 * addresses perhaps): never shown to clients, logged by the error masker.
 */
export class SwitchyardError extends Error {
  /** More for the client than the code: fields of `extensions` besides `code` (a WebSocket adapter's Cloudflare error code). */
  extensions: Record<string, string> | undefined;

  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown; extensions?: Record<string, string> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SwitchyardError';
    this.extensions = options?.extensions;
  }
}

export const invalidSdp = (message: string) => new SwitchyardError(ErrorCode.INVALID_SDP, message);
export const badRequest = (message: string) => new SwitchyardError(ErrorCode.BAD_REQUEST, message);
export const sessionNotFound = (id: string) =>
  new SwitchyardError(ErrorCode.SESSION_NOT_FOUND, `session ${id} does not exist`);
export const trackNotFound = (sessionId: string, trackName: string) =>
  new SwitchyardError(ErrorCode.TRACK_NOT_FOUND, `track ${trackName} of session ${sessionId} is not published`);
export const unavailable = (message: string, cause?: unknown) => new SwitchyardError(ErrorCode.UNAVAILABLE, message, cause === undefined ? undefined : { cause });
export const negotiationConflict = (message: string) =>
  new SwitchyardError(ErrorCode.NEGOTIATION_CONFLICT, message);
