import { consumerStats, producerStats, transportStats, type StreamStats } from '../media/streamStats.js';
import type { Session, Transceiver } from '../session/Session.js';
import { qualityOf, sessionScore, type ConnectionQuality } from './connectionQuality.js';

/** One direction of one transceiver, measured. */
export interface TransceiverStats extends StreamStats {
  mid: string;
  /** LOCAL: what the client sends (its pushed track). REMOTE: what the SFU sends it (a pulled track). */
  location: 'LOCAL' | 'REMOTE';
  kind: 'audio' | 'video';
  /** The track: this session's (LOCAL) or the source's (REMOTE). */
  trackSessionId: string;
  trackName: string;
  /** REMOTE simulcast: the layer forwarded now. */
  layer: { rid: string | null; spatialLayer: number; temporalLayer: number | null } | null;
}

/** A session's call quality at one moment, from mediasoup's own stats. */
export interface SessionStats {
  at: Date;
  quality: ConnectionQuality;
  /** The worst of its streams' scores (0 to 10), null without media. */
  score: number | null;
  /** RTP bits per second from the client, and to it. */
  bitrateIn: number;
  bitrateOut: number;
  /** The bandwidth estimate towards the client (transport-cc or REMB), bits per second. */
  availableOutgoingBitrate: number | null;
  /** The worst round trip of its streams, milliseconds. */
  roundTripTimeMs: number | null;
  tracks: TransceiverStats[];
}

/** The transceiver's pushed track while its producer is open: what LOCAL stats read. */
const livePushed = (t: Transceiver) => (t.pushed && !t.pushed.producer.closed ? t.pushed : undefined);
/** The transceiver's pulled track while its consumer is open: what REMOTE stats read. */
const livePulled = (t: Transceiver) => (t.pulled && !t.pulled.ended && !t.pulled.consumer.closed ? t.pulled : undefined);

async function directionsOf(t: Transceiver): Promise<TransceiverStats[]> {
  const mid = t.section.mid;
  const read: Promise<TransceiverStats | null>[] = [];
  const track = livePushed(t);
  if (track) {
    read.push(
      producerStats(track.producer).then(
        (stats) => ({ ...stats, mid, location: 'LOCAL' as const, kind: track.producer.kind, trackSessionId: track.sessionId, trackName: track.name, layer: null }),
        () => null,
      ),
    );
  }
  const pulled = livePulled(t);
  if (pulled) {
    read.push(
      consumerStats(pulled.consumer).then(
        (stats) => ({
          ...stats,
          mid,
          location: 'REMOTE' as const,
          kind: pulled.consumer.kind,
          trackSessionId: pulled.source.sessionId,
          trackName: pulled.source.name,
          layer: pulled.simulcast?.currentLayers ?? null,
        }),
        () => null,
      ),
    );
  }
  return (await Promise.all(read)).filter((s): s is TransceiverStats => s !== null);
}

/** Reads the session's transport and every stream it carries (one worker request each, in parallel). */
export async function readSessionStats(session: Session): Promise<SessionStats> {
  const [transport, ...perTransceiver] = await Promise.all([
    transportStats(session.transport).catch(() => ({ bitrateIn: 0, bitrateOut: 0, availableOutgoingBitrate: null })),
    ...session.transceivers.map(directionsOf),
  ]);
  const tracks = perTransceiver.flat();
  const rtts = tracks.map((t) => t.roundTripTimeMs).filter((v): v is number => v !== null);
  const score = sessionScore(session);
  return {
    at: new Date(),
    quality: qualityOf(score),
    score,
    ...transport,
    roundTripTimeMs: rtts.length > 0 ? Math.max(...rtts) : null,
    tracks,
  };
}

/** How old a reading may be and still be handed to another caller. */
export const SHARED_READING_MAX_AGE_MS = 900;
const recentReadings = new WeakMap<Session, { startedAt: number; streams: string; reading: Promise<SessionStats> }>();

/** Which streams the session carries now: a reading of other streams is not shared. */
function streamsOf(session: Session): string {
  return session.transceivers
    .map((t) => `${t.section.mid}:${livePushed(t) ? 'L' : ''}${livePulled(t) ? 'R' : ''}`)
    .join(',');
}

/**
 * readSessionStats, shared: callers within SHARED_READING_MAX_AGE_MS of a
 * reading (in flight or done) of the same streams get that one. Each reading
 * is a worker request per stream, so without this one client could multiply
 * them with many sessionStats subscriptions or Session.stats queries of the
 * same session; with it a session costs at most about one reading a second
 * however many watch it. Readings are stamped (`at`), so a shared one says
 * its age; a track pushed, pulled or closed since makes a new one, so a
 * caller never sees a track it has just closed.
 */
export function sharedSessionStats(session: Session, now = performance.now()): Promise<SessionStats> {
  const streams = streamsOf(session);
  const recent = recentReadings.get(session);
  if (recent && recent.streams === streams && now - recent.startedAt < SHARED_READING_MAX_AGE_MS) return recent.reading;
  const reading = readSessionStats(session);
  recentReadings.set(session, { startedAt: now, streams, reading });
  return reading;
}
