import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { mintClientToken } from '../../src/auth/tokens.js';
import { gqlOk } from '../helpers/graphql.js';
import { fakeCamera, waitFor, watchVideo } from '../helpers/media.js';
import { SIMULCAST_LAYERS, TestPeer } from '../helpers/peer.js';
import { startTestServer } from '../helpers/server.js';
import { completeWhep, whepPlay, whipPublish } from '../helpers/whipClients.js';

/**
 * WHIP and WHEP credentials as the RFC says them (Authorization: Bearer):
 * an app secret, or a client token whose grant covers what it publishes or
 * plays; and WHEP's layer choice for a simulcast track.
 */
const SECRET = 'whip-access-app-secret-0123456789abcdef';
let server: Switchyard;
const cleanups: (() => void)[] = [];

beforeAll(async () => {
  server = await startTestServer({ WORKERS: '2', APPS: `acme:${SECRET}` });
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) cleanup();
  await server?.stop();
});

const bearer = (credential: string) => ({ authorization: `Bearer ${credential}` });
/** Each subject its own: a token may act on its own subject's sessions whatever its grant says. */
const token = (subject: string, grant: Record<string, unknown>) => mintClientToken({ appId: 'acme', secret: SECRET, grant, subject });

describe('WHIP and WHEP credentials', () => {
  it('publishes with a client token whose grant covers the stream, refuses others, and plays only what a token may pull', { timeout: 60_000 }, async () => {
    const url = server.url;
    const none = await whipPublish(url, 'allowed');
    cleanups.push(none.close);
    expect(none.response.status).toBe(401);
    expect(JSON.parse(none.answer).code).toBe('UNAUTHENTICATED');

    const publishing = await token('broadcaster', { createSession: true, publish: { names: ['*'], tags: ['stream:allowed'] } });
    const refused = await whipPublish(url, 'other', '', bearer(publishing));
    cleanups.push(refused.close);
    expect(refused.response.status).toBe(403);
    expect(JSON.parse(refused.answer)).toEqual({ code: 'FORBIDDEN', message: 'this token may not publish with tag stream:other' });

    const publisher = await whipPublish(url, 'allowed', '', bearer(publishing));
    cleanups.push(publisher.close);
    expect(publisher.response.status, publisher.answer).toBe(201);
    await publisher.pc.setRemoteDescription({ type: 'answer', sdp: publisher.answer });
    const resource = publisher.response.headers.get('location') as string;
    // Nothing half made of the refused attempts.
    expect((await gqlOk(url, 'query { tracks { sessionId } }', {}, SECRET)).tracks.map((t: { sessionId: string }) => t.sessionId)).toEqual([resource.split('/').pop(), resource.split('/').pop()]);

    // A viewer's token may pull the stream's tag: it plays.
    const viewing = await token('viewer', { createSession: true, pull: { tags: ['stream:allowed'] } });
    const player = await whepPlay(url, '/whep/allowed', { headers: bearer(viewing) });
    cleanups.push(player.close);
    expect([201, 406], player.body).toContain(player.response.status);
    expect(await completeWhep(url, player, bearer(viewing))).toBe(player.response.status === 201 ? 201 : 204);
    await waitFor('video at the viewer', () => player.tracks.some((t) => t.kind === 'video'), 15_000);
    const video = watchVideo(player.tracks.find((t) => t.kind === 'video') as MediaStreamTrack);
    cleanups.push(video.stop);
    await waitFor('frames at the viewer', () => video.stats.frames > 10, 15_000);

    // A token without that pull grant does not see the stream at all.
    const blind = await token('stranger', { createSession: true, pull: { tags: ['stream:elsewhere'] } });
    const refusedPlayer = await whepPlay(url, '/whep/allowed', { headers: bearer(blind) });
    cleanups.push(refusedPlayer.close);
    expect(refusedPlayer.response.status).toBe(404);
    expect(JSON.parse(refusedPlayer.body).code).toBe('TRACK_NOT_FOUND');

    // The viewer may not end the broadcaster's session; the broadcaster may.
    const viewerDelete = await fetch(`${url}${resource}`, { method: 'DELETE', headers: bearer(viewing) });
    expect(viewerDelete.status).toBe(403);
    expect((await fetch(`${url}${resource}`, { method: 'DELETE', headers: bearer(publishing) })).status).toBe(200);
  });

  it('WHEP layer=q plays the low simulcast layer of a simulcast track', { timeout: 60_000 }, async () => {
    const url = server.url;
    // libwebrtc sends three simulcast layers only from 960x540 up.
    const camera = fakeCamera(1280, 720, 15);
    cleanups.push(camera.stop);
    const publisher = new TestPeer(url, SECRET);
    cleanups.push(() => publisher.stop());
    await publisher.createSession();
    const [pushed] = await publisher.push([{ track: camera.track, name: 'cam', tags: ['stream:layers'], sendEncodings: SIMULCAST_LAYERS }]);
    expect(pushed?.error).toBeNull();

    const player = await whepPlay(url, '/whep/layers?layer=q', { headers: bearer(SECRET) });
    cleanups.push(player.close);
    await completeWhep(url, player, bearer(SECRET));
    await waitFor('video at the player', () => player.tracks.some((t) => t.kind === 'video'), 15_000);
    const video = watchVideo(player.tracks.find((t) => t.kind === 'video') as MediaStreamTrack);
    cleanups.push(video.stop);
    await waitFor('the low layer (320x180)', () => video.stats.width === 320 && video.stats.frames > 10, 20_000);
    const session = (player.response.headers.get('location') as string).split('/').pop();
    const state = await gqlOk(url, 'query($id: ID!) { session(id: $id) { tracks { preferredLayer } } }', { id: session }, SECRET);
    expect(state.session.tracks).toEqual([{ preferredLayer: 'q' }]);
  });
});
