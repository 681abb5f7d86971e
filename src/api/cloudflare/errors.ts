import { ErrorCode } from '../../errors.js';
import type { OperationError } from '../http/inProcessGraphQL.js';

/** Cloudflare's error body: every response may carry these two fields. */
export type CloudflareError = {
  errorCode: string;
  errorDescription: string;
};

/**
 * A whole-request failure as Cloudflare's API answers it: its HTTP status and
 * its public errorCode (developers.cloudflare.com/realtime/sfu/observability/error-codes).
 * The description is Switchyard's message, which names the problem.
 */
export function requestError(error: OperationError): { status: number; body: CloudflareError } {
  const [status, errorCode] = REQUEST_ERRORS[error.code] ?? [500, 'internal_error'];
  return { status, body: { errorCode, errorDescription: error.message } };
}

const REQUEST_ERRORS: Partial<Record<ErrorCode, [number, string]>> = {
  [ErrorCode.BAD_REQUEST]: [400, 'invalid_params'],
  [ErrorCode.INVALID_SDP]: [400, 'invalid_session_description'],
  // The client answered an offer it was not given, or offered while the SFU waits for its answer.
  [ErrorCode.NEGOTIATION_CONFLICT]: [400, 'invalid_session_description'],
  [ErrorCode.UNAUTHENTICATED]: [401, 'unauthorized'],
  [ErrorCode.FORBIDDEN]: [403, 'unauthorized'],
  [ErrorCode.SESSION_NOT_FOUND]: [404, 'session_error'],
  [ErrorCode.TRACK_NOT_FOUND]: [404, 'not_found_track_error'],
  [ErrorCode.RATE_LIMITED]: [429, 'retryable_transient_error'],
  [ErrorCode.LIMIT_EXCEEDED]: [400, 'invalid_params'],
  [ErrorCode.UNAVAILABLE]: [503, 'temporarily_unavailable_error'],
  [ErrorCode.INTERNAL]: [500, 'internal_error'],
};

/** Which operation an item failed in: Cloudflare names some item errors by operation. */
export type ItemOperation = 'new' | 'update' | 'close';

/** A failed item (a track or data channel of a batch) as Cloudflare reports it, inside a 200. */
export function itemError(code: string, message: string, operation: ItemOperation): CloudflareError {
  let errorCode: string;
  if (operation === 'close') errorCode = 'close_track_error';
  else if (code === ErrorCode.TRACK_NOT_FOUND) errorCode = 'not_found_track_error';
  else if (code === ErrorCode.UNAVAILABLE) errorCode = 'empty_track_error';
  else if (operation === 'update') errorCode = 'update_track_error';
  else if (code === ErrorCode.FORBIDDEN) errorCode = 'unauthorized';
  else if (code === ErrorCode.INTERNAL) errorCode = 'internal_error';
  else errorCode = 'invalid_params';
  return { errorCode, errorDescription: message };
}

/** A request this adapter refuses before any operation runs. */
export class InvalidRequest extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: string,
    message: string,
  ) {
    super(message);
  }
}

export const invalidParams = (message: string) => new InvalidRequest(400, 'invalid_params', message);
