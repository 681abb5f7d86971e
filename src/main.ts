import { ConfigError, loadConfig } from './config/config.js';
import { createLogger } from './logger.js';
import { startSwitchyard } from './app.js';

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
  const node = await startSwitchyard(config, logger);
  console.log(`Switchyard is up: GraphiQL at ${node.url}/graphql, health at ${node.url}/healthz`);
  const shutdown = (signal: string) => {
    logger.info({ signal }, 'shutting down');
    node.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((error: unknown) => {
  console.error('switchyard: failed to start:', error);
  process.exit(1);
});
