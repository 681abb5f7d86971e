import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { errorCode, gql, gqlOk } from '../helpers/graphql.js';
import { fakeCamera } from '../helpers/media.js';
import { TestPeer } from '../helpers/peer.js';
import { startTestServer } from '../helpers/server.js';

/**
 * What one session may hold (issue: "No bound on what one session holds"):
 * media transceivers, pulls waiting for an answer, m-sections, and items of
 * any list argument. Each refusal is LIMIT_EXCEEDED naming the setting, and
 * leaves the session exactly as it was.
 */
const PULL = `mutation($input: PullTracksInput!) { pullTracks(input: $input) { requiresImmediateRenegotiation tracks { mid error { code } } } }`;
const TRACKS = 'query($id: ID!) { session(id: $id) { tracks { mid location status } } }';

describe('bounds per session', () => {
  let server: Switchyard;
  const cleanups: (() => void)[] = [];
  let source: { sessionId: string; trackName: string };

  beforeAll(async () => {
    server = await startTestServer({
      WORKERS: '1',
      MAX_TRANSCEIVERS_PER_SESSION: '6',
      MAX_PENDING_PULLS_PER_SESSION: '4',
      MAX_SECTIONS_PER_SESSION: '9',
      MAX_LIST_ITEMS: '8',
    });
    const publisher = new TestPeer(server.url);
    const camera = fakeCamera();
    cleanups.push(() => camera.stop(), () => publisher.stop());
    await publisher.createSession();
    await publisher.push([{ track: camera.track, name: 'cam' }]);
    source = { sessionId: publisher.sessionId, trackName: 'cam' };
  });


  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) cleanup();
    await server?.stop();
  });

  const snapshot = async (sessionId: string) => (await gqlOk(server.url, TRACKS, { id: sessionId })).session;

  it('refuses pulls past MAX_PENDING_PULLS_PER_SESSION while the SFU offer waits, and leaves the session as it was', async () => {
    const { createSession } = await gqlOk(server.url, 'mutation { createSession { session { id } } }');
    const id = createSession.session.id as string;
    const first = await gqlOk(server.url, PULL, { input: { sessionId: id, tracks: [source, source, source] } });
    expect(first.pullTracks.tracks.every((t: { error: unknown }) => t.error === null)).toBe(true);
    const before = await snapshot(id);
    // The second offer would be folded into the first: 3 + 2 > 4.
    const refused = await gql(server.url, PULL, { input: { sessionId: id, tracks: [source, source] } });
    expect(errorCode(refused)).toBe('LIMIT_EXCEEDED');
    expect(refused.errors?.[0]?.message).toMatch(/MAX_PENDING_PULLS_PER_SESSION/);
    expect(await snapshot(id)).toEqual(before);
    // One more still fits.
    await gqlOk(server.url, PULL, { input: { sessionId: id, tracks: [source] } });
    await gqlOk(server.url, 'mutation($id: ID!) { closeSession(input: { sessionId: $id }) { sessionId } }', { id });
  });

  it('refuses transceivers past MAX_TRANSCEIVERS_PER_SESSION, the same track pulled again included; a closed one makes room', async () => {
    const subscriber = new TestPeer(server.url);
    cleanups.push(() => subscriber.stop());
    await subscriber.createSession();
    for (let i = 0; i < 3; i += 1) await subscriber.pull([source, source]);
    const before = await snapshot(subscriber.sessionId);
    expect(before.tracks.filter((t: { location: string }) => t.location === 'REMOTE')).toHaveLength(6);
    const refused = await gql(server.url, PULL, { input: { sessionId: subscriber.sessionId, tracks: [source] } });
    expect(errorCode(refused)).toBe('LIMIT_EXCEEDED');
    expect(refused.errors?.[0]?.message).toMatch(/MAX_TRANSCEIVERS_PER_SESSION/);
    expect(await snapshot(subscriber.sessionId)).toEqual(before);

    // Closing one frees a transceiver; its m-section stays (7 sections: data + 6), so a new one still fits under 9.
    const [mid] = before.tracks.map((t: { mid: string }) => t.mid).filter((m: string) => m !== '0');
    await subscriber.close([mid]);
    const again = await subscriber.pull([source]);
    expect(again[0]?.error).toBeNull();
  });

  it('refuses new m-sections past MAX_SECTIONS_PER_SESSION; an idle transceiver is reused by mid', async () => {
    const subscriber = new TestPeer(server.url);
    cleanups.push(() => subscriber.stop());
    await subscriber.createSession();
    for (let i = 0; i < 3; i += 1) await subscriber.pull([source, source]);
    // 7 sections (data + 6 pulls); 4 closed by force: their transceivers idle, their sections stay.
    const mids = (await snapshot(subscriber.sessionId)).tracks.map((t: { mid: string }) => t.mid).filter((m: string) => m !== '0');
    await gqlOk(server.url, 'mutation($input: CloseTracksInput!) { closeTracks(input: $input) { tracks { mid } } }', {
      input: { sessionId: subscriber.sessionId, mids: mids.slice(0, 4), force: true },
    });
    await subscriber.pull([source, source]);
    const before = await snapshot(subscriber.sessionId);
    expect(server.sessions.get(subscriber.sessionId)?.transceivers).toHaveLength(9);
    const refused = await gql(server.url, PULL, { input: { sessionId: subscriber.sessionId, tracks: [source] } });
    expect(errorCode(refused)).toBe('LIMIT_EXCEEDED');
    expect(refused.errors?.[0]?.message).toMatch(/MAX_SECTIONS_PER_SESSION/);
    expect(await snapshot(subscriber.sessionId)).toEqual(before);
    const reused = await subscriber.pull([{ ...source, mid: mids[0] }]);
    expect(reused[0]).toMatchObject({ mid: mids[0], error: null });
  });

  it('refuses a client offer (autoDiscover) that sends more tracks than a session may hold, creating nothing', async () => {
    const publisher = new TestPeer(server.url);
    const camera = fakeCamera(64, 48, 5);
    cleanups.push(() => camera.stop(), () => publisher.stop());
    const sessionId = await publisher.createSession();
    for (let i = 0; i < 7; i += 1) publisher.pc.addTransceiver(camera.track, { direction: 'sendonly' });
    const offer = await publisher.setLocal(await publisher.pc.createOffer());
    const tracksBefore = server.sessions.tracks.list().length;
    const pushed = await gql(server.url, 'mutation($input: PushTracksInput!) { pushTracks(input: $input) { tracks { trackName } } }', {
      input: { sessionId, sessionDescription: { type: 'OFFER', sdp: offer }, autoDiscover: true },
    });
    expect(errorCode(pushed)).toBe('LIMIT_EXCEEDED');
    expect(pushed.errors?.[0]?.message).toMatch(/MAX_TRANSCEIVERS_PER_SESSION/);
    expect(server.sessions.tracks.list().length).toBe(tracksBefore);
    expect(server.sessions.get(sessionId)?.transceivers.filter((t) => t.pushed)).toHaveLength(0);
  });

  it('refuses any list argument longer than MAX_LIST_ITEMS, in the document or in variables, before any resolver runs', async () => {
    const { createSession } = await gqlOk(server.url, 'mutation { createSession { session { id } } }');
    const id = createSession.session.id as string;
    const ids = Array.from({ length: 9 }, (_, i) => i);
    const viaVariables = await gql(server.url, 'mutation($input: CloseDataChannelsInput!) { closeDataChannels(input: $input) { dataChannels { id } } }', { input: { sessionId: id, ids } });
    expect(errorCode(viaVariables)).toBe('LIMIT_EXCEEDED');
    expect(viaVariables.errors?.[0]?.message).toMatch(/MAX_LIST_ITEMS/);
    const inline = await gql(server.url, `query { tracks(filter: { sessionIds: [${ids.map((i) => `"s${i}"`).join(',')}] }) { name } }`);
    expect(errorCode(inline)).toBe('LIMIT_EXCEEDED');
    // At the limit, the same calls run (and answer per id).
    const atLimit = await gql(server.url, 'mutation($input: CloseDataChannelsInput!) { closeDataChannels(input: $input) { dataChannels { id error { code } } } }', { input: { sessionId: id, ids: ids.slice(0, 8) } });
    expect(atLimit.errors).toBeUndefined();
    expect(atLimit.data!.closeDataChannels.dataChannels).toHaveLength(8);
  });
});
