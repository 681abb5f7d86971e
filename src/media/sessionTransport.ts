import type { types } from 'mediasoup';
import type { MediaWorker } from './workerPool.js';

const SCTP_STREAMS = { OS: 1024, MIS: 1024 };
/**
 * Where a session's downlink bandwidth estimate starts (mediasoup's default is
 * 600 kbit/s): enough for a 720p layer, so a subscriber that prefers the top
 * simulcast layer gets it without a long ramp-up; congestion control lowers it.
 */
const INITIAL_OUTGOING_BITRATE = 1_500_000;
/**
 * What the SFU may hold for one session's SCTP association before it drops
 * data channel messages (mediasoup's default is 256 KiB): room for bursts to
 * a subscriber whose congestion window is still small.
 */
const SCTP_SEND_BUFFER_BYTES = 1_048_576;

/**
 * The one WebRtcTransport of a session, on its worker's WebRtcServer (one UDP
 * and one TCP port per worker). SCTP is on so that a data m-section gets a
 * working association.
 */
export function createSessionTransport(
  worker: MediaWorker,
  options: { enableTcp: boolean; iceConsentTimeoutS: number; maxMessageBytes: number },
): Promise<types.WebRtcTransport> {
  return worker.router.createWebRtcTransport({
    webRtcServer: worker.webRtcServer,
    enableUdp: true,
    enableTcp: options.enableTcp,
    preferUdp: true,
    enableSctp: true,
    numSctpStreams: SCTP_STREAMS,
    // Announced in SDP as a=max-message-size: browsers refuse to send more (send() throws), mediasoup drops more.
    maxSctpMessageSize: options.maxMessageBytes,
    sctpSendBufferSize: SCTP_SEND_BUFFER_BYTES,
    initialAvailableOutgoingBitrate: INITIAL_OUTGOING_BITRATE,
    // 0 turns mediasoup's consent check off (clients that send none: SessionLiveness watches their media).
    iceConsentTimeout: options.iceConsentTimeoutS,
  });
}
