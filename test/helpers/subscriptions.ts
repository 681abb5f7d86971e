import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

/** A graphql-ws subscription that collects what it receives. */
export interface Collector<T> {
  readonly items: T[];
  readonly errors: unknown[];
  /** The server completed the subscription. */
  readonly done: boolean;
  /** Resolves once `count` items have arrived (or rejects after `timeoutMs`). */
  waitFor(count: number, timeoutMs?: number): Promise<T[]>;
  close(): Promise<void>;
}

export function wsClient(url: string, credential?: string): Client {
  return createClient({
    url: `${url.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    lazy: true,
    retryAttempts: 0,
    ...(credential ? { connectionParams: { authorization: `Bearer ${credential}` } } : {}),
  });
}

export function collect<T>(client: Client, query: string, variables: Record<string, unknown>, pick: (data: any) => T): Collector<T> {
  const items: T[] = [];
  const errors: unknown[] = [];
  let done = false;
  const dispose = client.subscribe(
    { query, variables },
    {
      next: (result) => {
        if (result.errors) errors.push(...result.errors);
        else items.push(pick(result.data));
      },
      error: (error) => errors.push(error),
      complete: () => {
        done = true;
      },
    },
  );
  return {
    items,
    errors,
    get done() {
      return done;
    },
    async waitFor(count, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (items.length < count) {
        if (errors.length) throw new Error(`subscription failed: ${JSON.stringify(errors)}`);
        if (Date.now() > deadline) throw new Error(`timed out with ${items.length} of ${count} events: ${JSON.stringify(items)}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return items.slice(0, count);
    },
    async close() {
      dispose();
    },
  };
}
