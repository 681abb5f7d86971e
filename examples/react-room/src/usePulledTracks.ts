import { SwitchyardError, type Switchyard } from '@switchyard/client';
import { useEffect, useRef, useState } from 'react';
import type { RoomTrack } from './documents';

/**
 * Pulls the given tracks through the SDK, one pull per track id, and closes
 * the pulls of tracks that left the list (their sources are gone: stopping
 * the transceivers frees their m-sections). Returns the MediaStreamTracks
 * that arrived, by track id.
 */
export function usePulledTracks(sfu: Switchyard, tracks: RoomTrack[]): ReadonlyMap<string, MediaStreamTrack> {
  const [pulled, setPulled] = useState<ReadonlyMap<string, MediaStreamTrack>>(new Map());
  const pulls = useRef(new Map<string, Promise<MediaStreamTrack | undefined>>());
  // The effect runs when the set of ids changes, not on every new array.
  const ids = tracks.map((t) => t.id).join('\n');

  useEffect(() => {
    const wanted = new Set(tracks.map((t) => t.id));
    for (const track of tracks) {
      if (pulls.current.has(track.id)) continue;
      const pull: Promise<MediaStreamTrack | undefined> = sfu.pull(track.sessionId, track.name).then(
        (media) => {
          // Unpublished while the pull ran: give the transceiver back at once.
          if (pulls.current.get(track.id) !== pull) return void sfu.close(media).catch(() => undefined);
          setPulled((current) => new Map(current).set(track.id, media));
          return media;
        },
        (error: unknown) => {
          // A track that went away meanwhile is simply not there; anything else is worth a line.
          if (!(error instanceof SwitchyardError && error.code === 'TRACK_NOT_FOUND')) console.warn('pull failed', track.id, error);
          return undefined;
        },
      );
      pulls.current.set(track.id, pull);
    }
    for (const [id, pull] of pulls.current) {
      if (wanted.has(id)) continue;
      pulls.current.delete(id);
      setPulled((current) => {
        const next = new Map(current);
        next.delete(id);
        return next;
      });
      void pull.then((media) => media && sfu.close(media)).catch(() => undefined);
    }
    // `ids` stands for `tracks`: a new array with the same ids needs no new pulls.
  }, [sfu, ids]);

  return pulled;
}
