import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode, SwitchyardError, unavailable } from '../errors.js';
import type { Cluster } from './Cluster.js';

/** Header that carries the cluster secret on calls between nodes. */
export const INTERNAL_HEADER = 'x-switchyard-cluster';
/** Where nodes call each other (never for clients: every call needs the cluster secret). */
export const INTERNAL_PATH = '/internal/';
const MAX_BODY_BYTES = 64 * 1024;
const CALL_TIMEOUT_MS = 10_000;

export type InternalHandler = (body: Record<string, unknown>) => Promise<unknown>;

/** Calls `path` of another node with a JSON body; its refusal comes back as the same SwitchyardError. */
export async function callNode(cluster: Cluster, url: string, path: string, body: unknown): Promise<Record<string, unknown>> {
  let response: Response;
  try {
    response = await fetch(`${url}${INTERNAL_PATH}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [INTERNAL_HEADER]: cluster.internalToken },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
    });
  } catch (error) {
    throw unavailable(`node ${url} did not answer (${(error as Error).message})`);
  }
  const reply = (await response.json().catch(() => ({}))) as { result?: Record<string, unknown>; error?: { code: string; message: string } };
  if (!response.ok || reply.error) {
    const code = reply.error?.code && reply.error.code in ErrorCode ? (reply.error.code as ErrorCode) : ErrorCode.UNAVAILABLE;
    throw new SwitchyardError(code, reply.error?.message ?? `node ${url} answered ${response.status}`);
  }
  return reply.result ?? {};
}

/**
 * Serves other nodes' calls under INTERNAL_PATH: only with the cluster
 * secret (403 otherwise), JSON in and out, errors as { code, message }.
 * Answers true when the request was one of these.
 */
export function internalEndpoint(cluster: Cluster | undefined, handlers: Record<string, InternalHandler>) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    if (!req.url?.startsWith(INTERNAL_PATH)) return false;
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const handler = handlers[req.url.slice(INTERNAL_PATH.length)];
    if (!cluster || req.method !== 'POST' || !handler) return reply(404, { error: { code: ErrorCode.BAD_REQUEST, message: 'no such internal call' } }), true;
    if (!cluster.isInternal(req.headers[INTERNAL_HEADER] as string | undefined)) {
      return reply(403, { error: { code: ErrorCode.FORBIDDEN, message: 'internal calls need the cluster secret' } }), true;
    }
    try {
      const body = JSON.parse(await readBody(req)) as Record<string, unknown>;
      reply(200, { result: await handler(body) });
    } catch (error) {
      const known = error instanceof SwitchyardError;
      reply(known ? 400 : 500, { error: { code: known ? error.code : ErrorCode.INTERNAL, message: (error as Error).message } });
    }
    return true;
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new SwitchyardError(ErrorCode.LIMIT_EXCEEDED, 'internal call body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString();
}
