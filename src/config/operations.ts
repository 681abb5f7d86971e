import { ConfigError, flag, integer, type Env } from './parse.js';

/** TURN relays Switchyard hands out credentials for (coturn's `use-auth-secret`, the "TURN REST API" scheme). */
export interface TurnConfig {
  /** turn:, turns: and stun: URLs, as a browser's RTCIceServer.urls takes them. */
  urls: string[];
  /** coturn's static-auth-secret: credentials are HMAC-SHA1(secret, "expiry:identity"). */
  secret: string;
  /** Lifetime of the credentials handed out when the caller asks for none (seconds). */
  defaultTtlS: number;
  /** The longest lifetime a caller may ask for (seconds). */
  maxTtlS: number;
}

/** Where Prometheus reads /metrics, and what protects it. */
export interface MetricsConfig {
  enabled: boolean;
  /** A listener of its own (e.g. reachable only from the monitoring network); undefined: /metrics on the API port. */
  port: number | undefined;
  /** Address that listener binds to. */
  host: string;
  /** Scrapes must send Authorization: Bearer <token>; undefined: open (development, or a port of its own). */
  token: string | undefined;
}

const ICE_URL = /^(stun|stuns|turn|turns):[^\s,]+$/;

/** The longest TURN credential lifetime a caller may ask for, unless TURN_CREDENTIAL_MAX_TTL_S says otherwise. */
export const DEFAULT_TURN_CREDENTIAL_MAX_TTL_S = 172_800;

/**
 * TURN_URLS (comma-separated turn:/turns:/stun: URLs) and TURN_SECRET
 * (coturn's static-auth-secret) go together; neither means no TURN.
 */
export function turnConfig(env: Env): TurnConfig | undefined {
  const raw = env.TURN_URLS?.trim() ?? '';
  const secret = env.TURN_SECRET ?? '';
  if (raw === '' && secret === '') return undefined;
  if (raw === '') throw new ConfigError('TURN_SECRET is set but TURN_URLS is not: list the TURN server URLs, such as turn:turn.example.com:3478?transport=udp');
  const urls = raw.split(',').map((entry) => entry.trim()).filter(Boolean);
  for (const url of urls) {
    if (!ICE_URL.test(url)) throw new ConfigError(`TURN_URLS entries must be turn:, turns: or stun: URLs such as turn:turn.example.com:3478?transport=udp, got "${url}"`);
  }
  if (urls.some((url) => url.startsWith('turn')) && secret.length < 16) {
    throw new ConfigError('TURN_URLS has TURN servers: set TURN_SECRET to their static-auth-secret (16 or more characters; coturn use-auth-secret)');
  }
  const maxTtlS = integer(env, 'TURN_CREDENTIAL_MAX_TTL_S', DEFAULT_TURN_CREDENTIAL_MAX_TTL_S, 60, 2_592_000);
  const defaultTtlS = integer(env, 'TURN_CREDENTIAL_TTL_S', Math.min(86_400, maxTtlS), 60, maxTtlS);
  return { urls, secret, defaultTtlS, maxTtlS };
}

/**
 * METRICS (on by default), METRICS_PORT, METRICS_HOST and METRICS_TOKEN.
 * Production serves /metrics only on a port of its own or behind a token (the
 * numbers say how busy the node is and which apps use it): with neither,
 * production has no /metrics and says so at start.
 */
export function metricsConfig(env: Env, runMode: 'development' | 'production', apiHost: string): MetricsConfig {
  const port = env.METRICS_PORT ? integer(env, 'METRICS_PORT', 0, 0, 65535) : undefined;
  const token = env.METRICS_TOKEN ? env.METRICS_TOKEN : undefined;
  if (token !== undefined && token.length < 16) throw new ConfigError('METRICS_TOKEN must be at least 16 characters');
  const protectedEnough = runMode === 'development' || port !== undefined || token !== undefined;
  const enabled = flag(env, 'METRICS', protectedEnough);
  if (enabled && !protectedEnough) {
    throw new ConfigError('METRICS=true in production needs METRICS_PORT (a listener of its own) or METRICS_TOKEN (a bearer token): /metrics must not be public');
  }
  // A listener of its own without a token is only as private as its address:
  // unless told where, it listens on loopback, not on the API's (often
  // 0.0.0.0) host.
  const host = env.METRICS_HOST || (port !== undefined && token === undefined ? '127.0.0.1' : apiHost);
  return { enabled, port, host, token };
}
