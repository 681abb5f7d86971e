import { useEffect, useRef, useState } from 'react';

interface TileProps {
  name: string;
  sessionId: string;
  /** The participant's camera and microphone, as far as they have arrived. */
  tracks: MediaStreamTrack[];
  /** This page's own tile: its microphone is never played back. */
  self?: boolean;
  cameraOff?: boolean;
}

/** One participant: a <video> playing one MediaStream that holds their tracks. */
export function Tile({ name, sessionId, tracks, self = false, cameraOff = false }: TileProps) {
  const video = useRef<HTMLVideoElement>(null);
  // One stream for the tile's lifetime: a new srcObject would restart playback (a flicker when the mic arrives after the camera).
  const [stream] = useState(() => new MediaStream());

  useEffect(() => {
    for (const track of stream.getTracks()) if (!tracks.includes(track)) stream.removeTrack(track);
    for (const track of tracks) if (!stream.getTracks().includes(track)) stream.addTrack(track);
    const element = video.current;
    if (!element) return;
    if (element.srcObject !== stream) element.srcObject = stream;
    void element.play().catch(() => undefined);
  }, [stream, tracks]);

  return (
    <figure className={`tile${self ? ' self' : ''}${cameraOff ? ' camera-off' : ''}`} data-name={name} data-session-id={sessionId}>
      <video ref={video} autoPlay playsInline muted={self} />
      <figcaption>{self ? `${name} (you)` : name}</figcaption>
    </figure>
  );
}
