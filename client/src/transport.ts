import { createClient, type Client } from 'graphql-ws';
import { codeOf, SwitchyardError } from './errors.js';

/** What the SDK needs from a GraphQL client; bring your own (urql, Apollo, …) by implementing it. */
export interface Transport {
  /** Runs a query or mutation; rejects with a SwitchyardError carrying the contract code. */
  request<T>(query: string, variables?: Record<string, unknown>): Promise<T>;
  /** Starts a subscription; returns what stops it. */
  subscribe<T>(query: string, variables: Record<string, unknown>, sink: SubscriptionSink<T>): () => void;
  /** Closes connections the transport opened. */
  dispose(): void;
}

export interface SubscriptionSink<T> {
  next(data: T): void;
  error(error: SwitchyardError): void;
  complete?(): void;
}

/** An app secret is for backends; browsers use short-lived client tokens, possibly refreshed by a function. */
export type TokenSource = string | (() => string | Promise<string>);

export interface HttpTransportOptions {
  /** The Switchyard endpoint: https://sfu.example.com or https://sfu.example.com/graphql. */
  url: string;
  /** Sent as `Authorization: Bearer …` and in graphql-ws connectionParams; none in development mode. */
  token?: TokenSource;
  /** For environments without a global WebSocket (Node before 22). */
  webSocketImpl?: unknown;
}

interface GraphQLResponse<T> {
  data?: T | null;
  errors?: { message: string; extensions?: { code?: unknown } }[];
}

const endpoint = (url: string) => (/\/graphql\/?$/.test(url) ? url.replace(/\/$/, '') : `${url.replace(/\/$/, '')}/graphql`);

async function tokenOf(source: TokenSource | undefined): Promise<string | undefined> {
  return typeof source === 'function' ? source() : source;
}

/** GraphQL over HTTP POST for queries and mutations, graphql-ws for subscriptions (opened on first use). */
export function httpTransport(options: HttpTransportOptions): Transport {
  const url = endpoint(options.url);
  let ws: Client | undefined;
  const socket = () =>
    (ws ??= createClient({
      url: url.replace(/^http/, 'ws'),
      lazy: true,
      retryAttempts: 5,
      // Called at every (re)connection, so a refreshed token is used after the old one expired.
      connectionParams: async () => {
        const token = await tokenOf(options.token);
        return token ? { authorization: `Bearer ${token}` } : {};
      },
      ...(options.webSocketImpl ? { webSocketImpl: options.webSocketImpl } : {}),
    }));

  return {
    async request<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
      const token = await tokenOf(options.token);
      const body = JSON.stringify({ query, variables });
      let response: Response;
      try {
        response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
          body,
          // Lets a small request (leave on page hide) outlive the page; browsers cap keepalive bodies at 64 KiB in flight.
          keepalive: body.length < 16_384,
        });
      } catch (cause) {
        throw new SwitchyardError('UNAVAILABLE', `Switchyard is not reachable at ${url}`, { cause });
      }
      let result: GraphQLResponse<T>;
      try {
        result = (await response.json()) as GraphQLResponse<T>;
      } catch (cause) {
        throw new SwitchyardError(response.status === 413 ? 'LIMIT_EXCEEDED' : 'UNAVAILABLE', `Switchyard answered HTTP ${response.status} without a GraphQL result`, { cause });
      }
      const first = result.errors?.[0];
      if (first) throw new SwitchyardError(codeOf(first), first.message);
      if (!result.data) throw new SwitchyardError('INTERNAL', 'Switchyard answered without data');
      return result.data;
    },

    subscribe<T>(query: string, variables: Record<string, unknown>, sink: SubscriptionSink<T>): () => void {
      return socket().subscribe<T>(
        { query, variables },
        {
          next: (result) => {
            const first = result.errors?.[0];
            if (first) sink.error(new SwitchyardError(codeOf(first), first.message));
            else if (result.data) sink.next(result.data as T);
          },
          error: (error) => sink.error(toSwitchyardError(error)),
          complete: () => sink.complete?.(),
        },
      );
    },

    dispose(): void {
      void ws?.dispose();
      ws = undefined;
    },
  };
}

/** graphql-ws reports GraphQL errors, a CloseEvent or an Error; all become a SwitchyardError. */
function toSwitchyardError(error: unknown): SwitchyardError {
  if (Array.isArray(error) && error.length > 0) return new SwitchyardError(codeOf(error[0]), String(error[0].message));
  const close = error as { code?: unknown; reason?: unknown };
  if (typeof close?.code === 'number') {
    const reason = typeof close.reason === 'string' ? close.reason : '';
    const code = close.code === 4401 || reason.startsWith('UNAUTHENTICATED') ? 'UNAUTHENTICATED' : 'UNAVAILABLE';
    return new SwitchyardError(code, `subscription connection closed (${close.code}${reason ? `: ${reason}` : ''})`);
  }
  return new SwitchyardError('UNAVAILABLE', error instanceof Error ? error.message : 'subscription failed', { cause: error });
}
