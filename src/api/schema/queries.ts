import { builder } from './builder.js';
import { toTrackFilter } from './events.js';
import { TrackFilterInput } from './inputs.js';
import { SessionRef, TrackRef } from './types.js';

builder.queryType({
  fields: (t) => ({
    session: t.field({
      type: SessionRef,
      nullable: true,
      description: 'A live session, or null when there is none with this id (for this app). FORBIDDEN when a client token may not act on it.',
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, { id }, { guard }) => guard.session(String(id)),
    }),
    track: t.field({
      type: TrackRef,
      nullable: true,
      description: 'A published track, or null when that session publishes no track of that name (for this app). FORBIDDEN when a client token may not pull it.',
      args: { sessionId: t.arg.id({ required: true }), name: t.arg.string({ required: true }) },
      resolve: (_root, { sessionId, name }, { guard }) => guard.track(String(sessionId), name),
    }),
    tracks: t.field({
      type: [TrackRef],
      description: 'Published tracks that match the filter: the snapshot that trackEvents then keeps current. A client token sees only the tracks it may pull.',
      args: { filter: t.arg({ type: TrackFilterInput }) },
      resolve: async (_root, { filter }, { guard }) => (await guard.trackSnapshot(toTrackFilter(filter))).tracks,
    }),
  }),
});
