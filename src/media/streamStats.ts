import type { types } from 'mediasoup';

/**
 * What mediasoup measures for one RTP stream direction, in plain units:
 * bits per second, milliseconds, fractions from 0 to 1. A simulcast
 * producer's encodings are summed (counts, bitrates) or their worst taken
 * (loss fraction, jitter, round trip).
 */
export interface StreamStats {
  /** Current bitrate, bits per second. */
  bitrate: number;
  bytes: number;
  packets: number;
  /** Packets lost: from the publisher as the SFU saw them (inbound), or towards the subscriber as its reports say (outbound). */
  packetsLost: number;
  /** Lost in the last reporting interval, 0 to 1. */
  fractionLost: number;
  /** Inbound only: interarrival jitter, milliseconds. */
  jitterMs: number | null;
  /** Round trip from RTCP, milliseconds, when the peer's reports allow it. */
  roundTripTimeMs: number | null;
  /** NACKs: sent to the publisher (inbound), received from the subscriber (outbound). */
  nackCount: number;
  /** Picture loss indications, the same way round. */
  pliCount: number;
  firCount: number;
  /** mediasoup's stream score, 0 (no media or all lost) to 10 (no loss). */
  score: number;
}

/** RTCP's fraction lost is 8 bits of a fraction: 0 to 255. */
const fraction = (value: number) => value / 256;

/** Jitter arrives in RTP timestamp units of the stream's clock. */
function jitterMs(jitter: number | undefined, clockRate: number | undefined): number | null {
  if (jitter === undefined || !clockRate) return null;
  return (jitter / clockRate) * 1000;
}

function combine(streams: (types.RtpStreamRecvStats | types.RtpStreamSendStats)[], clockRate: number | undefined): StreamStats {
  const sum = (pick: (s: (typeof streams)[number]) => number) => streams.reduce((total, s) => total + pick(s), 0);
  const worst = (values: (number | null | undefined)[]) => {
    const known = values.filter((v): v is number => typeof v === 'number');
    return known.length > 0 ? Math.max(...known) : null;
  };
  return {
    bitrate: sum((s) => s.bitrate),
    bytes: sum((s) => s.byteCount),
    packets: sum((s) => s.packetCount),
    packetsLost: sum((s) => Math.max(0, s.packetsLost)),
    fractionLost: worst(streams.map((s) => fraction(s.fractionLost))) ?? 0,
    jitterMs: worst(streams.map((s) => ('jitter' in s ? jitterMs(s.jitter, clockRate) : null))),
    roundTripTimeMs: worst(streams.map((s) => s.roundTripTime)),
    nackCount: sum((s) => s.nackCount),
    pliCount: sum((s) => s.pliCount),
    firCount: sum((s) => s.firCount),
    // The best layer: a simulcast publisher's unwatched layers are off on purpose (score 0).
    score: streams.length > 0 ? Math.max(...streams.map((s) => s.score)) : 0,
  };
}

/** What the SFU receives from a publisher on this producer. */
export async function producerStats(producer: types.Producer): Promise<StreamStats> {
  const streams = (await producer.getStats()).filter((s) => s.type === 'inbound-rtp');
  return combine(streams, producer.rtpParameters.codecs[0]?.clockRate);
}

/** What the SFU sends a subscriber on this consumer. */
export async function consumerStats(consumer: types.Consumer): Promise<StreamStats> {
  const streams = (await consumer.getStats()).filter((s): s is types.RtpStreamSendStats => s.type === 'outbound-rtp');
  const stats = combine(streams, consumer.rtpParameters.codecs[0]?.clockRate);
  // The stream's own score counts what the subscriber gets; the producer's part shows in the publisher's session.
  return { ...stats, score: consumer.score.score };
}

/** One session's transport: RTP bitrates both ways and the bandwidth estimate towards the client. */
export interface TransportStats {
  bitrateIn: number;
  bitrateOut: number;
  /** The send-side bandwidth estimate (transport-cc or REMB), bits per second. */
  availableOutgoingBitrate: number | null;
  /** Every byte received from the client so far: RTP, RTCP, SCTP, DTLS and STUN alike. */
  bytesReceived: number;
}

export async function transportStats(transport: types.WebRtcTransport): Promise<TransportStats> {
  const [stats] = await transport.getStats();
  return {
    bitrateIn: stats?.rtpRecvBitrate ?? 0,
    bitrateOut: stats?.rtpSendBitrate ?? 0,
    availableOutgoingBitrate: stats?.availableOutgoingBitrate ?? null,
    bytesReceived: stats?.bytesReceived ?? 0,
  };
}
