import { SESSION_TRACKS } from './documents.js';
import { SwitchyardError } from './errors.js';
import type { Transport } from './transport.js';
import type { LocalTrack } from './types.js';

/**
 * The transceiver of a track this session pushes or pulls: given as the
 * track, the LocalTrack push() returned, or its mid. A muted local track is
 * on no sender, so it is found among the pushed ones.
 */
export function transceiverOf(pc: RTCPeerConnection, pushed: Iterable<LocalTrack>, item: MediaStreamTrack | LocalTrack | string): RTCRtpTransceiver {
  const mid = typeof item === 'string' ? item : 'transceiver' in item ? item.mid : [...pushed].find((t) => t.track === item)?.mid;
  const transceiver = pc.getTransceivers().find((t) => (mid !== undefined ? t.mid === mid : t.sender.track === item || t.receiver.track === item));
  if (!transceiver?.mid || transceiver.currentDirection === 'stopped') {
    throw new SwitchyardError('BAD_REQUEST', 'this track is not pushed or pulled by this session');
  }
  return transceiver;
}

/** Which (sessionId, trackName) a pulled transceiver carries: Switchyard's description of this session says. */
export async function sourceOf(transport: Transport, sessionId: string, transceiver: RTCRtpTransceiver): Promise<{ sessionId: string; trackName: string }> {
  const { session } = await transport.request<{
    session: { tracks: { mid: string | null; location: string; track: { sessionId: string; name: string } }[] } | null;
  }>(SESSION_TRACKS, { id: sessionId });
  const entry = session?.tracks.find((t) => t.mid === transceiver.mid && t.location === 'REMOTE');
  if (!entry) throw new SwitchyardError('BAD_REQUEST', `mid ${transceiver.mid} does not carry a pulled track`);
  return { sessionId: entry.track.sessionId, trackName: entry.track.name };
}
