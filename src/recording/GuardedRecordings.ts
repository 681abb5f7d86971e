import type { AccessPolicy } from '../auth/access.js';
import { ErrorCode, SwitchyardError } from '../errors.js';
import { streamOf, type Outbox } from '../events/EventStream.js';
import type { Recording, RecordingState } from './Recording.js';
import type { RecordingRequest, Recordings } from './Recordings.js';

/** A change of one recording, as the recordingEvents subscription tells it. */
export interface RecordingEvent {
  readonly type: RecordingState;
  readonly recording: Recording;
  readonly at: Date;
}

export const recordingNotFound = (id: string) => new SwitchyardError(ErrorCode.BAD_REQUEST, `recording ${id} does not exist`, { extensions: { recordingErrorCode: 'recording_not_found' } });

/** One caller's view of the node's recordings: what its access allows, nothing of another app. */
export class GuardedRecordings {
  constructor(
    private readonly recordings: Recordings,
    private readonly access: AccessPolicy,
    private readonly outbox?: Outbox,
  ) {}

  start(request: RecordingRequest): Promise<Recording> {
    return this.recordings.start(this.access, request);
  }

  stop(id: string): Recording {
    const p = this.access.principal;
    if (p.kind === 'client' && !p.grant.record) throw new SwitchyardError(ErrorCode.FORBIDDEN, 'this token may not record (grant.record)');
    const recording = this.recordings.stop(this.access, id);
    if (!recording) throw recordingNotFound(id);
    return recording;
  }

  get(id: string): Recording | null {
    return this.recordings.get(this.access, id) ?? null;
  }

  list(sessionId: string | null): Recording[] {
    return this.recordings.list(this.access, sessionId);
  }

  /** State changes of one session's recordings that the caller may see. */
  events(sessionId: string): AsyncIterableIterator<RecordingEvent> {
    return streamOf(
      this.outbox,
      (listener) => (this.recordings.on('state', listener), () => this.recordings.off('state', listener)),
      (recording: Recording) => (recording.target.sessionId === sessionId && this.recordings.get(this.access, recording.id) ? { type: recording.state, recording, at: new Date() } : undefined),
    );
  }
}
