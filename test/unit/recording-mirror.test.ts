import { describe, expect, it } from 'vitest';
import { parseSnapshot, type RecordingSnapshot } from '../../src/recording/sessionNodeMirror.js';
import { Recordings } from '../../src/recording/Recordings.js';
import { createLogger } from '../../src/logger.js';

const SNAPSHOT: RecordingSnapshot = {
  id: 'node-a-rec-1', appId: 'acme', owner: null, sessionId: 'node-b-session', trackName: null, trackNames: ['camera', 'mic'],
  storage: 'local', state: 'RECORDING', reason: null, sizeBytes: null, durationMs: null, location: null, format: 'webm',
};

function recordings() {
  return new Recordings({
    config: { dir: '/nonexistent', maxPerNode: 1, maxPerApp: 1, defaultStorage: 'local' } as never,
    tracks: {} as never,
    stores: { local: {} as never },
    newId: () => 'x',
    logger: createLogger('silent'),
  });
}

describe('a recording another node runs for a session of this node', () => {
  it('takes a well-formed snapshot and refuses anything else with BAD_REQUEST', () => {
    expect(parseSnapshot({ ...SNAPSHOT })).toEqual(SNAPSHOT);
    for (const bad of [{}, { ...SNAPSHOT, state: 'PAUSED' }, { ...SNAPSHOT, trackNames: [1] }, { ...SNAPSHOT, storage: 'ftp' }, { ...SNAPSHOT, sizeBytes: '12' }]) {
      expect(() => parseSnapshot(bad as Record<string, unknown>)).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }));
    }
  });

  it('is listed and its changes told once each, in order, but it does not count as running here', () => {
    const here = recordings();
    const told: string[] = [];
    here.on('state', (r) => told.push(`${r.id} ${r.state}`));
    here.mirror({ ...SNAPSHOT, state: 'STARTING' });
    here.mirror(SNAPSHOT);
    here.mirror(SNAPSHOT);
    here.mirror({ ...SNAPSHOT, state: 'FINISHING' });
    here.mirror({ ...SNAPSHOT, state: 'DONE', sizeBytes: 1234, durationMs: 4000, location: '/r/x.webm' });
    here.mirror({ ...SNAPSHOT, state: 'RECORDING' });
    expect(told).toEqual(['node-a-rec-1 RECORDING', 'node-a-rec-1 FINISHING', 'node-a-rec-1 DONE']);
    const access = { appId: 'acme', owner: null, principal: { kind: 'app' } } as never;
    expect(here.list(access, 'node-b-session').map((r) => ({ id: r.id, state: r.state, sizeBytes: r.sizeBytes, elsewhere: r.elsewhere }))).toEqual([{ id: 'node-a-rec-1', state: 'DONE', sizeBytes: 1234, elsewhere: true }]);
    expect(here.list({ appId: 'other', owner: null, principal: { kind: 'app' } } as never, 'node-b-session')).toEqual([]);
    expect(here.active).toEqual([]);
  });
});
