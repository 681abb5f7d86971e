import { hostname } from 'node:os';
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/**
 * Bytes an output may hold that its reader has not taken yet. Past this,
 * lines are dropped (and counted) rather than growing the heap for a reader
 * that stopped reading.
 */
const MAX_PENDING_BYTES = 8 * 1024 * 1024;

/**
 * stdout or stderr, written through Node's own process.stdout/stderr. For a
 * pipe or socket (a supervisor, docker, journald) these write without
 * blocking: what the reader does not take waits in memory, and the process
 * can exit with it still waiting. A write error makes the output give up for
 * good: no retry, no throw.
 */
class Output {
  failure: string | undefined;

  constructor(private readonly stream: NodeJS.WriteStream) {
    // Without a listener an EPIPE here would be an uncaught exception.
    stream.on('error', (error: NodeJS.ErrnoException) => (this.failure ??= error.code ?? error.message));
  }

  get pending(): number {
    return this.stream.writableLength;
  }

  /** False when the output has failed; `onLost` gets back a text whose write failed later (EPIPE arrives asynchronously). */
  write(text: string, onLost?: (text: string) => void): boolean {
    if (this.failure !== undefined) return false;
    try {
      // A file is written synchronously and may throw (ENOSPC, EIO).
      this.stream.write(text, (error) => {
        if (!error) return;
        this.failure ??= (error as NodeJS.ErrnoException).code ?? error.message;
        onLost?.(text);
      });
      return true;
    } catch (error) {
      this.failure ??= (error as NodeJS.ErrnoException).code ?? String(error);
      return false;
    }
  }
}

/**
 * Where the node's logs go: stdout, or stderr once stdout failed, or nowhere
 * once both failed. Never blocks the process and never holds up its exit.
 *
 * Why not pino's default destination: issue 23. pino writes stdout through
 * sonic-boom with asynchronous fs.write calls and registers an exit handler
 * that calls sonic-boom's flushSync. flushSync retries a failed write after
 * a 100 ms Atomics.wait, forever, unless the error is an EAGAIN/EBUSY its
 * retry callback refuses (pino's accepts them): EPIPE from a stdout whose
 * reader is gone, EAGAIN from one whose reader stopped reading (both
 * reproduced). pino's EPIPE listener turns flushSync into a no-op,
 * but only once an asynchronous write has reported EPIPE back on the main
 * thread. A node whose stdout reader is gone and that logs nothing before a
 * signal therefore logs "shutting down" (its write still in the thread pool),
 * stops within the same turn of the event loop, logs "stopped" (buffered
 * behind it) and calls process.exit(0), whose flushSync then retries
 * "stopped" against EPIPE every 100 ms for ever: HTTP closed, the workers
 * zombies, the main thread in Atomics.wait and its shutdown timer unable to
 * fire. Reproduced and traced (strace: write(1, ..."stopped"...) = -EPIPE
 * every 100 ms); stop() itself succeeded. The same happens with "shutdown
 * failed" or "shutdown timed out" as the last line. Logger calls do not
 * throw in that mode (sonic-boom writes asynchronously and pino listens for
 * its 'error' event), so they were not the cause of a failing stop().
 * Writing through fs.write to a blocking fd also holds up process.exit,
 * which joins the thread pool: a write stuck in a full pipe keeps the
 * process alive however it tries to exit.
 */
export class LogDestination implements DestinationStream {
  private dropped = 0;
  private fellBack = false;

  constructor(private readonly outputs: readonly Output[]) {}

  write(line: string): void {
    for (const [index, output] of this.outputs.entries()) {
      if (output.failure !== undefined) continue;
      if (index > 0 && !this.fellBack) {
        this.fellBack = true;
        output.write(noticeLine(`stdout failed (${this.outputs[0]?.failure}); logging to stderr from here`));
      }
      // A slow reader is not a failed one: drop rather than switch outputs.
      if (output.pending > MAX_PENDING_BYTES) {
        this.dropped += 1;
        return;
      }
      if (this.dropped > 0 && output.pending < MAX_PENDING_BYTES / 2) {
        output.write(noticeLine(`${this.dropped} log lines dropped: the reader did not keep up`));
        this.dropped = 0;
      }
      // A line stdout could not take goes on to stderr.
      if (output.write(line, (lost) => this.write(lost))) return;
    }
  }

  /** pino's logger.flush(cb): calls back once what was written has left (or at most 1 s later). */
  flush(callback?: (error?: Error) => void): void {
    void this.flushed(1000).then(() => callback?.());
  }

  /** Resolves once every working output has handed its lines to the OS, or after timeoutMs whatever happens. */
  flushed(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    return new Promise((resolve) => {
      const check = () => {
        if (Date.now() >= deadline || this.outputs.every((o) => o.failure !== undefined || o.pending === 0)) resolve();
        else setTimeout(check, 10);
      };
      check();
    });
  }
}

/** A line in pino's format, for what the destination itself has to say. */
function noticeLine(msg: string): string {
  return `${JSON.stringify({ level: 40, time: Date.now(), pid: process.pid, hostname: hostname(), name: 'switchyard', msg })}\n`;
}

let outputs: { stdout: Output; stderr: Output } | undefined;
let destination: LogDestination | undefined;

/** One per process: every logger shares it, so lines keep their order. */
function processOutputs(): { stdout: Output; stderr: Output } {
  return (outputs ??= { stdout: new Output(process.stdout), stderr: new Output(process.stderr) });
}

/** The node's log destination (stdout, then stderr). */
export function logDestination(): LogDestination {
  const { stdout, stderr } = processOutputs();
  return (destination ??= new LogDestination([stdout, stderr]));
}

/** Structured JSON logs (pino): one line per event, cheap on the hot path. */
export function createLogger(level: string): Logger {
  return pino({ name: 'switchyard', level }, logDestination());
}

/** Waits, at most timeoutMs, for the log lines written so far to leave the process. */
export function flushLogs(timeoutMs: number): Promise<void> {
  return destination?.flushed(timeoutMs) ?? Promise.resolve();
}

/**
 * Writes a line to stderr for an operator, best effort: it never throws and,
 * to a pipe, never blocks (a terminal that stopped reading can still block
 * it; the exit watchdog bounds that).
 */
export function reportToStderr(text: string): void {
  processOutputs().stderr.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** Discards everything: the default of objects made outside a node (unit tests). */
export const silentLogger: Logger = pino({ level: 'silent' }, { write: () => undefined });
