import { Switchyard } from '@switchyard/client';
import { getToken, SFU_URL } from './config';
import type { RoomTrack } from './documents';

/** This page in a room: its session (one PeerConnection) and the camera and microphone it publishes. */
export interface Call {
  readonly sfu: Switchyard;
  readonly media: MediaStream;
  readonly room: string;
  readonly name: string;
}

// Switchyard knows no rooms or names: a room is the set of tracks tagged room:<name>,
// and each track carries its publisher's display name. Tags are printable ASCII
// without spaces, so both travel URI-encoded.
const tag = (prefix: string, value: string) => `${prefix}:${encodeURIComponent(value)}`.slice(0, 128);
export const roomTag = (room: string) => tag('room', room);

/** The display name a participant's tracks carry (name:<encoded>). */
export function nameOf(tracks: RoomTrack[]): string {
  const found = tracks.flatMap((t) => t.tags).find((t) => t.startsWith('name:'));
  try {
    return found ? decodeURIComponent(found.slice('name:'.length)) : 'Guest';
  } catch {
    return 'Guest';
  }
}

/** Opens a session and publishes the camera and microphone into the room. */
export async function joinRoom(room: string, name: string): Promise<Call> {
  const media = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 }, audio: true });
  let sfu: Switchyard | undefined;
  try {
    sfu = await Switchyard.connect({ url: SFU_URL, correlationId: name, ...(getToken ? { token: getToken } : {}) });
    const [camera, mic] = [media.getVideoTracks()[0], media.getAudioTracks()[0]];
    if (!camera || !mic) throw new Error('no camera or microphone');
    const tags = [roomTag(room), tag('name', name)];
    await sfu.push(camera, { name: 'camera', tags });
    await sfu.push(mic, { name: 'mic', tags });
    return { sfu, media, room, name };
  } catch (error) {
    for (const track of media.getTracks()) track.stop();
    await sfu?.leave().catch(() => undefined);
    throw error;
  }
}

/** Closes the session: the others get UNPUBLISHED for its tracks at once. */
export async function leaveRoom(call: Call): Promise<void> {
  for (const track of call.media.getTracks()) track.stop();
  await call.sfu.leave();
}
