import { describe, expect, it } from 'vitest';
import { relayCandidates, type Carrier, type RelayNode } from '../../src/relay/RelaySelector.js';
import { placementCandidates } from '../../src/placement/placementCandidates.js';
import type { NodeInfo } from '../../src/cluster/NodeRegistry.js';

const node = (id: string, region: string, draining = false): RelayNode => ({ id, url: `http://${id}`, region, draining });
const nodesOf = (...list: RelayNode[]) => new Map(list.map((n) => [n.id, n]));
const carrier = (nodeId: string, region: string, path: string[]): Carrier => ({ nodeId, region, depth: path.length, path });

describe('relayCandidates', () => {
  const nodes = nodesOf(node('o', 'eu'), node('b', 'eu'), node('c', 'eu'), node('x', 'us'), node('y', 'us'), node('me', 'us'), node('d', 'eu', true));

  it('prefers carriers of its own region, nearest the owner first, the owner forced last', () => {
    const carriers = [carrier('b', 'eu', ['o']), carrier('x', 'us', ['o', 'b']), carrier('y', 'us', ['o', 'b', 'x'])];
    const chosen = relayCandidates({ me: { id: 'me', region: 'us' }, regionOrder: ['eu'], owner: { nodeId: 'o', region: 'eu' }, carriers, nodes });
    expect(chosen.map((c) => c.nodeId)).toEqual(['x', 'y', 'o']);
    expect(chosen.at(-1)).toMatchObject({ force: true });
  });

  it('asks the region entry (which fetches the track) when its region has no carrier yet, and looks abroad only as the entry', () => {
    const question = { regionOrder: ['eu'], owner: { nodeId: 'o', region: 'eu' }, carriers: [carrier('b', 'eu', ['o'])], nodes };
    expect(relayCandidates({ ...question, me: { id: 'me', region: 'us' }, regionEntry: 'x' }).map((c) => [c.nodeId, c.attach])).toEqual([['x', true], ['o', false]]);
    expect(relayCandidates({ ...question, me: { id: 'me', region: 'us' }, regionEntry: 'me' }).map((c) => c.nodeId)).toEqual(['o', 'b', 'o']);
  });

  it('never attaches below itself, nor to a draining relay or a dead node', () => {
    const carriers = [carrier('x', 'us', ['o', 'me']), carrier('d', 'eu', ['o']), carrier('gone', 'us', ['o'])];
    const chosen = relayCandidates({ me: { id: 'me', region: 'us' }, regionOrder: [], owner: { nodeId: 'o', region: 'eu' }, carriers, regionEntry: 'me', nodes });
    expect(chosen.map((c) => c.nodeId)).toEqual(['o', 'o']);
  });
});

describe('placementCandidates', () => {
  const info = (id: string, region: string, sessions: number, max = 10, draining = false): NodeInfo => ({
    id,
    url: `http://${id}`,
    startedAt: '',
    region,
    draining,
    load: { sessions, consumers: 0, workerCpu: 0, outgoingBitrate: 0 },
    capacity: { maxSessions: max, workers: 1 },
  });

  it('orders nodes with room: own region least full first, then regions by REGION_ORDER; skips full, draining and itself', () => {
    const nodes = [info('me', 'eu', 10), info('a', 'eu', 7), info('b', 'eu', 2), info('c', 'eu', 10), info('d', 'eu', 0, 10, true), info('e', 'ap', 0), info('f', 'us', 5), info('g', 'sa', 1)];
    expect(placementCandidates({ id: 'me', region: 'eu', regionOrder: ['us', 'ap'] }, nodes).map((n) => n.id)).toEqual(['b', 'a', 'f', 'e', 'g']);
  });
});
