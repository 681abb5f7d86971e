import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SessionLiveness } from '../../src/session/SessionLiveness.js';
import type { Session } from '../../src/session/Session.js';

type FakeSession = Session & { connectionState: string; closed: boolean; dtlsGone: boolean };
const session = (connectionState: string) => ({ closed: false, connectionState, dtlsGone: false }) as unknown as FakeSession;

const IDLE = 1000;
const GRACE = 300;

function liveness() {
  const gone = vi.fn();
  const lost = vi.fn();
  return { gone, lost, watch: new SessionLiveness({ idleTimeoutMs: IDLE, reconnectGraceMs: GRACE }, { gone, lost }) };
}

describe('SessionLiveness', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('reports a session that stays unconnected for the idle timeout, once', () => {
    const { gone, watch } = liveness();
    const s = session('NEW');
    watch.watch(s);
    vi.advanceTimersByTime(IDLE - 1);
    expect(gone).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(gone).toHaveBeenCalledTimes(1);
    expect(gone.mock.calls[0]![1]).toMatch(/SESSION_IDLE_TIMEOUT_MS/);
    vi.advanceTimersByTime(5000);
    expect(gone).toHaveBeenCalledTimes(1);
  });

  it('stops the clock while connected', () => {
    const { gone, watch } = liveness();
    const s = session('CONNECTING');
    watch.watch(s);
    vi.advanceTimersByTime(800);
    s.connectionState = 'CONNECTED';
    watch.watch(s);
    vi.advanceTimersByTime(5000);
    expect(gone).not.toHaveBeenCalled();
  });

  it('a lost connection is reported at once and closed after the grace period, not the idle timeout', () => {
    const { gone, lost, watch } = liveness();
    const s = session('CONNECTED');
    watch.watch(s);
    s.connectionState = 'DISCONNECTED';
    watch.watch(s);
    expect(lost).toHaveBeenCalledWith(s);
    vi.advanceTimersByTime(GRACE - 1);
    expect(gone).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(gone).toHaveBeenCalledTimes(1);
    expect(gone.mock.calls[0]![1]).toMatch(/RECONNECT_GRACE_MS/);
  });

  it('an ICE restart that reconnects within the grace period keeps the session', () => {
    const { gone, watch } = liveness();
    const s = session('DISCONNECTED');
    watch.watch(s);
    vi.advanceTimersByTime(GRACE / 2);
    s.connectionState = 'CONNECTED';
    watch.watch(s);
    vi.advanceTimersByTime(IDLE * 2);
    expect(gone).not.toHaveBeenCalled();
  });

  it('a closed DTLS association ends the session at once', () => {
    const { gone, lost, watch } = liveness();
    const s = session('FAILED');
    s.dtlsGone = true;
    watch.watch(s);
    expect(gone).toHaveBeenCalledTimes(1);
    expect(gone.mock.calls[0]![1]).toMatch(/DTLS closed/);
    expect(lost).not.toHaveBeenCalled();
  });

  it('forgets closed sessions', () => {
    const { gone, watch } = liveness();
    const a = session('NEW');
    const b = session('NEW');
    watch.watch(a);
    watch.watch(b);
    watch.forget(a);
    b.closed = true;
    vi.advanceTimersByTime(2000);
    expect(gone).not.toHaveBeenCalled();
  });
});

describe('SessionLiveness without ICE consent checks (WHIP, GStreamer)', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  const silentSession = () => {
    const track = { status: 'ACTIVE' };
    const s = { closed: false, connectionState: 'CONNECTED', dtlsGone: false, iceConsentChecks: false, transceivers: [{ pushed: track }] } as unknown as FakeSession;
    return { s, track };
  };

  it('keeps a connected session while its media flows, and reports it once every published track has been silent for the grace period', () => {
    const { gone, watch } = liveness();
    const { s, track } = silentSession();
    watch.watch(s);
    vi.advanceTimersByTime(60_000);
    expect(gone).not.toHaveBeenCalled();
    track.status = 'INACTIVE';
    vi.advanceTimersByTime(1000 + GRACE - 1);
    expect(gone).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1000);
    expect(gone).toHaveBeenCalledTimes(1);
    expect(gone.mock.calls[0]![1]).toMatch(/no ICE consent checks and no media/);
  });

  it('calls off the clock when media returns within the grace period', () => {
    const { gone, watch } = liveness();
    const { s, track } = silentSession();
    watch.watch(s);
    track.status = 'INACTIVE';
    vi.advanceTimersByTime(1000 + GRACE / 2);
    track.status = 'ACTIVE';
    vi.advanceTimersByTime(5000);
    expect(gone).not.toHaveBeenCalled();
  });

  it('leaves sessions with consent checks to ICE, silent or not', () => {
    const { gone, watch } = liveness();
    const { s, track } = silentSession();
    (s as unknown as { iceConsentChecks: boolean }).iceConsentChecks = true;
    watch.watch(s);
    track.status = 'INACTIVE';
    vi.advanceTimersByTime(60_000);
    expect(gone).not.toHaveBeenCalled();
  });
});

describe('SessionLiveness without ICE consent checks: nothing received at all', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  const SILENCE = 5_000;
  const setup = () => {
    const gone = vi.fn();
    const counter = { bytes: 1_000 };
    const watch = new SessionLiveness(
      { idleTimeoutMs: IDLE, reconnectGraceMs: GRACE, silenceMs: SILENCE, bytesReceived: async () => counter.bytes },
      { gone, lost: vi.fn() },
    );
    // Publishes nothing: the silent-track rule alone would never end it.
    const s = { closed: false, connectionState: 'CONNECTED', dtlsGone: false, iceConsentChecks: false, transceivers: [] } as unknown as FakeSession;
    return { gone, counter, watch, s };
  };

  it('keeps a session while bytes keep arriving, and reports it once they stop for silenceMs', async () => {
    const { gone, counter, watch, s } = setup();
    watch.watch(s);
    for (let i = 0; i < 12; i += 1) {
      counter.bytes += 100;
      await vi.advanceTimersByTimeAsync(2_500);
    }
    expect(gone).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(SILENCE + 2_500);
    expect(gone).toHaveBeenCalledTimes(1);
    expect(gone.mock.calls[0]![1]).toMatch(/nothing received from the client/);
  });

  it('stops reading once the session is forgotten', async () => {
    const { gone, watch, s } = setup();
    watch.watch(s);
    watch.forget(s);
    await vi.advanceTimersByTimeAsync(SILENCE * 4);
    expect(gone).not.toHaveBeenCalled();
  });
});
