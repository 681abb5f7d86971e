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

/** What a client hears when another node did not answer a call between nodes (the log names the node). */
export const NODE_DID_NOT_ANSWER = 'another node of the cluster did not answer; retry shortly';

/**
 * Refusals of the called node that are about the nodes themselves (a failure
 * there, a wrong cluster secret, a pipe address it does not take): answered
 * with a stable message, the details logged. Every other contract code is
 * about the client's request and passed on with the called node's message,
 * a SwitchyardError message written for clients.
 */
const ABOUT_THE_NODES = new Set<string>([ErrorCode.INTERNAL, ErrorCode.FORBIDDEN, ErrorCode.UNAUTHENTICATED]);
const contractCodes = new Set<string>(Object.values(ErrorCode));

/**
 * Calls `path` of another node with a JSON body. Its refusals about the
 * request come back as the same SwitchyardError; a node that does not
 * answer, or fails, is UNAVAILABLE or INTERNAL with a message that names no
 * node (the error reaches clients as a track's error; the node's URL and
 * fetch's own words go to the log).
 */
export async function callNode(cluster: Cluster, url: string, path: string, body: unknown): Promise<Record<string, unknown>> {
  let response: Response;
  let reply: { result?: Record<string, unknown>; error?: { code: string; message: string } };
  try {
    response = await fetch(`${url}${INTERNAL_PATH}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [INTERNAL_HEADER]: cluster.internalToken },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
    });
    reply = (await response.json().catch(() => ({}))) as typeof reply;
  } catch (error) {
    cluster.logger.warn({ err: error, node: url, call: path }, 'another node did not answer a call between nodes');
    throw unavailable(NODE_DID_NOT_ANSWER);
  }
  if (response.ok && !reply.error) return reply.result ?? {};
  const code = reply.error?.code;
  if (code !== undefined && contractCodes.has(code) && !ABOUT_THE_NODES.has(code) && typeof reply.error?.message === 'string') {
    throw new SwitchyardError(code as ErrorCode, reply.error.message);
  }
  cluster.logger.warn({ node: url, call: path, status: response.status, error: reply.error }, 'another node refused or failed a call between nodes');
  if (code === ErrorCode.INTERNAL) throw new SwitchyardError(ErrorCode.INTERNAL, 'another node of the cluster failed a call this needs (its log says why)');
  throw unavailable('another node of the cluster refused a call this needs (a cluster configuration problem: the nodes\' logs say which)');
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
      const body = parseBody(await readBody(req));
      reply(200, { result: await handler(body) });
    } catch (error) {
      if (error instanceof SwitchyardError) return reply(400, { error: { code: error.code, message: error.message } }), true;
      // mediasoup's words ("transport closed", a channel error) mean nothing to the caller's client: logged here, where they happened.
      cluster.logger.error({ err: error, call: req.url }, 'a call from another node failed');
      reply(500, { error: { code: ErrorCode.INTERNAL, message: 'internal error' } });
    }
    return true;
  };
}

function parseBody(text: string): Record<string, unknown> {
  try {
    const body = JSON.parse(text) as unknown;
    if (body && typeof body === 'object' && !Array.isArray(body)) return body as Record<string, unknown>;
  } catch {
    // Answered below, as any body that is not a JSON object.
  }
  throw new SwitchyardError(ErrorCode.BAD_REQUEST, 'an internal call takes a JSON object');
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
