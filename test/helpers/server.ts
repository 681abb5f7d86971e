import { startSwitchyard, type Switchyard } from '../../src/app.js';
import { loadConfig } from '../../src/config/config.js';
import { freeRtcPortRange } from './ports.js';

/** Starts a real Switchyard node on loopback (ephemeral HTTP port, free RTC ports). */
export async function startTestServer(env: Record<string, string> = {}): Promise<Switchyard> {
  const workers = Number(env.WORKERS ?? 2);
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    WORKERS: String(workers),
    RTC_PORT: String(await freeRtcPortRange(workers)),
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...env,
  });
  return startSwitchyard(config);
}
