import type { types } from 'mediasoup';
import { describe, expect, it } from 'vitest';
import type { MediaWorker } from '../../src/media/workerPool.js';
import type { RemoteDescription, RemoteSection } from '../../src/sdp/types.js';
import { planClientOffer } from '../../src/session/offerPlan.js';
import { Session, type Transceiver } from '../../src/session/Session.js';
import type { PublishedTrack } from '../../src/tracks/PublishedTrack.js';

// Planning is pure: it reads the session's m-sections and never touches the
// transport, so a transport that only accepts listeners is enough here.
const idleTransport = { on: () => undefined } as unknown as types.WebRtcTransport;
const newSession = () => new Session('00000000-0000-4000-8000-000000000000', null, {} as MediaWorker, idleTransport, { appId: 'dev', owner: null });

const FINGERPRINT = { algorithm: 'sha-256', value: 'AA:'.repeat(31) + 'AA' };

function section(mid: string, kind: 'audio' | 'video', direction: RemoteSection['direction'] = 'sendonly', rejected = false): RemoteSection {
  return { mid, kind, rejected, direction, codecs: [], headerExtensions: [], streams: [], sendRids: [], msid: { streamId: 's', trackId: `t${mid}` } };
}

function offer(...sections: RemoteSection[]): RemoteDescription {
  return { type: 'offer', transport: { fingerprint: FINGERPRINT, setup: 'actpass', iceUfrag: 'u', icePwd: 'p' }, sections };
}

function pushed(mid: string, kind: 'audio' | 'video', name: string): Transceiver {
  return {
    section: { mid, kind, direction: 'recvonly', rejected: false, codecs: [], headerExtensions: [] },
    pushed: { name, sessionId: 's', kind } as PublishedTrack,
  };
}

const none = { push: [], close: [], autoDiscover: false };

describe('planning a client offer', () => {
  it('publishes the named sending m-sections', () => {
    const plan = planClientOffer(newSession(), offer(section('0', 'video'), section('1', 'audio')), {
      ...none,
      push: [
        { mid: '0', trackName: 'camera', tags: ['room:a'] },
        { mid: '1', trackName: 'mic', tags: [] },
      ],
    });
    expect(plan.sections.map((s) => s.action.type)).toEqual(['produce', 'produce']);
    expect(plan.results.items.map((r) => [r.mid, r.trackName, r.error])).toEqual([
      ['0', 'camera', null],
      ['1', 'mic', null],
    ]);
  });

  it('fails only the tracks that are wrong, each with its reason', () => {
    const plan = planClientOffer(newSession(), offer(section('0', 'video'), section('1', 'audio', 'recvonly')), {
      ...none,
      push: [
        { mid: '0', trackName: 'camera', tags: [] },
        { mid: '1', trackName: 'listen', tags: [] },
        { mid: '7', trackName: 'ghost', tags: [] },
        { mid: '0', trackName: 'again', tags: [] },
        { trackName: 'nomid', tags: [] },
      ],
    });
    expect(plan.results.items.map((r) => r.error?.code ?? 'ok')).toEqual(['ok', 'BAD_REQUEST', 'BAD_REQUEST', 'BAD_REQUEST', 'BAD_REQUEST']);
    expect(plan.results.items[2]!.error!.message).toMatch(/no m-section with mid 7/);
    expect(plan.sections.map((s) => s.action.type)).toEqual(['produce', 'idle']);
  });

  it('refuses a second track under a name the session already publishes', () => {
    const session = newSession();
    session.transceivers = [pushed('0', 'video', 'camera')];
    const plan = planClientOffer(session, offer(section('0', 'video'), section('1', 'video')), {
      ...none,
      push: [{ mid: '1', trackName: 'camera', tags: [] }],
    });
    expect(plan.results.items[0]!.error?.message).toMatch(/already publishes a track named camera/);
    expect(plan.sections.map((s) => s.action.type)).toEqual(['keep', 'idle']);
  });

  it('closes what a stopped transceiver carried', () => {
    const session = newSession();
    session.transceivers = [pushed('0', 'audio', 'mic'), pushed('1', 'video', 'camera')];
    const plan = planClientOffer(session, offer(section('0', 'audio'), section('1', 'video', 'sendonly', true)), none);
    expect(plan.sections.map((s) => s.action)).toEqual([
      { type: 'keep', transceiver: session.transceivers[0] },
      { type: 'close', transceiver: session.transceivers[1], reject: true },
    ]);
  });

  it('closes a listed mid even when the client did not stop it', () => {
    const session = newSession();
    session.transceivers = [pushed('0', 'video', 'camera')];
    const plan = planClientOffer(session, offer(section('0', 'video')), { ...none, close: ['0'] });
    expect(plan.sections[0]!.action).toMatchObject({ type: 'close', reject: false });
  });

  it('names auto-discovered tracks after the client track id', () => {
    const plan = planClientOffer(newSession(), offer(section('0', 'video'), section('1', 'audio', 'recvonly')), { ...none, autoDiscover: true });
    expect(plan.results.items.map((r) => [r.mid, r.trackName])).toEqual([['0', 't0']]);
    expect(plan.sections.map((s) => s.action.type)).toEqual(['produce', 'idle']);
  });

  describe('whole-offer conflicts are INVALID_SDP', () => {
    const withCamera = () => {
      const session = newSession();
      session.transceivers = [pushed('0', 'video', 'camera')];
      return session;
    };
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (error) {
        return (error as { code: string }).code;
      }
      return 'no error';
    };

    it('an offer that drops an m-section', () => {
      const session = withCamera();
      session.transceivers.push(pushed('1', 'audio', 'mic'));
      expect(code(() => planClientOffer(session, offer(section('0', 'video')), none))).toBe('INVALID_SDP');
    });

    it('an offer that reorders m-sections', () => {
      expect(code(() => planClientOffer(withCamera(), offer(section('5', 'video'), section('0', 'video')), none))).toBe('INVALID_SDP');
    });

    it('an m-section that changes its media type', () => {
      expect(code(() => planClientOffer(withCamera(), offer(section('0', 'audio')), none))).toBe('INVALID_SDP');
    });

    it('a changed DTLS fingerprint', () => {
      const session = withCamera();
      session.remoteFingerprint = { algorithm: 'sha-256', value: 'BB:'.repeat(31) + 'BB' };
      expect(code(() => planClientOffer(session, offer(section('0', 'video')), none))).toBe('INVALID_SDP');
    });

    it('but a stopped m-section may be recycled for a new transceiver', () => {
      const session = newSession();
      session.transceivers = [{ section: { mid: '0', kind: 'video', direction: 'inactive', rejected: true, codecs: [], headerExtensions: [] } }];
      const plan = planClientOffer(session, offer(section('3', 'audio')), { ...none, push: [{ mid: '3', trackName: 'mic', tags: [] }] });
      expect(plan.sections[0]!.action.type).toBe('produce');
    });
  });
});

describe('the m-section that carries the BUNDLE transport', () => {
  it('may not be stopped while others live (BAD_REQUEST, nothing planned)', () => {
    const session = newSession();
    session.transceivers = [pushed('0', 'video', 'camera'), pushed('1', 'audio', 'mic')];
    const stopFirst = () => planClientOffer(session, offer(section('0', 'video', 'sendonly', true), section('1', 'audio')), none);
    expect(stopFirst).toThrow(/carries the session's BUNDLE transport/);
    // The refusal says what to do instead: inactive, then reuse.
    expect(stopFirst).toThrow(/set its direction to 'inactive' and send that offer with closeTracks/);
  });

  it('may not be stopped even as the only m-section, while it carries a track', () => {
    const session = newSession();
    session.transceivers = [pushed('0', 'video', 'camera')];
    expect(() => planClientOffer(session, offer(section('0', 'video', 'sendonly', true)), none)).toThrow(/set its direction to 'inactive'/);
  });

  it('may be closed by an offer that sets it inactive, and the m-section stays for reuse', () => {
    const session = newSession();
    session.transceivers = [pushed('0', 'video', 'camera'), pushed('1', 'audio', 'mic')];
    const plan = planClientOffer(session, offer(section('0', 'video', 'inactive'), section('1', 'audio')), { ...none, close: ['0'] });
    expect(plan.sections[0]!.action).toMatchObject({ type: 'close', reject: false });
    expect(plan.sections[1]!.action.type).toBe('keep');
  });
});

describe('planning pulls answered in the client\'s offer (pullTracks with sessionDescription)', () => {
  const pull = (mid: string | null, trackName = 'cam') => ({ sessionId: 'source', trackName, mid });

  it('sends each pulled track on the receiving m-section its mid names', () => {
    const plan = planClientOffer(newSession(), offer(section('0', 'audio', 'recvonly'), section('1', 'video', 'recvonly')), {
      ...none,
      pull: [pull('1', 'cam'), pull('0', 'mic')],
    });
    expect(plan.sections.map((s) => s.action.type)).toEqual(['consume', 'consume']);
    expect(plan.results.items.map((r) => [r.mid, r.trackName, r.error])).toEqual([
      ['1', 'cam', null],
      ['0', 'mic', null],
    ]);
  });

  it('refuses, each with its reason, a pull without a mid, a #name, an unknown or sending mid, and a mid named twice', () => {
    const plan = planClientOffer(newSession(), offer(section('0', 'video', 'recvonly'), section('1', 'video', 'sendonly')), {
      ...none,
      pull: [pull(null), pull('#mine'), pull('7'), pull('1'), pull('0'), pull('0', 'again')],
    });
    expect(plan.results.items.map((r) => r.error?.message ?? 'ok')).toEqual([
      'a track pulled with an offer needs the mid of the receiving transceiver in that offer',
      'with an offer, name the receiving transceiver by its mid',
      'the offer has no m-section with mid 7',
      'm-section 1 does not receive audio or video',
      'ok',
      'mid 0 is named twice',
    ]);
    expect(plan.sections.map((s) => s.action.type)).toEqual(['consume', 'idle']);
  });

  it('does not pull into an m-section that already carries a track', () => {
    const session = newSession();
    session.transceivers = [pushed('0', 'video', 'camera')];
    const plan = planClientOffer(session, offer(section('0', 'video', 'sendrecv')), { ...none, pull: [pull('0')] });
    expect(plan.results.items[0]?.error?.message).toBe('m-section 0 already carries a track');
    expect(plan.sections[0]?.action.type).toBe('keep');
  });
});
