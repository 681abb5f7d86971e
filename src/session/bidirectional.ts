import type { LocalSection } from '../sdp/write.js';
import type { Transceiver } from './Session.js';

/**
 * A transceiver that carries a pushed track and, the other way, a pulled one
 * (pullTracks with mid "#trackName": Cloudflare's bidirectional media).
 *
 * The m-section is the client's: its codecs and header extension ids stay
 * the ones the client offered for its track, and the SFU's offer adds the
 * pulled track's codecs (the router numbers codecs as libwebrtc does, so
 * they usually are the same) and its stream (a=ssrc), by which the client
 * matches the packets. Chromium and libwebrtc play it (tests), though
 * mediasoup writes the mid at its own id. Null when a payload type would
 * mean two codecs.
 */
export function bidirectionalSection(pushed: LocalSection, pulled: LocalSection): LocalSection | null {
  const codecs = [...pushed.codecs];
  for (const codec of pulled.codecs) {
    const same = codecs.find((c) => c.payloadType === codec.payloadType);
    if (!same) codecs.push(codec);
    else if (same.mimeType.toLowerCase() !== codec.mimeType.toLowerCase()) return null;
  }
  const section: LocalSection = { ...pushed, direction: 'sendrecv', codecs };
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
