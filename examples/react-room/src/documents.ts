/**
 * The room's GraphQL documents, as plain strings: useRoomTracks.ts parses
 * them with gql, and test/unit/react-room-documents.test.ts validates them
 * against schema/schema.graphql, so a schema change that breaks the example
 * fails there first.
 */
const TRACK_FIELDS = 'id sessionId name kind status muted tags';

/** The room's tracks and the event cursor they are current up to, read together (docs/events.md). */
export const ROOM_SNAPSHOT = /* GraphQL */ `
  query RoomSnapshot($tags: [String!]!) {
    trackSnapshot(filter: { tags: $tags }) { cursor tracks { ${TRACK_FIELDS} } }
  }
`;

/** Every event after the snapshot's cursor (replayed first, then live), with no gap and no duplicate at the seam. */
export const ROOM_EVENTS = /* GraphQL */ `
  subscription RoomEvents($tags: [String!]!, $after: String) {
    trackEvents(filter: { tags: $tags }, after: $after) { cursor type track { ${TRACK_FIELDS} } }
  }
`;

export interface RoomTrack {
  /** "<sessionId>:<name>": Apollo's cache key for the track. */
  id: string;
  sessionId: string;
  name: string;
  kind: 'AUDIO' | 'VIDEO' | 'DATA';
  status: 'ACTIVE' | 'INACTIVE' | 'WAITING';
  muted: boolean;
  tags: string[];
}

export interface RoomSnapshotData {
  trackSnapshot: { cursor: string; tracks: RoomTrack[] };
}

export interface RoomEventsData {
  trackEvents: { cursor: string; type: 'PUBLISHED' | 'UNPUBLISHED' | 'ACTIVE' | 'INACTIVE' | 'MUTED' | 'UNMUTED'; track: RoomTrack };
}

// Type aliases, not interfaces: Apollo's variables must be assignable to a record.
export type SnapshotVariables = { tags: string[] };
export type EventsVariables = { tags: string[]; after: string };
