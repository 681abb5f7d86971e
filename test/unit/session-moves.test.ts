import { describe, expect, it } from 'vitest';
import { InMemoryTrackEventBus, type TrackView } from '../../src/events/TrackEventBus.js';
import { TrackMoves } from '../../src/moves/TrackMoves.js';
import { hashResumeSecret, newResumeSecret, resumeSecretMatches } from '../../src/moves/resumeSecret.js';

const view = (name: string): TrackView => ({
  appId: 'dev',
  owner: null,
  sessionId: 's1',
  name,
  kind: 'video',
  status: 'ACTIVE',
  tags: [],
  simulcastRids: [],
  publishedAt: new Date(),
  muted: false,
});

describe('resume secrets', () => {
  it('are 256 random bits, kept as a SHA-256 that only the secret matches', () => {
    const { secret, hash } = newResumeSecret();
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(hash).toBe(hashResumeSecret(secret));
    expect(hash).not.toContain(secret);
    expect(resumeSecretMatches(secret, hash)).toBe(true);
    expect(resumeSecretMatches(newResumeSecret().secret, hash)).toBe(false);
    expect(newResumeSecret().secret).not.toBe(secret);
  });

  it('refuse anything malformed, and a session without a hash', () => {
    const { secret, hash } = newResumeSecret();
    for (const bad of [undefined, null, 42, '', 'x'.repeat(129), { secret }]) expect(resumeSecretMatches(bad, hash)).toBe(false);
    expect(resumeSecretMatches(secret, '')).toBe(false);
    expect(resumeSecretMatches(secret, undefined)).toBe(false);
  });
});

describe('TrackMoves', () => {
  it('settles a wait true on MOVED, false on UNPUBLISHED or after the grace; others are not moving', async () => {
    const bus = new InMemoryTrackEventBus({ maxEvents: 100, maxAgeMs: 60_000 });
    const moves = new TrackMoves();
    moves.follow(bus);
    expect(bus.subscriberCount).toBe(0);
    moves.expect('s1', 'cam', 5000);
    moves.expect('s1', 'mic', 5000);
    moves.expect('s1', 'screen', 50);
    const cam = moves.moving('s1', 'cam')!;
    const mic = moves.moving('s1', 'mic')!;
    const screen = moves.moving('s1', 'screen')!;
    expect(moves.moving('s1', 'other')).toBeUndefined();
    await bus.publish('MOVED', view('cam'));
    await bus.publish('UNPUBLISHED', view('mic'));
    expect(await cam).toBe(true);
    expect(await mic).toBe(false);
    expect(await screen).toBe(false);
    expect(moves.size).toBe(0);
    // A track's own PUBLISHED or status changes do not settle anything.
    moves.expect('s1', 'cam', 5000);
    await bus.publish('ACTIVE', view('cam'));
    expect(moves.size).toBe(1);
    moves.close();
    expect(moves.size).toBe(0);
  });
});
