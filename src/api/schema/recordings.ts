import type { RecordingEvent } from '../../recording/GuardedRecordings.js';
import type { Recording } from '../../recording/Recording.js';
import { badRequest } from '../../errors.js';
import { builder } from './builder.js';
import { SessionRef } from './types.js';

const StateEnum = builder.enumType('RecordingState', {
  description: 'Where a recording stands.',
  values: {
    STARTING: { description: 'The recorder runs and waits for the first key frame (video) or audio.' },
    RECORDING: { description: 'Media is written to the file.' },
    FINISHING: { description: 'Stopped (on request, or its tracks ended): the file is finished and stored.' },
    DONE: { description: 'Stored: see location, sizeBytes and durationMs.' },
    FAILED: { description: '`reason` says why. A recorder that died leaves its file stored up to that moment when it can (location is set).' },
  },
});

const StorageEnum = builder.enumType('RecordingStorage', {
  description: 'Where the file goes.',
  values: {
    LOCAL: { value: 'local' as const, description: 'RECORDINGS_DIR on the recording node.' },
    S3: { value: 's3' as const, description: 'S3-compatible object storage (RECORDINGS_S3_*).' },
  },
});

const StartInput = builder.inputType('StartRecordingInput', {
  description: 'What to record: one track, or a session\'s audio and video together in one file. No transcoding: Opus to Ogg, VP8/VP9 (with Opus) to WebM, H.264 to Matroska.',
  fields: (t) => ({
    sessionId: t.id({ required: true }),
    trackName: t.string({ description: 'One track of the session; omitted: every audio and video track it publishes (at most 4), in one file.' }),
    storage: t.field({ type: StorageEnum, description: 'LOCAL or S3; the server\'s RECORDINGS_STORAGE when omitted.' }),
    spatialLayer: t.int({ description: 'A simulcast track\'s layer to record (0 is the lowest); the top one when omitted.' }),
  }),
});

export const RecordingRef = builder.objectRef<Recording>('Recording').implement({
  description: 'A recording of a track or a session, to a file.',
  fields: (t) => ({
    id: t.exposeID('id'),
    sessionId: t.id({ resolve: (r) => r.target.sessionId }),
    trackName: t.string({ nullable: true, description: 'The track, or null for a session recording.', resolve: (r) => r.target.trackName }),
    trackNames: t.stringList({ description: 'The tracks in the file.', resolve: (r) => [...r.target.trackNames] }),
    state: t.field({ type: StateEnum, resolve: (r) => r.state }),
    reason: t.string({ nullable: true, resolve: (r) => r.reason }),
    storage: t.field({ type: StorageEnum, resolve: (r) => r.storage }),
    format: t.string({ nullable: true, description: 'webm, mkv or ogg.', resolve: (r) => r.format }),
    location: t.string({ nullable: true, description: 'Once stored: the file\'s path on the recording node, or its s3:// URL.', resolve: (r) => r.location }),
    sizeBytes: t.float({ nullable: true, resolve: (r) => r.sizeBytes }),
    durationMs: t.int({ nullable: true, resolve: (r) => r.durationMs }),
    createdAt: t.field({ type: 'DateTime', resolve: (r) => r.createdAt }),
    endedAt: t.field({ type: 'DateTime', nullable: true, resolve: (r) => r.endedAt }),
  }),
});

const RecordingEventRef = builder.objectRef<RecordingEvent>('RecordingEvent').implement({
  description: 'A recording changed state.',
  fields: (t) => ({
    type: t.field({ type: StateEnum, resolve: (e) => e.type }),
    recording: t.field({ type: RecordingRef, resolve: (e) => e.recording }),
    at: t.field({ type: 'DateTime', resolve: (e) => e.at }),
  }),
});

builder.objectField(SessionRef, 'recordings', (t) =>
  t.field({ type: [RecordingRef], description: 'Recordings of this session\'s tracks (running, or finished within a day) that the caller may see.', resolve: (session, _args, { recordings }) => recordings.list(session.id) }),
);

builder.mutationFields((t) => ({
  startRecording: t.field({
    type: RecordingRef,
    description: 'Starts recording a track, or a session\'s audio and video in one file (docs/recording.md). A client token needs grant.record and may record what it may pull. The recording ends with stopRecording or when its tracks end.',
    args: { input: t.arg({ type: StartInput, required: true }) },
    resolve: (_root, { input }, { recordings }) => {
      if (input.spatialLayer != null && (input.spatialLayer < 0 || input.spatialLayer > 3)) throw badRequest('spatialLayer must be from 0 to 3');
      if (input.trackName === '') throw badRequest('trackName must not be empty');
      return recordings.start({ sessionId: String(input.sessionId), trackName: input.trackName ?? null, storage: input.storage ?? null, spatialLayer: input.spatialLayer ?? null });
    },
  }),
  stopRecording: t.field({
    type: RecordingRef,
    description: 'Stops a recording: it finishes and is stored (FINISHING, then DONE). Stopping a finished one answers it as it is.',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, { recordings }) => recordings.stop(String(id)),
  }),
}));

builder.queryFields((t) => ({
  recording: t.field({
    type: RecordingRef,
    nullable: true,
    description: 'A recording (running, or finished within the last day), or null.',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, { recordings }) => recordings.get(String(id)),
  }),
}));

builder.subscriptionFields((t) => ({
  recordingEvents: t.field({
    type: RecordingEventRef,
    description: 'State changes of one session\'s recordings: STARTING, RECORDING, FINISHING, DONE, FAILED.',
    args: { sessionId: t.arg.id({ required: true }) },
    subscribe: (_root, { sessionId }, { recordings }) => recordings.events(String(sessionId)),
    resolve: (event) => event,
  }),
}));
