import { describe, expect, it } from 'vitest';
import { gqlOk } from '../helpers/graphql.js';
import { fakeCamera, fakeMicrophone, waitFor, watchVideo } from '../helpers/media.js';
import { TestPeer } from '../helpers/peer.js';
import { useTestServer } from '../helpers/server.js';

const STATE = `query($id: ID!) { session(id: $id) { tracks { mid location status track { sessionId name } } } }`;

/**
 * Pulling into the transceiver of one's own track (mid "#trackName"), as
 * Cloudflare's examples do for bidirectional media: one sendrecv m-section
 * carries the pushed track out and the pulled one back.
 */
describe('pull into the transceiver of a local track (#trackName)', () => {
  const file = useTestServer();

  it('carries the pushed track out and the pulled one back on one m-section, and ends either way cleanly', async () => {
    const url = file.server.url;
    const a = new TestPeer(url);
    const b = new TestPeer(url);
    const c = new TestPeer(url);
    const mic = fakeMicrophone();
    const camera = fakeCamera();
    file.cleanups.push(() => {
      for (const peer of [a, b, c]) peer.pc.close();
      mic.stop();
      camera.stop();
    });
    for (const peer of [a, b, c]) await peer.createSession();
    // A sends its camera on a sendrecv transceiver (Cloudflare's bidirectionalMediaStream).
    const both = a.pc.addTransceiver(camera.track, { direction: 'sendrecv' });
    await a.setLocal(await a.pc.createOffer());
    const pushed = await gqlOk(url, `mutation($input: PushTracksInput!) { pushTracks(input: $input) { sessionDescription { sdp } tracks { mid error { code } } } }`, {
      input: { sessionId: a.sessionId, sessionDescription: { type: 'OFFER', sdp: a.localSdp }, tracks: [{ mid: both.mid, trackName: 'a-cam' }] },
    });
    expect(pushed.pushTracks.tracks[0].error).toBeNull();
    await a.pc.setRemoteDescription({ type: 'answer', sdp: pushed.pushTracks.sessionDescription.sdp });
    // B publishes a camera too; A pulls it back into its own camera's transceiver.
    const bCamera = fakeCamera(160, 120);
    file.cleanups.push(() => bCamera.stop());
    await b.push([{ track: bCamera.track, name: 'b-cam' }]);
    const results = await a.pull([{ sessionId: b.sessionId, trackName: 'b-cam', mid: '#a-cam' }]);
    expect(results).toEqual([{ mid: both.mid, sessionId: b.sessionId, trackName: 'b-cam', error: null }]);
    expect(a.pc.getTransceivers().length).toBe(1); // the camera's: no new m-section

    // A receives B's camera on that mid, at B's size.
    await waitFor('B at A', () => a.received.has(both.mid as string));
    const atA = watchVideo(a.received.get(both.mid as string) as MediaStreamTrack);
    await waitFor('B frames at A', () => atA.stats.frames > 10);
    expect(atA.stats.width).toBe(160);
    atA.stop();
    // A's own camera still goes out: C pulls it.
    const [fromA] = await c.pull([{ sessionId: a.sessionId, trackName: 'a-cam' }]);
    const atC = watchVideo(c.received.get(fromA?.mid as string) as MediaStreamTrack);
    await waitFor('A frames at C', () => atC.stats.frames > 10);
    expect(atC.stats.width).toBe(320);
    atC.stop();

    // The session lists the m-section twice: LOCAL (its camera) and REMOTE (B's), ACTIVE once the activity monitor saw their media (it polls each second).
    await expect.poll(async () => (await gqlOk(url, STATE, { id: a.sessionId })).session.tracks.map((t: { status: string }) => t.status), { timeout: 5000 }).toEqual(['ACTIVE', 'ACTIVE']);
    const state = await gqlOk(url, STATE, { id: a.sessionId });
    expect(state.session.tracks).toEqual(
      expect.arrayContaining([
        { mid: both.mid, location: 'LOCAL', status: 'ACTIVE', track: { sessionId: a.sessionId, name: 'a-cam' } },
        { mid: both.mid, location: 'REMOTE', status: 'ACTIVE', track: { sessionId: b.sessionId, name: 'b-cam' } },
      ]),
    );

    // B leaves (pc.close() ends its session): A's transceiver only receives again, its camera still reaches C.
    b.pc.close();
    await waitFor('B\'s session closed', () => file.server.sessions.get(b.sessionId) === undefined);
    const after = await gqlOk(url, STATE, { id: a.sessionId });
    const remote = after.session.tracks.find((t: { location: string }) => t.location === 'REMOTE');
    expect(remote?.status).toBe('INACTIVE');
    const local = after.session.tracks.find((t: { location: string }) => t.location === 'LOCAL');
    expect(local).toMatchObject({ mid: both.mid, status: 'ACTIVE' });
    const stillAtC = watchVideo(c.received.get(fromA?.mid as string) as MediaStreamTrack);
    await waitFor('A frames at C after B left', () => stillAtC.stats.frames > 5);
    stillAtC.stop();
  });

  it('refuses #name for a track the session does not publish, or one already carrying a pull', async () => {
    const url = file.server.url;
    const a = new TestPeer(url);
    const b = new TestPeer(url);
    const mic = fakeMicrophone();
    file.cleanups.push(() => {
      a.pc.close();
      b.pc.close();
      mic.stop();
    });
    await a.createSession();
    await b.createSession();
    await b.push([{ track: mic.track, name: 'b-mic' }]);
    const data = await gqlOk(url, `mutation($input: PullTracksInput!) { pullTracks(input: $input) { requiresImmediateRenegotiation tracks { mid error { code message } } } }`, {
      input: { sessionId: a.sessionId, tracks: [{ sessionId: b.sessionId, trackName: 'b-mic', mid: '#nothing' }] },
    });
    expect(data.pullTracks.requiresImmediateRenegotiation).toBe(false);
    expect(data.pullTracks.tracks[0].error).toEqual({ code: 'BAD_REQUEST', message: 'this session publishes no track named nothing' });
  });
});
