import { RESUME_SESSION, SESSION_ALIVE } from './documents.js';
import { SwitchyardError } from './errors.js';
import { asSwitchyardError, setLocal } from './negotiation.js';
import type { Transport } from './transport.js';
import type { SessionDescriptionData } from './types.js';

/** How long the SDK waits for the session's node to answer after the PeerConnection was lost, before it moves elsewhere. */
export const NODE_CHECK_TIMEOUT_MS = 2000;

/** What a resume needs: the session, its secret, and how PeerConnections are made. */
export interface ResumeRequest {
  sessionId: string;
  resumeSecret: string;
  configuration: RTCConfiguration;
  createPeerConnection: (configuration: RTCConfiguration) => RTCPeerConnection;
}

/**
 * Resumes the session on a new PeerConnection through `transport`
 * (resumeSession): the SFU answers an offer with the data m-line that carries
 * the BUNDLE transport, as connect() does. Resolves to the connected-to-be
 * PeerConnection and the names the session published before.
 */
export async function resumeOn(request: ResumeRequest, transport: Transport): Promise<{ pc: RTCPeerConnection; nodeUrl: string | null; movedTrackNames: string[] }> {
  const pc = request.createPeerConnection(request.configuration);
  try {
    pc.createDataChannel('switchyard');
    const offer = await setLocal(pc, await pc.createOffer());
    const { resumeSession } = await transport.request<{ resumeSession: { sessionDescription: SessionDescriptionData | null; nodeUrl: string | null; movedTrackNames: string[] } }>(RESUME_SESSION, {
      input: { sessionId: request.sessionId, resumeSecret: request.resumeSecret, sessionDescription: { type: 'OFFER', sdp: offer } },
    });
    if (!resumeSession.sessionDescription) throw new SwitchyardError('INTERNAL', 'Switchyard did not answer the resumed session\'s offer');
    await pc.setRemoteDescription({ type: 'answer', sdp: resumeSession.sessionDescription.sdp });
    return { pc, nodeUrl: resumeSession.nodeUrl, movedTrackNames: resumeSession.movedTrackNames };
  } catch (error) {
    pc.close();
    throw asSwitchyardError(error);
  }
}

/**
 * Whether the session's node still holds it, asked after the PeerConnection
 * was lost: false when the node does not answer within NODE_CHECK_TIMEOUT_MS
 * (it died or stops) or no longer knows the session; then the session moves.
 * True: the node is there, and an ICE restart is what the connection needs.
 */
export async function nodeHolds(transport: Transport, sessionId: string): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), NODE_CHECK_TIMEOUT_MS)));
  try {
    const answer = await Promise.race([transport.request<{ session: { id: string } | null }>(SESSION_ALIVE, { id: sessionId }), timeout]);
    return answer !== 'timeout' && answer.session !== null;
  } catch (error) {
    const code = asSwitchyardError(error).code;
    // Refusals about the caller (an expired token) are not the node's death.
    return code !== 'UNAVAILABLE' && code !== 'SESSION_NOT_FOUND' && code !== 'INTERNAL';
  } finally {
    clearTimeout(timer);
  }
}
