import { gql, type TypedDocumentNode } from '@apollo/client';
import { useQuery } from '@apollo/client/react';
import { useEffect, useState } from 'react';
import { ROOM_EVENTS, ROOM_SNAPSHOT, type EventsVariables, type RoomEventsData, type RoomSnapshotData, type RoomTrack, type SnapshotVariables } from './documents';

const SNAPSHOT: TypedDocumentNode<RoomSnapshotData, SnapshotVariables> = gql(ROOM_SNAPSHOT);
const EVENTS: TypedDocumentNode<RoomEventsData, EventsVariables> = gql(ROOM_EVENTS);

/**
 * The tracks tagged `tag`, kept current: the snapshot (trackSnapshot) and
 * its cursor from one query, then trackEvents(after: cursor) through
 * subscribeToMore. Only membership needs code here (PUBLISHED adds a track,
 * UNPUBLISHED removes it); status and muted changes reach the list through
 * the normalized cache, since each event carries the track with its id.
 */
export function useRoomTracks(tag: string): { tracks: RoomTrack[]; loading: boolean; error: Error | undefined } {
  const variables = { tags: [tag] };
  // network-only: a snapshot's cursor is only good with the tracks read with it, never a cached copy.
  const { data, loading, error, subscribeToMore, refetch } = useQuery(SNAPSHOT, { variables, fetchPolicy: 'network-only' });
  const cursor = data?.trackSnapshot.cursor;
  // Bumped when the subscription fails: subscribe again even if the new snapshot has the same cursor.
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    if (!cursor) return;
    return subscribeToMore({
      document: EVENTS,
      variables: { tags: [tag], after: cursor },
      updateQuery: (_, { complete, previousData, subscriptionData }) => {
        if (!complete) return undefined;
        const { type, track } = subscriptionData.data.trackEvents;
        const tracks = previousData.trackSnapshot.tracks;
        const known = tracks.some((t) => t.id === track.id);
        // Idempotent on purpose: after a reconnect graphql-ws subscribes again with the
        // same `after`, so events already applied come again; the list ends the same.
        if (type === 'PUBLISHED' && !known) return { trackSnapshot: { ...previousData.trackSnapshot, tracks: [...tracks, track] } };
        if (type === 'UNPUBLISHED' && known) return { trackSnapshot: { ...previousData.trackSnapshot, tracks: tracks.filter((t) => t.id !== track.id) } };
        return undefined;
      },
      // A cursor older than the node keeps (BAD_REQUEST), or a lost connection
      // graphql-ws gave up on: read a new snapshot and follow it instead.
      onError: (failure) => {
        console.warn('trackEvents failed; reloading the snapshot', failure);
        void refetch().finally(() => setAttempt((n) => n + 1));
      },
    });
  }, [cursor, tag, attempt, subscribeToMore, refetch]);

  return { tracks: data?.trackSnapshot.tracks ?? [], loading, error };
}
