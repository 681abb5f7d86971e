/**
 * The soak's node settings, in a module of its own: nodeProcess.ts imports it
 * without the journeys, so that libwebrtc is never loaded into the node's process.
 */
import { startSwitchyard, type Switchyard } from '../../src/app.js';
import { loadConfig } from '../../src/config/config.js';
import { freeRtcPortRange } from '../../test/helpers/ports.js';

/**
 * What the soak sets on top of the defaults, each so that the run reaches an
 * edge within minutes rather than hours:
 * - SESSION_IDLE_TIMEOUT_MS, RECONNECT_GRACE_MS: abandoned sessions drain within the run;
 * - TRACK_INACTIVE_AFTER_MS: with RECONNECT_GRACE_MS, the silence after which a session
 *   without ICE consent checks is closed: 4 s, not a multiple of the node's 2.5 s
 *   byte-count reads (at 5 s a read a millisecond early waits for the next one: 2.5 s more);
 * - MAX_TRANSCEIVERS_PER_SESSION, MAX_PENDING_PULLS_PER_SESSION: small, so that a hoard
 *   reaches them in a few calls (the defaults, 256 and 128, would take hundreds of consumers).
 */
export const SOAK_NODE_ENV: Readonly<Record<string, string>> = {
  SESSION_IDLE_TIMEOUT_MS: '3000',
  RECONNECT_GRACE_MS: '2000',
  TRACK_INACTIVE_AFTER_MS: '2000',
  MAX_TRANSCEIVERS_PER_SESSION: '24',
  MAX_PENDING_PULLS_PER_SESSION: '16',
};

/** Starts a node as the tests do: loopback, free ports, two workers, silent, and SOAK_NODE_ENV under `env`. */
export async function startSoakNode(env: Record<string, string> = {}): Promise<Switchyard> {
  const workers = Number(env.WORKERS ?? 2);
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    WORKERS: String(workers),
    RTC_PORT: String(await freeRtcPortRange(workers)),
    LOG_LEVEL: process.env.SOAK_LOG_LEVEL ?? 'silent',
    ...SOAK_NODE_ENV,
    ...env,
  });
  return startSwitchyard(config);
}
