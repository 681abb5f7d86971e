import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy that holds every chunk for `oneWayMs` in each direction: a
 * far link (to Redis, between nodes) for processes on one machine, with no
 * root and no kernel support needed. Chunks keep their order (one delay for
 * all of them, so their timers fire in order).
 */
export async function startDelayProxy(target: { host: string; port: number }, oneWayMs: number): Promise<{ port: number; url: (scheme: string) => string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    for (const socket of [client, upstream]) {
      // No Nagle: a small write held for an ACK (delayed up to 40 ms) would add to the delay this proxy is for.
      socket.setNoDelay(true);
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => socket.destroy());
    }
    const relay = (from: Socket, to: Socket) => {
      from.on('data', (chunk) => setTimeout(() => to.writable && to.write(chunk), oneWayMs));
      from.on('end', () => setTimeout(() => to.end(), oneWayMs));
      from.on('close', () => setTimeout(() => to.destroy(), oneWayMs));
    };
    relay(client, upstream);
    relay(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: (scheme) => `${scheme}://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Times every GraphQL call made with fetch while it runs, by root field. */
export function timeGraphQLCalls(): { calls: { field: string; url: string; ms: number }[]; stop(): void } {
  const original = globalThis.fetch;
  const calls: { field: string; url: string; ms: number }[] = [];
  globalThis.fetch = async (input, init) => {
    const url = String(input instanceof Request ? input.url : input);
    const body = typeof init?.body === 'string' ? init.body : '';
    const field = /"query":"(?:mutation|query)[^{]*\{\s*(\w+)/.exec(body)?.[1];
    const started = performance.now();
    const response = await original(input, init);
    if (field && url.endsWith('/graphql')) {
      await response.clone().text();
      calls.push({ field, url, ms: performance.now() - started });
    }
    return response;
  };
  return { calls, stop: () => void (globalThis.fetch = original) };
}
