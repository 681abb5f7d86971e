import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { gqlOk } from '../helpers/graphql.js';
import { waitFor } from '../helpers/media.js';
import { buildOnce } from '../helpers/nodeProcess.js';
import { freeRtcPortRange } from '../helpers/ports.js';
import { freeTcpPort } from '../helpers/redis.js';

/**
 * Issue 23: a node whose stdout reader went away (the process that started
 * it died) hung for ever after SIGTERM: pino's exit handler retried the last
 * log line against EPIPE every 100 ms. A node must end within its drain
 * deadline plus a bound whatever happens to its stdout or its stop steps,
 * and say on stderr why when it could not stop cleanly. Each test starts a
 * real node (`node dist/src/main.js`, two mediasoup workers) with stdout and
 * stderr pipes, closes the reading end of stdout, then signals it.
 * Linux only: the process tree is read from /proc.
 */
const ROOT = join(import.meta.dirname, '../..');
const DRAIN_TIMEOUT_MS = 1000;
/** src/main.ts: SHUTDOWN_TIMEOUT_MS, and the watchdog's kill after LOG_FLUSH_MS + WATCHDOG_MARGIN_MS more. */
const SHUTDOWN_TIMEOUT_MS = 10_000;
const WATCHDOG_AFTER_MS = SHUTDOWN_TIMEOUT_MS + 1000 + 2000;
/** Leeway for the exit itself and a busy 2-core machine. */
const SLACK_MS = 3000;

interface Exit {
  status: number | null;
  signal: NodeJS.Signals | null;
  /** From the signal to the exit. */
  ms: number;
}

interface TestNode {
  child: ChildProcess & { pid: number };
  url: string;
  /** Its mediasoup workers, at start. */
  workers: number[];
  stderr(): string;
  /** Destroys the parent's end of its stdout: every write of the node now fails with EPIPE. */
  closeStdoutReader(): void;
  /** Sends `signal` and resolves on the exit, timed from the signal; SIGKILLs the node if it is still there after `giveUpMs`. */
  signalAndWait(signal: NodeJS.Signals, giveUpMs: number): Promise<Exit>;
}

const started: TestNode[] = [];
const sockets: Socket[] = [];

const childrenOf = (pid: number): number[] => {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
};

/** Gone, or a zombie nobody reaped yet: either way it runs no more. */
const running = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
};

async function startNode(): Promise<TestNode> {
  const port = await freeTcpPort();
  const child = spawn(process.execPath, ['dist/src/main.js'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      WORKERS: '2',
      RTC_PORT: String(await freeRtcPortRange(2)),
      LOG_LEVEL: 'info',
      DRAIN_TIMEOUT_MS: String(DRAIN_TIMEOUT_MS),
    },
  }) as TestNode['child'];
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ at: number; status: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (status, signal) => resolve({ at: Date.now(), status, signal })),
  );
  const node: TestNode = {
    child,
    url: `http://127.0.0.1:${port}`,
    workers: [],
    stderr: () => stderr,
    closeStdoutReader: () => child.stdout!.destroy(),
    async signalAndWait(signal, giveUpMs) {
      const sent = Date.now();
      child.kill(signal);
      const timer = setTimeout(() => {
        child.kill('SIGCONT');
        child.kill('SIGKILL');
      }, giveUpMs);
      const { at, status, signal: by } = await exited;
      clearTimeout(timer);
      return { status, signal: by, ms: at - sent };
    },
  };
  started.push(node);
  await waitFor('"Switchyard is up"', () => stdout.includes('Switchyard is up') || child.exitCode !== null, 30_000).catch((error: Error) => {
    throw new Error(`${error.message}; its output:\n${stdout}${stderr}`);
  });
  expect(child.exitCode, stdout + stderr).toBeNull();
  node.workers = childrenOf(child.pid);
  expect(node.workers).toHaveLength(2);
  return node;
}

const createSession = async (node: TestNode): Promise<string> =>
  (await gqlOk<{ createSession: { session: { id: string } } }>(node.url, 'mutation { createSession { session { id } } }')).createSession.session.id;

async function expectGone(pids: number[], what: string): Promise<void> {
  await waitFor(what, () => pids.every((pid) => !running(pid)), 5000);
}

/** Exit watchdogs (src/process/exitWatchdog.ts: `node -e <program> <pid>`) still running for this node. */
const watchdogsOf = (node: TestNode): number[] =>
  readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((name) => {
      try {
        const argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
        return argv[1] === '-e' && argv[2]?.includes('exit watchdog') && argv[3] === String(node.child.pid) && running(Number(name));
      } catch {
        return false;
      }
    })
    .map(Number);

/** Its workers end with it, and its exit watchdog ends by itself. */
async function expectAllGone(node: TestNode): Promise<void> {
  await expectGone(node.workers, 'its mediasoup workers to end');
  await waitFor('its exit watchdog to end', () => watchdogsOf(node).length === 0, 5000);
}

beforeAll(() => buildOnce(), 150_000);

afterEach(() => {
  for (const socket of sockets.splice(0)) socket.destroy();
  for (const node of started.splice(0)) {
    for (const pid of [node.child.pid, ...childrenOf(node.child.pid), ...node.workers]) {
      if (!running(pid)) continue;
      try {
        process.kill(pid, 'SIGCONT');
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
});

describe('a node ends after SIGTERM or SIGINT when its stdout reader is gone', () => {
  it('SIGTERM without sessions: exits 0 at once, its log goes on on stderr', { timeout: 60_000 }, async () => {
    const node = await startNode();
    node.closeStdoutReader();
    // The shutdown's own lines are the first to meet EPIPE (before the fix: "stopped" retried every 100 ms, for ever).
    const exit = await node.signalAndWait('SIGTERM', 30_000);
    expect(exit, node.stderr()).toMatchObject({ status: 0, signal: null });
    expect(exit.ms).toBeLessThan(SLACK_MS);
    expect(node.stderr()).toContain('stdout failed (EPIPE); logging to stderr from here');
    expect(node.stderr()).toContain('"reason":"SIGTERM","msg":"shutting down"');
    expect(node.stderr()).toContain('"msg":"stopped"');
    await expectAllGone(node);
  });

  it('SIGINT with live sessions: closes them and exits 0 at once', { timeout: 60_000 }, async () => {
    const node = await startNode();
    await createSession(node);
    await createSession(node);
    node.closeStdoutReader();
    const exit = await node.signalAndWait('SIGINT', 30_000);
    expect(exit, node.stderr()).toMatchObject({ status: 0, signal: null });
    expect(exit.ms).toBeLessThan(SLACK_MS);
    expect(node.stderr().match(/"reason":"the node stopped".*"msg":"session closed"/g)).toHaveLength(2);
    expect(node.stderr()).toContain('"msg":"stopped"');
    await expectAllGone(node);
  });

  it('SIGTERM with a live session: drains until DRAIN_TIMEOUT_MS, then exits 0', { timeout: 60_000 }, async () => {
    const node = await startNode();
    node.closeStdoutReader();
    // Its "session created" line is written after the reader went away.
    await createSession(node);
    const exit = await node.signalAndWait('SIGTERM', 30_000);
    expect(exit, node.stderr()).toMatchObject({ status: 0, signal: null });
    expect(exit.ms).toBeGreaterThanOrEqual(DRAIN_TIMEOUT_MS);
    expect(exit.ms).toBeLessThan(DRAIN_TIMEOUT_MS + SLACK_MS);
    expect(node.stderr()).toContain('drain deadline reached');
    expect(node.stderr()).toContain('"msg":"stopped"');
    await expectAllGone(node);
  });

  it('a stop step that hangs: exits 1 after SHUTDOWN_TIMEOUT_MS and says why on stderr', { timeout: 60_000 }, async () => {
    const node = await startNode();
    // A graphql-ws client that stops reading: the server's close frame is
    // never answered, and closing the API waits for the close handshake
    // (ws gives a client 30 s). If that wait is ever bounded below
    // SHUTDOWN_TIMEOUT_MS, this test needs another step that hangs.
    const { port } = new URL(node.url);
    const socket = connect(Number(port), '127.0.0.1');
    sockets.push(socket);
    socket.write(
      `GET /graphql HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n',
    );
    const head = await new Promise<string>((resolve) => socket.once('data', (chunk: Buffer) => resolve(chunk.toString())));
    expect(head).toMatch(/^HTTP\/1\.1 101 /);
    socket.pause();
    node.closeStdoutReader();
    const exit = await node.signalAndWait('SIGTERM', 40_000);
    expect(exit, node.stderr()).toMatchObject({ status: 1, signal: null });
    expect(exit.ms).toBeGreaterThanOrEqual(SHUTDOWN_TIMEOUT_MS);
    expect(exit.ms).toBeLessThan(SHUTDOWN_TIMEOUT_MS + SLACK_MS);
    expect(node.stderr()).toContain(`switchyard: shutdown timed out after ${SHUTDOWN_TIMEOUT_MS} ms; exiting with status 1`);
    await expectAllGone(node);
  });

  it('a node that cannot run at all mid-shutdown (SIGSTOP): its exit watchdog kills it on time', { timeout: 60_000 }, async () => {
    const node = await startNode();
    await createSession(node);
    node.closeStdoutReader();
    const exit = node.signalAndWait('SIGTERM', 40_000);
    // Draining, with its watchdog process up. Then nothing in the node
    // runs: no timer, no worker thread, no exit.
    await waitFor('the exit watchdog', () => watchdogsOf(node).length === 1, 5000);
    expect(childrenOf(node.child.pid)).toContain(watchdogsOf(node)[0]);
    node.child.kill('SIGSTOP');
    const { status, signal, ms } = await exit;
    expect({ status, signal }, node.stderr()).toEqual({ status: null, signal: 'SIGKILL' });
    const bound = DRAIN_TIMEOUT_MS + WATCHDOG_AFTER_MS;
    expect(ms).toBeGreaterThanOrEqual(bound - 200);
    expect(ms).toBeLessThan(bound + SLACK_MS);
    await waitFor('the watchdog to say why', () => node.stderr().includes('its exit watchdog killed it (SIGKILL)'), 5000);
    await expectAllGone(node);
  });
});
