import { EventEmitter } from 'node:events';

export type RecordingState = 'STARTING' | 'RECORDING' | 'FINISHING' | 'DONE' | 'FAILED';

/** What a recording was asked to take: one track, or every media track of a session in one file. */
export interface RecordingTarget {
  readonly sessionId: string;
  /** null: the session's audio and video together. */
  readonly trackName: string | null;
  /** The tracks it records (their names at the start). */
  readonly trackNames: readonly string[];
}

/** One recording and where it stands; `state` events announce every change (the API's subscriptions, webhooks). */
export class Recording extends EventEmitter<{ state: [recording: Recording] }> {
  state: RecordingState = 'STARTING';
  readonly createdAt = new Date();
  endedAt: Date | null = null;
  /** FAILED: why; DONE: null. */
  reason: string | null = null;
  /** Once finished: the file's size, its duration, and where it is (a path of the node, or an s3:// URL). */
  sizeBytes: number | null = null;
  durationMs: number | null = null;
  location: string | null = null;
  /** The file's format once known (webm, mkv, ogg). */
  format: string | null = null;
  /** Runs on another node, which tells this one (its session's node) how it goes: listed and watched here, nothing more. */
  elsewhere = false;

  constructor(
    readonly id: string,
    readonly appId: string,
    /** The client-token subject that started it (null for an app backend). */
    readonly owner: string | null,
    readonly target: RecordingTarget,
    readonly storage: 'local' | 's3',
  ) {
    super();
  }

  get open(): boolean {
    return this.state === 'STARTING' || this.state === 'RECORDING';
  }

  get finished(): boolean {
    return this.state === 'DONE' || this.state === 'FAILED';
  }

  set(state: RecordingState, changes: Partial<Pick<Recording, 'reason' | 'sizeBytes' | 'durationMs' | 'location' | 'format'>> = {}): void {
    if (this.finished) return;
    Object.assign(this, changes);
    this.state = state;
    if (this.finished) this.endedAt = new Date();
    this.emit('state', this);
  }
}
