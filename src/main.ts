import { ConfigError, loadConfig } from './config/config.js';
import { createLogger, flushLogs, reportToStderr } from './logger.js';
import { startSwitchyard } from './app.js';
import { startExitWatchdog, type ExitWatchdog } from './process/exitWatchdog.js';

/** How often a node started by npm checks that npm is still its parent. */
const PARENT_CHECK_MS = 1000;
/** A shutdown that takes longer than this ends the process anyway. */
const SHUTDOWN_TIMEOUT_MS = 10_000;
/** The most the exit waits for log lines to leave (a reader that stopped reading loses the rest). */
const LOG_FLUSH_MS = 1000;
/**
 * How long after the in-process deadline (plus the log flush) the exit
 * watchdog kills the process: time for the timeout's own exit to happen
 * first when the main thread can still run it.
 */
const WATCHDOG_MARGIN_MS = 2000;

/** `npm start`: one SFU node on embedded defaults, configured by environment variables. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`switchyard: configuration error: ${error.message}`);
      process.exit(2);
    }
    throw error;
  }
  const logger = createLogger(config.logLevel);
  // startSwitchyard logs the one "Switchyard is up" line with the URLs.
  const node = await startSwitchyard(config, logger);
  let phase: 'up' | 'draining' | 'stopping' = 'up';
  let exiting = false;
  let watchdog: ExitWatchdog | undefined;
  let deadline: NodeJS.Timeout | undefined;
  /**
   * Ends the process: with `status` once the log lines have left (1 s at
   * most). A failure is written to stderr as well as to the log, plainly:
   * stdout may be the very thing that is gone (issue 23).
   */
  const exit = (status: number, problem?: string, error?: unknown) => {
    if (exiting) return;
    exiting = true;
    if (problem === undefined) logger.info('stopped');
    else {
      const detail = error === undefined ? '' : `: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`;
      reportToStderr(`switchyard: ${problem}${detail}; exiting with status ${status}`);
      logger.error({ err: error }, problem);
    }
    void flushLogs(LOG_FLUSH_MS).then(() => process.exit(status));
  };
  /**
   * From now on the process ends within `ms` (+ the log flush): by exit(1)
   * here when the main thread can run it, by the watchdog process (SIGKILL)
   * when it cannot.
   */
  const bound = (ms: number) => {
    clearTimeout(deadline);
    // Not unref'd: a stop step that hangs on nothing must not let the loop empty and exit 0.
    deadline = setTimeout(() => exit(1, `shutdown timed out after ${ms} ms`), ms);
    watchdog ??= startExitWatchdog((error) => reportToStderr(`switchyard: the exit watchdog did not start: ${error.message}`));
    watchdog?.arm(ms + LOG_FLUSH_MS + WATCHDOG_MARGIN_MS);
  };
  /** SIGTERM drains (a load balancer's or systemd's stop); SIGINT, or a second signal, stops at once. */
  const shutdown = (reason: string, drain = false) => {
    if (phase === 'stopping') return;
    if (drain && phase === 'up' && config.drainTimeoutMs > 0 && node.sessions.sessionCount > 0) {
      phase = 'draining';
      bound(config.drainTimeoutMs + SHUTDOWN_TIMEOUT_MS);
      logger.info({ reason, timeoutMs: config.drainTimeoutMs }, 'draining before shutting down (a second signal stops at once)');
      // drain() ends with stop(): its failure is the shutdown's.
      node.drain(config.drainTimeoutMs).then(
        () => shutdown('drained'),
        (error: unknown) => exit(1, 'shutdown failed', error),
      );
      return;
    }
    phase = 'stopping';
    bound(SHUTDOWN_TIMEOUT_MS);
    logger.info({ reason }, 'shutting down');
    node.stop().then(
      () => exit(0),
      (error: unknown) => exit(1, 'shutdown failed', error),
    );
  };
  // Ctrl-C under npm brings SIGINT twice (from the terminal, and forwarded by
  // npm): the second must not cut the graceful shutdown short.
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM', true));
  if (process.env.npm_lifecycle_event) endWithParent(() => shutdown('npm, the parent process, went away'));
}

/**
 * Under an npm script (`npm start`, `npm run dev`) the node ends with npm:
 * npm forwards SIGTERM and SIGINT only to its direct child, and when npm
 * itself dies without forwarding (SIGKILL, a closed terminal) nothing tells
 * this process. An orphan is adopted by another parent, so a changed ppid
 * means npm is gone. Started directly (systemd, a container), a node stays
 * up whoever its parent is.
 */
function endWithParent(onGone: () => void): void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    onGone();
  }, PARENT_CHECK_MS);
  timer.unref();
}

main().catch((error: unknown) => {
  console.error('switchyard: failed to start:', error);
  process.exit(1);
});
