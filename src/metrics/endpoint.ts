import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../logger.js';
import type { SwitchyardMetrics } from './SwitchyardMetrics.js';

export const METRICS_PATH = '/metrics';

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * GET /metrics in Prometheus' text format. With a token, a scrape must send
 * `Authorization: Bearer <token>` (401 otherwise); compared in constant time.
 */
export function metricsRoute(metrics: SwitchyardMetrics, token: string | undefined, logger: Logger) {
  const expected = token === undefined ? undefined : digest(`Bearer ${token}`);
  return async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    const path = req.url?.split('?')[0];
    if (path !== METRICS_PATH) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return true;
    }
    if (expected && !timingSafeEqual(digest(req.headers.authorization ?? ''), expected)) {
      res.writeHead(401, { 'www-authenticate': 'Bearer realm="metrics"', 'content-type': 'text/plain' }).end('send Authorization: Bearer <METRICS_TOKEN>\n');
      return true;
    }
    try {
      const body = await metrics.render();
      res.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch (error) {
      logger.error({ err: error }, 'could not collect metrics');
      res.writeHead(500, { 'content-type': 'text/plain' }).end('could not collect metrics\n');
    }
    return true;
  };
}

/** /metrics on a listener of its own (METRICS_PORT): reachable from the monitoring network only, as the operator binds it. */
export async function listenForMetrics(
  route: (req: IncomingMessage, res: ServerResponse) => Promise<boolean>,
  port: number,
  host: string,
): Promise<{ server: Server; address: AddressInfo; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    void route(req, res).then((handled) => {
      if (!handled) res.writeHead(404, { 'content-type': 'text/plain' }).end('only /metrics here\n');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    server,
    address: server.address() as AddressInfo,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
