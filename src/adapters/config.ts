import { flag, integer, type Env } from '../config/parse.js';
import { EndpointPolicy } from './endpointPolicy.js';

/** The WebSocket adapters' settings (ADAPTER_*; docs/adapters.md). */
export interface AdapterConfig {
  readonly endpoints: EndpointPolicy;
  /** How long the handshake with a service may take before websocket_connection_timeout. */
  readonly handshakeTimeoutMs: number;
  /** How long an egress adapter reconnects to a service that dropped it (Cloudflare: 15 s). */
  readonly reconnectWindowMs: number;
  /** Audio an ingest adapter holds ahead of real time; beyond it the newest audio is dropped. */
  readonly ingestBufferMs: number;
  /** 20 ms PCM packets kept for an egress service that is reconnecting. */
  readonly egressBacklogPackets: number;
  /** Open adapters whose track one session publishes (egress), and per app on this node. */
  readonly maxPerSession: number;
  readonly maxPerApp: number;
  /** Highest JPEG frame rate a request may ask for (Cloudflare: 1 per second, more by contract). */
  readonly maxJpegFrameRate: number;
}

export function adapterConfig(env: Env, runMode: 'development' | 'production'): AdapterConfig {
  const networks = (env.ADAPTER_PRIVATE_NETWORKS ?? '').split(',').map((entry) => entry.trim()).filter(Boolean);
  return {
    endpoints: EndpointPolicy.create(flag(env, 'ADAPTER_ALLOW_PRIVATE_ENDPOINTS', runMode === 'development'), networks),
    handshakeTimeoutMs: integer(env, 'ADAPTER_HANDSHAKE_TIMEOUT_MS', 5_000, 100, 60_000),
    reconnectWindowMs: integer(env, 'ADAPTER_RECONNECT_WINDOW_MS', 15_000, 0, 300_000),
    ingestBufferMs: integer(env, 'ADAPTER_INGEST_BUFFER_MS', 30_000, 100, 300_000),
    egressBacklogPackets: integer(env, 'ADAPTER_EGRESS_BACKLOG_PACKETS', 50, 0, 10_000),
    maxPerSession: integer(env, 'MAX_ADAPTERS_PER_SESSION', 8, 1, 1_000),
    maxPerApp: integer(env, 'MAX_ADAPTERS_PER_APP', 200, 1, 100_000),
    maxJpegFrameRate: integer(env, 'ADAPTER_MAX_JPEG_FRAME_RATE', 30, 1, 60),
  };
}
