import { afterEach, describe, expect, it, vi } from 'vitest';
import { SwitchyardError } from '../../client/src/errors.js';
import { connect, sfu } from '../helpers/fakeSfu.js';

/** The SDK and the deployment's TURN relays (query iceServers), against a scripted SFU (test/helpers/fakeSfu.ts). */
describe('Switchyard (SDK): TURN relays of the deployment', () => {
  afterEach(() => vi.useRealTimers());

  let issued = 0;
  const relaying = () =>
    sfu({
      IceServers: (v) => {
        issued += 1;
        return {
          iceServers: {
            iceServers: [
              { urls: ['stun:turn.example.com:3478'], username: null, credential: null },
              { urls: ['turn:turn.example.com:3478?transport=udp'], username: `expiry-${issued}:app`, credential: `password-${issued}-${v.ttlSeconds ?? 'default'}` },
            ],
            expiresAt: '2026-12-04T00:00:00.000Z',
          },
        };
      },
      Renegotiate: (v) => ({ renegotiate: { sessionDescription: v.input.sessionDescription.type === 'OFFER' ? { type: 'ANSWER', sdp: 'sfu-answer-new-ice' } : null } }),
    });

  it('asks for them before it makes the PeerConnection and adds them after the application\'s own servers', async () => {
    issued = 0;
    const transport = relaying();
    const own = { urls: 'stun:stun.app.example:3478' };
    const { pc } = await connect(transport, { turn: true, rtcConfiguration: { iceServers: [own], iceTransportPolicy: 'relay' } });
    expect(transport.operations().slice(0, 2)).toEqual(['IceServers', 'CreateSession']);
    expect(pc.configuration).toEqual({
      iceTransportPolicy: 'relay',
      iceServers: [
        own,
        { urls: ['stun:turn.example.com:3478'] },
        { urls: ['turn:turn.example.com:3478?transport=udp'], username: 'expiry-1:app', credential: 'password-1-default' },
      ],
    });
  });

  it('passes a chosen lifetime on, and asks again before an ICE restart (credentials expire)', async () => {
    vi.useFakeTimers();
    issued = 0;
    const transport = relaying();
    const { pc } = await connect(transport, { turn: { ttlSeconds: 7200 } });
    expect(transport.requests[0]).toEqual({ operation: 'IceServers', variables: { ttlSeconds: 7200 } });
    pc.setConnectionState('connected');
    pc.setConnectionState('failed');
    await vi.advanceTimersByTimeAsync(0);
    const afterFailure = transport.operations().slice(-2);
    expect(afterFailure).toEqual(['IceServers', 'Renegotiate']);
    expect(pc.log.filter((entry) => entry === 'set configuration')).toHaveLength(1);
    expect(pc.configuration.iceServers?.at(-1)).toEqual({ urls: ['turn:turn.example.com:3478?transport=udp'], username: 'expiry-2:app', credential: 'password-2-7200' });
  });

  it('an ICE restart goes ahead with the credentials in use when fresh ones cannot be had', async () => {
    vi.useFakeTimers();
    issued = 0;
    let refuse = false;
    const transport = sfu({
      IceServers: () => {
        if (refuse) throw new SwitchyardError('INTERNAL', 'iceServers failed');
        issued += 1;
        return { iceServers: { iceServers: [{ urls: ['turn:turn.example.com:3478'], username: `u${issued}`, credential: 'p' }], expiresAt: '2026-12-04T00:00:00.000Z' } };
      },
      Renegotiate: (v) => ({ renegotiate: { sessionDescription: v.input.sessionDescription.type === 'OFFER' ? { type: 'ANSWER', sdp: 'sfu-answer-new-ice' } : null } }),
    });
    const { pc } = await connect(transport, { turn: true });
    refuse = true;
    pc.setConnectionState('connected');
    pc.setConnectionState('failed');
    await vi.advanceTimersByTimeAsync(0);
    expect(transport.operations().slice(-2)).toEqual(['IceServers', 'Renegotiate']);
    expect(pc.configuration.iceServers?.at(-1)).toMatchObject({ username: 'u1' });
  });

  it('turn: false asks for nothing; a refusal of iceServers fails connect with its code', async () => {
    const quiet = relaying();
    const { pc } = await connect(quiet, { turn: false, rtcConfiguration: { iceServers: [] } });
    expect(quiet.operations()).not.toContain('IceServers');
    expect(pc.configuration.iceServers).toEqual([]);

    const refusing = sfu({
      IceServers: () => {
        throw new SwitchyardError('FORBIDDEN', 'this token may not connect a session');
      },
    });
    const error = await connect(refusing, { turn: true }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'FORBIDDEN' });
    expect(refusing.operations()).toEqual(['IceServers']);
    expect(refusing.disposed).toBe(false);
  });
});

describe('Switchyard (SDK): connection quality', () => {
  it('emits qualitychange for QUALITY_CHANGED with the new level', async () => {
    const transport = sfu();
    const { client } = await connect(transport);
    const changes: unknown[] = [];
    client.on('qualitychange', (change) => changes.push(change));
    transport.sinks.get('SessionEvents')!.next({ sessionEvents: { type: 'QUALITY_CHANGED', mid: null, quality: 'POOR' } });
    transport.sinks.get('SessionEvents')!.next({ sessionEvents: { type: 'QUALITY_CHANGED', mid: null, quality: 'EXCELLENT' } });
    expect(changes).toEqual([{ quality: 'POOR' }, { quality: 'EXCELLENT' }]);
  });

  it('quality() and stats() read the session (the first level comes with no event); a closed session is SESSION_NOT_FOUND', async () => {
    const stats = { at: '2026-12-03T08:00:00.000Z', quality: 'GOOD', score: 7, bitrateIn: 300_000, bitrateOut: 0, availableOutgoingBitrate: null, roundTripTime: 1.5, tracks: [] };
    let gone = false;
    const transport = sfu({
      SessionQuality: (v) => ({ session: gone ? null : { quality: v.id === 'session-1' ? 'EXCELLENT' : 'UNKNOWN' } }),
      SessionStats: (v) => ({ session: v.id === 'session-1' ? { stats } : null }),
    });
    const { client } = await connect(transport);
    expect(await client.quality()).toBe('EXCELLENT');
    expect(await client.stats()).toEqual(stats);
    gone = true;
    await expect(client.quality()).rejects.toMatchObject({ code: 'SESSION_NOT_FOUND' });
  });
});
