import { expect } from 'vitest';
import { checkResponse, loadFixture, type AllowedDifference } from './openapiShape.js';

/** A Cloudflare API response as a test sees it: the status, the headers and the parsed JSON body. */
export interface CfResponse {
  status: number;
  headers: Headers;
  // Response bodies are checked against the document before a test reads them.
  body: any;
}

export interface CallOptions {
  /** The request body as it goes on the wire, instead of JSON.stringify(body). */
  raw?: string | Uint8Array<ArrayBuffer>;
  /** A Content-Type to send; by default none is set, so fetch labels a string body text/plain as Cloudflare's echo example does. */
  contentType?: string;
  /** The Authorization header instead of the client's own; null sends none. */
  authorization?: string | null;
  headers?: Record<string, string>;
}

const fixture = loadFixture();

/**
 * The Cloudflare Realtime SFU HTTPS API of a Switchyard node, called with
 * plain fetch the way Cloudflare's examples call it: `Authorization: Bearer
 * <secret>` and a JSON string body with no Content-Type. Every JSON response
 * body is checked against the OpenAPI fixture (openapiShape.ts) before it is
 * returned, and `checked` records which operation answered which status.
 */
export class CloudflareApi {
  constructor(
    readonly server: string,
    readonly appId: string,
    readonly secret: string | undefined,
    private readonly allowed: readonly AllowedDifference[],
    /** `${operation} ${status}` of every checked response ("PUT /apps/{appId}/sessions/{sessionId}/renegotiate 200"). */
    readonly checked: Set<string> = new Set(),
    /** The allowed differences some response used: `${operation} ${status} ${path}`. */
    readonly usedDifferences: Set<string> = new Set(),
  ) {}

  get base(): string {
    return `${this.server}/v1/apps/${encodeURIComponent(this.appId)}`;
  }

  /** One call; `path` is what follows /v1/apps/{appId} ("/sessions/new"). */
  async call(method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH', path: string, body?: unknown, options: CallOptions = {}): Promise<CfResponse> {
    const headers: Record<string, string> = { ...options.headers };
    const authorization = options.authorization === undefined ? (this.secret ? `Bearer ${this.secret}` : undefined) : options.authorization;
    if (authorization) headers.authorization = authorization;
    if (options.contentType) headers['content-type'] = options.contentType;
    const payload = options.raw ?? (body === undefined ? undefined : JSON.stringify(body));
    const response = await fetch(`${this.base}${path}`, { method, headers, signal: AbortSignal.timeout(10_000), ...(payload !== undefined ? { body: payload } : {}) });
    const text = await response.text();
    expect(response.headers.get('content-type'), `${method} ${path}: ${text}`).toMatch(/^application\/json/);
    const parsed: unknown = JSON.parse(text);
    const request = { method, path: `/v1/apps/${this.appId}${path}` };
    const check = checkResponse(fixture, request, response.status, parsed, this.allowed);
    expect(check.problems, `${method} ${path} answered ${response.status} ${text.slice(0, 600)}`).toEqual([]);
    this.checked.add(`${check.operation ?? `(no operation) ${method} ${path}`} ${response.status}`);
    for (const used of check.used) this.usedDifferences.add(`${check.operation} ${response.status} ${used}`);
    return { status: response.status, headers: response.headers, body: parsed };
  }

  /** POST sessions/new: with no body, or with the client's offer; `query` is the query string. */
  newSession(offerSdp?: string, query = ''): Promise<CfResponse> {
    return this.call('POST', `/sessions/new${query}`, offerSdp === undefined ? undefined : { sessionDescription: { type: 'offer', sdp: offerSdp } });
  }
}
