import { connect } from 'node:net';
import wrtc from '@roamhq/wrtc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { CloudflareApi, type CfResponse } from '../helpers/cloudflareApi.js';
import { opened } from '../helpers/dataChannels.js';
import { gqlOk } from '../helpers/graphql.js';
import { fakeCamera, fakeMicrophone, waitFor, watchAudio, watchVideo } from '../helpers/media.js';
import { loadFixture, type AllowedDifference } from '../helpers/openapiShape.js';
import { TestPeer } from '../helpers/peer.js';
import { startTestServer, useTestServer } from '../helpers/server.js';
import { collect, wsClient } from '../helpers/subscriptions.js';

const { RTCPeerConnection } = wrtc;

/**
 * The Cloudflare Realtime SFU ("Calls") HTTPS API under /v1/apps/{appId},
 * driven exactly as Cloudflare's examples drive it: plain fetch with a JSON
 * string body and no Content-Type, libwebrtc PeerConnections, SFU offers
 * answered through /renegotiate. Every JSON body the API answers is checked
 * against the OpenAPI fixture (test/helpers/openapiShape.ts) by CloudflareApi.
 */

/** What Switchyard returns beyond the document, and only this. */
const DOCUMENTED_DIFFERENCES: AllowedDifference[] = [
  {
    operation: 'PUT /apps/{appId}/sessions/{sessionId}/tracks/update',
    status: 200,
    path: '$.sessionDescription',
    schema: { $ref: '#/schemas/SessionDescription' },
    why: 'a mid retargeted to another source needs an SFU offer in Switchyard (mediasoup sends the new source with its own SSRC); Cloudflare swaps it without SDP',
  },
];

const fixture = loadFixture();
const checked = new Set<string>();
const usedDifferences = new Set<string>();

const SECRET_ACME = 'acme-secret-'.padEnd(40, 'a');
const SECRET_BETA = 'beta-secret-'.padEnd(40, 'b');
const ALLOWED_ORIGIN = 'http://app.example.test';

type Pc = InstanceType<typeof RTCPeerConnection>;
interface Client {
  sessionId: string;
  pc: Pc;
  /** Received tracks by their transceiver's mid. */
  received: Map<string, MediaStreamTrack>;
}

describe('the Cloudflare-compatible API, development mode (no apps: any appId)', () => {
  const file = useTestServer();
  const api = () => new CloudflareApi(file.server.url, 'my-app', undefined, DOCUMENTED_DIFFERENCES, checked, usedDifferences);

  function newPc(): { pc: Pc; received: Map<string, MediaStreamTrack> } {
    const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
    const received = new Map<string, MediaStreamTrack>();
    pc.ontrack = (event: RTCTrackEvent) => {
      if (event.transceiver.mid) received.set(event.transceiver.mid, event.track);
    };
    file.cleanups.push(() => pc.close());
    return { pc, received };
  }

  const connected = (pc: Pc) => waitFor('ICE connected', () => ['connected', 'completed'].includes(pc.iceConnectionState), 10_000);

  function camera(width = 320, height = 240) {
    const source = fakeCamera(width, height);
    file.cleanups.push(source.stop);
    return source.track;
  }
  function microphone() {
    const source = fakeMicrophone();
    file.cleanups.push(source.stop);
    return source.track;
  }

  async function newSession(cf: CloudflareApi): Promise<Client> {
    const created = await cf.newSession();
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ sessionId: expect.any(String) });
    return { sessionId: created.body.sessionId, ...newPc() };
  }

  /** Cloudflare's echo, push side: a session with no body, sendonly transceivers, tracks/new with the offer and each mid. */
  async function publish(cf: CloudflareApi, sources: { trackName: string; track: MediaStreamTrack }[]) {
    const client = await newSession(cf);
    const transceivers = sources.map(({ track }) => client.pc.addTransceiver(track, { direction: 'sendonly' }));
    const offer = await client.pc.createOffer();
    await client.pc.setLocalDescription(offer);
    const pushed = await cf.call('POST', `/sessions/${client.sessionId}/tracks/new`, {
      sessionDescription: { sdp: offer.sdp, type: 'offer' },
      tracks: transceivers.map((t, i) => ({ location: 'local', mid: t.mid, trackName: sources[i]!.trackName })),
    });
    expect(pushed.status).toBe(200);
    expect(pushed.body).toEqual({
      requiresImmediateRenegotiation: false,
      sessionDescription: { type: 'answer', sdp: expect.stringMatching(/^v=0/) },
      tracks: sources.map(({ trackName }, i) => ({ trackName, mid: transceivers[i]!.mid })),
    });
    await client.pc.setRemoteDescription(pushed.body.sessionDescription);
    await connected(client.pc);
    return { ...client, mids: transceivers.map((t) => t.mid as string), transceivers };
  }

  /** Cloudflare's echo, pull side: tracks/new with remote tracks and no SDP, then the SFU offer answered with /renegotiate. */
  async function pull(cf: CloudflareApi, client: Client, tracks: Record<string, unknown>[]): Promise<CfResponse> {
    const pulled = await cf.call('POST', `/sessions/${client.sessionId}/tracks/new`, { tracks: tracks.map((t) => ({ location: 'remote', ...t })) });
    expect(pulled.status).toBe(200);
    if (pulled.body.requiresImmediateRenegotiation) await answerOffer(cf, client, pulled.body.sessionDescription);
    return pulled;
  }

  async function answerOffer(cf: CloudflareApi, client: Client, offer: { type: string; sdp: string }, prepare?: () => void | Promise<void>) {
    expect(offer.type).toBe('offer');
    await client.pc.setRemoteDescription(offer as RTCSessionDescriptionInit);
    await prepare?.();
    const answer = await client.pc.createAnswer();
    await client.pc.setLocalDescription(answer);
    const renegotiated = await cf.call('PUT', `/sessions/${client.sessionId}/renegotiate`, { sessionDescription: { sdp: answer.sdp, type: 'answer' } });
    expect(renegotiated.status).toBe(200);
    // Clients call .json() on it: an object, empty when the SFU has nothing to add.
    expect(renegotiated.body).toEqual({});
  }

  function watch(track: MediaStreamTrack | undefined) {
    if (!track) throw new Error('no track received on that mid');
    const video = watchVideo(track);
    file.cleanups.push(video.stop);
    return video.stats;
  }

  const getSession = async (cf: CloudflareApi, sessionId: string) => {
    const state = await cf.call('GET', `/sessions/${sessionId}`);
    expect(state.status).toBe(200);
    return state.body as { tracks: Record<string, unknown>[]; dataChannels: Record<string, unknown>[] };
  };

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

  it('datachannels: establish with an offer and without (the SFU offers), new local and remote, messages over negotiated channels with the ids returned, close', { timeout: 45_000 }, async () => {
    const cf = api();
    // Publisher: a bare session whose transport comes with datachannels/establish and its offer.
    const publisher = await newSession(cf);
    const serverEvents = publisher.pc.createDataChannel('server-events');
    const offer = await publisher.pc.createOffer();
    await publisher.pc.setLocalDescription(offer);
    const established = await cf.call('POST', `/sessions/${publisher.sessionId}/datachannels/establish`, {
      dataChannel: { location: 'remote', dataChannelName: 'server-events' },
      sessionDescription: { sdp: offer.sdp, type: 'offer' },
    });
    expect(established.status).toBe(200);
    expect(established.body).toEqual({
      requiresImmediateRenegotiation: false,
      sessionDescription: { type: 'answer', sdp: expect.stringContaining('m=application') },
      dataChannel: { dataChannelName: 'server-events', id: expect.any(Number) },
    });
    await publisher.pc.setRemoteDescription(established.body.sessionDescription);
    await connected(publisher.pc);
    // The id answered is the one the client's own server-events channel took (by DTLS role: odd, as the SFU is the DTLS client).
    expect(serverEvents.id).toBe(established.body.dataChannel.id);

    // Subscriber: Cloudflare's current way, establish without an offer: the SFU offers a data section, the client answers.
    const subscriber = await newSession(cf);
    const asked = await cf.call('POST', `/sessions/${subscriber.sessionId}/datachannels/establish`, { dataChannel: { location: 'remote', dataChannelName: 'server-events' } });
    expect(asked.status).toBe(200);
    expect(asked.body).toEqual({
      requiresImmediateRenegotiation: true,
      sessionDescription: { type: 'offer', sdp: expect.stringContaining('m=application') },
      dataChannel: { dataChannelName: 'server-events', id: 0 },
    });
    await subscriber.pc.setRemoteDescription(asked.body.sessionDescription);
    const subscriberAnswer = await subscriber.pc.createAnswer();
    await subscriber.pc.setLocalDescription(subscriberAnswer);
    const answered = await cf.call('PUT', `/sessions/${subscriber.sessionId}/renegotiate`, { sessionDescription: { type: 'answer', sdp: subscriberAnswer.sdp } });
    expect(answered.status).toBe(200);
    await connected(subscriber.pc);
    // A second establish has nothing to establish.
    const again = await cf.call('POST', `/sessions/${subscriber.sessionId}/datachannels/establish`, { dataChannel: { location: 'remote', dataChannelName: 'server-events' } });
    expect(again.status).toBe(400);
    expect(again.body).toEqual({ errorCode: 'invalid_params', errorDescription: expect.stringContaining('already has a data m-section') });

    const local = await cf.call('POST', `/sessions/${publisher.sessionId}/datachannels/new`, { dataChannels: [{ location: 'local', dataChannelName: 'channel-one' }] });
    expect(local.status).toBe(200);
    expect(local.body).toEqual({ dataChannels: [{ location: 'local', dataChannelName: 'channel-one', id: expect.any(Number) }] });
    const remote = await cf.call('POST', `/sessions/${subscriber.sessionId}/datachannels/new`, {
      dataChannels: [{ location: 'remote', sessionId: publisher.sessionId, dataChannelName: 'channel-one' }],
    });
    expect(remote.body).toEqual({ dataChannels: [{ location: 'remote', sessionId: publisher.sessionId, dataChannelName: 'channel-one', id: expect.any(Number) }] });
    const publisherId = local.body.dataChannels[0].id as number;
    const subscriberId = remote.body.dataChannels[0].id as number;

    const sending = publisher.pc.createDataChannel('channel-one', { negotiated: true, id: publisherId });
    const receiving = subscriber.pc.createDataChannel('channel-one-subscribed', { negotiated: true, id: subscriberId });
    const messages: string[] = [];
    receiving.onmessage = (event: MessageEvent) => messages.push(String(event.data));
    await Promise.all([opened(sending), opened(receiving)]);
    for (let i = 0; i < 3; i += 1) sending.send(`hello ${i}`);
    await waitFor('messages through the SFU', () => messages.length === 3);
    expect(messages).toEqual(['hello 0', 'hello 1', 'hello 2']);

    expect((await getSession(cf, publisher.sessionId)).dataChannels).toEqual([{ location: 'local', dataChannelName: 'channel-one', id: publisherId, status: 'active' }]);
    expect((await getSession(cf, subscriber.sessionId)).dataChannels).toEqual([
      { location: 'remote', sessionId: publisher.sessionId, dataChannelName: 'channel-one', id: subscriberId, status: 'active' },
    ]);

    // Mixed locations in one datachannels/new are refused as for tracks.
    const mixed = await cf.call('POST', `/sessions/${subscriber.sessionId}/datachannels/new`, {
      dataChannels: [{ location: 'remote', sessionId: publisher.sessionId, dataChannelName: 'channel-one' }, { location: 'local', dataChannelName: 'mine' }],
    });
    expect(mixed.status).toBe(400);
    expect(mixed.body.errorCode).toBe('invalid_params');

    const closed = await cf.call('PUT', `/sessions/${subscriber.sessionId}/datachannels/close`, { dataChannels: [{ id: subscriberId }] });
    expect(closed.status).toBe(200);
    expect(closed.body).toEqual({ dataChannels: [{ id: subscriberId, dataChannelName: 'channel-one' }] });
    await waitFor('the subscriber channel closes', () => receiving.readyState === 'closed');
    const closedAgain = await cf.call('PUT', `/sessions/${subscriber.sessionId}/datachannels/close`, { dataChannels: [{ id: subscriberId }] });
    expect(closedAgain.body).toEqual({ dataChannels: [{ id: subscriberId, errorCode: 'close_track_error', errorDescription: expect.any(String) }] });
    expect((await getSession(cf, subscriber.sessionId)).dataChannels.filter((c) => c.status === 'active')).toEqual([]);

    const unpublished = await cf.call('PUT', `/sessions/${publisher.sessionId}/datachannels/close`, { dataChannels: [{ id: publisherId }] });
    expect(unpublished.body).toEqual({ dataChannels: [{ id: publisherId, dataChannelName: 'channel-one' }] });
    await waitFor('the publisher channel closes', () => sending.readyState === 'closed');
  });

  it('request errors: unknown session 404 session_error, bad JSON 400 decoding_error, mixed tracks 400 invalid_params, out-of-order answer, too large, unknown paths 404; JSON as text/plain or with no Content-Type works', async () => {
    const cf = api();
    const unknownGet = await cf.call('GET', '/sessions/00000000-0000-0000-0000-000000000000');
    expect(unknownGet.status).toBe(404);
    expect(unknownGet.body).toEqual({ errorCode: 'session_error', errorDescription: expect.any(String) });
    const unknownPull = await cf.call('POST', '/sessions/no-such-session/tracks/new', { tracks: [{ location: 'remote', sessionId: 'x', trackName: 'y' }] });
    expect(unknownPull.status).toBe(404);
    expect(unknownPull.body.errorCode).toBe('session_error');

    const client = await newSession(cf);
    const badJson = await cf.call('POST', `/sessions/${client.sessionId}/tracks/new`, undefined, { raw: '{"tracks": [', contentType: 'application/json' });
    expect(badJson.status).toBe(400);
    expect(badJson.body).toEqual({ errorCode: 'decoding_error', errorDescription: expect.any(String) });

    const mixed = await cf.call('POST', `/sessions/${client.sessionId}/tracks/new`, {
      tracks: [{ location: 'local', trackName: 'a', kind: 'audio' }, { location: 'remote', sessionId: client.sessionId, trackName: 'b' }],
    });
    expect(mixed.status).toBe(400);
    expect(mixed.body).toEqual({ errorCode: 'invalid_params', errorDescription: expect.stringContaining('local') });
    expect((await getSession(cf, client.sessionId)).tracks).toEqual([]);

    // An answer with no SFU offer waiting is out of order.
    const { pc } = newPc();
    pc.createDataChannel('x');
    const stray = await pc.createOffer();
    const answer = await cf.call('PUT', `/sessions/${client.sessionId}/renegotiate`, { sessionDescription: { sdp: stray.sdp, type: 'answer' } });
    expect(answer.status).toBe(400);
    expect(answer.body.errorCode).toBe('invalid_session_description');

    // Switchyard's differences, refused with a reason rather than half done: establish with an answer; no thirdparty sessions.
    const ask = await cf.call('POST', `/sessions/${client.sessionId}/datachannels/establish`, { dataChannel: { location: 'remote', dataChannelName: 'server-events' }, sessionDescription: { type: 'answer', sdp: 'v=0' } });
    expect(ask.status).toBe(400);
    expect(ask.body).toEqual({ errorCode: 'invalid_params', errorDescription: expect.stringContaining('offer') });
    const thirdparty = await cf.newSession(undefined, '?thirdparty=true');
    expect(thirdparty.status).toBe(400);
    expect(thirdparty.body).toEqual({ errorCode: 'invalid_params', errorDescription: expect.stringContaining('ICE-lite') });

    const huge = await cf.call('POST', `/sessions/${client.sessionId}/tracks/new`, { tracks: [], padding: 'x'.repeat(300 * 1024) });
    expect(huge.status).toBe(413);
    expect(huge.body.errorCode).toBe('payload_too_large');

    for (const [method, path] of [
      ['GET', '/nothing-here'],
      ['POST', `/sessions/${client.sessionId}/tracks/nothing`],
      ['GET', `/sessions/${client.sessionId}/tracks/new`],
      ['DELETE', `/sessions/${client.sessionId}`],
      ['GET', '/sessions/new'],
    ] as const) {
      const response = await cf.call(method, path);
      expect(response.status, `${method} ${path}`).toBe(404);
      expect(response.body.errorCode).toBe('not_found');
    }

    // fetch labels a string body text/plain (what Cloudflare's echo sends); a byte body goes with no Content-Type at all.
    const plain = await cf.call('POST', `/sessions/${client.sessionId}/tracks/new`, { tracks: [{ location: 'local', trackName: 'a', kind: 'audio' }] }, { contentType: 'text/plain;charset=UTF-8' });
    expect(plain.status).toBe(200);
    expect(plain.body.tracks).toEqual([{ trackName: 'a', mid: expect.any(String) }]);
    const bytes = new TextEncoder().encode(JSON.stringify({ tracks: [{ location: 'remote', sessionId: client.sessionId, trackName: 'nobody' }] }));
    const untyped = await cf.call('POST', `/sessions/${client.sessionId}/tracks/new`, undefined, { raw: bytes });
    expect(untyped.status).toBe(200);
    expect(untyped.body.tracks[0].errorCode).toBe('not_found_track_error');
  });

  it('a malformed path or a client that hangs up mid-body is answered, and the node goes on (neither may escape as an unhandled rejection)', async () => {
    const cf = api();
    for (const [method, path] of [
      ['POST', '/sessions/%E0%A4%A/tracks/new'],
      ['GET', '/sessions/%E0%A4%A'],
    ] as const) {
      const response = await cf.call(method, path);
      expect(response.status, path).toBe(404);
      expect(response.body.errorCode).toBe('not_found');
    }
    const badApp = await fetch(`${file.server.url}/v1/apps/%E0%A4%A/sessions/new`, { method: 'POST' });
    expect(badApp.status).toBe(404);

    // A body announced as 1000 bytes, cut off after a few: vitest fails the run on an unhandled rejection.
    const { port } = new URL(file.server.url);
    await new Promise<void>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () => {
        socket.write('POST /v1/apps/my-app/sessions/new HTTP/1.1\r\nHost: switchyard\r\nContent-Length: 1000\r\n\r\n{"sessionDescription":');
        setTimeout(() => {
          socket.destroy();
          resolve();
        }, 200);
      });
      socket.on('error', reject);
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await cf.newSession()).status).toBe(201);
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

describe('the Cloudflare-compatible API with apps configured (APPS)', () => {
  let server: Switchyard;
  beforeAll(async () => {
    server = await startTestServer({ WORKERS: '1', APPS: `acme:${SECRET_ACME},beta:${SECRET_BETA}`, CORS_ORIGINS: ALLOWED_ORIGIN });
  });
  afterAll(async () => {
    await server?.stop();
  });
  const as = (appId: string, secret: string | undefined) => new CloudflareApi(server.url, appId, secret, DOCUMENTED_DIFFERENCES, checked, usedDifferences);

  it('Authorization: Bearer <app secret> of the app in the path: 201; none, a wrong one or another app\'s is 401 unauthorized', async () => {
    const acme = as('acme', SECRET_ACME);
    const created = await acme.newSession();
    expect(created.status).toBe(201);
    const sessionId = created.body.sessionId as string;

    for (const [appId, secret] of [
      ['acme', undefined],
      ['acme', 'not-the-secret-of-any-app-0123456789abcdef'],
      ['acme', SECRET_BETA],
      ['nobody', SECRET_ACME],
    ] as const) {
      const refused = await as(appId, secret).newSession();
      expect(refused.status, `${appId} with ${secret ?? 'no credentials'}`).toBe(401);
      expect(refused.body).toEqual({ errorCode: 'unauthorized', errorDescription: expect.any(String) });
    }
    const wrongScheme = await acme.call('GET', `/sessions/${sessionId}`, undefined, { authorization: `Basic ${SECRET_ACME}` });
    expect(wrongScheme.status).toBe(401);
    expect((await acme.call('GET', `/sessions/${sessionId}`)).status).toBe(200);
    // Another app's session ids answer as ids that do not exist.
    const foreign = await as('beta', SECRET_BETA).call('GET', `/sessions/${sessionId}`);
    expect(foreign.status).toBe(404);
    expect(foreign.body.errorCode).toBe('session_error');
  });

  it('CORS: a preflight from an allowed origin allows PUT and the Authorization header; other origins get no CORS headers', async () => {
    const preflight = (origin: string) =>
      fetch(`${server.url}/v1/apps/acme/sessions/some-session/renegotiate`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'PUT', 'access-control-request-headers': 'authorization' },
      });
    const allowed = await preflight(ALLOWED_ORIGIN);
    expect(allowed.status).toBeLessThan(300);
    expect(allowed.headers.get('access-control-allow-origin')).toBe(ALLOWED_ORIGIN);
    expect(allowed.headers.get('access-control-allow-methods')?.split(/,\s*/)).toContain('PUT');
    expect(allowed.headers.get('access-control-allow-headers')?.toLowerCase().split(/,\s*/)).toContain('authorization');
    expect(allowed.headers.get('vary')).toMatch(/origin/i);

    const other = await preflight('http://elsewhere.example.test');
    expect(other.headers.get('access-control-allow-origin')).toBeNull();

    // The actual request from the allowed origin carries the CORS header too (and Vary: Origin, as the document declares).
    const acme = as('acme', SECRET_ACME);
    const created = await acme.call('POST', '/sessions/new', undefined, { headers: { origin: ALLOWED_ORIGIN } });
    expect(created.status).toBe(201);
    expect(created.headers.get('access-control-allow-origin')).toBe(ALLOWED_ORIGIN);
    expect(created.headers.get('vary')).toMatch(/origin/i);
  });
});

describe('what the checks above covered', () => {
  it('the allowed differences are exactly the documented one', () => {
    expect(DOCUMENTED_DIFFERENCES.map(({ operation, status, path }) => `${operation} ${status} ${path}`)).toEqual([
      'PUT /apps/{appId}/sessions/{sessionId}/tracks/update 200 $.sessionDescription',
    ]);
  });

  it('every operation of the document but the canReply update answered its success status with a body the walker checked', () => {
    // Only meaningful when the whole file ran; a filtered run (-t) skips this test with the others.
    const expected = Object.entries(fixture.operations)
      .filter(([key]) => !key.endsWith('/datachannels/update'))
      .flatMap(([key, operation]) => Object.keys(operation.responses).map((status) => `${key} ${status}`));
    expect(expected.filter((entry) => !checked.has(entry))).toEqual([]);
    expect([...usedDifferences]).toEqual(['PUT /apps/{appId}/sessions/{sessionId}/tracks/update 200 $.sessionDescription']);
  });
});
