import { DEVELOPMENT_APP } from '../auth/principal.js';
import type { AppConfig } from '../config/apps.js';
import type { Logger } from '../logger.js';
import type { SessionService } from '../session/SessionService.js';
import type { Publication, TrackChange } from '../tracks/TrackRegistry.js';
import type { WebhookConfig } from './config.js';
import { published, sessionClosed, sessionCreated, unpublished, type WebhookEvent, type WebhookEventType } from './events.js';
import { createPoster } from './post.js';
import { QueuedWebhookDelivery, type WebhookDelivery } from './WebhookDelivery.js';

/**
 * Turns what happens to this node's sessions into webhook events. It reads
 * the node's own engine (session creation, its CLOSED event, the registries
 * of published tracks and data channels), not the track event log: in a
 * cluster that log brings every node's events to every node, while a
 * session, its tracks and its data channels live on one node, so each event
 * is seen (and posted) by exactly one node, the owner. Events that other
 * nodes' calls cause are forwarded to the owner and happen there too.
 */
export function watchSessions(sessions: SessionService, delivery: WebhookDelivery, logger: Logger): void {
  const send = (type: WebhookEventType, appId: string, make: () => WebhookEvent) => {
    // This runs inside the engine's own steps (a registry change, a session ending): a webhook fault must never fail them.
    try {
      if (delivery.wants(appId, type)) delivery.send(make());
    } catch (error) {
      logger.error({ err: error, app: appId, type }, 'could not queue a webhook event');
    }
  };
  /** Publications reported as unpublished when their session closed, whose own UNPUBLISHED comes right after. */
  const reportedOnClose = new WeakSet<Publication>();

  sessions.sessionEvents.watchCreated((session) => send('session.created', session.ownership.appId, () => sessionCreated(session)));
  sessions.sessionEvents.watchAll((event) => {
    if (event.type !== 'CLOSED') return;
    const { session } = event;
    // The engine says CLOSED first and unpublishes the session's tracks right
    // after (SessionEnding.forget): they are reported here, before the
    // session.closed, so that a receiver gets a session's events in the order
    // they mean (nothing of a session after its session.closed).
    const left: Publication[] = [...sessions.tracks.list({ sessionIds: [session.id] }), ...sessions.data.registry.list({ sessionIds: [session.id] })];
    const at = new Date();
    for (const publication of left) {
      reportedOnClose.add(publication);
      send(publication.kind === 'data' ? 'data_channel.unpublished' : 'track.unpublished', publication.appId, () => unpublished(publication, 'SESSION_CLOSED', at));
    }
    send('session.closed', session.ownership.appId, () => sessionClosed(session, at));
  });
  const onChange = (type: TrackChange, publication: Publication) => {
    if (type === 'PUBLISHED') {
      send(publication.kind === 'data' ? 'data_channel.published' : 'track.published', publication.appId, () => published(publication));
    } else if (type === 'UNPUBLISHED') {
      if (reportedOnClose.delete(publication)) return;
      send(publication.kind === 'data' ? 'data_channel.unpublished' : 'track.unpublished', publication.appId, () => unpublished(publication, 'CLOSED'));
    }
  };
  sessions.tracks.on('change', onChange);
  sessions.data.registry.on('change', onChange);
}

/** The node's webhooks: the queue (with its poster), fed by this node's sessions. */
export function startWebhooks(config: WebhookConfig, apps: readonly AppConfig[], sessions: SessionService, logger: Logger): WebhookDelivery {
  const log = logger.child({ component: 'webhooks' });
  const poster = createPoster({ timeoutMs: config.timeoutMs, allowPrivate: config.allowPrivateUrls });
  // Development mode's open app signs with a secret derived from its (public) one, unless WEBHOOK_SECRET says otherwise.
  const known = apps.length > 0 ? apps : [DEVELOPMENT_APP];
  const appSecret = (appId: string) => known.find((app) => app.id === appId)?.secret;
  const delivery = new QueuedWebhookDelivery(config, appSecret, poster.post, log, () => poster.close());
  watchSessions(sessions, delivery, log);
  if (config.endpoints.length > 0) {
    log.info(
      { endpoints: config.endpoints.map((e) => ({ app: e.appId, url: new URL(e.url).origin, events: e.events ?? 'all', secret: e.secret ? 'configured' : 'derived' })) },
      'webhooks configured',
    );
  }
  return delivery;
}
