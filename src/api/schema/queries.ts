import { builder } from './builder.js';
import { toTrackFilter } from './events.js';
import { TrackFilterInput } from './inputs.js';
import { SessionRef, TrackRef } from './types.js';

builder.queryType({
  fields: (t) => ({
    session: t.field({
      type: SessionRef,
      nullable: true,
      description: 'A live session, or null when there is none with this id.',
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, { id }, { sessions }) => sessions.get(String(id)) ?? null,
    }),
    track: t.field({
      type: TrackRef,
      nullable: true,
      description: 'A published track, or null when that session publishes no track of that name.',
      args: { sessionId: t.arg.id({ required: true }), name: t.arg.string({ required: true }) },
      resolve: (_root, { sessionId, name }, { sessions }) => sessions.tracks.get(String(sessionId), name) ?? null,
    }),
    tracks: t.field({
      type: [TrackRef],
      description: 'Published tracks that match the filter: the snapshot that trackEvents then keeps current.',
      args: { filter: t.arg({ type: TrackFilterInput }) },
      resolve: (_root, { filter }, { sessions }) => sessions.listTracks(toTrackFilter(filter)),
    }),
  }),
});
