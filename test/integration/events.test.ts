import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { gqlOk } from '../helpers/graphql.js';
import { fakeCamera, fakeMicrophone, waitFor } from '../helpers/media.js';
import { TestPeer } from '../helpers/peer.js';
import { startTestServer } from '../helpers/server.js';
import { collect, wsClient } from '../helpers/subscriptions.js';

const TRACK_EVENTS = `subscription($filter: TrackFilter, $after: String) {
  trackEvents(filter: $filter, after: $after) { cursor type track { sessionId name kind status tags } }
}`;

interface Ev {
  cursor: string;
  type: string;
  track: { sessionId: string; name: string; kind: string; status: string; tags: string[] };
}

let server: Switchyard;
const stops: (() => unknown)[] = [];

beforeAll(async () => {
  server = await startTestServer({ WORKERS: '2', TRACK_INACTIVE_AFTER_MS: '600', TRACK_UNPUBLISH_AFTER_MS: '60000' });
});

afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
  await server?.stop();
});

async function publisher(tracks: { kind: 'video' | 'audio'; name: string; tags: string[] }[]) {
  const peer = new TestPeer(server.url);
  stops.push(() => peer.stop());
  await peer.createSession();
  const media = tracks.map((t) => (t.kind === 'video' ? fakeCamera(160, 120) : fakeMicrophone()));
  stops.push(...media.map((m) => m.stop));
  await peer.push(tracks.map((t, i) => ({ track: media[i]!.track, name: t.name, tags: t.tags })));
  return { peer, media };
}

function subscribe(variables: Record<string, unknown>) {
  const client = wsClient(server.url);
  stops.push(() => client.dispose());
  const sub = collect<Ev>(client, TRACK_EVENTS, variables, (d) => d.trackEvents);
  stops.push(() => sub.close());
  return sub;
}

/** The live set an application keeps from a snapshot and the events after it. */
function apply(set: Map<string, Ev['track']>, events: Ev[]) {
  for (const e of events) {
    const key = `${e.track.sessionId}/${e.track.name}`;
    if (e.type === 'UNPUBLISHED') set.delete(key);
    else set.set(key, e.track);
  }
  return set;
}

describe('trackEvents', () => {
  it('tells, in order, when a track is published, gets media, loses it, and is unpublished', async () => {
    const sub = subscribe({ filter: { tags: ['room:order'] } });
    await new Promise((resolve) => setTimeout(resolve, 200)); // the subscription is set up
    const { peer, media } = await publisher([{ kind: 'video', name: 'camera', tags: ['room:order'] }]);
    await sub.waitFor(2, 10_000);
    media[0]!.stop();
    await sub.waitFor(3, 10_000);
    await gqlOk(server.url, 'mutation($id: ID!) { closeSession(input: { sessionId: $id }) { sessionId } }', { id: peer.sessionId });
    const events = await sub.waitFor(4, 10_000);
    expect(events.map((e) => e.type)).toEqual(['PUBLISHED', 'ACTIVE', 'INACTIVE', 'UNPUBLISHED']);
    expect(events.every((e) => e.track.name === 'camera' && e.track.sessionId === peer.sessionId)).toBe(true);
    const cursors = events.map((e) => e.cursor);
    expect(new Set(cursors).size).toBe(4);
  });

  it('delivers exactly the tracks the filter selects', async () => {
    const byTag = subscribe({ filter: { tags: ['room:f1', 'team:blue'] } });
    const byKind = subscribe({ filter: { tags: ['room:f1'], kind: 'AUDIO' } });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const a = await publisher([
      { kind: 'video', name: 'cam', tags: ['room:f1', 'team:blue'] },
      { kind: 'audio', name: 'mic', tags: ['room:f1'] },
    ]);
    await publisher([{ kind: 'video', name: 'cam', tags: ['room:f2', 'team:blue'] }]);
    const bySession = subscribe({ filter: { sessionIds: [a.peer.sessionId] }, after: null });
    await byTag.waitFor(1);
    await byKind.waitFor(1);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(new Set(byTag.items.map((e) => `${e.track.sessionId}/${e.track.name}`))).toEqual(new Set([`${a.peer.sessionId}/cam`]));
    expect(new Set(byKind.items.map((e) => e.track.name))).toEqual(new Set(['mic']));
    expect(bySession.items.every((e) => e.track.sessionId === a.peer.sessionId)).toBe(true);
  });

  it('a subscriber that leaves and resumes from its last cursor ends with the same set as one that stayed', async () => {
    const snapshot = await gqlOk(server.url, '{ trackSnapshot(filter: { tags: ["room:resume"] }) { cursor tracks { sessionId name kind status tags } } }');
    const start = new Map<string, Ev['track']>(snapshot.trackSnapshot.tracks.map((t: Ev['track']) => [`${t.sessionId}/${t.name}`, t]));
    const stayer = subscribe({ filter: { tags: ['room:resume'] }, after: snapshot.trackSnapshot.cursor });
    const leaver = subscribe({ filter: { tags: ['room:resume'] }, after: snapshot.trackSnapshot.cursor });

    const first = await publisher([{ kind: 'audio', name: 'mic', tags: ['room:resume'] }]);
    const seenBeforeLeaving = await leaver.waitFor(1);
    await leaver.close();
    const lastCursor = seenBeforeLeaving.at(-1)!.cursor;

    // While it is away: another track comes, one goes.
    await publisher([{ kind: 'audio', name: 'mic', tags: ['room:resume'] }]);
    await gqlOk(server.url, 'mutation($id: ID!) { closeSession(input: { sessionId: $id }) { sessionId } }', { id: first.peer.sessionId });
    await waitFor('the stayer to see the departure', () => stayer.items.some((e) => e.type === 'UNPUBLISHED'), 10_000);

    const resumed = subscribe({ filter: { tags: ['room:resume'] }, after: lastCursor });
    await waitFor('the resumed subscriber to catch up', () => resumed.items.some((e) => e.type === 'UNPUBLISHED'), 10_000);
    await new Promise((resolve) => setTimeout(resolve, 300));

    const stayed = apply(new Map(start), stayer.items);
    const came = apply(apply(new Map(start), seenBeforeLeaving), resumed.items);
    const names = (set: Map<string, Ev['track']>) => [...set.keys()].sort();
    expect(names(came)).toEqual(names(stayed));
    const live = await gqlOk(server.url, '{ tracks(filter: { tags: ["room:resume"] }) { sessionId name } }');
    expect(names(stayed)).toEqual(live.tracks.map((t: { sessionId: string; name: string }) => `${t.sessionId}/${t.name}`).sort());
    // No duplicate at the seam.
    const seam = [...seenBeforeLeaving, ...resumed.items].map((e) => e.cursor);
    expect(new Set(seam).size).toBe(seam.length);
  });
});

describe('a cursor older than what is retained', () => {
  it('is refused with BAD_REQUEST telling to reload the snapshot', async () => {
    const small = await startTestServer({ WORKERS: '1', EVENT_RETENTION_COUNT: '2' });
    const client = wsClient(small.url);
    try {
      const cursor = (await gqlOk(small.url, '{ trackEventsCursor }')).trackEventsCursor;
      const peer = new TestPeer(small.url);
      const mics = [fakeMicrophone(), fakeMicrophone(), fakeMicrophone()];
      try {
        await peer.createSession();
        await peer.push(mics.map((mic, i) => ({ track: mic.track, name: `mic${i}` })));
        const sub = collect<Ev>(client, TRACK_EVENTS, { after: cursor }, (d) => d.trackEvents);
        await waitFor('the error', () => sub.errors.length > 0, 5_000);
        const error = sub.errors[0] as { message: string; extensions?: { code?: string } }[] | { message: string; extensions?: { code?: string } };
        const first = Array.isArray(error) ? error[0]! : error;
        expect(first.extensions?.code).toBe('BAD_REQUEST');
        expect(first.message).toMatch(/reload the tracks snapshot/);
      } finally {
        for (const mic of mics) mic.stop();
        peer.stop();
      }
    } finally {
      await client.dispose();
      await small.stop();
    }
  });
});

describe('the events an app keeps for replay', () => {
  it('are its own: another app\'s churn past EVENT_RETENTION_COUNT leaves its cursor replayable', async () => {
    const apps = { acme: `acme-${'s'.repeat(40)}`, beta: `beta-${'s'.repeat(40)}` };
    const small = await startTestServer({ WORKERS: '1', EVENT_RETENTION_COUNT: '2', APPS: `acme:${apps.acme},beta:${apps.beta}` });
    const [beta, acme] = [wsClient(small.url, apps.beta), wsClient(small.url, apps.acme)];
    const view = (appId: string, name: string) =>
      ({ appId, owner: null, sessionId: `${appId}-session`, name, kind: 'audio', status: 'ACTIVE', tags: [], simulcastRids: [], publishedAt: new Date(), muted: false }) as const;
    try {
      const cursorOf = async (secret: string) => (await gqlOk(small.url, '{ trackEventsCursor }', {}, secret)).trackEventsCursor as string;
      const [betaCursor, acmeCursor] = [await cursorOf(apps.beta), await cursorOf(apps.acme)];
      await small.sessions.trackEvents.publish('PUBLISHED', view('beta', 'b-mic'));
      // acme churns through five times what is retained.
      for (let i = 0; i < 10; i += 1) await small.sessions.trackEvents.publish('PUBLISHED', view('acme', `a-mic${i}`));
      const resumed = collect<Ev>(beta, TRACK_EVENTS, { after: betaCursor }, (d) => d.trackEvents);
      expect((await resumed.waitFor(1)).map((e) => `${e.type} ${e.track.name}`)).toEqual(['PUBLISHED b-mic']);
      expect(resumed.errors).toEqual([]);
      // acme's own history did move on.
      const stale = collect<Ev>(acme, TRACK_EVENTS, { after: acmeCursor }, (d) => d.trackEvents);
      await waitFor('the error', () => stale.errors.length > 0, 5_000);
      expect(JSON.stringify(stale.errors)).toMatch(/reload the tracks snapshot/);
    } finally {
      await beta.dispose();
      await acme.dispose();
      await small.stop();
    }
  });
});

describe('sessionEvents', () => {
  it('tells a puller TRACK_ENDED, with the mid, when the publisher leaves', async () => {
    const { peer: pub } = await publisher([{ kind: 'video', name: 'camera', tags: [] }]);
    const sub = new TestPeer(server.url);
    stops.push(() => sub.stop());
    await sub.createSession();
    const client = wsClient(server.url);
    stops.push(() => client.dispose());
    const events = collect<{ type: string; mid: string | null; session: { id: string } }>(
      client,
      'subscription($id: ID!) { sessionEvents(sessionId: $id) { type mid session { id } } }',
      { id: sub.sessionId },
      (d) => d.sessionEvents,
    );
    const publisherEvents = collect<{ type: string }>(
      client,
      'subscription($id: ID!) { sessionEvents(sessionId: $id) { type } }',
      { id: pub.sessionId },
      (d) => d.sessionEvents,
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    const [pulled] = await sub.pull([{ sessionId: pub.sessionId, trackName: 'camera' }]);
    await gqlOk(server.url, 'mutation($id: ID!) { closeSession(input: { sessionId: $id }) { sessionId } }', { id: pub.sessionId });
    await waitFor('TRACK_ENDED', () => events.items.some((e) => e.type === 'TRACK_ENDED'), 10_000);
    const ended = events.items.find((e) => e.type === 'TRACK_ENDED')!;
    expect(ended).toEqual({ type: 'TRACK_ENDED', mid: pulled!.mid, session: { id: sub.sessionId } });
    expect(events.items.some((e) => e.type === 'RENEGOTIATION_NEEDED')).toBe(true);
    await waitFor('CLOSED for the publisher', () => publisherEvents.items.some((e) => e.type === 'CLOSED'), 5_000);
  });

  it('tells the connection state as the PeerConnection comes up', async () => {
    const peer = new TestPeer(server.url);
    stops.push(() => peer.stop());
    await peer.createSession({ dataChannel: false });
    const client = wsClient(server.url);
    stops.push(() => client.dispose());
    const events = collect<{ type: string; session: { connectionState: string } }>(
      client,
      'subscription($id: ID!) { sessionEvents(sessionId: $id) { type session { connectionState } } }',
      { id: peer.sessionId },
      (d) => d.sessionEvents,
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    const mic = fakeMicrophone();
    stops.push(mic.stop);
    await peer.push([{ track: mic.track, name: 'mic' }]);
    await waitFor('CONNECTED', () => events.items.some((e) => e.session.connectionState === 'CONNECTED'), 10_000);
    expect(events.items.every((e) => e.type === 'CONNECTION_STATE_CHANGED')).toBe(true);
  });

  it('refuses a session that does not exist', async () => {
    const client = wsClient(server.url);
    stops.push(() => client.dispose());
    const events = collect(client, 'subscription { sessionEvents(sessionId: "nope") { type } }', {}, (d) => d);
    await waitFor('the error', () => events.errors.length > 0, 5_000);
    const error = events.errors[0] as { extensions?: { code?: string } }[] | { extensions?: { code?: string } };
    expect((Array.isArray(error) ? error[0]! : error).extensions?.code).toBe('SESSION_NOT_FOUND');
  });
});
