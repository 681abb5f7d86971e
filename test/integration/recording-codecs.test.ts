import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import wrtc from '@roamhq/wrtc';
import { afterAll, describe, expect, it } from 'vitest';
import { gqlOk } from '../helpers/graphql.js';
import { fakeCamera, toneMicrophone } from '../helpers/media.js';
import { TestPeer } from '../helpers/peer.js';
import { firstVideoPacketIsKey, probe } from '../helpers/probe.js';
import { useTestServer } from '../helpers/server.js';

/**
 * VP9 recorded as sent: a libwebrtc camera that offers VP9 only (profile 0)
 * and a microphone, one session recording, one WebM with VP9 and Opus,
 * starting with a key frame, every frame in it. (VP8 is recording.test.ts's;
 * H.264, which libwebrtc in Node cannot encode, is Chromium's in
 * recording-browser.) Before ffmpeg was given -copyinkf, this file had a VP9
 * stream with no frame at all.
 */
const dir = mkdtempSync(join(tmpdir(), 'rec-codecs-'));
const file = useTestServer({ WORKERS: '1', RECORDINGS_DIR: dir });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const START = `mutation($input: StartRecordingInput!) { startRecording(input: $input) { id format trackNames } }`;
const STOP = `mutation($id: ID!) { stopRecording(id: $id) { id } }`;
const READ = `query($id: ID!) { recording(id: $id) { state reason location durationMs } }`;

describe('recording a VP9 camera', () => {
  it('writes VP9 and Opus into one WebM without transcoding, starting with a key frame', { timeout: 60_000 }, async () => {
    const camera = fakeCamera(320, 240, 30);
    const mic = toneMicrophone(440, 8000);
    const publisher = new TestPeer(file.server.url);
    try {
      await publisher.createSession();
      const video = publisher.pc.addTransceiver(camera.track, { direction: 'sendonly' });
      const vp9 = wrtc.RTCRtpSender.getCapabilities('video')!.codecs.filter((c: RTCRtpCodec) => c.mimeType === 'video/VP9' && c.sdpFmtpLine === 'profile-id=0');
      expect(vp9.length).toBeGreaterThan(0);
      video.setCodecPreferences(vp9);
      const audio = publisher.pc.addTransceiver(mic.track, { direction: 'sendonly' });
      await publisher.setLocal(await publisher.pc.createOffer());
      const pushed = await gqlOk(file.server.url, 'mutation($input: PushTracksInput!) { pushTracks(input: $input) { sessionDescription { sdp } tracks { error { code } } } }', {
        input: {
          sessionId: publisher.sessionId,
          sessionDescription: { type: 'OFFER', sdp: publisher.localSdp },
          tracks: [{ mid: video.mid, trackName: 'camera' }, { mid: audio.mid, trackName: 'mic' }],
        },
      });
      expect(pushed.pushTracks.tracks.map((t: { error: unknown }) => t.error)).toEqual([null, null]);
      await publisher.pc.setRemoteDescription({ type: 'answer', sdp: pushed.pushTracks.sessionDescription.sdp });
      expect(file.server.sessions.tracks.get(publisher.sessionId, 'camera')!.producer.rtpParameters.codecs[0]!.mimeType).toBe('video/VP9');
      await new Promise((resolve) => setTimeout(resolve, 500));

      const started = (await gqlOk(file.server.url, START, { input: { sessionId: publisher.sessionId } })).startRecording;
      expect(started.format).toBe('webm');
      expect([...started.trackNames].sort()).toEqual(['camera', 'mic']);
      const t0 = Date.now();
      await new Promise((resolve) => setTimeout(resolve, 3000));
      await gqlOk(file.server.url, STOP, { id: started.id });
      const wall = (Date.now() - t0) / 1000;
      let recording = (await gqlOk(file.server.url, READ, { id: started.id })).recording;
      for (let i = 0; i < 100 && recording.state !== 'DONE' && recording.state !== 'FAILED'; i += 1) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        recording = (await gqlOk(file.server.url, READ, { id: started.id })).recording;
      }
      expect(recording).toMatchObject({ state: 'DONE', reason: null });
      const probed = probe(recording.location);
      const streams = Object.fromEntries(probed.streams.map((s) => [s.kind, s]));
      console.log(`VP9 recording: ${probed.format} ${probed.duration} s (wall ${wall.toFixed(2)} s); video ${streams.video?.codec} ${streams.video?.width}x${streams.video?.height} ${streams.video?.frames} frames; audio ${streams.audio?.codec}`);
      expect(probed.format).toContain('webm');
      expect(streams.video).toMatchObject({ codec: 'vp9', width: 320, height: 240 });
      expect(streams.audio?.codec).toBe('opus');
      expect(Math.abs(probed.duration - wall)).toBeLessThan(1);
      // 30 frames a second were sent; the file holds about as many for its duration.
      expect(streams.video!.frames).toBeGreaterThan(probed.duration * 30 * 0.8);
      expect(firstVideoPacketIsKey(recording.location)).toBe(true);
    } finally {
      camera.stop();
      mic.stop();
      publisher.stop();
    }
  });
});
