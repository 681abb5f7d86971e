import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import wrtc from '@roamhq/wrtc';
import { afterAll, describe, expect, it } from 'vitest';
import { gqlOk } from '../helpers/graphql.js';
import { startAdapterService } from '../helpers/adapterService.js';
import { fakeCamera, toneMicrophone, waitFor } from '../helpers/media.js';
import { TestPeer } from '../helpers/peer.js';
import { firstVideoPacketIsKey, probe } from '../helpers/probe.js';
import { useTestServer } from '../helpers/server.js';

/**
 * A VP9 camera leaving the SFU, both ways ffmpeg takes it: recorded as sent
 * (a libwebrtc camera that offers VP9 only, profile 0, and a microphone; one
 * WebM with VP9 and Opus, starting with a key frame, every frame in it), and
 * decoded into JPEG images for a WebSocket adapter. VP8 is recording.test.ts's
 * and the adapter tests'; H.264, which libwebrtc in Node cannot encode, is
 * Chromium's (recording-browser, websocket-jpeg). Before ffmpeg was given
 * -copyinkf, the recording had a VP9 stream with no frame at all.
 */
const dir = mkdtempSync(join(tmpdir(), 'rec-codecs-'));
const file = useTestServer({ WORKERS: '1', RECORDINGS_DIR: dir });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const START = `mutation($input: StartRecordingInput!) { startRecording(input: $input) { id format trackNames } }`;
const STOP = `mutation($id: ID!) { stopRecording(id: $id) { id } }`;
const READ = `query($id: ID!) { recording(id: $id) { state reason location durationMs } }`;

/** A session publishing a 320x240 camera in VP9 only ('camera') and a microphone ('mic'). */
async function publishVp9() {
  const camera = fakeCamera(320, 240, 30);
  const mic = toneMicrophone(440, 8000);
  const publisher = new TestPeer(file.server.url);
  const stop = () => (camera.stop(), mic.stop(), publisher.stop());
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
  } catch (error) {
    stop();
    throw error;
  }
  return { publisher, stop };
}

describe('a VP9 camera leaving the SFU', () => {
  it('is recorded as VP9 and Opus into one WebM without transcoding, starting with a key frame', { timeout: 60_000 }, async () => {
    const { publisher, stop } = await publishVp9();
    try {
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
      stop();
    }
  });

  it('is decoded into JPEG images for a WebSocket adapter, of its size, one a second', { timeout: 60_000 }, async () => {
    const { publisher, stop } = await publishVp9();
    const service = await startAdapterService();
    try {
      const created = (
        await gqlOk(file.server.url, 'mutation($input: CreateWebSocketAdapterInput!) { createWebSocketAdapter(input: $input) { id codec } }', {
          input: { location: 'REMOTE', sessionId: publisher.sessionId, trackName: 'camera', codec: 'JPEG', endpoint: service.url('/vp9') },
        })
      ).createWebSocketAdapter;
      expect(created.codec).toBe('JPEG');
      await waitFor('three images', () => (service.latest('/vp9')?.packets.length ?? 0) >= 3, 15_000);
      const packets = service.latest('/vp9')!.packets;
      const images = packets.map((p) => Buffer.from(p.packet.payload));
      // The default rate, 1 image a second: the third comes about 2 s after the first.
      const spanMs = packets[2]!.at - packets[0]!.at;
      const sizes = images.map((image) => jpegSize(image));
      console.log(`VP9 to JPEG: ${images.length} images, ${sizes.map((s) => `${s.width}x${s.height}`).join(' ')}, ${images.map((i) => i.length).join('/')} bytes, third ${spanMs.toFixed(0)} ms after the first`);
      expect(spanMs).toBeGreaterThan(1500);
      expect(spanMs).toBeLessThan(2500);
      for (const size of sizes) expect(size).toEqual({ width: 320, height: 240 });
      await gqlOk(file.server.url, 'mutation($id: ID!) { closeWebSocketAdapter(id: $id) { id } }', { id: created.id });
    } finally {
      await service.close();
      stop();
    }
  });
});

/** A JPEG's size from its start-of-frame marker (SOF0..SOF2); throws if the bytes are not a JPEG. */
function jpegSize(image: Buffer): { width: number; height: number } {
  if (image[0] !== 0xff || image[1] !== 0xd8) throw new Error('not a JPEG (no SOI marker)');
  let offset = 2;
  while (offset + 9 < image.length) {
    if (image[offset] !== 0xff) throw new Error(`not a JPEG (no marker at ${offset})`);
    const marker = image[offset + 1]!;
    if (marker >= 0xc0 && marker <= 0xc2) return { height: image.readUInt16BE(offset + 5), width: image.readUInt16BE(offset + 7) };
    offset += 2 + image.readUInt16BE(offset + 2);
  }
  throw new Error('not a JPEG (no start of frame)');
}
