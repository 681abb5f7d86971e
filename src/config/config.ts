import { availableParallelism } from 'node:os';
import { isIP } from 'node:net';

/** Everything Switchyard reads from its environment, validated once at start. */
export interface Config {
  /** HTTP port of the GraphQL API, GraphiQL, graphql-ws and /healthz. */
  port: number;
  /** Address the HTTP server binds to. */
  host: string;
  /** Number of mediasoup workers (one per CPU core by default). */
  workers: number;
  /** First RTC port: worker i listens on rtcPort + i, UDP and TCP. */
  rtcPort: number;
  /** Address the WebRtcServers bind to. */
  rtcListenIp: string;
  /** Address put in ICE candidates; defaults to rtcListenIp. */
  rtcAnnouncedIp: string | undefined;
  logLevel: string;
  /** Largest SDP accepted, in bytes. */
  maxSdpBytes: number;
  /** A published track with no media for this long turns INACTIVE. */
  trackInactiveAfterMs: number;
  /** A published track with no media for this long is unpublished. */
  trackUnpublishAfterMs: number;
  /** How long an operation that needs media waits for a PeerConnection to connect. */
  mediaWaitMs: number;
  /** Track events kept for replay (trackEvents with after). */
  eventRetentionCount: number;
  eventRetentionMs: number;
}

export class ConfigError extends Error {}

type Env = Record<string, string | undefined>;

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

function ip(env: Env, name: string, fallback: string | undefined): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (isIP(raw) === 0) throw new ConfigError(`${name} must be an IPv4 or IPv6 address, got "${raw}"`);
  return raw;
}

const LOG_LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/**
 * Reads the configuration. Defaults are safe for a laptop: RTC listens and
 * announces on 127.0.0.1, so nothing is reachable from the network until an
 * operator sets RTC_LISTEN_IP / RTC_ANNOUNCED_IP.
 */
export function loadConfig(env: Env = process.env): Config {
  const workers = integer(env, 'WORKERS', availableParallelism(), 1, 256);
  const rtcPort = integer(env, 'RTC_PORT', 40000, 1024, 65535);
  if (rtcPort + workers - 1 > 65535) {
    throw new ConfigError(`RTC_PORT ${rtcPort} leaves no room for ${workers} workers below 65536`);
  }
  const logLevel = env.LOG_LEVEL ?? 'info';
  if (!LOG_LEVELS.has(logLevel)) throw new ConfigError(`LOG_LEVEL must be one of ${[...LOG_LEVELS].join(', ')}`);
  return {
    port: integer(env, 'PORT', 4000, 0, 65535),
    host: env.HOST ?? '0.0.0.0',
    workers,
    rtcPort,
    rtcListenIp: ip(env, 'RTC_LISTEN_IP', '127.0.0.1') as string,
    rtcAnnouncedIp: ip(env, 'RTC_ANNOUNCED_IP', undefined),
    logLevel,
    maxSdpBytes: integer(env, 'MAX_SDP_BYTES', 64 * 1024, 1024, 1024 * 1024),
    trackInactiveAfterMs: integer(env, 'TRACK_INACTIVE_AFTER_MS', 5_000, 100, 3_600_000),
    trackUnpublishAfterMs: integer(env, 'TRACK_UNPUBLISH_AFTER_MS', 30_000, 100, 86_400_000),
    mediaWaitMs: integer(env, 'MEDIA_WAIT_MS', 5_000, 0, 60_000),
    eventRetentionCount: integer(env, 'EVENT_RETENTION_COUNT', 10_000, 1, 10_000_000),
    eventRetentionMs: integer(env, 'EVENT_RETENTION_MS', 600_000, 1_000, 86_400_000),
  };
}
