import { parseWebhookEndpoints, type WebhookEndpointConfig } from '../webhooks/config.js';

/**
 * An app is a tenant: its backend holds the secret, drives every session of
 * the app with it and signs the client tokens its browsers use.
 */
export interface AppConfig {
  id: string;
  secret: string;
  /** Where the app's events are posted (APPS_FILE only; docs/webhooks.md). */
  webhooks?: WebhookEndpointConfig[];
  /** Where the app's recordings go unless a recording says (APPS_FILE only; RECORDINGS_STORAGE otherwise; docs/recording.md). */
  recordingStorage?: 'local' | 's3';
}

const APP_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** HS256 keys shorter than the hash (32 bytes) weaken the signature (RFC 7518 §3.2). */
export const MIN_SECRET_LENGTH = 32;

function checked(id: unknown, secret: unknown, where: string): AppConfig {
  if (typeof id !== 'string' || !APP_ID.test(id)) {
    throw new Error(`${where}: app id must be 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit`);
  }
  if (typeof secret !== 'string' || secret.length < MIN_SECRET_LENGTH || /\s/.test(secret)) {
    throw new Error(`${where}: the secret of app ${id} must be at least ${MIN_SECRET_LENGTH} characters without spaces`);
  }
  return { id, secret };
}

/** APPS="acme:<secret>,beta:<secret>" (secrets may not contain commas). */
export function parseAppList(raw: string): AppConfig[] {
  return raw
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry, i) => {
      const colon = entry.indexOf(':');
      if (colon < 0) throw new Error(`APPS entry ${i + 1} is not id:secret`);
      return checked(entry.slice(0, colon), entry.slice(colon + 1), `APPS entry ${i + 1}`);
    });
}

/** APPS_FILE: {"apps": [{"id": "acme", "secret": "...", "webhooks"?: [{"url": ..., "secret"?: ..., "events"?: [...]}]}]}. */
export function parseAppsFile(text: string): AppConfig[] {
  const parsed: unknown = JSON.parse(text);
  const list = (parsed as { apps?: unknown } | null)?.apps;
  if (!Array.isArray(list)) throw new Error('APPS_FILE must hold {"apps": [{"id": ..., "secret": ...}]}');
  return list.map((entry: unknown, i) => {
    const { id, secret, webhooks, recordingStorage } = (entry ?? {}) as { id?: unknown; secret?: unknown; webhooks?: unknown; recordingStorage?: unknown };
    const app: AppConfig = checked(id, secret, `APPS_FILE entry ${i + 1}`);
    if (webhooks !== undefined) app.webhooks = parseWebhookEndpoints(webhooks, `APPS_FILE app ${app.id}`);
    if (recordingStorage !== undefined) {
      if (recordingStorage !== 'local' && recordingStorage !== 's3') throw new Error(`APPS_FILE app ${app.id}: recordingStorage must be "local" or "s3"`);
      app.recordingStorage = recordingStorage;
    }
    return app;
  });
}
