import type { types } from 'mediasoup';
import { answerablePayloadTypes, midExtensionClash, offeredSectionCapabilities } from '../sdp/rtpMapping.js';
import type { RemoteSection } from '../sdp/types.js';

/**
 * Pulls that answer the client's own receiving m-section (pullTracks with an
 * offer, WHEP players): mediasoup sends with the router's payload types and
 * header extension ids, which the answer cannot change, so the offer must fit
 * them. These say whether it does; otherwise the client pulls without an offer.
 */

/** The consumer capabilities for the offered m-section, or why the SFU's media would not be taken there. */
export function offeredCapabilities(offered: RemoteSection, router: types.RtpCapabilities): { capabilities: types.RtpCapabilities } | { problem: string } {
  const clash = midExtensionClash(offered, router);
  if (clash !== undefined) {
    return {
      problem: `m-section ${offered.mid} numbers the mid header extension ${clash}, an id at which the SFU's packets carry another extension, so this client would drop them: pull without an offer (the SFU offers) instead`,
    };
  }
  return { capabilities: offeredSectionCapabilities(offered, router) };
}

/**
 * The consumer made by `consume`, checked against the offer: its media
 * payload type must be the offer's for that codec (else why not), and its RTX
 * too, or it is made again without RTX.
 */
export async function answerableConsumer(
  consume: (enableRtx?: boolean) => Promise<types.Consumer>,
  offered: RemoteSection,
  trackName: string,
): Promise<{ consumer: types.Consumer } | { problem: string }> {
  const consumer = await consume();
  const answerable = answerablePayloadTypes(offered, consumer.rtpParameters.codecs);
  const [codec] = consumer.rtpParameters.codecs;
  if (!answerable.media) {
    consumer.close();
    return {
      problem: `the SFU sends ${codec?.mimeType ?? 'this codec'} of ${trackName} as payload type ${codec?.payloadType}, which m-section ${offered.mid} of the offer does not use for it; pull without an offer (the SFU offers) instead`,
    };
  }
  if (answerable.rtx || consumer.rtpParameters.codecs.length === 1) return { consumer };
  consumer.close();
  return { consumer: await consume(false) };
}
