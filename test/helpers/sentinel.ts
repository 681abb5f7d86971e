import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freeTcpPort } from './redis.js';

/** The name the test's Sentinels monitor the primary under (REDIS_SENTINEL_MASTER). */
export const MASTER_NAME = 'switchyard';

export interface TestSentinelRedis {
  /** REDIS_SENTINELS for the nodes: `127.0.0.1:port,…`. */
  readonly sentinels: string;
  readonly primaryPort: number;
  readonly replicaPort: number;
  readonly sentinelPorts: number[];
  /** A plain client of one server or Sentinel (no retries), connected; disconnected by close(). */
  client(port: number): Promise<Redis>;
  /** Sends one of the servers (primary, replica, Sentinel) a signal. */
  signal(port: number, signal: NodeJS.Signals): void;
  /** Where the first Sentinel says the primary is now. */
  primaryNow(): Promise<number>;
  /** The log lines of the Sentinels, for a timeline or a failure message. */
  sentinelLog(): Promise<string>;
  /** Stops every server and Sentinel and removes their directory. */
  close(): Promise<void>;
}

/**
 * Debian's redis-server as a replicated Redis with Sentinels, for one test
 * file: a primary, one replica (`--replicaof`), and three Sentinels
 * (`redis-server <conf> --sentinel`, quorum 2) on free loopback ports, in a
 * temporary directory of their own (Sentinels rewrite their config file; the
 * replica writes the RDB of its first sync). A primary that stops answering
 * is down after `downAfterMs`, and the replica promoted about a second later.
 */
export async function startSentinelRedis(options: { downAfterMs?: number } = {}): Promise<TestSentinelRedis> {
  const binary = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';
  if (!existsSync(binary)) throw new Error(`no redis-server at ${binary}: apt-get install redis-server (or set REDIS_SERVER)`);
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-sentinel-'));
  const children = new Map<number, ChildProcess>();
  const clients: Redis[] = [];
  const [primaryPort, replicaPort, ...sentinelPorts] = await distinctPorts(5);

  const spawnServer = (port: number, args: string[]) => {
    const child = spawn(binary, args, { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
    children.set(port, child);
  };
  const client = (port: number) => {
    const redis = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, enableOfflineQueue: false });
    redis.on('error', () => undefined);
    clients.push(redis);
    return redis;
  };
  const close = async () => {
    for (const redis of clients.splice(0)) redis.disconnect();
    await Promise.all(
      [...children.values()].map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGCONT');
        child.kill('SIGKILL');
        await exited;
      }),
    );
    await rm(dir, { recursive: true, force: true });
  };

  try {
    // Bound to loopback, so protected mode has nothing to protect; no persistence, as the other test Redis.
    const server = (port: number) => ['--port', String(port), '--bind', '127.0.0.1', '--protected-mode', 'no', '--save', '', '--appendonly', 'no', '--dir', dir, '--logfile', join(dir, `redis-${port}.log`)];
    spawnServer(primaryPort!, server(primaryPort!));
    spawnServer(replicaPort!, [...server(replicaPort!), '--replicaof', '127.0.0.1', String(primaryPort)]);
    const replica = client(replicaPort!);
    await poll('the replica to be in sync with the primary', async () => /master_link_status:up/.test(await connected(replica).info('replication')));
    for (const port of sentinelPorts) {
      const conf = join(dir, `sentinel-${port}.conf`);
      await writeFile(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          'protected-mode no',
          `dir ${dir}`,
          `logfile ${join(dir, `sentinel-${port}.log`)}`,
          `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${primaryPort} 2`,
          `sentinel down-after-milliseconds ${MASTER_NAME} ${options.downAfterMs ?? 1000}`,
          `sentinel failover-timeout ${MASTER_NAME} 5000`,
          '',
        ].join('\n'),
      );
      spawnServer(port, [conf, '--sentinel']);
    }
    // A failover needs each Sentinel to know the replica and the other Sentinels (hello messages, every 2 s).
    for (const port of sentinelPorts) {
      const sentinel = client(port);
      await poll(`Sentinel ${port} to know the replica and the other Sentinels`, async () => {
        const redis = connected(sentinel);
        const [replicas, others] = (await Promise.all([redis.call('SENTINEL', 'REPLICAS', MASTER_NAME), redis.call('SENTINEL', 'SENTINELS', MASTER_NAME)])) as [unknown[], unknown[]];
        return replicas.length === 1 && others.length === sentinelPorts.length - 1;
      });
    }
  } catch (error) {
    await close();
    throw error;
  }

  const first = client(sentinelPorts[0]!);
  return {
    sentinels: sentinelPorts.map((port) => `127.0.0.1:${port}`).join(','),
    primaryPort: primaryPort!,
    replicaPort: replicaPort!,
    sentinelPorts,
    async client(port) {
      const redis = client(port);
      await redis.connect();
      return redis;
    },
    signal: (port, signal) => void children.get(port)?.kill(signal),
    async primaryNow() {
      if (first.status !== 'ready') await first.connect();
      const [, port] = (await first.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER_NAME)) as [string, string];
      return Number(port);
    },
    async sentinelLog() {
      const logs = await Promise.all(sentinelPorts.map((port) => readFile(join(dir, `sentinel-${port}.log`), 'utf8').catch(() => '')));
      return logs.join('');
    },
    close,
  };
}

/** Connects a lazy client on first use, and again after a refused attempt (commands fail at once while it is not connected). */
function connected(redis: Redis): Redis {
  if (redis.status === 'wait' || redis.status === 'end') void redis.connect().catch(() => undefined);
  return redis;
}

async function poll(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function distinctPorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freeTcpPort());
  return [...ports];
}
