import type { LocalSection } from '../sdp/write.js';
import type { Transceiver } from './Session.js';

const MID_URI = 'urn:ietf:params:rtp-hdrext:sdes:mid';

/**
 * A transceiver that carries a pushed track and, the other way, a pulled one
 * (pullTracks with mid "#trackName": Cloudflare's bidirectional media).
 *
 * The m-section is the client's: its codecs and header extension ids are
 * the ones the client offered for its track. The pulled track's codecs are
 * added (the router numbers codecs as libwebrtc does, so they usually are
 * the same), and the mid header extension is left out: mediasoup writes the
 * mid of what it sends at its own id, and a client that negotiated the mid
 * at another id on this m-section would drop the packets instead of
 * matching them by their SSRC (which the SFU declares). Null when a payload
 * type means two codecs.
 */
export function bidirectionalSection(pushed: LocalSection, pulled: LocalSection): LocalSection | null {
  const codecs = [...pushed.codecs];
  for (const codec of pulled.codecs) {
    const same = codecs.find((c) => c.payloadType === codec.payloadType);
    if (!same) codecs.push(codec);
    else if (same.mimeType.toLowerCase() !== codec.mimeType.toLowerCase()) return null;
  }
  const section: LocalSection = {
    ...pushed,
    direction: 'sendrecv',
    codecs,
    headerExtensions: pushed.headerExtensions.filter((ext) => ext.uri !== MID_URI),
  };
  if (pulled.outgoing) section.outgoing = pulled.outgoing;
  return section;
}

/** The pushed half of a bidirectional transceiver after its pulled track ended or was refused. */
export function receiveOnly(transceiver: Transceiver): Transceiver {
  const { outgoing: _outgoing, ...section } = transceiver.section;
  const rest: Transceiver = { section: { ...section, direction: 'recvonly' } };
  if (transceiver.pushed) rest.pushed = transceiver.pushed;
  return rest;
}
