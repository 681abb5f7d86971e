import { afterAll, afterEach, beforeAll } from 'vitest';
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

/**
 * One node for a test file: started before its tests, stopped after them.
 * Each test pushes what it opens (peers, fake media, sinks) to `cleanups`,
 * closed after that test, newest first: libwebrtc in one process is steadier
 * with a handful of PeerConnections than with dozens.
 */
export function useTestServer(env: Record<string, string> = { WORKERS: '2' }) {
  const file = { server: undefined as unknown as Switchyard, cleanups: [] as (() => void)[] };
  beforeAll(async () => {
    file.server = await startTestServer(env);
  });
  afterEach(() => {
    for (const cleanup of file.cleanups.reverse()) cleanup();
    file.cleanups.length = 0;
  });
  afterAll(async () => {
    await file.server?.stop();
  });
  return file;
}
