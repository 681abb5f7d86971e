import { describe, expect, it } from 'vitest';
import { errorCode, gql, gqlOk } from '../helpers/graphql.js';
import { fakeCamera, waitFor, watchVideo } from '../helpers/media.js';
import { TestPeer } from '../helpers/peer.js';
import { useTestServer } from '../helpers/server.js';
import { collect, wsClient } from '../helpers/subscriptions.js';

/**
 * The rules that keep every session negotiable (issue "No dead ends"), with
 * libwebrtc peers: unique msids, a data section first in the SFU's first
 * offer, rollback of a refused offer, ICE restart, and leaving seen at once.
 * Chromium, which is stricter, checks the same in test/e2e/raw-*.test.ts.
 */
const PULL = `mutation($input: PullTracksInput!) { pullTracks(input: $input) { requiresImmediateRenegotiation sessionDescription { type sdp } tracks { mid trackName error { code } } } }`;
const ROLLBACK = 'mutation($id: ID!) { rollbackOffer(input: { sessionId: $id }) { withdrawnMids session { pendingOffer { sdp } tracks { mid } } } }';
const RENEGOTIATE = 'mutation($input: RenegotiateInput!) { renegotiate(input: $input) { sessionDescription { sdp } } }';

const node = useTestServer();
const stops = node.cleanups;

async function peer(options: { dataChannel?: boolean } = {}): Promise<TestPeer> {
  const p = new TestPeer(node.server.url);
  stops.push(() => p.stop());
  await p.createSession(options);
  return p;
}

async function publisher(name = 'cam'): Promise<TestPeer> {
  const cam = fakeCamera(160, 120);
  stops.push(cam.stop);
  const p = await peer();
  await p.push([{ track: cam.track, name }]);
  return p;
}

const msidLines = (sdp: string) => sdp.split(/\r?\n/).filter((line) => line.startsWith('a=msid:'));
const mLines = (sdp: string) => sdp.split(/\r?\n/).filter((line) => line.startsWith('m='));
const iceOf = (sdp: string) => ({ ufrag: /a=ice-ufrag:(\S+)/.exec(sdp)?.[1], pwd: /a=ice-pwd:(\S+)/.exec(sdp)?.[1] });

describe('the SFU writes SDP a strict browser accepts', () => {
  it('one source pulled twice: a distinct msid track id on each m-section, the publisher as stream id', async () => {
    const pub = await publisher();
    const sub = await peer();
    const data = await gqlOk(node.server.url, PULL, {
      input: { sessionId: sub.sessionId, tracks: [{ sessionId: pub.sessionId, trackName: 'cam' }, { sessionId: pub.sessionId, trackName: 'cam' }] },
    });
    const lines = msidLines(data.pullTracks.sessionDescription.sdp);
    expect(lines).toHaveLength(2);
    expect(new Set(lines).size).toBe(2);
    for (const line of lines) expect(line.split(' ')[0]).toBe(`a=msid:${pub.sessionId}`);
    await sub.applyOffer(data.pullTracks.sessionDescription.sdp);
    await waitFor('both tracks arrive', () => sub.received.size === 2);
    const videos = [...sub.received.values()].map((track) => watchVideo(track));
    stops.push(...videos.map((v) => v.stop));
    await waitFor('both play', () => videos.every((v) => v.stats.frames > 3));
  });

  it('the first offer for a session created without one starts with a data section', async () => {
    const pub = await publisher();
    const sub = await peer({ dataChannel: false });
    const data = await gqlOk(node.server.url, PULL, { input: { sessionId: sub.sessionId, tracks: [{ sessionId: pub.sessionId, trackName: 'cam' }] } });
    const sdp = data.pullTracks.sessionDescription.sdp as string;
    expect(mLines(sdp)[0]).toMatch(/^m=application \d+ UDP\/DTLS\/SCTP webrtc-datachannel/);
    expect(data.pullTracks.tracks[0].mid).toBe('1');
    await sub.applyOffer(sdp);
    await waitFor('the track arrives', () => sub.received.size === 1);
    // Closing the only media track by stop() is fine now: it does not carry the transport.
    const closed = await sub.close(['1']);
    expect(closed[0]!.error).toBeNull();
    await waitFor('connected', () => sub.pc.connectionState === 'connected');
    const again = await sub.pull([{ sessionId: pub.sessionId, trackName: 'cam' }]);
    expect(again[0]!.error).toBeNull();
  });
});

describe('a client that cannot apply an SFU offer', () => {
  it('rolls it back: the offer is withdrawn, the session stays usable', async () => {
    const pub = await publisher();
    const sub = await peer();
    const refused = await gqlOk(node.server.url, PULL, { input: { sessionId: sub.sessionId, tracks: [{ sessionId: pub.sessionId, trackName: 'cam' }] } });
    const newMid = refused.pullTracks.tracks[0].mid;
    // The client refuses it (a browser would throw in setRemoteDescription) and says so.
    const rolledBack = await gqlOk(node.server.url, ROLLBACK, { id: sub.sessionId });
    expect(rolledBack.rollbackOffer.withdrawnMids).toEqual([newMid]);
    expect(rolledBack.rollbackOffer.session.pendingOffer).toBeNull();
    expect(rolledBack.rollbackOffer.session.tracks).toEqual([]);
    // Nothing to roll back any more.
    expect(errorCode(await gql(node.server.url, ROLLBACK, { id: sub.sessionId }))).toBe('NEGOTIATION_CONFLICT');
    // A client offer is accepted again (no NEGOTIATION_CONFLICT), and so is a new pull.
    await sub.setLocal(await sub.pc.createOffer());
    const answered = await gqlOk(node.server.url, RENEGOTIATE, { input: { sessionId: sub.sessionId, sessionDescription: { type: 'OFFER', sdp: sub.localSdp } } });
    await sub.pc.setRemoteDescription({ type: 'answer', sdp: answered.renegotiate.sessionDescription.sdp });
    const again = await sub.pull([{ sessionId: pub.sessionId, trackName: 'cam' }]);
    expect(again[0]!.error).toBeNull();
    await waitFor('the track arrives', () => sub.received.size === 1);
    const video = watchVideo([...sub.received.values()][0]!);
    stops.push(video.stop);
    await waitFor('it plays', () => video.stats.frames > 3);
  });
});

describe('ICE restart', () => {
  it('an offer with new ICE credentials gets new ones in the answer, and media keeps flowing', async () => {
    const pub = await publisher();
    const sub = await peer();
    await sub.pull([{ sessionId: pub.sessionId, trackName: 'cam' }]);
    await waitFor('the track arrives', () => sub.received.size === 1);
    const video = watchVideo([...sub.received.values()][0]!);
    stops.push(video.stop);
    await waitFor('it plays', () => video.stats.frames > 3);
    const before = iceOf(node.server.sessions.get(sub.sessionId)!.describe('active'));

    const offer = await sub.pc.createOffer({ iceRestart: true });
    await sub.setLocal(offer);
    const data = await gqlOk(node.server.url, RENEGOTIATE, { input: { sessionId: sub.sessionId, sessionDescription: { type: 'OFFER', sdp: offer.sdp } } });
    const answer = data.renegotiate.sessionDescription.sdp as string;
    const after = iceOf(answer);
    expect(after.ufrag).toBeDefined();
    expect(after.ufrag).not.toBe(before.ufrag);
    expect(after.pwd).not.toBe(before.pwd);
    await sub.pc.setRemoteDescription({ type: 'answer', sdp: answer });
    const frames = video.stats.frames;
    await waitFor('media flows after the restart', () => video.stats.frames > frames + 10);
    expect(node.server.sessions.get(sub.sessionId)!.connectionState).toBe('CONNECTED');

    // The same offer again (same credentials) is no restart: the answer keeps them.
    const plain = await sub.pc.createOffer();
    await sub.setLocal(plain);
    const again = await gqlOk(node.server.url, RENEGOTIATE, { input: { sessionId: sub.sessionId, sessionDescription: { type: 'OFFER', sdp: plain.sdp } } });
    expect(iceOf(again.renegotiate.sessionDescription.sdp)).toEqual(after);
    await sub.pc.setRemoteDescription({ type: 'answer', sdp: again.renegotiate.sessionDescription.sdp });
  });
});

describe('leaving', () => {
  it('pc.close() of a publisher ends its session and tells subscribers TRACK_ENDED within a second', async () => {
    const cam = fakeCamera(160, 120);
    stops.push(cam.stop);
    const pub = new TestPeer(node.server.url);
    await pub.createSession();
    await pub.push([{ track: cam.track, name: 'cam' }]);
    const sub = await peer();
    await sub.pull([{ sessionId: pub.sessionId, trackName: 'cam' }]);
    await waitFor('connected', () => sub.pc.connectionState === 'connected' && pub.pc.connectionState === 'connected');
    const ws = wsClient(node.server.url);
    stops.push(() => void ws.dispose());
    const events = collect(ws, 'subscription($id: ID!) { sessionEvents(sessionId: $id) { type mid } }', { id: sub.sessionId }, (d) => d.sessionEvents);
    await new Promise((resolve) => setTimeout(resolve, 300));

    const closedAt = Date.now();
    pub.stop();
    await waitFor('TRACK_ENDED', () => events.items.some((e) => e.type === 'TRACK_ENDED'), 5000);
    const elapsed = Date.now() - closedAt;
    console.log(`libwebrtc pc.close() -> subscriber TRACK_ENDED: ${elapsed} ms`);
    expect(elapsed).toBeLessThan(1000);
    expect(node.server.sessions.get(pub.sessionId)).toBeUndefined();
    expect(node.server.sessions.tracks.get(pub.sessionId, 'cam')).toBeUndefined();
    await events.close();
  });
});

describe('a client answer that rejects a pulled track', () => {
  it('ends that pull with TRACK_ENDED, keeps the other, and the session stays negotiable', async () => {
    const pub = await publisher('cam');
    const other = await publisher('other');
    const sub = await peer();
    const ws = wsClient(node.server.url);
    stops.push(() => void ws.dispose());
    const events = collect(ws, 'subscription($id: ID!) { sessionEvents(sessionId: $id) { type mid } }', { id: sub.sessionId }, (d) => d.sessionEvents);
    await new Promise((resolve) => setTimeout(resolve, 300));

    const data = await gqlOk(node.server.url, PULL, {
      input: { sessionId: sub.sessionId, tracks: [{ sessionId: pub.sessionId, trackName: 'cam' }, { sessionId: other.sessionId, trackName: 'other' }] },
    });
    const [refused, kept] = data.pullTracks.tracks as { mid: string }[];
    expect(refused!.mid).toBeTruthy();
    await sub.pc.setRemoteDescription({ type: 'offer', sdp: data.pullTracks.sessionDescription.sdp });
    const answer = await sub.pc.createAnswer();
    await sub.setLocal(answer);
    // What a client that declines one m-section sends: port 0, out of the BUNDLE group.
    const sections = (answer.sdp as string).split(/\r\n(?=m=)/);
    const rejecting = sections
      .map((section) => (section.includes(`\r\na=mid:${refused!.mid}\r\n`) ? section.replace(/^m=video \d+/, 'm=video 0') : section))
      .join('\r\n')
      .replace(/^(a=group:BUNDLE .*)$/m, (line) => line.split(' ').filter((mid) => mid !== refused!.mid).join(' '));
    expect(rejecting).toContain('m=video 0 ');
    await gqlOk(node.server.url, RENEGOTIATE, { input: { sessionId: sub.sessionId, sessionDescription: { type: 'ANSWER', sdp: rejecting } } });

    await waitFor('TRACK_ENDED for the declined mid', () => events.items.some((e) => e.type === 'TRACK_ENDED' && e.mid === refused!.mid), 5000);
    expect(events.items.some((e) => e.type === 'TRACK_ENDED' && e.mid === kept!.mid)).toBe(false);
    const { session } = await gqlOk(node.server.url, 'query($id: ID!) { session(id: $id) { tracks { mid status } } }', { id: sub.sessionId });
    expect(session.tracks).toEqual(expect.arrayContaining([{ mid: kept!.mid, status: expect.any(String) }]));
    expect(session.tracks.find((t: { mid: string }) => t.mid === refused!.mid)?.status ?? 'INACTIVE').toBe('INACTIVE');
    const keptVideo = watchVideo(sub.received.get(kept!.mid)!);
    stops.push(keptVideo.stop);
    await waitFor('the kept pull plays', () => keptVideo.stats.frames > 5);

    // The next pull is offered and answered as usual.
    const again = await sub.pull([{ sessionId: pub.sessionId, trackName: 'cam' }]);
    expect(again[0]!.mid).toBeTruthy();
    await waitFor('the pull again arrives', () => sub.received.has(again[0]!.mid!));
    const video = watchVideo(sub.received.get(again[0]!.mid!)!);
    stops.push(video.stop);
    await waitFor('and plays', () => video.stats.frames > 5);
    await events.close();
  });
});
