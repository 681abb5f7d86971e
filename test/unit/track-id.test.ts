import { randomUUID } from 'node:crypto';
import { graphql } from 'graphql';
import { describe, expect, it } from 'vitest';
import { buildSchema } from '../../src/api/schema/index.js';
import type { TrackView } from '../../src/tracks/PublishedTrack.js';
import { trackId } from '../../src/tracks/trackId.js';

/**
 * Track.id keys tracks in normalized caches: it must depend on the track's
 * identity (sessionId, name) and on nothing that changes during its life.
 */
describe('Track.id', () => {
  const session = '0b7f6f0e-3c1a-4d8e-9a51-6c2d1e0f4a77';

  it('is stable: the same pair gives the same id, whatever the track\'s state', () => {
    expect(trackId(session, 'camera')).toBe(trackId(session, 'camera'));
    expect(trackId(session, 'camera')).toBe(`${session}:camera`);
  });

  it('is distinct for distinct tracks: another name, another session, or names that look like ids', () => {
    const other = randomUUID();
    const ids = [
      trackId(session, 'camera'),
      trackId(session, 'mic'),
      trackId(other, 'camera'),
      // Names may contain ':' and '/', the separators an id might be split on.
      trackId(session, 'a:b'),
      trackId(session, 'a'),
      trackId(session, `${other}:camera`),
      trackId(other, 'b'),
    ];
    expect(new Set(ids).size).toBe(ids.length);
    // Never a Session.id: a UUID has no ':'.
    expect(ids.some((id) => id === session || id === other)).toBe(false);
  });

  it('splits back into (sessionId, name) at the first ":", even when the name has ":"', () => {
    for (const name of ['camera', 'a:b', 'screen:1:hi', '#x/y', '~'.repeat(64)]) {
      const id = trackId(session, name);
      const colon = id.indexOf(':');
      expect([id.slice(0, colon), id.slice(colon + 1)]).toEqual([session, name]);
    }
  });

  it('is the same for a track published again under the same name in the same session', () => {
    // What "republished" means: closeTracks (or closeDataChannels) unpublished
    // the track, and a later pushTracks in the same session used the name again.
    // Nothing of the publication (publishedAt, mid, kind) goes into the id, so
    // a cache updates the same entry; publishedAt tells the publications apart.
    const first = { sessionId: session, name: 'camera', publishedAt: new Date(1_000), kind: 'video' };
    const again = { sessionId: session, name: 'camera', publishedAt: new Date(9_000), kind: 'audio' };
    expect(trackId(again.sessionId, again.name)).toBe(trackId(first.sessionId, first.name));
    // The same name in another session is another track.
    expect(trackId(randomUUID(), 'camera')).not.toBe(trackId(session, 'camera'));
  });
});

describe('Track.id in the schema', () => {
  const view = (over: Partial<TrackView>): TrackView => ({
    appId: 'acme',
    owner: null,
    sessionId: '5d1c2b3a-0000-4000-8000-000000000001',
    name: 'camera',
    kind: 'video',
    status: 'ACTIVE',
    tags: [],
    simulcastRids: [],
    publishedAt: new Date(0),
    muted: false,
    ...over,
  });

  it('is resolved from (sessionId, name) alone, the same in track and trackSnapshot whatever the status', async () => {
    const active = view({});
    const inactive = view({ status: 'INACTIVE', muted: true, publishedAt: new Date(5_000) });
    const guard = { track: async () => active, trackSnapshot: async () => ({ cursor: 'c', tracks: [inactive] }) };
    const result = await graphql({
      schema: buildSchema(),
      source: 'query { track(sessionId: "s", name: "camera") { id status } trackSnapshot { tracks { id status } } }',
      contextValue: { guard },
    });
    expect(result.errors).toBeUndefined();
    const expected = `${active.sessionId}:camera`;
    expect(result.data).toEqual({
      track: { id: expected, status: 'ACTIVE' },
      trackSnapshot: { tracks: [{ id: expected, status: 'INACTIVE' }] },
    });
  });
});
