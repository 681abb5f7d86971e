import { ErrorCode } from '../../errors.js';

/** The HTTP status that says what an error code of the contract means, for the HTTP protocols (WHIP, WHEP, Cloudflare-compatible). */
export function httpStatus(code: ErrorCode): number {
  switch (code) {
    case ErrorCode.BAD_REQUEST:
    case ErrorCode.INVALID_SDP:
      return 400;
    case ErrorCode.UNAUTHENTICATED:
      return 401;
    case ErrorCode.FORBIDDEN:
      return 403;
    case ErrorCode.SESSION_NOT_FOUND:
    case ErrorCode.TRACK_NOT_FOUND:
      return 404;
    case ErrorCode.NEGOTIATION_CONFLICT:
      return 409;
    case ErrorCode.RATE_LIMITED:
    case ErrorCode.LIMIT_EXCEEDED:
      return 429;
    case ErrorCode.UNAVAILABLE:
      return 503;
    default:
      return 500;
  }
}
