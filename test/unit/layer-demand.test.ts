import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LayerDemand } from '../../src/media/layerDemand.js';

describe('LayerDemand', () => {
  let demand: LayerDemand;
  let changes: [string, number][];

  beforeEach(() => {
    vi.useFakeTimers();
    demand = new LayerDemand(2000);
    changes = [];
    demand.on('change', (producer, highest) => changes.push([producer, highest]));
  });

  afterEach(() => {
    demand.close();
    vi.useRealTimers();
  });

  it('counts every layer in demand at first, then only the lowest when nobody watches', () => {
    demand.track('p', 3);
    expect(demand.highest('p')).toBe(2);
    vi.advanceTimersByTime(1999);
    expect(changes).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(changes).toEqual([['p', 0]]);
    expect(demand.highest('p')).toBe(0);
  });

  it('reports more demand at once and less only after the delay', () => {
    demand.track('p', 3);
    vi.advanceTimersByTime(2000);
    demand.want('p', 'c1', 1);
    expect(changes.at(-1)).toEqual(['p', 1]);
    demand.want('p', 'c2', 2);
    expect(changes.at(-1)).toEqual(['p', 2]);
    demand.release('p', 'c2');
    expect(demand.highest('p')).toBe(2);
    vi.advanceTimersByTime(2000);
    expect(changes.at(-1)).toEqual(['p', 1]);
    expect(demand.highest('p')).toBe(1);
  });

  it('does not flap when a subscriber switches down and back up within the delay', () => {
    demand.track('p', 3);
    demand.want('p', 'c1', 2);
    vi.advanceTimersByTime(2000);
    changes.length = 0;
    demand.want('p', 'c1', 0);
    vi.advanceTimersByTime(1000);
    demand.want('p', 'c1', 2);
    vi.advanceTimersByTime(5000);
    expect(changes).toEqual([]);
    expect(demand.highest('p')).toBe(2);
  });

  it('takes the highest preference of all consumers, clamped to the layers the track has', () => {
    demand.track('p', 2);
    demand.want('p', 'a', 0);
    demand.want('p', 'b', 7);
    vi.advanceTimersByTime(2000);
    expect(demand.highest('p')).toBe(1);
    demand.release('p', 'b');
    vi.advanceTimersByTime(2000);
    expect(demand.highest('p')).toBe(0);
  });

  it('ignores tracks it does not follow and forgets unpublished ones', () => {
    demand.want('unknown', 'c', 2);
    expect(demand.highest('unknown')).toBeUndefined();
    demand.track('p', 3);
    demand.forget('p');
    vi.advanceTimersByTime(5000);
    expect(changes).toEqual([]);
    expect(demand.highest('p')).toBeUndefined();
  });
});
