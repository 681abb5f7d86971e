import { afterEach, describe, expect, it, vi } from 'vitest';
import { OfferRefusedError, SwitchyardError } from '../../client/src/errors.js';
import { connect, fakeTrack, ok, sfu, type FakeTransport, type Handler } from '../helpers/fakeSfu.js';

/**
 * How the SDK recovers, against a scripted SFU (test/helpers/fakeSfu.ts):
 * an SFU offer the browser refuses is taken back with rollbackOffer, and a
 * failed connection is restarted (ICE restart) by itself.
 */

/** A pullTracks that gives each pull a mid from 10 on, and TRACK_NOT_FOUND to a track named `gone`. */
const pullsFrom10 = (v: Record<string, any>) => {
  const tracks = v.input.tracks.map((t: { sessionId: string; trackName: string }, i: number) =>
    t.trackName === 'gone'
      ? { mid: null, sessionId: t.sessionId, trackName: t.trackName, error: { code: 'TRACK_NOT_FOUND', message: 'not published' } }
      : { mid: String(10 + i), sessionId: t.sessionId, trackName: t.trackName, error: null },
  );
  const mids = tracks.filter((t: { mid: string | null }) => t.mid).map((t: { mid: string }) => t.mid);
  return { pullTracks: ok(tracks, { type: 'OFFER', sdp: `sfu-offer:${mids.join(',')}` }, true) };
};

const refusal = () => new Error("Failed to execute 'setRemoteDescription': Failed to set remote offer sdp: no codec in common");

describe('Switchyard (SDK): an SFU offer the browser refuses', () => {
  it('is withdrawn with rollbackOffer; the pulls on its mids fail with INVALID_SDP and the next pull works', async () => {
    const transport = sfu({
      PullTracks: pullsFrom10,
      RollbackOffer: () => ({ rollbackOffer: { session: { id: 'session-1', connectionState: 'CONNECTED' }, withdrawnMids: ['10'] } }),
    });
    const { client, pc } = await connect(transport);
    const browserError = refusal();
    pc.refuseNextOffer = browserError;
    const [camera, gone] = await Promise.allSettled([client.pull('x', 'camera'), client.pull('z', 'gone')]);
    expect(transport.operations().slice(1)).toEqual(['PullTracks', 'RollbackOffer']);
    expect(transport.requests[2]!.variables).toEqual({ input: { sessionId: 'session-1' } });
    const error = (camera as PromiseRejectedResult).reason;
    expect(error).toBeInstanceOf(OfferRefusedError);
    expect(error).toMatchObject({ code: 'INVALID_SDP', withdrawnMids: ['10'], cause: browserError });
    expect(error.message).toContain('no codec in common');
    // A track that failed on its own keeps its own reason.
    expect(gone).toMatchObject({ status: 'rejected', reason: { code: 'TRACK_NOT_FOUND' } });
    expect(pc.signalingState).toBe('stable');
    expect(pc.transceivers.some((t) => t.mid === '10')).toBe(false);
    await vi.waitFor(() => expect(client.pendingOperations).toBe(0));

    const track = await client.pull('x', 'camera');
    expect(transport.operations().slice(3)).toEqual(['PullTracks', 'Renegotiate']);
    expect(track).toBe(pc.transceivers.find((t) => t.mid === '10')!.receiver.track);
  });

  it('a refused offer the SFU made by itself is withdrawn and reported as an error event; pushes go on', async () => {
    let pending: string | null = 'sfu-offer:9';
    const transport = sfu({
      PendingOffer: () => ({ session: { id: 'session-1', pendingOffer: pending && { type: 'OFFER', sdp: pending } } }),
      RollbackOffer: () => {
        pending = null;
        return { rollbackOffer: { session: { id: 'session-1', connectionState: 'CONNECTED' }, withdrawnMids: ['9'] } };
      },
    });
    const { client, pc } = await connect(transport);
    const errors: SwitchyardError[] = [];
    client.on('error', (error) => errors.push(error));
    pc.refuseNextOffer = refusal();
    transport.sinks.get('SessionEvents')!.next({ sessionEvents: { type: 'RENEGOTIATION_NEEDED', mid: null } });
    await vi.waitFor(() => expect(errors).toHaveLength(1));
    expect(errors[0]).toMatchObject({ code: 'INVALID_SDP', withdrawnMids: ['9'] });
    expect(transport.operations().slice(1)).toEqual(['PendingOffer', 'RollbackOffer']);
    expect(transport.operations()).not.toContain('Renegotiate');
    await expect(client.push(fakeTrack('cam'), { name: 'camera' })).resolves.toMatchObject({ mid: '1' });
    expect(pc.signalingState).toBe('stable');
  });

  it('setSimulcast whose retargeting offer is refused rejects with INVALID_SDP after rollbackOffer', async () => {
    const transport = sfu({
      SessionTracks: () => ({ session: { tracks: [{ mid: '7', location: 'REMOTE', track: { sessionId: 'other', name: 'camera' } }] } }),
      UpdateTracks: () => ({ updateTracks: ok([{ mid: '7', sessionId: 'other', trackName: 'camera', error: null }], { type: 'OFFER', sdp: 'sfu-offer:' }, true) }),
      RollbackOffer: () => ({ rollbackOffer: { session: { id: 'session-1', connectionState: 'CONNECTED' }, withdrawnMids: [] } }),
    });
    const { client, pc } = await connect(transport);
    const track = await client.pull('other', 'camera');
    pc.refuseNextOffer = refusal();
    await expect(client.setSimulcast(track, { preferredRid: 'h' })).rejects.toMatchObject({ code: 'INVALID_SDP', withdrawnMids: [] });
    expect(transport.operations().slice(-2)).toEqual(['UpdateTracks', 'RollbackOffer']);
    expect(pc.signalingState).toBe('stable');
  });

  it('still rejects clearly when the rollback itself fails', async () => {
    const transport = sfu({
      RollbackOffer: () => {
        throw new SwitchyardError('UNAVAILABLE', 'Switchyard is not reachable');
      },
    });
    const { client, pc } = await connect(transport);
    pc.refuseNextOffer = refusal();
    const error = await client.pull('other', 'camera').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'INVALID_SDP', withdrawnMids: [] });
    expect((error as Error).message).toContain('withdrawing it failed: Switchyard is not reachable');
  });
});

describe('Switchyard (SDK): ICE restart by itself', () => {
  const restartOffers = (transport: FakeTransport) =>
    transport.requests.filter((r) => r.operation === 'Renegotiate' && r.variables.input.sessionDescription.type === 'OFFER');
  /** Answers offers sent with renegotiate, as the SFU does for an ICE restart. */
  const restartingSfu = (overrides: Record<string, Handler> = {}) =>
    sfu({
      Renegotiate: (v) => ({
        renegotiate: { sessionDescription: v.input.sessionDescription.type === 'OFFER' ? { type: 'ANSWER', sdp: 'sfu-answer-new-ice' } : null },
      }),
      ...overrides,
    });

  afterEach(() => vi.useRealTimers());

  it('restarts once, at once, when the connection fails, and no more once it is connected again', async () => {
    vi.useFakeTimers();
    const transport = restartingSfu();
    const { client, pc } = await connect(transport);
    const attempts = vi.fn();
    client.on('icerestart', attempts);
    pc.setConnectionState('connected');
    pc.setConnectionState('failed');
    await vi.advanceTimersByTimeAsync(0);
    expect(restartOffers(transport)).toHaveLength(1);
    expect(restartOffers(transport)[0]!.variables.input).toEqual({ sessionId: 'session-1', sessionDescription: { type: 'OFFER', sdp: 'offer(data,0)' } });
    expect(pc.offerOptions.at(-1)).toEqual({ iceRestart: true });
    expect(pc.log.slice(-2)).toEqual(['local offer', 'remote answer']);
    expect(pc.signalingState).toBe('stable');
    expect(attempts).toHaveBeenCalledExactlyOnceWith({ attempt: 1 });
    pc.setConnectionState('connecting');
    pc.setConnectionState('connected');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(restartOffers(transport)).toHaveLength(1);
    expect(client.pendingOperations).toBe(0);
  });

  it('a disconnection that comes back within 2 s restarts nothing; one that stays restarts after 2 s', async () => {
    vi.useFakeTimers();
    const transport = restartingSfu();
    const { pc } = await connect(transport);
    pc.setConnectionState('connected');
    pc.setConnectionState('disconnected');
    await vi.advanceTimersByTimeAsync(1500);
    pc.setConnectionState('connected');
    await vi.advanceTimersByTimeAsync(30_000);
    expect(restartOffers(transport)).toHaveLength(0);

    pc.setConnectionState('disconnected');
    await vi.advanceTimersByTimeAsync(1999);
    expect(restartOffers(transport)).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(restartOffers(transport)).toHaveLength(1);
  });

  it('waits for a negotiation under way, so that offers never overlap', async () => {
    vi.useFakeTimers();
    const transport = restartingSfu();
    const { client, pc } = await connect(transport);
    transport.delayMs = 50;
    const pushed = client.push(fakeTrack('cam'), { name: 'camera' });
    await vi.advanceTimersByTimeAsync(10);
    pc.setConnectionState('failed');
    await vi.advanceTimersByTimeAsync(200);
    await pushed;
    expect(transport.operations().slice(1)).toEqual(['PushTracks', 'Renegotiate']);
    expect(pc.log.slice(-4)).toEqual(['local offer', 'remote answer', 'local offer', 'remote answer']);
  });

  it('tries again with backoff while not connected, taking back offers that got no answer; leave() stops it', async () => {
    vi.useFakeTimers();
    let reachable = false;
    const transport = restartingSfu({
      Renegotiate: () => {
        if (!reachable) throw new SwitchyardError('UNAVAILABLE', 'Switchyard is not reachable');
        return { renegotiate: { sessionDescription: { type: 'ANSWER', sdp: 'sfu-answer-new-ice' } } };
      },
    });
    const { client, pc } = await connect(transport);
    const errors = vi.fn();
    client.on('error', errors);
    const attempts: number[] = [];
    client.on('icerestart', ({ attempt }) => attempts.push(attempt));
    pc.setConnectionState('failed');
    const count = () => restartOffers(transport).length;
    // Attempts at 0 s, then after 1, 2, 4, 8 and 10 s (capped).
    const expected: [number, number][] = [[0, 1], [999, 1], [1, 2], [2000, 3], [4000, 4], [8000, 5], [9999, 5], [1, 6], [10_000, 7]];
    for (const [ms, n] of expected) {
      await vi.advanceTimersByTimeAsync(ms);
      expect(count()).toBe(n);
    }
    expect(attempts).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(errors).toHaveBeenCalledTimes(7);
    expect(pc.log.at(-1)).toBe('local rollback');
    expect(pc.signalingState).toBe('stable');

    await client.leave();
    reachable = true;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(count()).toBe(7);
    expect(transport.operations().at(-1)).toBe('CloseSession');
  });

  it('stops when the session is closed by the server', async () => {
    vi.useFakeTimers();
    const transport = restartingSfu({
      Renegotiate: () => {
        throw new SwitchyardError('UNAVAILABLE', 'Switchyard is not reachable');
      },
    });
    const { pc } = await connect(transport);
    pc.setConnectionState('failed');
    await vi.advanceTimersByTimeAsync(0);
    transport.sinks.get('SessionEvents')!.next({ sessionEvents: { type: 'CLOSED', mid: null } });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(restartOffers(transport)).toHaveLength(1);
  });
});
