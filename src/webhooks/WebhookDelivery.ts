import type { Logger } from '../logger.js';
import type { WebhookConfig } from './config.js';
import { eventBody, type WebhookEvent, type WebhookEventType } from './events.js';
import type { Poster, PostResult } from './post.js';
import { ATTEMPT_HEADER, derivedWebhookSecret, EVENT_ID_HEADER, EVENT_TYPE_HEADER, SIGNATURE_HEADER, signatureHeader } from './signature.js';

/** Counts since the node started, and the queue now (metrics). */
export interface WebhookStats {
  /** Deliveries waiting, being sent or waiting for a retry. */
  readonly queued: number;
  /** Acknowledged with a 2xx. */
  readonly delivered: number;
  /** Attempts that failed and were retried later. */
  readonly retries: number;
  /** Given up after WEBHOOK_MAX_ATTEMPTS attempts. */
  readonly gaveUp: number;
  /** Pushed out of a full queue (the oldest goes), or sent after the queue closed. */
  readonly dropped: number;
  /** Still queued when the node stopped and its flush time ran out. */
  readonly abandoned: number;
}

/**
 * Where events go to be posted. `send` only queues: the API path that
 * produces an event never waits for a receiver. This node's queue, in
 * memory, is the one implementation (and the default); a durable one (a
 * Redis stream every node drains) would fit behind the same interface.
 */
export interface WebhookDelivery {
  /** Whether any endpoint of the app takes this type: an event nobody takes is not even made. */
  wants(appId: string, type: WebhookEventType): boolean;
  send(event: WebhookEvent): void;
  stats(): WebhookStats;
  /** Takes no more events, gives the queue up to `flushMs` to empty, then abandons the rest; never rejects. */
  close(flushMs: number): Promise<void>;
}

interface Endpoint {
  readonly appId: string;
  readonly url: URL;
  /** Origin and path: what logs say (a query string may carry a receiver's token). */
  readonly label: string;
  readonly secret: string;
  readonly events: ReadonlySet<WebhookEventType> | undefined;
  /** One lane per ordering key with deliveries waiting. */
  readonly lanes: Map<string, Lane>;
  /** Lanes whose first delivery may be attempted now, in the order they became ready. */
  readonly ready: Set<Lane>;
  inFlight: number;
  /** The endpoint's last attempt failed (logged once until one succeeds). */
  failing: boolean;
}

/** One endpoint's deliveries of one ordering key (a session): the next starts when the one before is done with. */
interface Lane {
  readonly endpoint: Endpoint;
  readonly key: string;
  readonly deliveries: Delivery[];
  state: 'idle' | 'sending' | 'waiting';
  timer?: NodeJS.Timeout | undefined;
}

interface Delivery {
  readonly event: WebhookEvent;
  readonly lane: Lane;
  attempts: number;
}

export interface DeliverySettings extends Pick<WebhookConfig, 'queueSize' | 'maxAttempts' | 'backoffBaseMs' | 'backoffMaxMs' | 'concurrency'> {}

/**
 * The wait before attempt `attempt + 1`: base × 2^(attempt-1), at most max,
 * then "equal jitter" (half of it fixed, half random) so that the retries of
 * many deliveries, or of many nodes, do not all land on a receiver that just
 * came back at the same moment. A Retry-After longer than that wins, up to max.
 */
export function retryDelay(attempt: number, settings: Pick<DeliverySettings, 'backoffBaseMs' | 'backoffMaxMs'>, retryAfterMs?: number, random = Math.random): number {
  const nominal = Math.min(settings.backoffBaseMs * 2 ** Math.min(attempt - 1, 30), settings.backoffMaxMs);
  const jittered = nominal / 2 + random() * (nominal / 2);
  return Math.round(Math.max(jittered, Math.min(retryAfterMs ?? 0, settings.backoffMaxMs)));
}

/** How often a kind of loss (drops, give-ups) is logged at most: the count says how many the line stands for. */
const LOSS_LOG_MS = 10_000;

/**
 * This node's deliveries, in memory: a bounded queue (WEBHOOK_QUEUE_SIZE
 * deliveries, one per event and endpoint). A full queue drops its oldest
 * delivery not in flight, counted and logged: the oldest is the one stuck
 * longest behind a failing receiver and nearest to being given up, so one
 * app's dead receiver pushes out its own backlog, not the fresh events of
 * apps whose receivers answer. Per endpoint, deliveries of one ordering key
 * (a session) go one at a time, in order; different sessions go in
 * parallel, WEBHOOK_CONCURRENCY at most.
 */
export class QueuedWebhookDelivery implements WebhookDelivery {
  private readonly settings: DeliverySettings;
  private readonly endpoints = new Map<string, Endpoint[]>();
  /** Every delivery not yet done with, oldest first (a Set keeps insertion order). */
  private readonly pending = new Set<Delivery>();
  private readonly counts = { delivered: 0, retries: 0, gaveUp: 0, dropped: 0, abandoned: 0 };
  private readonly losses = new Map<string, { at: number; unlogged: number }>();
  private readonly controllers = new Set<AbortController>();
  private pumpScheduled = false;
  private closed = false;
  private drained: (() => void) | undefined;

  constructor(
    config: Pick<WebhookConfig, 'endpoints'> & DeliverySettings,
    appSecret: (appId: string) => string | undefined,
    private readonly post: Poster,
    private readonly logger: Logger,
    private readonly onClose: () => void = () => undefined,
  ) {
    this.settings = config;
    for (const entry of config.endpoints) {
      const url = new URL(entry.url);
      const secret = entry.secret ?? derivedWebhookSecret(appSecret(entry.appId) ?? '');
      const endpoint: Endpoint = {
        appId: entry.appId,
        url,
        label: `${url.origin}${url.pathname}`,
        secret,
        events: entry.events ? new Set(entry.events) : undefined,
        lanes: new Map(),
        ready: new Set(),
        inFlight: 0,
        failing: false,
      };
      this.endpoints.set(entry.appId, [...(this.endpoints.get(entry.appId) ?? []), endpoint]);
    }
  }

  wants(appId: string, type: WebhookEventType): boolean {
    return (this.endpoints.get(appId) ?? []).some((endpoint) => !endpoint.events || endpoint.events.has(type));
  }

  send(event: WebhookEvent): void {
    for (const endpoint of this.endpoints.get(event.appId) ?? []) {
      if (endpoint.events && !endpoint.events.has(event.type)) continue;
      if (this.closed) {
        this.counts.dropped += 1;
        this.logLoss('dropped', endpoint, event, 'the node is stopping: an event came after the webhook queue closed');
        continue;
      }
      if (this.pending.size >= this.settings.queueSize && !this.dropOldest()) {
        // Everything queued is in flight (a queue smaller than the concurrency): the new one is what goes.
        this.counts.dropped += 1;
        this.logLoss('dropped', endpoint, event, `the webhook queue is full (WEBHOOK_QUEUE_SIZE ${this.settings.queueSize}) of deliveries in flight`);
        continue;
      }
      let lane = endpoint.lanes.get(event.orderingKey);
      if (!lane) endpoint.lanes.set(event.orderingKey, (lane = { endpoint, key: event.orderingKey, deliveries: [], state: 'idle' }));
      const delivery: Delivery = { event, lane, attempts: 0 };
      lane.deliveries.push(delivery);
      this.pending.add(delivery);
      if (lane.state === 'idle') endpoint.ready.add(lane);
    }
    this.schedulePump();
  }

  stats(): WebhookStats {
    return { queued: this.pending.size, ...this.counts };
  }

  async close(flushMs: number): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // A last chance for what waits on a backoff: one more attempt now rather than none.
    for (const endpoints of this.endpoints.values()) {
      for (const endpoint of endpoints) for (const lane of endpoint.lanes.values()) if (lane.state === 'waiting') this.wake(lane);
    }
    this.schedulePump();
    if (this.pending.size > 0 && flushMs > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, flushMs);
        this.drained = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    this.drained = undefined;
    const left = this.pending.size;
    for (const delivery of [...this.pending]) this.remove(delivery);
    for (const controller of this.controllers) controller.abort();
    this.counts.abandoned += left;
    if (left > 0) this.logger.warn({ abandoned: left, flushMs }, 'the node stopped with webhook deliveries still queued: they are abandoned');
    this.onClose();
  }

  // ---------------------------------------------------------------------------

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    // Later, not now: send() runs on the API path, which must not pay for signing or opening sockets.
    setImmediate(() => {
      this.pumpScheduled = false;
      for (const endpoints of this.endpoints.values()) for (const endpoint of endpoints) this.pump(endpoint);
    });
  }

  private pump(endpoint: Endpoint): void {
    for (const lane of endpoint.ready) {
      if (endpoint.inFlight >= this.settings.concurrency) return;
      endpoint.ready.delete(lane);
      const first = lane.deliveries[0];
      if (first) void this.attempt(first);
    }
  }

  private async attempt(delivery: Delivery): Promise<void> {
    const { lane, event } = delivery;
    const { endpoint } = lane;
    lane.state = 'sending';
    endpoint.inFlight += 1;
    delivery.attempts += 1;
    const body = bodyOf(event);
    const controller = new AbortController();
    this.controllers.add(controller);
    const result: PostResult = await this.post(
      endpoint.url,
      {
        'content-type': 'application/json',
        'user-agent': 'Switchyard-Webhooks/1',
        [EVENT_ID_HEADER]: event.id,
        [EVENT_TYPE_HEADER]: event.type,
        [ATTEMPT_HEADER]: String(delivery.attempts),
        [SIGNATURE_HEADER]: signatureHeader(endpoint.secret, body),
      },
      body,
      controller.signal,
    ).catch((error: unknown) => ({ ok: false, error: error instanceof Error ? error.message : String(error) }));
    this.controllers.delete(controller);
    endpoint.inFlight -= 1;
    lane.state = 'idle';
    if (!this.pending.has(delivery)) {
      // Abandoned by close() while it was in flight.
      this.schedulePump();
      return;
    }
    if (result.ok) this.succeeded(delivery);
    else this.failed(delivery, result);
    this.schedulePump();
  }

  private succeeded(delivery: Delivery): void {
    const { endpoint } = delivery.lane;
    this.counts.delivered += 1;
    if (endpoint.failing) {
      endpoint.failing = false;
      this.logger.info({ app: endpoint.appId, url: endpoint.label }, 'webhook endpoint answers again');
    }
    this.remove(delivery);
  }

  private failed(delivery: Delivery, result: PostResult): void {
    const { lane, event } = delivery;
    const { endpoint } = lane;
    const why = result.status !== undefined ? `HTTP ${result.status}` : (result.error ?? 'no answer');
    const context = { app: endpoint.appId, url: endpoint.label, event: event.id, type: event.type, attempt: delivery.attempts, why };
    if (!endpoint.failing) {
      endpoint.failing = true;
      this.logger.warn(context, 'webhook endpoint failed: retrying with backoff (logged once until it answers again)');
    } else this.logger.debug(context, 'webhook attempt failed');
    if (delivery.attempts >= this.settings.maxAttempts) {
      this.counts.gaveUp += 1;
      this.logLoss('gave up', endpoint, event, `no 2xx after ${delivery.attempts} attempts (last: ${why})`);
      this.remove(delivery);
      return;
    }
    this.counts.retries += 1;
    lane.state = 'waiting';
    lane.timer = setTimeout(() => this.wake(lane), retryDelay(delivery.attempts, this.settings, result.retryAfterMs));
    // A retry timer never keeps the process alive: stop() flushes, then abandons.
    lane.timer.unref();
  }

  /** A lane's backoff is over (or cut short): its first delivery may go again. */
  private wake(lane: Lane): void {
    clearTimeout(lane.timer);
    lane.timer = undefined;
    if (lane.state !== 'waiting') return;
    lane.state = 'idle';
    if (lane.deliveries.length > 0) lane.endpoint.ready.add(lane);
    this.schedulePump();
  }

  /** A delivery is done with (delivered, given up, dropped or abandoned): its lane moves on to the next. */
  private remove(delivery: Delivery): void {
    const { lane } = delivery;
    const index = lane.deliveries.indexOf(delivery);
    if (index >= 0) lane.deliveries.splice(index, 1);
    this.pending.delete(delivery);
    if (index === 0 && lane.state === 'waiting') {
      clearTimeout(lane.timer);
      lane.timer = undefined;
      lane.state = 'idle';
    }
    if (lane.deliveries.length === 0) {
      lane.endpoint.ready.delete(lane);
      if (lane.state === 'idle') lane.endpoint.lanes.delete(lane.key);
    } else if (lane.state === 'idle') lane.endpoint.ready.add(lane);
    if (this.pending.size === 0) this.drained?.();
  }

  /** Makes room: the oldest delivery that is not in flight leaves the queue (false: all are in flight). */
  private dropOldest(): boolean {
    for (const delivery of this.pending) {
      if (delivery.lane.state === 'sending' && delivery.lane.deliveries[0] === delivery) continue;
      this.counts.dropped += 1;
      this.logLoss('dropped', delivery.lane.endpoint, delivery.event, `the webhook queue is full (WEBHOOK_QUEUE_SIZE ${this.settings.queueSize}): the oldest delivery is dropped`);
      this.remove(delivery);
      return true;
    }
    return false;
  }

  /** One line per kind of loss and endpoint per LOSS_LOG_MS, saying how many it stands for. */
  private logLoss(kind: 'dropped' | 'gave up', endpoint: Endpoint, event: WebhookEvent, why: string): void {
    const key = `${kind}\u0000${endpoint.appId}\u0000${endpoint.label}`;
    const now = Date.now();
    const last = this.losses.get(key);
    if (last && now - last.at < LOSS_LOG_MS) {
      last.unlogged += 1;
      return;
    }
    this.losses.set(key, { at: now, unlogged: 0 });
    const count = 1 + (last?.unlogged ?? 0);
    this.logger.warn({ app: endpoint.appId, url: endpoint.label, event: event.id, type: event.type, lost: count }, `webhook delivery ${kind}: ${why}`);
  }
}

/** Bodies made once per event (shared by its endpoints and retries), released with the event. */
const bodies = new WeakMap<WebhookEvent, string>();

function bodyOf(event: WebhookEvent): string {
  let body = bodies.get(event);
  if (body === undefined) bodies.set(event, (body = eventBody(event)));
  return body;
}
