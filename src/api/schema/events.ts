import type { SessionEvent } from '../../events/SessionEventBus.js';
import type { TrackEvent, TrackView } from '../../events/TrackEventBus.js';
import { matchesFilter, type TrackFilter } from '../../tracks/TrackRegistry.js';
import { builder } from './builder.js';
import { ConnectionQualityEnum, DataChannelEndReasonEnum, MoveReasonEnum, SessionEventTypeEnum, TrackEventTypeEnum } from './enums.js';
import { TrackFilterInput } from './inputs.js';
import { SessionRef, TrackRef } from './types.js';

export const TrackEventRef = builder.objectRef<TrackEvent>('TrackEvent').implement({
  description: 'A change in the availability of a published track.',
  fields: (t) => ({
    cursor: t.exposeString('cursor', { description: 'Opaque, ordered position of this event; pass it as `after` to resume.' }),
    type: t.expose('type', { type: TrackEventTypeEnum }),
    track: t.field({ type: TrackRef, description: 'The track as it was when the event happened.', resolve: (e) => e.track }),
    at: t.expose('at', { type: 'DateTime' }),
  }),
});

export const SessionEventRef = builder.objectRef<SessionEvent>('SessionEvent').implement({
  description: 'Something that happened to one session.',
  fields: (t) => ({
    type: t.expose('type', { type: SessionEventTypeEnum }),
    session: t.field({ type: SessionRef, resolve: (e) => e.session }),
    mid: t.exposeString('mid', {
      nullable: true,
      description: 'TRACK_ENDED: the transceiver whose source went away. LAYERS_IN_DEMAND: the transceiver of the published track. DOMINANT_SPEAKER_CHANGED: the transceiver carrying the speaker.',
    }),
    layersInDemand: t.stringList({
      nullable: true,
      description:
        'LAYERS_IN_DEMAND: RIDs of the simulcast layers someone watches, lowest first. The lowest layer is always included; layers between it and the highest watched one stay on as fallbacks.',
      resolve: (e) => (e.layersInDemand ? [...e.layersInDemand] : null),
    }),
    dataChannelId: t.int({
      nullable: true,
      description: 'DATA_CHANNEL_ENDED: the id of the subscribed data channel that ended.',
      resolve: (e) => e.dataChannelId ?? null,
    }),
    dataChannelEndReason: t.field({
      type: DataChannelEndReasonEnum,
      nullable: true,
      description: 'DATA_CHANNEL_ENDED: why the channel ended.',
      resolve: (e) => e.dataChannelEndReason ?? null,
    }),
    quality: t.field({
      type: ConnectionQualityEnum,
      nullable: true,
      description: 'QUALITY_CHANGED: the session\'s connection quality now.',
      resolve: (e) => e.quality ?? null,
    }),
    speaker: t.field({
      type: TrackRef,
      nullable: true,
      description: 'DOMINANT_SPEAKER_CHANGED: the pulled audio track now speaking; `mid` is the transceiver that carries it in this session.',
      resolve: (e) => e.speaker ?? null,
    }),
    moveTo: t.string({
      nullable: true,
      description: 'MOVE_REQUESTED: the public URL (PUBLIC_URL) of the node to resume the session on; null: resume through the URL you use (a load balancer, or this node, which places it). MOVED: the public URL of the node that holds it now, if it has one.',
      resolve: (e) => e.moveTo ?? null,
    }),
    moveReason: t.field({
      type: MoveReasonEnum,
      nullable: true,
      description: 'MOVE_REQUESTED: why the node asks the session to move.',
      resolve: (e) => e.moveReason ?? null,
    }),
    at: t.expose('at', { type: 'DateTime' }),
  }),
});

export const TrackSnapshotRef = builder
  .objectRef<{ cursor: string; tracks: TrackView[] }>('TrackSnapshot')
  .implement({
    description: 'Published tracks and the event cursor they are current up to, read together.',
    fields: (t) => ({
      cursor: t.exposeString('cursor', { description: 'Subscribe to trackEvents(after: cursor) to keep the list current.' }),
      tracks: t.field({ type: [TrackRef], resolve: (s) => s.tracks }),
    }),
  });

type FilterInput = { sessionIds?: readonly (string | number)[] | null; tags?: readonly string[] | null; kind?: 'audio' | 'video' | 'data' | null } | null | undefined;

export function toTrackFilter(filter: FilterInput): TrackFilter {
  return { sessionIds: filter?.sessionIds?.map(String) ?? null, tags: filter?.tags ?? null, kind: filter?.kind ?? null };
}

builder.queryFields((t) => ({
  trackEventsCursor: t.string({
    description: 'The cursor of the latest track event. Read it in the same request as `tracks` and subscribe after it.',
    resolve: (_root, _args, { guard }) => guard.trackEventCursor(),
  }),
  trackSnapshot: t.field({
    type: TrackSnapshotRef,
    description: 'Published tracks that match the filter, with the event cursor they are current up to.',
    args: { filter: t.arg({ type: TrackFilterInput }) },
    resolve: (_root, { filter }, { guard }) => guard.trackSnapshot(toTrackFilter(filter)),
  }),
}));

builder.subscriptionType({
  fields: (t) => ({
    trackEvents: t.field({
      type: TrackEventRef,
      description:
        'Track availability: PUBLISHED/UNPUBLISHED/ACTIVE/INACTIVE of matching tracks. With `after`, events since that cursor are replayed first.',
      args: { filter: t.arg({ type: TrackFilterInput }), after: t.arg.string() },
      subscribe: (_root, { filter, after }, { guard }) => {
        const wanted = toTrackFilter(filter);
        return guard.trackEvents(after ?? null, (track) => matchesFilter(wanted, track));
      },
      resolve: (event) => event,
    }),
    sessionEvents: t.field({
      type: SessionEventRef,
      description: 'What happens to one session: connection state, ended sources, offers waiting, closing.',
      args: { sessionId: t.arg.id({ required: true }) },
      subscribe: (_root, { sessionId }, { guard }) => guard.sessionEvents(String(sessionId)),
      resolve: (event) => event,
    }),
  }),
});
