import { useEffect, useMemo, useState } from 'react';
import { nameOf, roomTag, type Call } from './call';
import type { RoomTrack } from './documents';
import { Tile } from './Tile';
import { usePulledTracks } from './usePulledTracks';
import { useRoomTracks } from './useRoomTracks';

/** The room: this page's own tile, and one tile per other session whose tracks carry the room's tag. */
export function Room({ call, onLeave }: { call: Call; onLeave: () => void }) {
  const { sfu } = call;
  const { tracks, error } = useRoomTracks(roomTag(call.room));
  // Others' media; data channels (kind DATA) are subscribed to, not pulled, and this example has none.
  const remote = useMemo(() => tracks.filter((t) => t.sessionId !== sfu.sessionId && t.kind !== 'DATA'), [tracks, sfu]);
  const pulled = usePulledTracks(sfu, remote);
  const ownVideo = useMemo(() => call.media.getVideoTracks(), [call.media]);

  const [state, setState] = useState<RTCPeerConnectionState>(sfu.connectionState);
  useEffect(() => sfu.on('connectionstatechange', setState), [sfu]);
  useEffect(() => sfu.on('closed', ({ byServer }) => byServer && onLeave()), [sfu, onLeave]);

  const participants = useMemo(() => {
    const bySession = new Map<string, RoomTrack[]>();
    for (const track of remote) bySession.set(track.sessionId, [...(bySession.get(track.sessionId) ?? []), track]);
    return [...bySession].map(([sessionId, list]) => ({
      sessionId,
      name: nameOf(list),
      media: list.flatMap((t) => pulled.get(t.id) ?? []),
      // `muted` arrives at once (MUTED); INACTIVE after seconds without media.
      cameraOff: !list.some((t) => t.kind === 'VIDEO' && !t.muted && t.status !== 'INACTIVE'),
    }));
  }, [remote, pulled]);

  return (
    <main className="room">
      <header>
        <h1>
          {call.room} <small>{participants.length + 1} in the room</small>
        </h1>
        <span className="state" data-state={state}>
          {state}
        </span>
        <button id="leave" onClick={onLeave}>
          Leave
        </button>
      </header>
      {error && <p className="error">Room state unavailable: {error.message}</p>}
      <section className="tiles">
        <Tile self name={call.name} sessionId={sfu.sessionId} tracks={ownVideo} />
        {participants.map((p) => (
          <Tile key={p.sessionId} name={p.name} sessionId={p.sessionId} tracks={p.media} cameraOff={p.cameraOff} />
        ))}
      </section>
    </main>
  );
}
