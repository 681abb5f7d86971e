import type { types } from 'mediasoup';
import * as sdpTransform from 'sdp-transform';
import { describe, expect, it, vi } from 'vitest';
import type { MediaWorker } from '../../src/media/workerPool.js';
import { msidTrackId } from '../../src/session/Puller.js';
import { Session, type Transceiver } from '../../src/session/Session.js';
import { SfuOffers } from '../../src/session/SfuOffers.js';
import type { PulledTrack } from '../../src/session/Session.js';

/** A transport with what describing a session reads: ICE, DTLS and SCTP parameters. */
const transport = {
  on: () => undefined,
  iceParameters: { usernameFragment: 'sfuufrag', password: 'sfupassword', iceLite: true },
  iceCandidates: [{ foundation: 'udp', priority: 1, address: '127.0.0.1', protocol: 'udp', port: 40000, type: 'host' }],
  dtlsParameters: { fingerprints: [{ algorithm: 'sha-256', value: 'AA:'.repeat(31) + 'AA' }] },
  sctpParameters: { port: 5000, maxMessageSize: 262144 },
} as unknown as types.WebRtcTransport;
const router = { rtpCapabilities: { codecs: [{ kind: 'video', mimeType: 'video/VP8', clockRate: 90000, preferredPayloadType: 101, parameters: {}, rtcpFeedback: [] }], headerExtensions: [] } };
const newSession = () =>
  new Session('00000000-0000-4000-8000-000000000000', null, { router } as unknown as MediaWorker, transport, { appId: 'dev', owner: null });

/** A pulled video transceiver as the Puller makes it. */
function pulledTransceiver(mid: string, source: { sessionId: string; name: string }, pending: boolean): Transceiver {
  const consumer = { close: vi.fn() };
  return {
    section: {
      mid,
      kind: 'video',
      direction: 'sendonly',
      rejected: false,
      codecs: [{ payloadType: 101, mimeType: 'video/VP8', clockRate: 90000, parameters: {}, rtcpFeedback: [] }],
      headerExtensions: [],
      outgoing: { ssrc: 1000 + Number(mid), cname: 'c', streamId: source.sessionId, trackId: msidTrackId(mid, source.name) },
    },
    pulled: { source, consumer, ended: false } as unknown as PulledTrack,
    pending,
    ...(pending ? { addedByPendingOffer: true } : {}),
  };
}

describe('the SDP the SFU writes', () => {
  it('gives every m-section a distinct msid track id, and the publisher as stream id', () => {
    const session = newSession();
    const source = { sessionId: 'publisher-session', name: 'camera' };
    session.transceivers = [{ section: session.dataSection('0') }, pulledTransceiver('1', source, false), pulledTransceiver('2', source, false)];
    const parsed = sdpTransform.parse(session.describe('actpass'));
    const msids = parsed.media.filter((m) => m.msid).map((m) => String(m.msid));
    expect(msids).toHaveLength(2);
    expect(new Set(msids).size).toBe(2);
    for (const msid of msids) expect(msid.split(' ')[0]).toBe('publisher-session');
  });

  it('keeps msid track ids to 64 token characters', () => {
    expect(msidTrackId('12', 'room:lobby/cam era')).toBe('12-room_lobby_cam_era');
    expect(msidTrackId('3', 'x'.repeat(100))).toHaveLength(64);
  });

  it("starts the SFU's first offer with a data section, and media after it", () => {
    const session = newSession();
    const offers = new SfuOffers(() => undefined);
    const outcome = offers.offerToReceive(session, [{ trackName: 'screen', tags: [] }], ['video']);
    const parsed = sdpTransform.parse(outcome.description!.sdp);
    expect(parsed.media.map((m) => `${m.type}:${m.mid}`)).toEqual(['application:0', 'video:1']);
    expect(parsed.media[0]!.sctpPort).toBe(5000);
    expect(parsed.groups?.[0]?.mids).toBe('0 1');
    expect(outcome.tracks[0]!.mid).toBe('1');
  });

  it('adds no data section to a session that has m-sections', () => {
    const session = newSession();
    session.transceivers = [pulledTransceiver('0', { sessionId: 'p', name: 'cam' }, false)];
    new SfuOffers(() => undefined).startWithData(session);
    expect(session.transceivers.map((t) => t.section.kind)).toEqual(['video']);
  });
});

describe('withdrawing a pending SFU offer', () => {
  it('drops the m-sections it added, leaves reused ones idle with TRACK_ENDED, and is stable again', () => {
    const session = newSession();
    const events: [string, string | null | undefined][] = [];
    const offers = new SfuOffers((_s, type, mid) => events.push([type, mid]));
    const kept = pulledTransceiver('1', { sessionId: 'p', name: 'a' }, false);
    const added = pulledTransceiver('2', { sessionId: 'p', name: 'b' }, true);
    const reused = { ...pulledTransceiver('3', { sessionId: 'p', name: 'c' }, true), addedByPendingOffer: undefined };
    session.transceivers = [{ section: session.dataSection('0') }, kept, reused, added];
    offers.offer(session);
    expect(session.negotiation).toBe('have-local-offer');

    const outcome = offers.rollback(session);
    expect(outcome.withdrawnMids).toEqual(['3', '2']);
    expect(session.transceivers.map((t) => t.section.mid)).toEqual(['0', '1', '3']);
    expect(session.transceivers[2]!.pulled).toBeUndefined();
    expect(session.transceivers[2]!.section.direction).toBe('inactive');
    expect(session.transceivers[1]).toBe(kept);
    expect((added.pulled!.consumer.close as ReturnType<typeof vi.fn>).mock.calls).toHaveLength(1);
    expect((reused.pulled!.consumer.close as ReturnType<typeof vi.fn>).mock.calls).toHaveLength(1);
    expect(session.negotiation).toBe('stable');
    expect(session.pendingOffer).toBeUndefined();
    expect(events).toEqual([['RENEGOTIATION_NEEDED', undefined], ['TRACK_ENDED', '3']]);
  });

  it('is NEGOTIATION_CONFLICT when no offer is pending', () => {
    const session = newSession();
    expect(() => new SfuOffers(() => undefined).rollback(session)).toThrow(expect.objectContaining({ code: 'NEGOTIATION_CONFLICT' }));
  });
});
