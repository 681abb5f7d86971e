import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { checkLiteral, guardedLookup } from './targets.js';

/** What one attempt came to: a 2xx is delivered; anything else is retried. */
export interface PostResult {
  readonly ok: boolean;
  /** The HTTP status, when the receiver answered. */
  readonly status?: number;
  /** The receiver's Retry-After (429, 503), in ms. */
  readonly retryAfterMs?: number;
  /** Why there was no answer (refused, timed out, connection error). */
  readonly error?: string;
}

export type Poster = (url: URL, headers: Record<string, string>, body: string, signal: AbortSignal) => Promise<PostResult>;

/**
 * POSTs with node:http(s) rather than fetch: the socket's DNS lookup can be
 * replaced (guardedLookup, so the address checked is the address connected
 * to), and redirects are never followed (a 3xx is a failed attempt, not a
 * hop to wherever the receiver points). Keep-alive agents of its own, so
 * that close() can end every socket and the node's exit never waits on one.
 */
export function createPoster(options: { timeoutMs: number; allowPrivate: boolean }): { post: Poster; close(): void } {
  const agents = { http: new HttpAgent({ keepAlive: true, maxSockets: 64 }), https: new HttpsAgent({ keepAlive: true, maxSockets: 64 }) };
  const post: Poster = (url, headers, body, signal) =>
    new Promise((resolve) => {
      if (!options.allowPrivate) {
        try {
          checkLiteral(url);
        } catch (error) {
          resolve({ ok: false, error: (error as Error).message });
          return;
        }
      }
      const secure = url.protocol === 'https:';
      let settled = false;
      const finish = (result: PostResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(result);
      };
      const request = (secure ? httpsRequest : httpRequest)(url, {
        method: 'POST',
        agent: secure ? agents.https : agents.http,
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        signal,
        ...(options.allowPrivate ? {} : { lookup: guardedLookup }),
      });
      // The whole attempt, connection to last byte, not only socket idleness.
      const timer = setTimeout(() => {
        request.destroy(new Error(`no answer within ${options.timeoutMs} ms`));
      }, options.timeoutMs);
      timer.unref();
      request.on('response', (response) => {
        const status = response.statusCode ?? 0;
        const retryAfterMs = retryAfter(response.headers);
        // The body says nothing we use: read and dropped, so the socket goes back to the pool.
        response.resume();
        response.on('end', () => finish({ ok: status >= 200 && status < 300, status, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) }));
        response.on('error', (error) => finish({ ok: false, status, error: error.message }));
        // Closed before its end (the receiver cut the connection mid-answer): not an acknowledgement.
        response.on('close', () => finish({ ok: false, status, error: 'the answer was cut short' }));
      });
      request.on('error', (error) => finish({ ok: false, error: error.message }));
      request.end(body);
    });
  return {
    post,
    close() {
      agents.http.destroy();
      agents.https.destroy();
    },
  };
}

/** Retry-After in seconds (the date form is rare from webhook receivers and is ignored). */
function retryAfter(headers: IncomingHttpHeaders): number | undefined {
  const raw = headers['retry-after'];
  if (typeof raw !== 'string' || !/^\d{1,7}$/.test(raw.trim())) return undefined;
  return Number(raw.trim()) * 1000;
}
