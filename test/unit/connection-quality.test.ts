import { describe, expect, it } from 'vitest';
import { qualityOf } from '../../src/quality/connectionQuality.js';

describe('connection quality from mediasoup scores', () => {
  it('maps 9-10 to EXCELLENT, 7-8 GOOD, 1-6 POOR, 0 LOST, no score UNKNOWN', () => {
    expect([10, 9, 8, 7, 6, 1, 0].map(qualityOf)).toEqual(['EXCELLENT', 'EXCELLENT', 'GOOD', 'GOOD', 'POOR', 'POOR', 'LOST']);
    expect(qualityOf(null)).toBe('UNKNOWN');
  });
});
