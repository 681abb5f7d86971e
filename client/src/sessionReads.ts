import { SESSION_LAYERS, SESSION_QUALITY, SESSION_STATS } from './documents.js';
import { SwitchyardError } from './errors.js';
import type { Transport } from './transport.js';
import type { ConnectionQuality, SessionStats, TrackLayers } from './types.js';

/**
 * What Switchyard reports of the session: its tracks' simulcast layers, and
 * its call quality as Switchyard measures it (Session.quality and
 * Session.stats, docs/call-quality.md). `qualitychange` only tells of
 * changes after the first level, so an app reads the level once here and
 * then follows the events.
 */
async function readSession<T>(transport: Transport, document: string, sessionId: string): Promise<T> {
  const { session } = await transport.request<{ session: T | null }>(document, { id: sessionId });
  if (!session) throw new SwitchyardError('SESSION_NOT_FOUND', 'this session is closed');
  return session;
}

export async function readQuality(transport: Transport, sessionId: string): Promise<ConnectionQuality> {
  return (await readSession<{ quality: ConnectionQuality }>(transport, SESSION_QUALITY, sessionId)).quality;
}

export async function readStats(transport: Transport, sessionId: string): Promise<SessionStats> {
  return (await readSession<{ stats: SessionStats }>(transport, SESSION_STATS, sessionId)).stats;
}

export async function readLayers(transport: Transport, sessionId: string): Promise<TrackLayers[]> {
  const { session } = await transport.request<{ session: { tracks: TrackLayers[] } | null }>(SESSION_LAYERS, { id: sessionId });
  return session?.tracks ?? [];
}
