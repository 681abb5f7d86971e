import { randomUUID } from 'node:crypto';
import type { Session } from '../session/Session.js';
import type { TrackView } from '../tracks/PublishedTrack.js';

/**
 * What an app's webhook endpoints can receive. Later issues add their own
 * (recording.done, adapter events) by adding a name here and a producer that
 * calls WebhookDelivery.send: the queue, signing and retries take any type.
 */
export const WEBHOOK_EVENT_TYPES = [
  'session.created',
  'session.closed',
  'track.published',
  'track.unpublished',
  'data_channel.published',
  'data_channel.unpublished',
  'recording.finished',
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

export const isWebhookEventType = (name: unknown): name is WebhookEventType => (WEBHOOK_EVENT_TYPES as readonly unknown[]).includes(name);

/** One event, as it is queued: the same id and body at every attempt and every endpoint of the app. */
export interface WebhookEvent {
  /** `evt_` + a UUID: receivers deduplicate on it (delivery is at least once). */
  readonly id: string;
  readonly type: WebhookEventType;
  readonly appId: string;
  readonly createdAt: Date;
  /** Events with the same key are delivered to an endpoint one after the other, in the order they happened (the session id). */
  readonly orderingKey: string;
  readonly data: Record<string, unknown>;
}

/** The JSON body: made once, so that every retry carries the same bytes (and the same signature input). */
export function eventBody(event: WebhookEvent): string {
  return JSON.stringify({ id: event.id, type: event.type, createdAt: event.createdAt.toISOString(), appId: event.appId, data: event.data });
}

/**
 * Why a session ended, as a code a backend can switch on. The engine keeps a
 * sentence (Session.closeReason, the one its log line says); these are the
 * sentences it writes (SessionService, SessionEnding, GuardedSessions,
 * cluster/membership). A new sentence elsewhere shows up as OTHER, with the
 * sentence itself in `detail`.
 */
export type CloseReasonCode = 'CLOSE_SESSION' | 'CLIENT_CLOSED' | 'CLIENT_GONE' | 'WORKER_DIED' | 'NODE_STOPPED' | 'NODE_GONE' | 'REFUSED' | 'OTHER';

/** What SessionEnding logs for a transport nobody here closed. */
export const CLIENT_CLOSED_DETAIL = 'transport closed (the client closed its PeerConnection)';

export function closeReasonCode(reason: string | undefined): CloseReasonCode {
  if (reason === undefined || reason.includes('closed its PeerConnection')) return 'CLIENT_CLOSED';
  if (reason === 'closeSession') return 'CLOSE_SESSION';
  if (reason.startsWith('client gone')) return 'CLIENT_GONE';
  if (reason.startsWith('its mediasoup worker')) return 'WORKER_DIED';
  if (reason === 'the node stopped') return 'NODE_STOPPED';
  if (reason === 'the cluster declared this node gone') return 'NODE_GONE';
  if (reason === 'the cluster refused to record it') return 'REFUSED';
  return 'OTHER';
}

const newEvent = (type: WebhookEventType, appId: string, orderingKey: string, data: Record<string, unknown>, at: Date): WebhookEvent => ({
  id: `evt_${randomUUID()}`,
  type,
  appId,
  createdAt: at,
  orderingKey,
  data,
});

const sessionFields = (session: Session) => ({
  id: session.id,
  correlationId: session.correlationId,
  /** The client-token subject that created it; null for the app's backend. */
  owner: session.ownership.owner,
  createdAt: session.createdAt.toISOString(),
});

export function sessionCreated(session: Session): WebhookEvent {
  return newEvent('session.created', session.ownership.appId, session.id, { session: sessionFields(session) }, session.createdAt);
}

export function sessionClosed(session: Session, at = new Date()): WebhookEvent {
  return newEvent(
    'session.closed',
    session.ownership.appId,
    session.id,
    {
      session: { ...sessionFields(session), closedAt: at.toISOString(), durationMs: at.getTime() - session.createdAt.getTime() },
      reason: closeReasonCode(session.closeReason),
      detail: session.closeReason ?? CLIENT_CLOSED_DETAIL,
    },
    at,
  );
}

/** What a recording that finished says (DONE, or FAILED with why), the same fields as the Recording type of the API. */
export interface FinishedRecording {
  readonly id: string;
  readonly appId: string;
  readonly target: { readonly sessionId: string; readonly trackName: string | null; readonly trackNames: readonly string[] };
  readonly state: string;
  readonly reason: string | null;
  readonly storage: string;
  readonly format: string | null;
  readonly location: string | null;
  readonly sizeBytes: number | null;
  readonly durationMs: number | null;
  readonly createdAt: Date;
  readonly endedAt: Date | null;
}

export function recordingFinished(r: FinishedRecording): WebhookEvent {
  const recording = {
    id: r.id,
    sessionId: r.target.sessionId,
    trackName: r.target.trackName,
    trackNames: [...r.target.trackNames],
    state: r.state,
    reason: r.reason,
    storage: r.storage.toUpperCase(),
    format: r.format,
    location: r.location,
    sizeBytes: r.sizeBytes,
    durationMs: r.durationMs,
    createdAt: r.createdAt.toISOString(),
    endedAt: r.endedAt?.toISOString() ?? null,
  };
  return newEvent('recording.finished', r.appId, r.target.sessionId, { recording }, r.endedAt ?? new Date());
}

/** Unpublished by the session (closeTracks, closeDataChannels, a stopped transceiver), or because the session closed. */
export type UnpublishReason = 'CLOSED' | 'SESSION_CLOSED';

function publicationFields(view: TrackView) {
  const common = { sessionId: view.sessionId, name: view.name, tags: [...view.tags], publishedAt: view.publishedAt.toISOString() };
  if (view.kind === 'data') {
    const options = view.dataChannel;
    return { ...common, ordered: options?.ordered ?? true, maxRetransmits: options?.maxRetransmits ?? null, maxPacketLifeTime: options?.maxPacketLifeTime ?? null };
  }
  return { ...common, kind: view.kind.toUpperCase(), simulcastRids: [...view.simulcastRids] };
}

export function published(view: TrackView): WebhookEvent {
  const data = view.kind === 'data' ? { dataChannel: publicationFields(view) } : { track: publicationFields(view) };
  return newEvent(view.kind === 'data' ? 'data_channel.published' : 'track.published', view.appId, view.sessionId, data, new Date());
}

export function unpublished(view: TrackView, reason: UnpublishReason, at = new Date()): WebhookEvent {
  const fields = { ...publicationFields(view), unpublishedAt: at.toISOString(), durationMs: at.getTime() - view.publishedAt.getTime() };
  const data = view.kind === 'data' ? { dataChannel: fields, reason } : { track: fields, reason };
  return newEvent(view.kind === 'data' ? 'data_channel.unpublished' : 'track.unpublished', view.appId, view.sessionId, data, at);
}
