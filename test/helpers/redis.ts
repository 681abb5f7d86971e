import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { connectRedis } from '../../src/cluster/redis.js';

/** A TCP port free on loopback now. */
export async function freeTcpPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (!address || typeof address === 'string') throw new Error('no port');
  return address.port;
}

export interface TestRedis {
  readonly url: string;
  readonly port: number;
  /** A client of its own, set up as a node's (connectRedis), disconnected by close(). */
  client(): Promise<Redis>;
  /** Stops the server (SIGTERM) and waits for it; clients keep trying to reconnect. */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty (no persistence). */
  start(): Promise<void>;
  /** Disconnects the clients and stops the server, for good. */
  close(): Promise<void>;
  /** Sends the server a signal (SIGSTOP and SIGCONT: Redis stalls and comes back with its data). */
  signal(signal: NodeJS.Signals): void;
}

/**
 * Debian's redis-server, started for one test file on a free loopback port:
 * no persistence, nothing shared with any other test or Redis on the machine.
 */
export async function startRedis(options: { bind?: string } = {}): Promise<TestRedis> {
  const host = options.bind ?? '127.0.0.1';
  const binary = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';
  if (!existsSync(binary)) throw new Error(`no redis-server at ${binary}: apt-get install redis-server (or set REDIS_SERVER)`);
  const port = await freeTcpPort();
  const clients: Redis[] = [];
  let child: ChildProcess | undefined;

  const start = async () => {
    // Bound to one address (loopback, or a test bridge's), so protected mode has nothing to protect.
    child = spawn(binary, ['--port', String(port), '--bind', host, '--protected-mode', 'no', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const probe = new Redis({ port, host, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    probe.on('error', () => undefined);
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        await probe.connect();
        await probe.ping();
        probe.disconnect();
        return;
      } catch {
        if (Date.now() > deadline) throw new Error(`redis-server did not start on port ${port}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  };

  const stop = async () => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      running.once('exit', () => resolve());
      running.kill('SIGTERM');
    });
  };

  await start();
  return {
    url: `redis://${host}:${port}`,
    port,
    async client() {
      // Connection errors are expected while a test has stopped the server.
      const redis = await connectRedis(`redis://${host}:${port}`, () => undefined);
      clients.push(redis);
      return redis;
    },
    stop,
    start,
    signal: (signal) => void child?.kill(signal),
    async close() {
      for (const client of clients.splice(0)) client.disconnect();
      await stop();
    },
  };
}
