import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/media.js';
import { freeRtcPortRange } from '../helpers/ports.js';

/**
 * `npm start`, then `kill <npm>` or Ctrl-C: node and every mediasoup worker
 * must end. npm runs the start script through `sh -c` (dash, which does not
 * exec a lone command) and forwards SIGTERM only to that shell, so before
 * `exec` in the script the shell died and left node and its workers running.
 * Linux only: the process tree is read from /proc.
 */
const ROOT = join(import.meta.dirname, '../..');

interface Proc {
  pid: number;
  ppid: number;
  comm: string;
  state: string;
}

/** One process from /proc/<pid>/stat, or undefined when it is gone. */
function proc(pid: number): Proc | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
  const close = stat.lastIndexOf(')');
  const [state, ppid] = stat.slice(close + 2).split(' ');
  return { pid, ppid: Number(ppid), comm: stat.slice(stat.indexOf('(') + 1, close), state: state as string };
}

/** A process's argv joined by spaces ('' once it is gone). */
function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

const childrenOf = (pid: number): Proc[] =>
  readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map((name) => proc(Number(name)))
    .filter((p): p is Proc => p !== undefined && p.ppid === pid);

/** Gone, or a zombie nobody reaped yet: either way it runs no more. */
const running = (pid: number) => {
  const p = proc(pid);
  return p !== undefined && p.state !== 'Z';
};

interface Started {
  npm: ChildProcess & { pid: number };
  node: number;
  workers: number[];
  output: () => string;
}

let started: Started | undefined;

/** `npm start` in its own process group (as a terminal would run it), once the node says it is up. */
async function npmStart(): Promise<Started> {
  const npm = spawn('npm', ['start', '--ignore-scripts'], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', WORKERS: '2', RTC_PORT: String(await freeRtcPortRange(2)), LOG_LEVEL: 'info' },
  });
  let output = '';
  npm.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  npm.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const pid = npm.pid as number;
  started = { npm: npm as Started['npm'], node: 0, workers: [], output: () => output };
  try {
    await waitFor('"Switchyard is up" from npm start', () => output.includes('Switchyard is up') || npm.exitCode !== null, 30_000);
  } catch (error) {
    throw new Error(`${(error as Error).message}; its output:\n${output}`);
  }
  expect(npm.exitCode, output).toBeNull();
  // With `exec` in the script node is npm's own child; without, a shell's.
  const descendants = (of: number): Proc[] => childrenOf(of).flatMap((p) => [p, ...descendants(p.pid)]);
  // Found by its command line: Node 24 names its main thread "MainThread", which is what /proc shows as comm.
  const node = descendants(pid).find((p) => commandLine(p.pid).includes('dist/src/main.js'))?.pid;
  if (node === undefined) throw new Error(`no node process under npm; its output:\n${output}`);
  const workers = childrenOf(node).filter((p) => p.comm.startsWith('mediasoup-work')).map((p) => p.pid);
  expect(workers).toHaveLength(2);
  started = { ...started, node, workers };
  return started;
}

/** Everything that ran under npm ends within a few seconds. */
async function expectAllGone({ npm, node, workers, output }: Started, alsoNpm: boolean): Promise<void> {
  const pids = [...(alsoNpm ? [npm.pid] : []), node, ...workers];
  try {
    await waitFor('npm, node and the mediasoup workers to end', () => pids.every((pid) => !running(pid)), 5_000);
  } catch (error) {
    const left = pids.filter(running).map((pid) => `${pid} ${proc(pid)?.comm}`);
    throw new Error(`${(error as Error).message}: still running ${left.join(', ')}; output:\n${output()}`);
  }
}

beforeAll(async () => {
  // What `npm start` runs first (prestart); the tests then skip it with --ignore-scripts.
  try {
    await promisify(execFile)('npm', ['run', 'build', '--silent'], { cwd: ROOT, timeout: 120_000 });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`npm run build failed:\n${stdout ?? ''}${stderr ?? ''}`);
  }
}, 150_000);

afterEach(() => {
  // A failed test must not leave a server behind: end npm's process group
  // (npm, any shell, node, the workers) and whatever of the tree left it.
  if (started) {
    try {
      process.kill(-started.npm.pid, 'SIGKILL');
    } catch {
      // The group is empty.
    }
    for (const pid of [started.node, ...started.workers]) if (pid && running(pid)) process.kill(pid, 'SIGKILL');
  }
  started = undefined;
});

describe('npm start ends with everything it started', () => {
  it('kill <pid of npm> (SIGTERM): npm forwards it to node, which stops its workers', { timeout: 60_000 }, async () => {
    const run = await npmStart();
    process.kill(run.npm.pid, 'SIGTERM');
    await expectAllGone(run, true);
    const up = run.output().split('\n').filter((line) => line.includes('Switchyard is up'));
    expect(up).toHaveLength(1);
    expect(JSON.parse(up[0]!)).toMatchObject({ level: 30, mode: 'development', api: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/graphql$/) });
    expect(run.output()).toContain('"reason":"SIGTERM"');
    expect(run.output()).toContain('"msg":"stopped"');
  });

  it('Ctrl-C (SIGINT to the process group): one graceful shutdown although node gets SIGINT twice', { timeout: 60_000 }, async () => {
    const run = await npmStart();
    process.kill(-run.npm.pid, 'SIGINT');
    await expectAllGone(run, true);
    expect(run.output()).toContain('"reason":"SIGINT"');
    expect(run.output()).toContain('"msg":"stopped"');
  });

  it('npm killed outright (SIGKILL): node notices its parent is gone and stops', { timeout: 60_000 }, async () => {
    const run = await npmStart();
    process.kill(run.npm.pid, 'SIGKILL');
    await expectAllGone(run, false);
    expect(run.output()).toContain('npm, the parent process, went away');
    expect(run.output()).toContain('"msg":"stopped"');
  });
});
