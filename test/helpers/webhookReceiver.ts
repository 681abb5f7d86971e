import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The receiver's check from docs/webhooks.md, copied here on purpose rather
 * than imported from src/: the tests prove that what the docs tell backends
 * to run accepts what the node sends.
 */
export function verifySwitchyard(secret: string, header: string | undefined, rawBody: string, toleranceSeconds = 300): boolean {
  const items = (header ?? '').split(',').map((part) => part.trim().split('='));
  const t = Number(items.find(([key]) => key === 't')?.[1]);
  if (!Number.isInteger(t) || Math.abs(Date.now() / 1000 - t) > toleranceSeconds) return false;
  const expected = createHmac('sha256', secret).update(`${t}.${rawBody}`).digest();
  return items.some(([key, value]) => key === 'v1' && /^[0-9a-f]{64}$/.test(value ?? '') && timingSafeEqual(Buffer.from(value!, 'hex'), expected));
}

export interface ReceivedEvent {
  id: string;
  type: string;
  appId: string;
  createdAt: string;
  data: Record<string, any>;
}

export interface WebhookRequest {
  path: string;
  headers: IncomingHttpHeaders;
  rawBody: string;
  event: ReceivedEvent;
  /** What the receiver answered. */
  status: number;
}

/**
 * A real HTTP receiver on a free loopback port: records every request and
 * answers what `answer` says (200 unless told). It can be stopped and started
 * again on the same port (a receiver that is down for a while).
 */
export async function startWebhookReceiver(answer: (request: Omit<WebhookRequest, 'status'>) => number = () => 200) {
  const requests: WebhookRequest[] = [];
  let server: Server | undefined;
  let port = 0;
  const listen = async () => {
    const created = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const rawBody = Buffer.concat(chunks).toString('utf8');
        const base = { path: req.url ?? '', headers: req.headers, rawBody, event: JSON.parse(rawBody) as ReceivedEvent };
        const status = receiver.answer(base);
        requests.push({ ...base, status });
        res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : 'no');
      });
    });
    await new Promise<void>((resolve, reject) => {
      created.once('error', reject);
      created.listen(port, '127.0.0.1', () => resolve());
    });
    port = (created.address() as AddressInfo).port;
    server = created;
  };
  await listen();
  const receiver = {
    requests,
    answer,
    get url() {
      return `http://127.0.0.1:${port}/hooks`;
    },
    /** Requests answered with a 2xx: what the node counts as delivered. */
    acknowledged: () => requests.filter((r) => r.status >= 200 && r.status < 300),
    /** Stops listening and cuts every connection: the node's attempts are refused until start(). */
    async stop() {
      const running = server;
      server = undefined;
      if (!running) return;
      running.closeAllConnections();
      await new Promise((resolve) => running.close(resolve));
    },
    start: listen,
  };
  return receiver;
}

export type WebhookReceiver = Awaited<ReturnType<typeof startWebhookReceiver>>;
