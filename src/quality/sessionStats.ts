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

async function directionsOf(t: Transceiver): Promise<TransceiverStats[]> {
  const mid = t.section.mid;
  const read: Promise<TransceiverStats | null>[] = [];
  if (t.pushed && !t.pushed.producer.closed) {
    const track = t.pushed;
    read.push(
      producerStats(track.producer).then(
        (stats) => ({ ...stats, mid, location: 'LOCAL' as const, kind: track.producer.kind, trackSessionId: track.sessionId, trackName: track.name, layer: null }),
        () => null,
      ),
    );
  }
  if (t.pulled && !t.pulled.ended && !t.pulled.consumer.closed) {
    const pulled = t.pulled;
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
