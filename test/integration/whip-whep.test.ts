import { describe, expect, it } from 'vitest';
import { waitFor, watchAudio, watchVideo } from '../helpers/media.js';
import * as helpers from '../helpers/whipClients.js';
import { gqlOk } from '../helpers/graphql.js';
import { useTestServer } from '../helpers/server.js';

/** WHIP and WHEP with libwebrtc peers and plain fetch: the HTTP exchange the RFC and the draft describe. */
describe('WHIP ingest and WHEP playback', () => {
  const file = useTestServer();
  const base = () => file.server.url;

  async function whipPublish(stream: string, query = '') {
    const publisher = await helpers.whipPublish(base(), stream, query);
    file.cleanups.push(publisher.close);
    return publisher;
  }

  async function whepPlay(path: string, options: { withoutMid?: boolean } = {}) {
    const player = await helpers.whepPlay(base(), path, options);
    file.cleanups.push(player.close);
    return player;
  }

  it('publishes with WHIP, plays with WHEP, and ends both with DELETE', async () => {
    const publisher = await whipPublish('studio', '?tags=room:a');
    expect(publisher.response.status).toBe(201);
    expect(publisher.response.headers.get('content-type')).toBe('application/sdp');
    // No TURN_URLS here: no ice-server Link headers.
    expect(publisher.response.headers.get('link')).toBeNull();
    const location = publisher.response.headers.get('location') as string;
    expect(location).toMatch(/^\/whip\/resources\/[0-9a-f-]+$/);
    await publisher.pc.setRemoteDescription({ type: 'answer', sdp: publisher.answer });
    const sessionId = location.split('/').pop() as string;

    const { tracks } = await gqlOk(base(), `query { tracks(filter: { tags: ["stream:studio"] }) { sessionId name kind tags } }`);
    expect(tracks).toEqual(
      expect.arrayContaining([
        { sessionId, name: 'audio', kind: 'AUDIO', tags: ['stream:studio', 'room:a'] },
        { sessionId, name: 'video', kind: 'VIDEO', tags: ['stream:studio', 'room:a'] },
      ]),
    );

    // libwebrtc numbers the mid header extension its own way, so the SFU counter-offers (406) and the player PATCHes its answer.
    const player = await whepPlay('/whep/studio');
    expect(player.response.status, player.body).toBe(406);
    expect(player.response.headers.get('content-type')).toBe('application/sdp');
    const playerLocation = player.response.headers.get('location') as string;
    expect(playerLocation).toMatch(/^\/whep\/resources\/[0-9a-f-]+$/);
    await player.pc.setLocalDescription({ type: 'rollback' });
    await player.pc.setRemoteDescription({ type: 'offer', sdp: player.body });
    const answer = await player.pc.createAnswer();
    await player.pc.setLocalDescription(answer);
    const patched = await fetch(`${base()}${playerLocation}`, { method: 'PATCH', headers: { 'content-type': 'application/sdp' }, body: answer.sdp });
    expect(patched.status).toBe(204);
    await waitFor('both tracks at the player', () => player.tracks.length === 2);
    const video = watchVideo(player.tracks.find((t) => t.kind === 'video') as MediaStreamTrack);
    const audio = watchAudio(player.tracks.find((t) => t.kind === 'audio') as MediaStreamTrack);
    await waitFor('video frames at the player', () => video.stats.frames > 10);
    await waitFor('audio at the player', () => audio.stats.chunks > 20);
    video.stop();
    audio.stop();

    // The player's session is an ordinary session: GraphQL sees what it pulls.
    const playerSession = playerLocation.split('/').pop() as string;
    const { session } = await gqlOk(base(), `query($id: ID!) { session(id: $id) { tracks { location status track { sessionId name } } } }`, { id: playerSession });
    expect(session.tracks.map((t: { track: { name: string } }) => t.track.name).sort()).toEqual(['audio', 'video']);

    // OPTIONS on a resource names what PATCH takes: trickle fragments, and the SDP answer to a WHEP counter-offer.
    const options = await fetch(`${base()}${playerLocation}`, { method: 'OPTIONS' });
    expect(options.status).toBe(204);
    expect(options.headers.get('accept-patch')).toBe('application/trickle-ice-sdpfrag, application/sdp');

    expect((await fetch(`${base()}${playerLocation}`, { method: 'DELETE' })).status).toBe(200);
    expect((await fetch(`${base()}${location}`, { method: 'DELETE' })).status).toBe(200);
    const after = await gqlOk(base(), `query { tracks(filter: { tags: ["stream:studio"] }) { name } }`);
    expect(after.tracks).toEqual([]);
    expect((await fetch(`${base()}${location}`, { method: 'DELETE' })).status).toBe(404);
  });

  it('answers a player offer it can serve with 201 and media in one round trip', async () => {
    const publisher = await whipPublish('direct');
    await publisher.pc.setRemoteDescription({ type: 'answer', sdp: publisher.answer });
    const player = await whepPlay('/whep/direct', { withoutMid: true });
    expect(player.response.status, player.body).toBe(201);
    await player.pc.setRemoteDescription({ type: 'answer', sdp: player.body });
    await waitFor('both tracks at the player', () => player.tracks.length === 2);
    const video = watchVideo(player.tracks.find((t) => t.kind === 'video') as MediaStreamTrack);
    await waitFor('video frames at the player', () => video.stats.frames > 10);
    video.stop();
  });

  it('plays the stream\'s latest publisher, never a mix of two', async () => {
    const first = await whipPublish('twice');
    await first.pc.setRemoteDescription({ type: 'answer', sdp: first.answer });
    const second = await whipPublish('twice');
    await second.pc.setRemoteDescription({ type: 'answer', sdp: second.answer });
    const latest = (second.response.headers.get('location') as string).split('/').pop();
    const player = await whepPlay('/whep/twice', { withoutMid: true });
    expect(player.response.status, player.body).toBe(201);
    const session = (player.response.headers.get('location') as string).split('/').pop();
    const state = await gqlOk(base(), 'query($id: ID!) { session(id: $id) { tracks { track { sessionId name } } } }', { id: session });
    expect(state.session.tracks.map((t: { track: { sessionId: string; name: string } }) => `${t.track.sessionId === latest ? 'latest' : 'older'}:${t.track.name}`).sort()).toEqual(['latest:audio', 'latest:video']);
  });

  it('answers trickle PATCH with 204, refuses ICE restart with 422 and a wrong ETag with 412', async () => {
    const publisher = await whipPublish('patching');
    expect(publisher.response.status).toBe(201);
    const location = publisher.response.headers.get('location') as string;
    const etag = publisher.response.headers.get('etag') as string;
    const fragment = 'a=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\nm=audio 9 RTP/AVP 0\r\na=mid:0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 9999 typ host\r\n';
    const patch = (headers: Record<string, string>) => fetch(`${base()}${location}`, { method: 'PATCH', headers: { 'content-type': 'application/trickle-ice-sdpfrag', ...headers }, body: fragment });
    expect((await patch({ 'if-match': etag })).status).toBe(204);
    expect((await patch({})).status).toBe(204);
    expect((await patch({ 'if-match': '"other"' })).status).toBe(412);
    expect((await patch({ 'if-match': '*' })).status).toBe(422);
  });

  it('refuses what it cannot take with the right status and leaves nothing behind', async () => {
    const before = file.server.sessions.sessionCount;
    const notSdp = await fetch(`${base()}/whip/x`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(notSdp.status).toBe(415);
    const bad = await fetch(`${base()}/whip/x`, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: 'v=0\r\nnonsense' });
    expect(bad.status).toBe(400);
    expect((await bad.json()).code).toBe('INVALID_SDP');
    const nothing = await whepPlay('/whep/nobody-here');
    expect(nothing.response.status).toBe(404);
    expect(JSON.parse(nothing.body).code).toBe('TRACK_NOT_FOUND');
    expect((await fetch(`${base()}/whip/bad name`, { method: 'POST' })).status).toBe(404);
    expect((await fetch(`${base()}/whip/x`, { method: 'GET' })).status).toBe(405);
    expect(file.server.sessions.sessionCount).toBe(before);
  });
});
