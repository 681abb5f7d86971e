import { ApolloClient, HttpLink, InMemoryCache, gql, split, type DocumentNode } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { OperationTypeNode } from 'graphql';
import { createClient } from 'graphql-ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Switchyard } from '../../src/app.js';
import { gqlOk } from '../helpers/graphql.js';
import { fakeCamera, waitFor } from '../helpers/media.js';
import { TestPeer } from '../helpers/peer.js';
import { startTestServer } from '../helpers/server.js';

/**
 * Apollo Client (4, InMemoryCache with no typePolicies) against a real node,
 * over HTTP and graphql-ws as an application wires it: two different queries
 * hold the same track, a trackEvents event that the subscription writes to
 * the cache changes its status, and both queries show the new status with
 * no refetch. It works because Track has an id (Apollo keys it "Track:<id>");
 * the same queries without the id keep the stale status, which the second
 * client here shows.
 */
const INACTIVE_AFTER_MS = 600;
let server: Switchyard;
const cleanups: (() => unknown)[] = [];

beforeAll(async () => {
  server = await startTestServer({ WORKERS: '1', TRACK_INACTIVE_AFTER_MS: String(INACTIVE_AFTER_MS) });
});

afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups.length = 0;
});

afterAll(async () => {
  await server?.stop();
});

/** An Apollo Client as the docs wire one: queries over HTTP, subscriptions over graphql-ws, split by operation type. */
function apolloClient() {
  let httpRequests = 0;
  const http = new HttpLink({
    uri: `${server.url}/graphql`,
    fetch: (input, init) => {
      httpRequests += 1;
      return fetch(input, init);
    },
  });
  const ws = createClient({ url: `${server.url.replace(/^http/, 'ws')}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0 });
  const link = split((operation) => operation.operationType === OperationTypeNode.SUBSCRIPTION, new GraphQLWsLink(ws), http);
  const client = new ApolloClient({ link, cache: new InMemoryCache() });
  cleanups.push(() => ws.dispose(), () => client.stop());
  return { client, httpRequests: () => httpRequests };
}

/** The queries and the subscription; `withIds: false` leaves Track.id out of all of them. */
function documents(withIds: boolean) {
  const id = withIds ? 'id' : '';
  return {
    tracks: gql(`query RoomTracks($tags: [String!]) { tracks(filter: { tags: $tags }) { ${id} sessionId name status } }`),
    session: gql(`query PublisherSession($id: ID!) { session(id: $id) { id tracks { mid location track { ${id} sessionId name status } } } }`),
    events: gql(`subscription RoomEvents($tags: [String!]) { trackEvents(filter: { tags: $tags }) { cursor type track { ${id} sessionId name status } } }`),
  };
}

type TracksData = { tracks: { name: string; status: string }[] };
type SessionData = { session: { tracks: { location: string; track: { name: string; status: string } }[] } };

/** What each query shows of the camera, read from the cache alone. */
function cachedStatuses(client: ApolloClient, docs: { tracks: DocumentNode; session: DocumentNode }, tags: string[], sessionId: string) {
  const tracks = client.cache.readQuery<TracksData>({ query: docs.tracks, variables: { tags } });
  const session = client.cache.readQuery<SessionData>({ query: docs.session, variables: { id: sessionId } });
  return {
    tracks: tracks?.tracks.find((t) => t.name === 'camera')?.status,
    session: session?.session.tracks.find((t) => t.location === 'LOCAL')?.track.status,
  };
}

describe('Apollo Client InMemoryCache keys tracks by Track.id', () => {
  it('a trackEvents event updates the track in both queries that hold it, with no refetch', { timeout: 30_000 }, async () => {
    const tags = ['room:apollo'];
    const camera = fakeCamera(160, 120);
    const publisher = new TestPeer(server.url);
    cleanups.push(camera.stop, () => publisher.stop());
    await publisher.createSession();
    await publisher.push([{ track: camera.track, name: 'camera', tags }]);
    const status = async () => (await gqlOk(server.url, 'query($s: ID!) { track(sessionId: $s, name: "camera") { status } }', { s: publisher.sessionId })).track?.status;
    let now = await status();
    for (const t0 = Date.now(); now !== 'ACTIVE' && Date.now() - t0 < 10_000; now = await status()) await new Promise((r) => setTimeout(r, 50));
    expect(now).toBe('ACTIVE');

    // Two applications' caches: one whose documents select Track.id, one whose documents do not.
    const keyed = apolloClient();
    const unkeyed = apolloClient();
    const clients = [
      { name: 'with ids', ...keyed, docs: documents(true), seen: { tracks: [] as string[], session: [] as string[] }, events: [] as string[] },
      { name: 'without ids', ...unkeyed, docs: documents(false), seen: { tracks: [] as string[], session: [] as string[] }, events: [] as string[] },
    ];
    for (const c of clients) {
      // watchQuery: what a UI renders, re-emitted whenever the cache changes what the query reads.
      const tracksQuery = c.client.watchQuery<TracksData>({ query: c.docs.tracks, variables: { tags } }).subscribe(({ data }) => {
        const s = (data as TracksData | undefined)?.tracks?.find((t) => t.name === 'camera')?.status;
        if (s) c.seen.tracks.push(s);
      });
      const sessionQuery = c.client.watchQuery<SessionData>({ query: c.docs.session, variables: { id: publisher.sessionId } }).subscribe(({ data }) => {
        const s = (data as SessionData | undefined)?.session?.tracks?.find((t) => t.location === 'LOCAL')?.track.status;
        if (s) c.seen.session.push(s);
      });
      const events = c.client.subscribe<{ trackEvents: { type: string } }>({ query: c.docs.events, variables: { tags } }).subscribe(({ data }) => {
        if (data) c.events.push(data.trackEvents.type);
      });
      cleanups.push(() => tracksQuery.unsubscribe(), () => sessionQuery.unsubscribe(), () => events.unsubscribe());
    }
    await waitFor('both queries loaded in both clients', () => clients.every((c) => c.seen.tracks.length > 0 && c.seen.session.length > 0), 10_000);
    for (const c of clients) expect(cachedStatuses(c.client, c.docs, tags, publisher.sessionId), c.name).toEqual({ tracks: 'ACTIVE', session: 'ACTIVE' });
    // The subscriptions are up before the change they must carry.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const requestsBefore = clients.map((c) => c.httpRequests());

    // The publisher's media stops: the track turns INACTIVE, and trackEvents says so.
    camera.stop();
    await waitFor('the INACTIVE event in both clients', () => clients.every((c) => c.events.includes('INACTIVE')), 10_000);
    const [withIds, withoutIds] = clients as [(typeof clients)[0], (typeof clients)[0]];
    await waitFor('both watched queries show INACTIVE', () => withIds.seen.tracks.at(-1) === 'INACTIVE' && withIds.seen.session.at(-1) === 'INACTIVE', 5_000);
    expect(cachedStatuses(withIds.client, withIds.docs, tags, publisher.sessionId)).toEqual({ tracks: 'INACTIVE', session: 'INACTIVE' });
    expect((withIds.client.cache.extract() as Record<string, unknown>)[`Track:${publisher.sessionId}:camera`]).toMatchObject({ status: 'INACTIVE' });
    // From the cache alone: neither client asked the server again.
    expect(clients.map((c) => c.httpRequests())).toEqual(requestsBefore);

    // The same event reached the client without ids, but nothing in its cache ties it to the queries' tracks.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(cachedStatuses(withoutIds.client, withoutIds.docs, tags, publisher.sessionId)).toEqual({ tracks: 'ACTIVE', session: 'ACTIVE' });
    expect(withoutIds.seen.tracks.at(-1)).toBe('ACTIVE');
    console.log(`Apollo: INACTIVE reached both queries through Track:<id> (watch emissions ${withIds.seen.tracks.join('>')} / ${withIds.seen.session.join('>')}); without ids they stayed ACTIVE`);
  });
});
