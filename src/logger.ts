import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs (pino): one line per event, cheap on the hot path. */
export function createLogger(level: string): Logger {
  return pino({ name: 'switchyard', level });
}

/** Discards everything: the default of objects made outside a node (unit tests). */
export const silentLogger: Logger = pino({ level: 'silent' });
