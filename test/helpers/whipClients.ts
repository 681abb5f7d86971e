import wrtc from '@roamhq/wrtc';
import { fakeCamera, fakeMicrophone } from './media.js';

const { RTCPeerConnection } = wrtc;

/**
 * WHIP and WHEP clients on libwebrtc with plain fetch: the HTTP exchange of
 * RFC 9725 and the WHEP draft, nothing of Switchyard's code. Each returns a
 * `close` that the test calls when done.
 */
export async function whipPublish(base: string, stream: string, query = '', headers: Record<string, string> = {}) {
  const camera = fakeCamera();
  const microphone = fakeMicrophone();
  const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
  pc.addTransceiver(microphone.track, { direction: 'sendonly' });
  pc.addTransceiver(camera.track, { direction: 'sendonly' });
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  const response = await fetch(`${base}/whip/${stream}${query}`, { method: 'POST', headers: { 'content-type': 'application/sdp', ...headers }, body: offer.sdp });
  const close = () => {
    camera.stop();
    microphone.stop();
    pc.close();
  };
  return { pc, response, answer: await response.text(), close };
}

/** A WHEP player's first POST; `withoutMid` offers no mid header extension (then the SFU can answer it). */
export async function whepPlay(base: string, path: string, options: { withoutMid?: boolean; headers?: Record<string, string> } = {}) {
  const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
  pc.addTransceiver('audio', { direction: 'recvonly' });
  pc.addTransceiver('video', { direction: 'recvonly' });
  const tracks: MediaStreamTrack[] = [];
  pc.ontrack = (event: RTCTrackEvent) => tracks.push(event.track);
  const created = await pc.createOffer();
  const sdp = options.withoutMid ? (created.sdp as string).replace(/a=extmap:\d+ urn:ietf:params:rtp-hdrext:sdes:mid\r\n/g, '') : created.sdp;
  const offer = { type: 'offer' as const, sdp };
  await pc.setLocalDescription(offer);
  const response = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/sdp', ...(options.headers ?? {}) }, body: offer.sdp });
  return { pc, response, tracks, body: await response.text(), close: () => pc.close() };
}

/**
 * Finishes a WHEP exchange as a player that implements the draft's
 * counter-offer: applies the 201 answer, or rolls back, answers the 406
 * offer and PATCHes the answer to the resource. Returns the PATCH status (or 201).
 */
export async function completeWhep(base: string, player: Awaited<ReturnType<typeof whepPlay>>, headers: Record<string, string> = {}): Promise<number> {
  if (player.response.status === 201) {
    await player.pc.setRemoteDescription({ type: 'answer', sdp: player.body });
    return 201;
  }
  await player.pc.setLocalDescription({ type: 'rollback' });
  await player.pc.setRemoteDescription({ type: 'offer', sdp: player.body });
  const answer = await player.pc.createAnswer();
  await player.pc.setLocalDescription(answer);
  const location = player.response.headers.get('location') as string;
  const patched = await fetch(`${base}${location}`, { method: 'PATCH', headers: { 'content-type': 'application/sdp', ...headers }, body: answer.sdp });
  return patched.status;
}
