/** The error codes of Switchyard's API contract; every failure carries one. */
export type ErrorCode =
  | 'BAD_REQUEST'
  | 'INVALID_SDP'
  | 'SESSION_NOT_FOUND'
  | 'TRACK_NOT_FOUND'
  | 'NEGOTIATION_CONFLICT'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'RATE_LIMITED'
  | 'LIMIT_EXCEEDED'
  | 'UNAVAILABLE'
  | 'INTERNAL';

/**
 * A failure reported by Switchyard (code from the contract), or by the
 * browser's WebRTC stack or the network (code INTERNAL or UNAVAILABLE, with
 * the original error as cause).
 */
export class SwitchyardError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SwitchyardError';
  }
}

const CODES = new Set<string>([
  'BAD_REQUEST', 'INVALID_SDP', 'SESSION_NOT_FOUND', 'TRACK_NOT_FOUND', 'NEGOTIATION_CONFLICT', 'UNAUTHENTICATED',
  'FORBIDDEN', 'RATE_LIMITED', 'LIMIT_EXCEEDED', 'UNAVAILABLE', 'INTERNAL',
]);

/** The contract code of a GraphQL error object, INTERNAL when it carries none. */
export function codeOf(error: { extensions?: { code?: unknown } } | undefined): ErrorCode {
  const code = error?.extensions?.code;
  return typeof code === 'string' && CODES.has(code) ? (code as ErrorCode) : 'INTERNAL';
}
