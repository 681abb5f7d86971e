import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MetricsConfig } from '../config/operations.js';
import type { Logger } from '../logger.js';
import { listenForMetrics, metricsRoute } from './endpoint.js';
import { SwitchyardMetrics, type MetricSources } from './SwitchyardMetrics.js';

/** The node's metrics and where they are served, as METRICS, METRICS_PORT and METRICS_TOKEN say. */
export interface MetricsService {
  readonly metrics: SwitchyardMetrics | undefined;
  /** For the API server: /metrics on its port (undefined when it is elsewhere or off). */
  readonly apiRoute: ((req: IncomingMessage, res: ServerResponse) => Promise<boolean>) | undefined;
  /** Starts the listener of its own, if configured; returns its URL. */
  listen(): Promise<string | undefined>;
  close(): Promise<void>;
}

export function createMetricsService(config: MetricsConfig, sources: MetricSources, logger: Logger): MetricsService {
  if (!config.enabled) {
    return { metrics: undefined, apiRoute: undefined, listen: async () => undefined, close: async () => undefined };
  }
  const metrics = new SwitchyardMetrics(sources);
  const route = metricsRoute(metrics, config.token, logger);
  let close = async () => undefined as void;
  return {
    metrics,
    apiRoute: config.port === undefined ? route : undefined,
    async listen() {
      if (config.port === undefined) return undefined;
      const listener = await listenForMetrics(route, config.port, config.host);
      close = listener.close;
      const host = listener.address.family === 'IPv6' ? `[${listener.address.address}]` : listener.address.address;
      return `http://${host}:${listener.address.port}/metrics`;
    },
    close: () => close(),
  };
}
