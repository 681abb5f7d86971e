import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gqlOk } from '../helpers/graphql.js';
import { fakeCamera } from '../helpers/media.js';
import { SIMULCAST_LAYERS, TestPeer } from '../helpers/peer.js';
import { useTestServer } from '../helpers/server.js';
import { firstVideoPacketIsKey, probe } from '../helpers/probe.js';

/**
 * A simulcast track records one layer: the top one unless the recording
 * asks for another (spatialLayer), each file starting with that layer's key
 * frame. libwebrtc sends three layers from 960x540 up.
 */
const dir = mkdtempSync(join(tmpdir(), 'rec-simulcast-'));
const file = useTestServer({ WORKERS: '1', RECORDINGS_DIR: dir });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const START = `mutation($input: StartRecordingInput!) { startRecording(input: $input) { id } }`;
const STOP = `mutation($id: ID!) { stopRecording(id: $id) { id } }`;
const READ = `query($id: ID!) { recording(id: $id) { state reason location } }`;

describe('recording a simulcast track', () => {
  it('records the top layer by default, and the layer asked for', { timeout: 60_000 }, async () => {
    const camera = fakeCamera(1280, 720, 15);
    const publisher = new TestPeer(file.server.url);
    try {
      await publisher.createSession();
      const [pushed] = await publisher.push([{ track: camera.track, name: 'camera', sendEncodings: SIMULCAST_LAYERS }]);
      expect(pushed?.error).toBeNull();
      // The top layer starts once the publisher's bandwidth estimate has grown: wait until the SFU receives it.
      const producer = file.server.sessions.tracks.get(publisher.sessionId, 'camera')!.producer;
      const topBytes = async () => ((await producer.getStats()).find((s) => s.rid === 'f')?.byteCount ?? 0);
      const deadline = Date.now() + 60_000;
      let before = await topBytes();
      for (;;) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        const now = await topBytes();
        if (now > before && before > 0) break;
        if (Date.now() > deadline) throw new Error('the publisher never sent its top layer');
        before = now;
      }
      const top = (await gqlOk(file.server.url, START, { input: { sessionId: publisher.sessionId, trackName: 'camera' } })).startRecording.id;
      const low = (await gqlOk(file.server.url, START, { input: { sessionId: publisher.sessionId, trackName: 'camera', spatialLayer: 0 } })).startRecording.id;
      await new Promise((resolve) => setTimeout(resolve, 3000));
      const sizes: Record<string, { width?: number; height?: number }> = {};
      for (const [name, id] of [['top', top], ['low', low]] as const) {
        await gqlOk(file.server.url, STOP, { id });
        let recording = (await gqlOk(file.server.url, READ, { id })).recording;
        for (let i = 0; i < 100 && recording.state !== 'DONE' && recording.state !== 'FAILED'; i += 1) {
          await new Promise((resolve) => setTimeout(resolve, 100));
          recording = (await gqlOk(file.server.url, READ, { id })).recording;
        }
        expect(recording.state).toBe('DONE');
        const video = probe(recording.location).streams[0]!;
        sizes[name] = { width: video.width, height: video.height };
        expect(firstVideoPacketIsKey(recording.location)).toBe(true);
      }
      console.log(`simulcast recordings: top ${sizes.top!.width}x${sizes.top!.height}, layer 0 ${sizes.low!.width}x${sizes.low!.height}`);
      expect(sizes.top).toEqual({ width: 1280, height: 720 });
      expect(sizes.low).toEqual({ width: 320, height: 180 });
    } finally {
      camera.stop();
      publisher.stop();
    }
  });
});
