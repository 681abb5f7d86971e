import { TRACK_EVENTS, TRACK_SNAPSHOT } from './documents.js';
import type { SwitchyardError } from './errors.js';
import type { Transport } from './transport.js';
import type { TrackFilter, TrackInfo } from './types.js';

export type TrackEventType = 'PUBLISHED' | 'MOVED' | 'UNPUBLISHED' | 'ACTIVE' | 'INACTIVE' | 'MUTED' | 'UNMUTED';

export interface TrackChange {
  type: TrackEventType;
  track: TrackInfo;
}

export interface TrackWatchListener {
  /** The whole current set, after every change (and once after the first snapshot, with change undefined). */
  (tracks: TrackInfo[], change: TrackChange | undefined): void;
}

const RETRY_MS = 1000;
const key = (track: { sessionId: string; name: string }) => `${track.sessionId}\u0000${track.name}`;

/**
 * The published tracks that match a filter, kept current: a snapshot
 * (trackSnapshot) and the track events after its cursor, with no gap and no
 * duplicate. This is how an application keeps room state: Switchyard knows
 * no rooms, a room is the set of tracks tagged `room:<name>`.
 */
export class TrackWatch {
  private readonly current = new Map<string, TrackInfo>();
  private cursor: string | undefined;
  private unsubscribe: (() => void) | undefined;
  private stopped = false;
  private retry: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly transport: Transport,
    readonly filter: TrackFilter,
    private readonly listener: TrackWatchListener,
    private readonly onError: (error: SwitchyardError) => void = () => undefined,
  ) {}

  get tracks(): TrackInfo[] {
    return [...this.current.values()];
  }

  /** Reads the snapshot and subscribes after it; resolves once the first snapshot was delivered. */
  async start(): Promise<void> {
    const { trackSnapshot } = await this.transport.request<{ trackSnapshot: { cursor: string; tracks: TrackInfo[] } }>(TRACK_SNAPSHOT, {
      filter: this.filter,
    });
    if (this.stopped) return;
    this.current.clear();
    for (const track of trackSnapshot.tracks) this.current.set(key(track), track);
    this.cursor = trackSnapshot.cursor;
    this.listener(this.tracks, undefined);
    this.subscribe();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retry);
    this.unsubscribe?.();
  }

  private subscribe(): void {
    this.unsubscribe = this.transport.subscribe<{ trackEvents: { cursor: string } & TrackChange }>(
      TRACK_EVENTS,
      { filter: this.filter, after: this.cursor },
      {
        next: ({ trackEvents }) => this.apply(trackEvents),
        error: (error) => {
          this.onError(error);
          if (this.stopped) return;
          // A stale cursor (BAD_REQUEST) or a lost connection: start again from a fresh snapshot.
          this.retry = setTimeout(() => void this.start().catch((e: SwitchyardError) => this.onError(e)), RETRY_MS);
        },
      },
    );
  }

  private apply(event: { cursor: string } & TrackChange): void {
    this.cursor = event.cursor;
    // MUTED/UNMUTED decide `muted` even if the event's track was read a moment before the change.
    const muted = event.type === 'MUTED' ? true : event.type === 'UNMUTED' ? false : (event.track.muted ?? false);
    const track = { ...event.track, muted };
    if (event.type === 'UNPUBLISHED') this.current.delete(key(track));
    else this.current.set(key(track), track);
    this.listener(this.tracks, { type: event.type, track });
  }
}
