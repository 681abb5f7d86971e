import { randomBytes, timingSafeEqual } from 'node:crypto';
import { ErrorCode } from '../../errors.js';

/**
 * Marks the operations the protocol adapters run in process, so that they may
 * ask for what only their protocol needs (a WHIP ingest session without ICE
 * consent checks) with a client token's credentials. The mark is random per
 * process and never leaves it: a request from outside cannot carry it.
 */
export const ADAPTER_HEADER = 'x-switchyard-adapter';
const adapterMark = randomBytes(32).toString('base64url');

/** Whether a request's ADAPTER_HEADER value is this process's mark. */
export function isAdapterCall(value: string | null | undefined): boolean {
  if (typeof value !== 'string' || value.length !== adapterMark.length) return false;
  return timingSafeEqual(Buffer.from(value), Buffer.from(adapterMark));
}

/** A failed GraphQL operation, as its first error says it. */
export interface OperationError {
  code: ErrorCode;
  message: string;
  /** The error's other extensions (adapterErrorCode). */
  extensions?: Record<string, unknown> | undefined;
}

export type OperationResult<T> = { data: T; error?: undefined } | { data?: undefined; error: OperationError };

/**
 * Runs one GraphQL operation with a caller's credentials. The HTTP protocols
 * (Cloudflare-compatible API, WHIP, WHEP) are adapters over the GraphQL API:
 * going through it gives them the same access checks, rate limits, error
 * codes and, in a cluster, the forwarding of calls to a session's node.
 */
export type ExecuteOperation = <T>(query: string, variables: Record<string, unknown>, authorization: string | undefined) => Promise<OperationResult<T>>;

/** The part of a graphql-yoga server this needs: its fetch entry point. */
export interface FetchHandler {
  fetch(input: string, init: RequestInit): Promise<Response> | Response;
}

const contractCodes = new Set<string>(Object.values(ErrorCode));

export function inProcessGraphQL(yoga: FetchHandler, graphqlPath: string): ExecuteOperation {
  return async <T>(query: string, variables: Record<string, unknown>, authorization: string | undefined): Promise<OperationResult<T>> => {
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/graphql-response+json', [ADAPTER_HEADER]: adapterMark };
    if (authorization) headers.authorization = authorization;
    const response = await yoga.fetch(`http://switchyard.internal${graphqlPath}`, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
    const body = (await response.json()) as { data?: T | null; errors?: { message: string; extensions?: { code?: string } & Record<string, unknown> }[] };
    const first = body.errors?.[0];
    if (first) {
      const code = contractCodes.has(String(first.extensions?.code)) ? (first.extensions?.code as ErrorCode) : ErrorCode.INTERNAL;
      const { code: _code, ...extensions } = first.extensions ?? {};
      return { error: { code, message: first.message, extensions } };
    }
    if (!body.data) return { error: { code: ErrorCode.INTERNAL, message: 'the operation returned no data' } };
    return { data: body.data };
  };
}
