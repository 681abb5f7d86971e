import type { types } from 'mediasoup';
import { DownlinkProbe } from './downlinkProbe.js';
import type { MediaWorker } from './workerPool.js';

/**
 * Where a session's downlink bandwidth estimate starts (mediasoup's default is
 * 600 kbit/s): enough for a 720p layer, so a subscriber that prefers the top
 * simulcast layer gets it without a long ramp-up; congestion control lowers it.
 */
const INITIAL_OUTGOING_BITRATE = 1_500_000;
/**
 * What the SFU may hold for one session's SCTP association before it drops
 * data channel messages: room for bursts to a subscriber whose congestion
 * window is still small (mediasoup's default was 256 KiB until its own SCTP
 * stack, 2 MB since: we keep 1 MiB per session, the memory a stalled
 * subscriber can pin).
 */
const SCTP_SEND_BUFFER_BYTES = 1_048_576;

/**
 * The one WebRtcTransport of a session, on its worker's WebRtcServer (one UDP
 * and one TCP port per worker). SCTP is on so that a data m-section gets a
 * working association.
 */
export async function createSessionTransport(
  worker: MediaWorker,
  options: { enableTcp: boolean; iceConsentTimeoutS: number; maxMessageBytes: number },
): Promise<types.WebRtcTransport> {
  const transport = await worker.router.createWebRtcTransport({
    webRtcServer: worker.webRtcServer,
    enableUdp: true,
    enableTcp: options.enableTcp,
    preferUdp: true,
    enableSctp: true,
    // The receive limit is announced in SDP as a=max-message-size: browsers refuse to send more (send() throws),
    // mediasoup drops more. The send limit keeps what a subscriber gets within what its publisher may send.
    // (mediasoup 3.20+ announces 65535 SCTP streams each way; numSctpStreams is gone.)
    maxReceiveMessageSize: options.maxMessageBytes,
    maxSendMessageSize: options.maxMessageBytes,
    sctpSendBufferSize: SCTP_SEND_BUFFER_BYTES,
    initialAvailableOutgoingBitrate: INITIAL_OUTGOING_BITRATE,
    // 0 turns mediasoup's consent check off (clients that send none: SessionLiveness watches their media).
    iceConsentTimeout: options.iceConsentTimeoutS,
  });
  // Lives as long as the transport (its timer stops when the transport closes).
  new DownlinkProbe(transport);
  return transport;
}
