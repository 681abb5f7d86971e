/**
 * A room built only from what Switchyard tells: the tracks tagged
 * `room:<name>`, read once (trackSnapshot) and kept current (trackEvents
 * after the snapshot's cursor). Switchyard knows no rooms; this is all an
 * application needs to know who is present, what they publish and what to
 * pull.
 *
 * Run against a server: npx tsx examples/room.ts http://127.0.0.1:4000 lobby
 */
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

export interface RoomTrack {
  sessionId: string;
  name: string;
  /** DATA: a data channel (subscribeDataChannels), not media to pull. */
  kind: 'AUDIO' | 'VIDEO' | 'DATA';
  status: 'ACTIVE' | 'INACTIVE' | 'WAITING';
}

interface TrackEventMessage {
  cursor: string;
  type: 'PUBLISHED' | 'UNPUBLISHED' | 'ACTIVE' | 'INACTIVE';
  track: RoomTrack;
}

const TRACK_FIELDS = 'sessionId name kind status';

/** Participants (sessions) of one room and the tracks each publishes. */
export class Room {
  /** sessionId -> track name -> track */
  readonly participants = new Map<string, Map<string, RoomTrack>>();
  /** Resume point if the subscription drops: subscribe again after it. */
  cursor = '';
  private dispose: (() => void) | undefined;

  constructor(
    private readonly url: string,
    readonly name: string,
    private readonly onChange: (room: Room) => void = () => undefined,
  ) {}

  async join(client: Client = createClient({ url: `${this.url.replace(/^http/, 'ws')}/graphql`, webSocketImpl: WebSocket })): Promise<void> {
    const response = await fetch(`${this.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        query: `query($tags: [String!]) { trackSnapshot(filter: { tags: $tags }) { cursor tracks { ${TRACK_FIELDS} } } }`,
        variables: { tags: [`room:${this.name}`] },
      }),
    });
    const { data } = (await response.json()) as { data: { trackSnapshot: { cursor: string; tracks: RoomTrack[] } } };
    for (const track of data.trackSnapshot.tracks) this.put(track);
    this.cursor = data.trackSnapshot.cursor;
    this.onChange(this);
    this.dispose = client.subscribe(
      {
        query: `subscription($tags: [String!], $after: String) { trackEvents(filter: { tags: $tags }, after: $after) { cursor type track { ${TRACK_FIELDS} } } }`,
        variables: { tags: [`room:${this.name}`], after: this.cursor },
      },
      {
        next: ({ data: events }) => this.apply((events as { trackEvents: TrackEventMessage }).trackEvents),
        error: (error) => console.error('room subscription failed; join again to resume', error),
        complete: () => undefined,
      },
    );
  }

  leave(): void {
    this.dispose?.();
  }

  /** What a participant should pull: every media track of the others (their data channels are subscribed to, and pullTracks refuses them). */
  toPull(mySessionId: string): RoomTrack[] {
    return [...this.participants.entries()]
      .filter(([id]) => id !== mySessionId)
      .flatMap(([, tracks]) => [...tracks.values()])
      .filter((track) => track.kind !== 'DATA');
  }

  private apply(event: TrackEventMessage): void {
    this.cursor = event.cursor;
    if (event.type === 'UNPUBLISHED') {
      const tracks = this.participants.get(event.track.sessionId);
      tracks?.delete(event.track.name);
      // A participant is present while it publishes something in the room.
      if (tracks?.size === 0) this.participants.delete(event.track.sessionId);
    } else {
      this.put(event.track);
    }
    this.onChange(this);
  }

  private put(track: RoomTrack): void {
    let tracks = this.participants.get(track.sessionId);
    if (!tracks) this.participants.set(track.sessionId, (tracks = new Map()));
    tracks.set(track.name, track);
  }
}

// Run directly: print the room every time it changes.
if (import.meta.url === `file://${process.argv[1]}`) {
  const [url = 'http://127.0.0.1:4000', name = 'lobby'] = process.argv.slice(2);
  const room = new Room(url, name, (r) => {
    console.log(`\nroom:${r.name} (${r.participants.size} present)`);
    for (const [sessionId, tracks] of r.participants) {
      console.log(`  ${sessionId}: ${[...tracks.values()].map((t) => `${t.name} ${t.kind} ${t.status}`).join(', ')}`);
    }
  });
  await room.join();
}
