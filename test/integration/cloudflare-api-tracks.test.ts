import { describe, expect, it } from 'vitest';
import { cloudflareClients, DOCUMENTED_DIFFERENCES } from '../helpers/cloudflareClients.js';
import { expectCovered } from '../helpers/cloudflareCoverage.js';
import { gqlOk } from '../helpers/graphql.js';
import { waitFor, watchAudio } from '../helpers/media.js';
import { TestPeer } from '../helpers/peer.js';
import { useTestServer } from '../helpers/server.js';
import { collect, wsClient } from '../helpers/subscriptions.js';

/**
 * The Cloudflare Realtime SFU ("Calls") HTTPS API under /v1/apps/{appId},
 * driven exactly as Cloudflare's examples drive it: plain fetch with a JSON
 * string body and no Content-Type, libwebrtc PeerConnections, SFU offers
 * answered through /renegotiate. Every JSON body the API answers is checked
 * against the OpenAPI fixture (test/helpers/openapiShape.ts) by CloudflareApi.
 *
 * This file: sessions and media tracks. sessions/new with and without an
 * offer, tracks/new local (offer and mids, autoDiscover, no offer) and remote
 * (the SFU offers, media arrives, failures are items of a 200), tracks/update
 * (the one documented difference), tracks/close, and sessions made here
 * working with GraphQL sessions both ways.
 *
 * Each cloudflare-api-*.test.ts file states the operations of the fixture it
 * covers (COVERS below, its entry of test/helpers/cloudflareCoverage.ts) and
 * checks at its end that each answered its success status with a body the
 * walker checked.
 */

/** The operations whose success this file shows (its entry of COVERAGE_BY_FILE). */
const COVERS = [
  'POST /apps/{appId}/sessions/new',
  'GET /apps/{appId}/sessions/{sessionId}',
  'POST /apps/{appId}/sessions/{sessionId}/tracks/new',
  'PUT /apps/{appId}/sessions/{sessionId}/renegotiate',
  'PUT /apps/{appId}/sessions/{sessionId}/tracks/update',
  'PUT /apps/{appId}/sessions/{sessionId}/tracks/close',
];

const checked = new Set<string>();
const usedDifferences = new Set<string>();

describe('the Cloudflare-compatible API, development mode (no apps: any appId)', () => {
  const file = useTestServer();
  const { api, newPc, connected, camera, microphone, newSession, publish, pull, answerOffer, watch, getSession } = cloudflareClients(file, { checked, usedDifferences });

  it('sessions/new: without a body (201, sessionId only), with an offer (201 and the SFU answer), with correlationId', async () => {
    const cf = api();
    const bare = await newSession(cf);
    expect(await getSession(cf, bare.sessionId)).toEqual({ tracks: [], dataChannels: [] });

    // The old echo-datachannels way: the first offer carries only a data channel, sent with sessions/new.
    const { pc } = newPc();
    pc.createDataChannel('server-events');
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    // Unknown query parameters (Orange appends ?SESSION) are tolerated.
    const created = await cf.newSession(offer.sdp, '?correlationId=user-42&SESSION');
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ sessionId: expect.any(String), sessionDescription: { type: 'answer', sdp: expect.stringContaining('m=application') } });
    await pc.setRemoteDescription(created.body.sessionDescription);
    await connected(pc);
    // ICE connects before DTLS does: the SFU's connectionState follows a moment later.
    const state = async () => (await gqlOk(file.server.url, 'query($id: ID!) { session(id: $id) { correlationId connectionState } }', { id: created.body.sessionId })).session;
    await expect.poll(state, { timeout: 5000 }).toEqual({ correlationId: 'user-42', connectionState: 'CONNECTED' });
    expect(created.body.sessionId).not.toBe(bare.sessionId);
  });

  it('tracks/new local with an offer and mids: answered at once; remote: SFU offer, renegotiate, media arrives; GET sessions/{id} lists both', { timeout: 45_000 }, async () => {
    const cf = api();
    const publisher = await publish(cf, [
      { trackName: 'cam', track: camera() },
      { trackName: 'mic', track: microphone() },
    ]);
    const subscriber = await newSession(cf);
    const pulled = await pull(cf, subscriber, [
      { sessionId: publisher.sessionId, trackName: 'cam' },
      { sessionId: publisher.sessionId, trackName: 'mic' },
    ]);
    expect(pulled.body).toEqual({
      requiresImmediateRenegotiation: true,
      sessionDescription: { type: 'offer', sdp: expect.stringMatching(/^v=0/) },
      tracks: [
        { sessionId: publisher.sessionId, trackName: 'cam', mid: expect.any(String) },
        { sessionId: publisher.sessionId, trackName: 'mic', mid: expect.any(String) },
      ],
    });
    const [camMid, micMid] = pulled.body.tracks.map((t: { mid: string }) => t.mid) as [string, string];
    await connected(subscriber.pc);
    const video = watch(subscriber.received.get(camMid));
    const micTrack = subscriber.received.get(micMid);
    if (!micTrack) throw new Error('no audio track on the pulled mid');
    const audio = watchAudio(micTrack);
    file.cleanups.push(audio.stop);
    await waitFor('video frames through the Cloudflare API', () => video.frames > 10);
    expect(video).toMatchObject({ width: 320, height: 240 });
    await waitFor('audio through the Cloudflare API', () => audio.stats.chunks > 20 && audio.stats.peak > 1000);

    expect(await getSession(cf, publisher.sessionId)).toEqual({
      tracks: [
        { location: 'local', mid: publisher.mids[0], trackName: 'cam', status: 'active' },
        { location: 'local', mid: publisher.mids[1], trackName: 'mic', status: 'active' },
      ],
      dataChannels: [],
    });
    expect(await getSession(cf, subscriber.sessionId)).toEqual({
      tracks: [
        { location: 'remote', mid: camMid, sessionId: publisher.sessionId, trackName: 'cam', status: 'active' },
        { location: 'remote', mid: micMid, sessionId: publisher.sessionId, trackName: 'mic', status: 'active' },
      ],
      dataChannels: [],
    });
  });

  it('tracks/new local with autoDiscover: every sending transceiver of the offer is published under a name the SFU picks', async () => {
    const cf = api();
    const client = await newSession(cf);
    const track = camera();
    const transceiver = client.pc.addTransceiver(track, { direction: 'sendonly' });
    const offer = await client.pc.createOffer();
    await client.pc.setLocalDescription(offer);
    const pushed = await cf.call('POST', `/sessions/${client.sessionId}/tracks/new`, { autoDiscover: true, sessionDescription: { sdp: offer.sdp, type: 'offer' } });
    expect(pushed.status).toBe(200);
    expect(pushed.body).toEqual({
      requiresImmediateRenegotiation: false,
      sessionDescription: { type: 'answer', sdp: expect.any(String) },
      tracks: [{ trackName: expect.stringMatching(/.+/), mid: transceiver.mid }],
    });
    await client.pc.setRemoteDescription(pushed.body.sessionDescription);
    await connected(client.pc);
    const trackName = pushed.body.tracks[0].trackName as string;
    expect((await getSession(cf, client.sessionId)).tracks).toEqual([{ location: 'local', mid: transceiver.mid, trackName, status: 'active' }]);
    const { track: published } = await gqlOk(file.server.url, 'query($s: ID!, $n: String!) { track(sessionId: $s, name: $n) { kind } }', { s: client.sessionId, n: trackName });
    expect(published).toEqual({ kind: 'VIDEO' });
  });

  it('tracks/new local without an offer, with kind: the SFU offers, the client answers with renegotiate, and the track plays', { timeout: 45_000 }, async () => {
    const cf = api();
    const client = await newSession(cf);
    const pushed = await cf.call('POST', `/sessions/${client.sessionId}/tracks/new`, { tracks: [{ location: 'local', trackName: 'screen', kind: 'video' }] });
    expect(pushed.status).toBe(200);
    expect(pushed.body).toEqual({
      requiresImmediateRenegotiation: true,
      sessionDescription: { type: 'offer', sdp: expect.stringContaining('m=video') },
      tracks: [{ trackName: 'screen', mid: expect.any(String) }],
    });
    const mid = pushed.body.tracks[0].mid as string;
    const track = camera(160, 120);
    await answerOffer(cf, client, pushed.body.sessionDescription, async () => {
      const transceiver = client.pc.getTransceivers().find((t: RTCRtpTransceiver) => t.mid === mid);
      if (!transceiver) throw new Error(`the SFU offer has no transceiver ${mid}`);
      transceiver.direction = 'sendonly';
      await transceiver.sender.replaceTrack(track);
    });
    await connected(client.pc);

    const viewer = await newSession(cf);
    const pulled = await pull(cf, viewer, [{ sessionId: client.sessionId, trackName: 'screen' }]);
    const video = watch(viewer.received.get(pulled.body.tracks[0].mid));
    await waitFor('frames of the track pushed without an offer', () => video.frames > 10);
    expect(video).toMatchObject({ width: 160, height: 120 });
  });

  it('tracks/new remote failures are items of a 200: a track not published (not_found_track_error), simulcast asked of a non-simulcast track', async () => {
    const cf = api();
    const publisher = await publish(cf, [{ trackName: 'cam', track: camera() }]);
    const subscriber = await newSession(cf);
    const missing = await cf.call('POST', `/sessions/${subscriber.sessionId}/tracks/new`, {
      tracks: [{ location: 'remote', sessionId: publisher.sessionId, trackName: 'not-published' }],
    });
    expect(missing.status).toBe(200);
    expect(missing.body).toEqual({
      requiresImmediateRenegotiation: false,
      tracks: [{ sessionId: publisher.sessionId, trackName: 'not-published', errorCode: 'not_found_track_error', errorDescription: expect.stringContaining('not-published') }],
    });

    const simulcast = await cf.call('POST', `/sessions/${subscriber.sessionId}/tracks/new`, {
      tracks: [{ location: 'remote', sessionId: publisher.sessionId, trackName: 'cam', simulcast: { preferredRid: 'h', priorityOrdering: 'asciibetical', ridNotAvailable: 'asciibetical' } }],
    });
    expect(simulcast.status).toBe(200);
    expect(simulcast.body).toEqual({
      requiresImmediateRenegotiation: false,
      tracks: [{ sessionId: publisher.sessionId, trackName: 'cam', errorCode: 'invalid_params', errorDescription: 'cam is not simulcast' }],
    });

    // In one batch the failed item does not hold back the one that works.
    const mixed = await pull(cf, subscriber, [
      { sessionId: publisher.sessionId, trackName: 'cam' },
      { sessionId: publisher.sessionId, trackName: 'not-published' },
    ]);
    expect(mixed.body.requiresImmediateRenegotiation).toBe(true);
    expect(mixed.body.tracks).toEqual([
      { sessionId: publisher.sessionId, trackName: 'cam', mid: expect.any(String) },
      { sessionId: publisher.sessionId, trackName: 'not-published', errorCode: 'not_found_track_error', errorDescription: expect.any(String) },
    ]);
    const video = watch(subscriber.received.get(mixed.body.tracks[0].mid));
    await waitFor('frames of the pull that worked', () => video.frames > 5);
    expect((await getSession(cf, subscriber.sessionId)).tracks).toEqual([
      { location: 'remote', mid: mixed.body.tracks[0].mid, sessionId: publisher.sessionId, trackName: 'cam', status: 'active' },
    ]);
  });

  it('tracks/update retargets a pulled mid to another source (with an SFU offer: the documented difference); a simulcast update of a plain track is update_track_error', { timeout: 45_000 }, async () => {
    const cf = api();
    const publisher = await publish(cf, [
      { trackName: 'big', track: camera(320, 240) },
      { trackName: 'small', track: camera(160, 120) },
    ]);
    const subscriber = await newSession(cf);
    const pulled = await pull(cf, subscriber, [{ sessionId: publisher.sessionId, trackName: 'big' }]);
    const mid = pulled.body.tracks[0].mid as string;
    const video = watch(subscriber.received.get(mid));
    await waitFor('the first source', () => video.frames > 5 && video.width === 320);

    const before = new Set(usedDifferences);
    const updated = await cf.call('PUT', `/sessions/${subscriber.sessionId}/tracks/update`, {
      tracks: [{ location: 'remote', sessionId: publisher.sessionId, trackName: 'small', mid }],
    });
    expect(updated.status).toBe(200);
    expect(updated.body).toEqual({
      requiresImmediateRenegotiation: true,
      sessionDescription: { type: 'offer', sdp: expect.any(String) },
      tracks: [{ sessionId: publisher.sessionId, trackName: 'small', mid }],
    });
    // The walker let sessionDescription through as the allowed difference, and nothing else.
    expect([...usedDifferences].filter((d) => !before.has(d))).toEqual(['PUT /apps/{appId}/sessions/{sessionId}/tracks/update 200 $.sessionDescription']);
    await answerOffer(cf, subscriber, updated.body.sessionDescription);
    await waitFor('the same mid carries the other source', () => video.width === 160 && video.height === 120, 15_000);
    expect((await getSession(cf, subscriber.sessionId)).tracks).toEqual([
      { location: 'remote', mid, sessionId: publisher.sessionId, trackName: 'small', status: 'active' },
    ]);

    const layer = await cf.call('PUT', `/sessions/${subscriber.sessionId}/tracks/update`, {
      tracks: [{ location: 'remote', sessionId: publisher.sessionId, trackName: 'small', mid, simulcast: { preferredRid: 'q' } }],
    });
    expect(layer.status).toBe(200);
    expect(layer.body).toEqual({
      requiresImmediateRenegotiation: false,
      tracks: [{ sessionId: publisher.sessionId, trackName: 'small', mid, errorCode: 'update_track_error', errorDescription: 'small is not simulcast' }],
    });
  });

  it('tracks/close: with the client offer (answered), with force:true (no SDP), and an already-closed mid is close_track_error in a 200', { timeout: 45_000 }, async () => {
    const cf = api();
    const publisher = await publish(cf, [
      { trackName: 'cam', track: camera() },
      { trackName: 'mic', track: microphone() },
    ]);
    const subscriber = await newSession(cf);
    const pulled = await pull(cf, subscriber, [
      { sessionId: publisher.sessionId, trackName: 'cam' },
      { sessionId: publisher.sessionId, trackName: 'mic' },
    ]);
    const [camMid, micMid] = pulled.body.tracks.map((t: { mid: string }) => t.mid) as [string, string];
    const video = watch(subscriber.received.get(camMid));
    await waitFor('video before the close', () => video.frames > 5);

    // partytracks: stop() the transceiver, offer, tracks/close with force:false, apply the answer.
    subscriber.pc.getTransceivers().find((t: RTCRtpTransceiver) => t.mid === micMid)?.stop();
    const offer = await subscriber.pc.createOffer();
    await subscriber.pc.setLocalDescription(offer);
    const closed = await cf.call('PUT', `/sessions/${subscriber.sessionId}/tracks/close`, { tracks: [{ mid: micMid }], sessionDescription: { sdp: offer.sdp, type: 'offer' }, force: false });
    expect(closed.status).toBe(200);
    expect(closed.body).toEqual({ requiresImmediateRenegotiation: false, sessionDescription: { type: 'answer', sdp: expect.any(String) }, tracks: [{ mid: micMid }] });
    await subscriber.pc.setRemoteDescription(closed.body.sessionDescription);

    const again = await cf.call('PUT', `/sessions/${subscriber.sessionId}/tracks/close`, { tracks: [{ mid: micMid }], force: true });
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ requiresImmediateRenegotiation: false, tracks: [{ mid: micMid, errorCode: 'close_track_error', errorDescription: expect.any(String) }] });

    const forced = await cf.call('PUT', `/sessions/${subscriber.sessionId}/tracks/close`, { tracks: [{ mid: camMid }], force: true });
    expect(forced.status).toBe(200);
    expect(forced.body).toEqual({ requiresImmediateRenegotiation: false, tracks: [{ mid: camMid }] });
    await new Promise((resolve) => setTimeout(resolve, 500));
    const stoppedAt = video.frames;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(video.frames - stoppedAt, 'frames after a forced close').toBeLessThanOrEqual(1);
    for (const track of (await getSession(cf, subscriber.sessionId)).tracks) expect(track.status).toBe('inactive');

    // The publisher closes its second track (the first m-section carries the transport: see the next test).
    publisher.transceivers[1]!.stop();
    const publisherOffer = await publisher.pc.createOffer();
    await publisher.pc.setLocalDescription(publisherOffer);
    const unpublished = await cf.call('PUT', `/sessions/${publisher.sessionId}/tracks/close`, {
      tracks: [{ mid: publisher.mids[1] }],
      sessionDescription: { sdp: publisherOffer.sdp, type: 'offer' },
      force: false,
    });
    expect(unpublished.body).toEqual({ requiresImmediateRenegotiation: false, sessionDescription: { type: 'answer', sdp: expect.any(String) }, tracks: [{ mid: publisher.mids[1] }] });
    await publisher.pc.setRemoteDescription(unpublished.body.sessionDescription);
    const { track } = await gqlOk(file.server.url, 'query($s: ID!) { track(sessionId: $s, name: "mic") { name } }', { s: publisher.sessionId });
    expect(track).toBeNull();
  });

  it('tracks/close of a media-first session: stop() on the first m-section is refused (400 invalid_params, nothing closed); direction inactive closes it', async () => {
    const cf = api();
    const publisher = await publish(cf, [
      { trackName: 'cam', track: camera() },
      { trackName: 'mic', track: microphone() },
    ]);
    const [first] = publisher.transceivers as [RTCRtpTransceiver];
    first.stop();
    const stopped = await publisher.pc.createOffer();
    await publisher.pc.setLocalDescription(stopped);
    const refused = await cf.call('PUT', `/sessions/${publisher.sessionId}/tracks/close`, { tracks: [{ mid: publisher.mids[0] }], sessionDescription: { sdp: stopped.sdp, type: 'offer' }, force: false });
    expect(refused.status).toBe(400);
    expect(refused.body).toEqual({ errorCode: 'invalid_params', errorDescription: expect.stringContaining('BUNDLE transport') });
    expect((await getSession(cf, publisher.sessionId)).tracks.map((t) => t.status)).toEqual(['active', 'active']);
    await publisher.pc.close();

    // Orange's older way: the transceiver goes inactive, which keeps the m-section and its transport.
    const other = await publish(cf, [{ trackName: 'cam', track: camera() }]);
    other.transceivers[0]!.direction = 'inactive';
    const offer = await other.pc.createOffer();
    await other.pc.setLocalDescription(offer);
    const closed = await cf.call('PUT', `/sessions/${other.sessionId}/tracks/close`, { tracks: [{ mid: other.mids[0] }], sessionDescription: { sdp: offer.sdp, type: 'offer' }, force: false });
    expect(closed.body).toEqual({ requiresImmediateRenegotiation: false, sessionDescription: { type: 'answer', sdp: expect.any(String) }, tracks: [{ mid: other.mids[0] }] });
    await other.pc.setRemoteDescription(closed.body.sessionDescription);
  });

  it('across APIs: a GraphQL session pulls a Cloudflare-published track, Cloudflare pulls a GraphQL-published one, trackEvents and tracks see the Cloudflare publication', { timeout: 60_000 }, async () => {
    const cf = api();
    const url = file.server.url;
    // The Cloudflare publisher's session exists before its push: subscribe to its track events from the current cursor on.
    const publisherSession = await newSession(cf);
    const { trackEventsCursor } = await gqlOk(url, 'query { trackEventsCursor }');
    const client = wsClient(url);
    file.cleanups.push(() => void client.dispose());
    const events = collect(
      client,
      'subscription($ids: [ID!], $after: String) { trackEvents(filter: { sessionIds: $ids }, after: $after) { type track { sessionId name kind } } }',
      { ids: [publisherSession.sessionId], after: trackEventsCursor },
      (data) => data.trackEvents,
    );
    file.cleanups.push(() => void events.close());

    const transceiver = publisherSession.pc.addTransceiver(camera(), { direction: 'sendonly' });
    const offer = await publisherSession.pc.createOffer();
    await publisherSession.pc.setLocalDescription(offer);
    const pushed = await cf.call('POST', `/sessions/${publisherSession.sessionId}/tracks/new`, {
      sessionDescription: { sdp: offer.sdp, type: 'offer' },
      tracks: [{ location: 'local', mid: transceiver.mid, trackName: 'cf-cam' }],
    });
    await publisherSession.pc.setRemoteDescription(pushed.body.sessionDescription);
    await connected(publisherSession.pc);
    const [published] = await events.waitFor(1);
    expect(published).toEqual({ type: 'PUBLISHED', track: { sessionId: publisherSession.sessionId, name: 'cf-cam', kind: 'VIDEO' } });
    const { tracks } = await gqlOk(url, 'query($ids: [ID!]) { tracks(filter: { sessionIds: $ids }) { sessionId name kind } }', { ids: [publisherSession.sessionId] });
    expect(tracks).toEqual([{ sessionId: publisherSession.sessionId, name: 'cf-cam', kind: 'VIDEO' }]);

    // GraphQL pulls the Cloudflare publication.
    const graphqlViewer = new TestPeer(url);
    file.cleanups.push(() => graphqlViewer.stop());
    await graphqlViewer.createSession();
    const [pulledByGraphQL] = await graphqlViewer.pull([{ sessionId: publisherSession.sessionId, trackName: 'cf-cam' }]);
    expect(pulledByGraphQL?.error).toBeNull();
    await waitFor('the GraphQL viewer receives the track', () => graphqlViewer.received.has(pulledByGraphQL!.mid!));
    const seenByGraphQL = watch(graphqlViewer.received.get(pulledByGraphQL!.mid!));
    await waitFor('frames at the GraphQL viewer', () => seenByGraphQL.frames > 10);

    // Cloudflare pulls a GraphQL publication.
    const graphqlPublisher = new TestPeer(url);
    file.cleanups.push(() => graphqlPublisher.stop());
    await graphqlPublisher.createSession();
    const [pushedByGraphQL] = await graphqlPublisher.push([{ track: camera(160, 120), name: 'gql-cam' }]);
    expect(pushedByGraphQL?.error).toBeNull();
    const cfViewer = await newSession(cf);
    const pulledByCf = await pull(cf, cfViewer, [{ sessionId: graphqlPublisher.sessionId, trackName: 'gql-cam' }]);
    expect(pulledByCf.body.tracks).toEqual([{ sessionId: graphqlPublisher.sessionId, trackName: 'gql-cam', mid: expect.any(String) }]);
    const seenByCf = watch(cfViewer.received.get(pulledByCf.body.tracks[0].mid));
    await waitFor('frames at the Cloudflare viewer', () => seenByCf.frames > 10);
    expect(seenByCf).toMatchObject({ width: 160, height: 120 });
    // GET sessions/{id} of a GraphQL session: its data channel (the one it created the session with) is no channel of the API.
    expect(await getSession(cf, graphqlPublisher.sessionId)).toEqual({
      tracks: [{ location: 'local', mid: pushedByGraphQL!.mid, trackName: 'gql-cam', status: 'active' }],
      dataChannels: [],
    });
  });
});

describe('what the checks above covered', () => {
  it('the allowed differences are exactly the documented one', () => {
    expect(DOCUMENTED_DIFFERENCES.map(({ operation, status, path }) => `${operation} ${status} ${path}`)).toEqual([
      'PUT /apps/{appId}/sessions/{sessionId}/tracks/update 200 $.sessionDescription',
    ]);
  });

  it('every operation this file covers answered its success status with a body the walker checked', () => {
    // Only meaningful when the whole file ran; a filtered run (-t) skips this test with the others.
    expectCovered('cloudflare-api-tracks.test.ts', COVERS, checked);
    expect([...usedDifferences]).toEqual(['PUT /apps/{appId}/sessions/{sessionId}/tracks/update 200 $.sessionDescription']);
  });
});
