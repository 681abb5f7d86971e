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

/**
 * The browser could not apply an offer the SFU made (setRemoteDescription or
 * the answer failed). The SDK has asked the SFU to withdraw it (rollbackOffer):
 * the m-sections that offer added are gone (`withdrawnMids`, empty when the
 * rollback itself failed), and the session is back where it was before it.
 */
export class OfferRefusedError extends SwitchyardError {
  constructor(
    readonly withdrawnMids: readonly string[],
    cause: unknown,
    rollbackFailure?: SwitchyardError,
  ) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      'INVALID_SDP',
      `the browser refused the SFU's offer: ${reason}` + (rollbackFailure ? ` (and withdrawing it failed: ${rollbackFailure.message})` : ''),
      { cause },
    );
    this.name = 'OfferRefusedError';
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
