import type { Switchyard } from '../src/app.js';
import { startSwitchyard } from '../src/app.js';
import { loadConfig } from '../src/config/config.js';
import { freeRtcPortRange } from '../test/helpers/ports.js';

/**
 * A node for a benchmark: one worker (all media on one core, so its CPU is
 * one number), free ports on loopback, no logs; `env` adds or overrides.
 */
export async function startBenchNode(env: Record<string, string> = {}): Promise<Switchyard> {
  return startSwitchyard(
    loadConfig({ PORT: '0', HOST: '127.0.0.1', WORKERS: '1', RTC_PORT: String(await freeRtcPortRange(1)), LOG_LEVEL: 'silent', ...env }),
  );
}
