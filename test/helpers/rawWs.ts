import WebSocket from 'ws';

/**
 * A graphql-transport-ws client with nothing in between: the test decides
 * exactly how its connection ends (a close frame, a dropped TCP connection,
 * or a socket that stops reading).
 */
export interface RawWsClient {
  readonly socket: WebSocket;
  /** Messages of type next, in arrival order. */
  readonly received: unknown[];
  /** The close code, once closed. */
  closeCode: number | undefined;
  subscribe(id: string, query: string, variables?: Record<string, unknown>): void;
  closed(): Promise<number>;
}

/** options.autoPong false: a client whose network vanished, which never answers the server's WebSocket pings. */
export async function openRawWs(url: string, connectionParams: Record<string, unknown> = {}, options: { autoPong?: boolean } = {}): Promise<RawWsClient> {
  const socket = new WebSocket(`${url.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws', { autoPong: options.autoPong ?? true });
  const client: RawWsClient = {
    socket,
    received: [],
    closeCode: undefined,
    subscribe(id, query, variables = {}) {
      socket.send(JSON.stringify({ id, type: 'subscribe', payload: { query, variables } }));
    },
    closed: () =>
      client.closeCode !== undefined ? Promise.resolve(client.closeCode) : new Promise((resolve) => socket.once('close', (code) => resolve(code))),
  };
  socket.on('close', (code) => {
    client.closeCode = code;
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.once('open', () => {
      socket.send(JSON.stringify({ type: 'connection_init', payload: connectionParams }));
    });
    socket.on('message', (data) => {
      const message = JSON.parse(String(data)) as { type: string; payload?: unknown };
      if (message.type === 'connection_ack') resolve();
      else if (message.type === 'next') client.received.push(message.payload);
      else if (message.type === 'ping') socket.send(JSON.stringify({ type: 'pong' }));
    });
    socket.once('close', (code) => reject(new Error(`closed with ${code} before connection_ack`)));
  });
  return client;
}
