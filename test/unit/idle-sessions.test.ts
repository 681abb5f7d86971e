import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { IdleSessions } from '../../src/session/IdleSessions.js';
import type { Session } from '../../src/session/Session.js';

const session = (connectionState: string) => ({ closed: false, connectionState }) as unknown as Session & { connectionState: string; closed: boolean };

describe('IdleSessions', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('reports a session that stays unconnected for the timeout, once', () => {
    const idle = vi.fn();
    const sessions = new IdleSessions(1000, idle);
    const s = session('NEW');
    sessions.watch(s);
    vi.advanceTimersByTime(999);
    expect(idle).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(idle).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(5000);
    expect(idle).toHaveBeenCalledTimes(1);
  });

  it('stops the clock while connected and restarts it when the connection is lost', () => {
    const idle = vi.fn();
    const sessions = new IdleSessions(1000, idle);
    const s = session('CONNECTING');
    sessions.watch(s);
    vi.advanceTimersByTime(800);
    s.connectionState = 'CONNECTED';
    sessions.watch(s);
    vi.advanceTimersByTime(5000);
    expect(idle).not.toHaveBeenCalled();
    s.connectionState = 'DISCONNECTED';
    sessions.watch(s);
    vi.advanceTimersByTime(1000);
    expect(idle).toHaveBeenCalledWith(s);
  });

  it('forgets closed sessions', () => {
    const idle = vi.fn();
    const sessions = new IdleSessions(1000, idle);
    const a = session('NEW');
    const b = session('NEW');
    sessions.watch(a);
    sessions.watch(b);
    sessions.forget(a);
    b.closed = true;
    vi.advanceTimersByTime(2000);
    expect(idle).not.toHaveBeenCalled();
  });
});
