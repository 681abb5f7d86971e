import { badRequest } from '../../errors.js';
import { qualityOf, sessionScore } from '../../quality/connectionQuality.js';
import { sharedSessionStats, type SessionStats, type TransceiverStats } from '../../quality/sessionStats.js';
import { MAX_STATS_INTERVAL_MS, MIN_STATS_INTERVAL_MS } from '../../quality/StatsFeed.js';
import { builder } from './builder.js';
import { ConnectionQualityEnum, TrackLocationEnum } from './enums.js';
import { ReceivingLayersRef, SessionRef } from './types.js';

/**
 * Call quality in the API, from mediasoup's own stats: what an app needs to
 * show and debug a call (bitrate, loss, jitter, round trip, bandwidth
 * estimate, NACK and PLI counts, simulcast layer, a score).
 */

const TransceiverStatsRef = builder.objectRef<TransceiverStats>('TransceiverStats').implement({
  description: 'One direction of one transceiver, as the SFU measures it: what it receives from the client (LOCAL) or sends it (REMOTE).',
  fields: (t) => ({
    mid: t.exposeString('mid'),
    location: t.field({ type: TrackLocationEnum, resolve: (s) => s.location }),
    kind: t.string({ description: 'audio or video.', resolve: (s) => s.kind }),
    trackSessionId: t.exposeID('trackSessionId', { description: 'The session that publishes the track (this one for LOCAL).' }),
    trackName: t.exposeString('trackName'),
    bitrate: t.exposeInt('bitrate', { description: 'Bits per second now (RTP, all simulcast layers for LOCAL).' }),
    bytes: t.exposeFloat('bytes', { description: 'RTP bytes so far.' }),
    packets: t.exposeFloat('packets', { description: 'RTP packets so far.' }),
    packetsLost: t.exposeInt('packetsLost', {
      description: 'LOCAL: packets from the client that never arrived. REMOTE: packets the client reports lost (RTCP receiver reports).',
    }),
    fractionLost: t.exposeFloat('fractionLost', { description: 'Lost in the last report interval, 0 to 1.' }),
    jitter: t.float({ nullable: true, description: 'LOCAL: interarrival jitter of the client\'s stream, milliseconds. Null for REMOTE.', resolve: (s) => s.jitterMs }),
    roundTripTime: t.float({ nullable: true, description: 'Round trip to the client from RTCP, milliseconds; null until its reports allow it.', resolve: (s) => s.roundTripTimeMs }),
    nackCount: t.exposeInt('nackCount', { description: 'LOCAL: NACKs the SFU sent the client. REMOTE: NACKs the client sent.' }),
    pliCount: t.exposeInt('pliCount', { description: 'Picture loss indications, the same way round (key-frame requests).' }),
    firCount: t.exposeInt('firCount'),
    score: t.exposeInt('score', { description: 'mediasoup\'s score of this stream, 0 (nothing arrives) to 10 (no loss).' }),
    layer: t.field({
      type: ReceivingLayersRef,
      nullable: true,
      description: 'REMOTE simulcast: the layer forwarded now. Null otherwise.',
      resolve: (s) => s.layer,
    }),
  }),
});

const SessionStatsRef = builder.objectRef<SessionStats>('SessionStats').implement({
  description: 'A session\'s call quality at one moment, from mediasoup\'s stats.',
  fields: (t) => ({
    at: t.expose('at', { type: 'DateTime' }),
    quality: t.field({ type: ConnectionQualityEnum, resolve: (s) => s.quality }),
    score: t.exposeInt('score', { nullable: true, description: 'The worst score of its streams (0 to 10); null without media.' }),
    bitrateIn: t.exposeInt('bitrateIn', { description: 'RTP bits per second from the client.' }),
    bitrateOut: t.exposeInt('bitrateOut', { description: 'RTP bits per second to the client.' }),
    availableOutgoingBitrate: t.exposeInt('availableOutgoingBitrate', {
      nullable: true,
      description: 'The SFU\'s bandwidth estimate towards the client (transport-cc), bits per second: what simulcast layer selection works with.',
    }),
    roundTripTime: t.float({ nullable: true, description: 'The worst round trip of its streams, milliseconds.', resolve: (s) => s.roundTripTimeMs }),
    tracks: t.field({ type: [TransceiverStatsRef], description: 'Each direction of each transceiver that carries media.', resolve: (s) => s.tracks }),
  }),
});

builder.objectFields(SessionRef, (t) => ({
  quality: t.field({
    type: ConnectionQualityEnum,
    description: 'Connection quality now, from the scores the workers report (no stats are read). QUALITY_CHANGED tells when it changes.',
    resolve: (session) => qualityOf(sessionScore(session)),
  }),
  stats: t.field({
    type: SessionStatsRef,
    description: 'Bitrates, loss, jitter, round trip, bandwidth estimate and counters of every stream, read from mediasoup now (one worker request per stream).',
    resolve: (session) => sharedSessionStats(session),
  }),
}));

builder.subscriptionField('sessionStats', (t) =>
  t.field({
    type: SessionStatsRef,
    description: `One session's stats every intervalMs (${MIN_STATS_INTERVAL_MS} to ${MAX_STATS_INTERVAL_MS}, default ${MIN_STATS_INTERVAL_MS}): the first at once. A client that has not read the previous one gets no new one queued behind it. Ends when the session closes. Counts against MAX_SUBSCRIPTIONS_PER_CONNECTION.`,
    args: {
      sessionId: t.arg.id({ required: true }),
      intervalMs: t.arg.int({ required: false, defaultValue: MIN_STATS_INTERVAL_MS }),
    },
    subscribe: (_root, { sessionId, intervalMs }, { guard }) => {
      const interval = intervalMs ?? MIN_STATS_INTERVAL_MS;
      if (interval < MIN_STATS_INTERVAL_MS || interval > MAX_STATS_INTERVAL_MS) {
        throw badRequest(`intervalMs must be from ${MIN_STATS_INTERVAL_MS} to ${MAX_STATS_INTERVAL_MS}`);
      }
      return guard.sessionStats(String(sessionId), interval);
    },
    resolve: (stats) => stats,
  }),
);
