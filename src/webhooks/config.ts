import { ConfigError, flag, integer, parseUrl, type Env } from '../config/parse.js';
import { isWebhookEventType, WEBHOOK_EVENT_TYPES, type WebhookEventType } from './events.js';
import { isPrivateLiteral } from './targets.js';

/** One endpoint of an app, as APPS_FILE (or WEBHOOK_URLS) gives it. */
export interface WebhookEndpointConfig {
  readonly url: string;
  /** The signing secret; undefined: derived from the app secret (signature.ts derivedWebhookSecret). */
  readonly secret?: string | undefined;
  /** The events it receives; undefined: all of them. */
  readonly events?: readonly WebhookEventType[] | undefined;
}

/** Every endpoint of the node, each with its app, and how deliveries are made. */
export interface WebhookConfig {
  readonly endpoints: readonly (WebhookEndpointConfig & { readonly appId: string })[];
  /** Deliveries (an event for one endpoint) waiting or being retried on this node; past it the oldest is dropped. */
  readonly queueSize: number;
  /** Attempts per delivery, the first included, before it is given up. */
  readonly maxAttempts: number;
  /** The wait after the first failed attempt; each next one doubles, up to backoffMaxMs (then ×0.5–1 jitter). */
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  /** One attempt, connection to the last byte of the answer. */
  readonly timeoutMs: number;
  /** Attempts in flight at once towards one endpoint. */
  readonly concurrency: number;
  /** Post to loopback, private and link-local addresses (development default; production must say so). */
  readonly allowPrivateUrls: boolean;
  /** On stop: how long the node waits for its queue to empty before it abandons what is left. */
  readonly shutdownFlushMs: number;
}

/** Endpoints one app may have: each event is one delivery per endpoint, so this bounds the fan-out. */
export const MAX_ENDPOINTS_PER_APP = 16;
const MIN_WEBHOOK_SECRET_LENGTH = 32;
const ENDPOINT_KEYS = new Set(['url', 'secret', 'events']);

/** Checks one endpoint's URL: http(s), no credentials, no fragment. */
function checkedUrl(raw: unknown, where: string): string {
  const url = typeof raw === 'string' ? parseUrl(raw) : undefined;
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || !url.hostname) {
    throw new ConfigError(`${where}: url must be an http:// or https:// URL, got ${JSON.stringify(raw)}`);
  }
  // Credentials in a URL end up in logs and proxies; the signature is the authentication.
  if (url.username || url.password) throw new ConfigError(`${where}: url must not carry credentials (the signature authenticates the sender)`);
  if (url.hash) throw new ConfigError(`${where}: url must not have a #fragment`);
  return url.href;
}

function checkedSecret(raw: unknown, where: string): string | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || raw.length < MIN_WEBHOOK_SECRET_LENGTH || /\s/.test(raw)) {
    throw new ConfigError(`${where}: secret must be at least ${MIN_WEBHOOK_SECRET_LENGTH} characters without spaces (or left out: derived from the app secret)`);
  }
  return raw;
}

function checkedEvents(raw: unknown, where: string): WebhookEventType[] | undefined {
  if (raw === undefined) return undefined;
  const known = `one of ${WEBHOOK_EVENT_TYPES.join(', ')}`;
  if (!Array.isArray(raw) || raw.length === 0) throw new ConfigError(`${where}: events must be a non-empty list, each ${known} (or left out: all)`);
  for (const name of raw) {
    if (!isWebhookEventType(name)) throw new ConfigError(`${where}: unknown event ${JSON.stringify(name)}; events are ${known}`);
  }
  return [...new Set(raw as WebhookEventType[])];
}

/** The `webhooks` list of an APPS_FILE entry: [{"url", "secret"?, "events"?}]. */
export function parseWebhookEndpoints(raw: unknown, where: string): WebhookEndpointConfig[] {
  if (!Array.isArray(raw)) throw new ConfigError(`${where}: webhooks must be a list of {"url": ..., "secret"?: ..., "events"?: [...]}`);
  if (raw.length > MAX_ENDPOINTS_PER_APP) throw new ConfigError(`${where}: at most ${MAX_ENDPOINTS_PER_APP} webhooks per app`);
  return raw.map((entry: unknown, i) => {
    const at = `${where} webhook ${i + 1}`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new ConfigError(`${at}: must be an object with a url`);
    const unknown = Object.keys(entry).filter((key) => !ENDPOINT_KEYS.has(key));
    if (unknown.length > 0) throw new ConfigError(`${at}: unknown field ${unknown.join(', ')} (fields are url, secret, events)`);
    const { url, secret, events } = entry as Record<string, unknown>;
    return { url: checkedUrl(url, at), secret: checkedSecret(secret, at), events: checkedEvents(events, at) };
  });
}

/**
 * WEBHOOK_* settings and every app's endpoints. APPS_FILE entries carry
 * their app's; development mode without apps takes WEBHOOK_URLS (and
 * WEBHOOK_SECRET, WEBHOOK_EVENTS) for its one app. Production refuses an
 * endpoint whose URL is a private address or localhost unless
 * WEBHOOK_ALLOW_PRIVATE_URLS=true; names that resolve to one are refused at
 * each connection (targets.ts).
 */
export function webhookConfig(
  env: Env,
  runMode: 'development' | 'production',
  apps: readonly { id: string; webhooks?: readonly WebhookEndpointConfig[] | undefined }[],
  developmentAppId: string,
): WebhookConfig {
  const endpoints: (WebhookEndpointConfig & { appId: string })[] = apps.flatMap((app) => (app.webhooks ?? []).map((endpoint) => ({ ...endpoint, appId: app.id })));
  const urls = env.WEBHOOK_URLS?.trim();
  if (urls) {
    if (apps.length > 0) throw new ConfigError('WEBHOOK_URLS is for development mode\'s one app (no apps configured): give each app its webhooks in APPS_FILE (docs/webhooks.md)');
    const entries = urls.split(',').map((url) => url.trim()).filter(Boolean);
    const list = entries.map((url) => ({ url, secret: env.WEBHOOK_SECRET || undefined, events: env.WEBHOOK_EVENTS ? env.WEBHOOK_EVENTS.split(',').map((e) => e.trim()) : undefined }));
    endpoints.push(...parseWebhookEndpoints(list, 'WEBHOOK_URLS').map((endpoint) => ({ ...endpoint, appId: developmentAppId })));
  } else if (env.WEBHOOK_SECRET || env.WEBHOOK_EVENTS) {
    throw new ConfigError('WEBHOOK_SECRET and WEBHOOK_EVENTS go with WEBHOOK_URLS');
  }
  const allowPrivateUrls = flag(env, 'WEBHOOK_ALLOW_PRIVATE_URLS', runMode === 'development');
  if (!allowPrivateUrls) {
    for (const endpoint of endpoints) {
      if (isPrivateLiteral(new URL(endpoint.url))) {
        throw new ConfigError(
          `the webhook ${endpoint.url} of app ${endpoint.appId} is a loopback, private or link-local address: set WEBHOOK_ALLOW_PRIVATE_URLS=true if the receiver is meant to be there (docs/security.md)`,
        );
      }
    }
  }
  const backoffBaseMs = integer(env, 'WEBHOOK_BACKOFF_BASE_MS', 1_000, 10, 600_000);
  const backoffMaxMs = integer(env, 'WEBHOOK_BACKOFF_MAX_MS', 300_000, 10, 3_600_000);
  if (backoffMaxMs < backoffBaseMs) throw new ConfigError(`WEBHOOK_BACKOFF_MAX_MS (${backoffMaxMs}) must be at least WEBHOOK_BACKOFF_BASE_MS (${backoffBaseMs})`);
  return {
    endpoints,
    queueSize: integer(env, 'WEBHOOK_QUEUE_SIZE', 10_000, 1, 1_000_000),
    // 1 s doubling to 5 min: 15 attempts span ~33 min nominal (17 min at the least, with jitter).
    maxAttempts: integer(env, 'WEBHOOK_MAX_ATTEMPTS', 15, 1, 100),
    backoffBaseMs,
    backoffMaxMs,
    timeoutMs: integer(env, 'WEBHOOK_TIMEOUT_MS', 10_000, 100, 120_000),
    concurrency: integer(env, 'WEBHOOK_CONCURRENCY', 8, 1, 256),
    allowPrivateUrls,
    // The node's whole stop has 10 s (main.ts SHUTDOWN_TIMEOUT_MS): the flush may take at most half.
    shutdownFlushMs: integer(env, 'WEBHOOK_SHUTDOWN_FLUSH_MS', 3_000, 0, 5_000),
  };
}
