import type { IncomingMessage } from 'node:http';
import type { CORSOptions } from 'graphql-yoga';

/**
 * Which other origins' pages may use the API: CORS headers on /graphql and
 * the SDK files, and the Origin check of WebSocket upgrades. Built from
 * CORS_ORIGINS (['*'] any origin, [] none).
 */
export interface CorsPolicy {
  /** Whether a page of this origin may call the API (false when the request carries no Origin). */
  allows(origin: string | null | undefined): boolean;
  /**
   * The CORS response headers for a request with this Origin: none when it
   * is not allowed; `*` when any origin is; otherwise the origin itself with
   * `Vary: Origin`.
   */
  headers(origin: string | null | undefined, methods: string): Record<string, string>;
  /** graphql-yoga's `cors` option: CORS options for an allowed origin, false otherwise. */
  yoga(request: Request): CORSOptions;
  /**
   * Whether a WebSocket upgrade may go ahead: requests without Origin (not
   * from a browser), from the server's own origin (same host) or from an
   * allowed origin.
   */
  allowsUpgrade(request: IncomingMessage): boolean;
}

/** Headers a browser may send to /graphql from another origin. */
const ALLOWED_HEADERS = ['authorization', 'content-type', 'accept'];
const MAX_AGE_SECONDS = 600;

export function corsPolicy(origins: readonly string[]): CorsPolicy {
  const any = origins.includes('*');
  const listed = new Set(origins);
  const allows = (origin: string | null | undefined) => Boolean(origin) && (any || listed.has(origin as string));
  return {
    allows,
    headers(origin, methods) {
      const headers: Record<string, string> = {};
      // The answer depends on the Origin whenever some origins are allowed and others not.
      if (!any && listed.size > 0) headers.vary = 'Origin';
      if (allows(origin)) {
        headers['access-control-allow-origin'] = any ? '*' : (origin as string);
        headers['access-control-allow-methods'] = methods;
        headers['access-control-max-age'] = String(MAX_AGE_SECONDS);
      }
      return headers;
    },
    yoga(request) {
      if (!allows(request.headers.get('origin'))) return false;
      return {
        // yoga answers an origin list of '*' with the request's own Origin and
        // `Vary: Origin`; this function only gets here for allowed origins.
        origin: ['*'],
        methods: ['GET', 'POST', 'OPTIONS'],
        allowedHeaders: ALLOWED_HEADERS,
        // Authorization headers need no CORS credentials mode; cookies are not used.
        credentials: false,
        maxAge: MAX_AGE_SECONDS,
      };
    },
    allowsUpgrade(request) {
      const origin = request.headers.origin;
      if (origin === undefined || allows(origin)) return true;
      try {
        return new URL(origin).host === request.headers.host;
      } catch {
        return false;
      }
    },
  };
}
