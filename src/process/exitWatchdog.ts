import { spawn } from 'node:child_process';
import type { Socket } from 'node:net';

/**
 * The watchdog's program, run by a second, small Node process (`node -e`).
 * Each line on its stdin is a deadline (epoch ms), replacing the previous
 * one. When the deadline passes it SIGKILLs the node. End of stdin means the
 * node is gone, so it exits. It ignores the signals an operator or a terminal
 * may send it (it stops only at its deadline or when the node is gone).
 * After the kill it tries to say so on stderr, and kills itself if that write
 * hangs (a process.exit would wait for the stuck write).
 */
const PROGRAM = String.raw`
'use strict';
const { write } = require('node:fs');
const target = Number(process.argv[1]);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => {});
let timer;
let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  input += chunk;
  for (let end = input.indexOf('\n'); end >= 0; end = input.indexOf('\n')) {
    const deadline = Number(input.slice(0, end));
    input = input.slice(end + 1);
    if (!Number.isFinite(deadline)) continue;
    clearTimeout(timer);
    timer = setTimeout(fire, Math.max(0, deadline - Date.now()));
  }
});
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
function fire() {
  // Adopted by another parent: the node exited and its pid may be reused.
  if (process.ppid !== target) process.exit(0);
  try {
    process.kill(target, 'SIGKILL');
  } catch {}
  setTimeout(() => process.kill(process.pid, 'SIGKILL'), 500);
  const line = 'switchyard: pid ' + target + ' was still running past its shutdown deadline; its exit watchdog killed it (SIGKILL)\n';
  write(2, line, () => process.exit(0));
}
`;

export interface ExitWatchdog {
  /** The process is killed (SIGKILL) if it still runs `ms` from now; replaces any earlier deadline. */
  arm(ms: number): void;
}

/**
 * A bound on the node's exit that holds whatever state its main thread is
 * in. Why a separate process and not a timer or a worker thread: a timer
 * cannot fire while the main thread is blocked (issue 23: asleep in
 * sonic-boom's flushSync), and process.exit() stops worker threads before it
 * joins libuv's thread pool, so a worker's kill never comes while exit is
 * stuck behind a thread-pool write to a full pipe (both reproduced on Node
 * 20). A child process outlives both. Started when shutdown begins (a Node
 * process costs ~40 ms and some memory, paid only then); it ends by itself
 * when the node exits (its stdin closes), so a normal exit leaves nothing
 * behind. Returns undefined when it cannot be started (no fork): the
 * in-process timeout still bounds a shutdown whose main thread runs.
 */
export function startExitWatchdog(onError: (error: Error) => void): ExitWatchdog | undefined {
  const env = { ...process.env };
  // The node's own loaders (tsx under `npm run dev`) are not needed to run plain JavaScript.
  delete env.NODE_OPTIONS;
  let input: Socket;
  try {
    const child = spawn(process.execPath, ['-e', PROGRAM, String(process.pid)], {
      stdio: ['pipe', 'ignore', 'inherit'],
      env,
      // A group of its own: a second Ctrl-C (SIGINT to the terminal's group) must not end it while it boots.
      detached: true,
    });
    child.on('error', onError);
    child.unref();
    input = child.stdin as Socket;
  } catch (error) {
    onError(error as Error);
    return undefined;
  }
  // Its pipe must keep neither the event loop alive nor the process from exiting on an EPIPE.
  input.on('error', () => undefined);
  input.unref();
  return { arm: (ms) => void input.write(`${Date.now() + Math.ceil(ms)}\n`) };
}
