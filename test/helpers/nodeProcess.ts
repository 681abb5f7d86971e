import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from './media.js';
import { freeRtcPortRange } from './ports.js';
import { freeTcpPort } from './redis.js';

const ROOT = join(import.meta.dirname, '../..');

/** `npm run build` (what `npm start` runs first), once per test file that starts node processes. */
export async function buildOnce(): Promise<void> {
  try {
    await promisify(execFile)('npm', ['run', 'build', '--silent'], { cwd: ROOT, timeout: 120_000 });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`npm run build failed:\n${stdout ?? ''}${stderr ?? ''}`);
  }
}

export interface NodeProcess {
  readonly name: string;
  readonly url: string;
  readonly child: ChildProcess;
  output(): string;
  /** Sends a signal (SIGKILL, SIGSTOP, SIGCONT, SIGTERM). */
  signal(signal: NodeJS.Signals): void;
  /** SIGTERM and wait for the exit (SIGKILL after 10 s). */
  stop(): Promise<void>;
}

/**
 * A Switchyard node as a user starts one (`node dist/src/main.js`, which
 * `npm start` execs), on 127.0.0.1 with its own PORT and RTC_PORT, resolved
 * once its "Switchyard is up" line is out.
 */
export async function startNodeProcess(
  name: string,
  env: Record<string, string>,
  /** Run it in this network namespace (`ip netns exec`), serving on `host` there. */
  where: { netns: string; host: string } | undefined = undefined,
): Promise<NodeProcess> {
  const workers = Number(env.WORKERS ?? 1);
  const host = where?.host ?? '127.0.0.1';
  // A namespace of its own has every port free.
  // A restarted node keeps its ports when the test gives them (PORT, RTC_PORT): clients reach it at the same URL.
  const port = where ? 4000 : env.PORT ? Number(env.PORT) : await freeTcpPort();
  const rtcPort = where ? 40000 : env.RTC_PORT ? Number(env.RTC_PORT) : await freeRtcPortRange(workers);
  const command = where ? ['ip', ['netns', 'exec', where.netns, process.execPath, 'dist/src/main.js']] as const : [process.execPath, ['dist/src/main.js']] as const;
  const child = spawn(command[0], [...command[1]], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, HOST: host, WORKERS: String(workers), LOG_LEVEL: 'info', ...env, PORT: String(port), RTC_PORT: String(rtcPort) },
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  try {
    await waitFor(`node ${name} to start`, () => output.includes('Switchyard is up') || child.exitCode !== null, 30_000);
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`${(error as Error).message}; its output:\n${output}`);
  }
  if (child.exitCode !== null) throw new Error(`node ${name} exited with ${child.exitCode}:\n${output}`);
  return {
    name,
    url: `http://${host}:${port}`,
    child,
    output: () => output,
    signal: (signal) => void child.kill(signal),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGCONT');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
