import { describe, expect, it, vi } from 'vitest';
import { SwitchyardError } from '../../client/src/errors.js';
import { TrackWatch } from '../../client/src/TrackWatch.js';
import { connect, fakeTrack, FakeTransport, sfu } from '../helpers/fakeSfu.js';

/**
 * Muting a pushed track, and TrackWatch following the tracks (and their
 * muting) from a snapshot and events, against a scripted SFU
 * (test/helpers/fakeSfu.ts).
 */

describe('Switchyard (SDK): muting', () => {
  it('setMuted takes the track off its sender and tells the SFU; unmuting puts the same track back', async () => {
    const transport = sfu();
    const { client, pc } = await connect(transport);
    const camera = fakeTrack('cam');
    const local = await client.push(camera, { name: 'camera' });
    const sender = pc.transceivers[0]!.sender;

    await client.setMuted(local, true);
    expect(sender.replaceTrack).toHaveBeenLastCalledWith(null);
    expect(transport.requests.at(-1)).toMatchObject({ operation: 'SetTrackMuted', variables: { input: { sessionId: 'session-1', trackName: 'camera', muted: true } } });
    expect(local).toMatchObject({ muted: true, track: camera });
    expect(pc.log.at(-1)).toBe('remote answer'); // no renegotiation

    await client.setMuted('camera', false);
    expect(sender.replaceTrack).toHaveBeenLastCalledWith(camera);
    expect(transport.requests.at(-1)!.variables.input).toMatchObject({ trackName: 'camera', muted: false });
    expect(client.localTracks[0]!.muted).toBe(false);
  });

  it('keeps the order of quick toggles, does not wait for a negotiation, and a muted track can still be closed', async () => {
    const transport = sfu();
    const { client } = await connect(transport);
    const camera = fakeTrack('cam');
    const local = await client.push(camera, { name: 'camera' });
    transport.delayMs = 20;
    const pulling = client.pull('other', 'camera');
    await Promise.all([client.setMuted(local, true), client.setMuted(local, false), client.setMuted(local, true)]);
    const mutes = transport.requests.filter((r) => r.operation === 'SetTrackMuted').map((r) => r.variables.input.muted);
    expect(mutes).toEqual([true, false, true]);
    // The three mutes went out before the pull's renegotiation.
    expect(transport.operations().indexOf('SetTrackMuted')).toBeLessThan(transport.operations().indexOf('Renegotiate'));
    await pulling;
    await client.close(camera);
    expect(transport.requests.at(-1)).toMatchObject({ operation: 'CloseTracks', variables: { input: { mids: ['1'] } } });
    await expect(client.setMuted('camera', false)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });
});

describe('TrackWatch', () => {
  it('starts from the snapshot and applies the events after its cursor', async () => {
    const track = (name: string, status = 'ACTIVE', muted = false) => ({ sessionId: 's1', name, kind: 'VIDEO', status, muted, tags: ['room:a'], simulcastRids: [] });
    const transport = new FakeTransport({ TrackSnapshot: () => ({ trackSnapshot: { cursor: 'c1', tracks: [track('camera')] } }) });
    const seen: string[][] = [];
    const watch = new TrackWatch(transport, { tags: ['room:a'] }, (tracks) => seen.push(tracks.map((t) => `${t.name}:${t.status}${t.muted ? ':muted' : ''}`)));
    await watch.start();
    const sink = transport.sinks.get('TrackEvents')!;
    sink.next({ trackEvents: { cursor: 'c2', type: 'PUBLISHED', track: track('mic') } });
    sink.next({ trackEvents: { cursor: 'c3', type: 'MUTED', track: track('camera', 'ACTIVE', true) } });
    sink.next({ trackEvents: { cursor: 'c4', type: 'INACTIVE', track: track('camera', 'INACTIVE', true) } });
    sink.next({ trackEvents: { cursor: 'c5', type: 'UNMUTED', track: track('camera', 'INACTIVE') } });
    sink.next({ trackEvents: { cursor: 'c6', type: 'UNPUBLISHED', track: track('mic') } });
    expect(seen).toEqual([
      ['camera:ACTIVE'],
      ['camera:ACTIVE', 'mic:ACTIVE'],
      ['camera:ACTIVE:muted', 'mic:ACTIVE'],
      ['camera:INACTIVE:muted', 'mic:ACTIVE'],
      ['camera:INACTIVE', 'mic:ACTIVE'],
      ['camera:INACTIVE'],
    ]);
    watch.stop();
    expect(transport.sinks.has('TrackEvents')).toBe(false);
  });

  it('reloads the snapshot when the subscription fails', async () => {
    vi.useFakeTimers();
    try {
      let snapshots = 0;
      const transport = new FakeTransport({ TrackSnapshot: () => ({ trackSnapshot: { cursor: `c${++snapshots}`, tracks: [] } }) });
      const errors: string[] = [];
      const watch = new TrackWatch(transport, {}, () => undefined, (e) => errors.push(e.code));
      await watch.start();
      transport.sinks.get('TrackEvents')!.error(new SwitchyardError('BAD_REQUEST', 'the cursor is older than the retained events'));
      await vi.advanceTimersByTimeAsync(1500);
      expect(snapshots).toBe(2);
      expect(errors).toEqual(['BAD_REQUEST']);
      watch.stop();
    } finally {
      vi.useRealTimers();
    }
  });
});
