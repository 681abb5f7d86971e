import { describe, expect, it } from 'vitest';
import { SwitchyardError } from '../../src/errors.js';
import { checkTrackCount, MAX_TRACKS_PER_CALL, validateTags, validateTrackName } from '../../src/session/limits.js';

const codeOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    return (error as SwitchyardError).code;
  }
  return 'ok';
};

describe('limits', () => {
  it('allows 64 tracks in one call and refuses 65 with LIMIT_EXCEEDED', () => {
    expect(MAX_TRACKS_PER_CALL).toBe(64);
    expect(codeOf(() => checkTrackCount(64))).toBe('ok');
    expect(codeOf(() => checkTrackCount(65))).toBe('LIMIT_EXCEEDED');
  });

  it('takes track names of 1 to 64 printable characters without spaces', () => {
    expect(validateTrackName('camera-1:hd')).toBe('camera-1:hd');
    for (const bad of ['', 'a'.repeat(65), 'has space', 'tab\there', 'nul\u0000', 'é']) {
      expect(codeOf(() => validateTrackName(bad))).toBe('BAD_REQUEST');
    }
  });

  it('takes at most 16 tags of at most 128 such characters, without duplicates', () => {
    expect(validateTags(['room:a', 'room:a', 'user:1'])).toEqual(['room:a', 'user:1']);
    expect(codeOf(() => validateTags(Array.from({ length: 17 }, (_, i) => `t${i}`)))).toBe('BAD_REQUEST');
    expect(codeOf(() => validateTags(['x'.repeat(129)]))).toBe('BAD_REQUEST');
    expect(codeOf(() => validateTags(['two words']))).toBe('BAD_REQUEST');
  });
});
