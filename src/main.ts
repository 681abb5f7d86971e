import { ConfigError, loadConfig } from './config/config.js';
import { createLogger } from './logger.js';
import { startSwitchyard } from './app.js';

/** How often a node started by npm checks that npm is still its parent. */
const PARENT_CHECK_MS = 1000;
/** A shutdown that takes longer than this ends the process anyway. */
const SHUTDOWN_TIMEOUT_MS = 10_000;

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
  let stopping = false;
  let draining = false;
  /** SIGTERM drains (a load balancer's or systemd's stop); SIGINT, or a second signal, stops at once. */
  const shutdown = (reason: string, drain = false) => {
    if (stopping) return;
    if (drain && !draining && config.drainTimeoutMs > 0 && node.sessions.sessionCount > 0) {
      draining = true;
      logger.info({ reason, timeoutMs: config.drainTimeoutMs }, 'draining before shutting down (a second signal stops at once)');
      void node.drain(config.drainTimeoutMs).then(() => shutdown('drained'));
      return;
    }
    stopping = true;
    logger.info({ reason }, 'shutting down');
    setTimeout(() => {
      logger.error({ timeoutMs: SHUTDOWN_TIMEOUT_MS }, 'shutdown timed out; exiting');
      process.exit(1);
    }, SHUTDOWN_TIMEOUT_MS).unref();
    node.stop().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
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
