import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import wrtc from '@roamhq/wrtc';
import { afterAll, describe, expect, it } from 'vitest';
import { toneMicrophone, waitFor } from '../helpers/media.js';
import { publishCameraAndMic } from '../helpers/call.js';
import { TestPeer } from '../helpers/peer.js';
import { useTestServer } from '../helpers/server.js';
import { errorCode, gql, gqlOk } from '../helpers/graphql.js';
import { firstVideoPacketIsKey, probe } from '../helpers/probe.js';

/**
 * Recording through the GraphQL API with a libwebrtc publisher: a session's
 * camera and microphone into one WebM (no transcoding), a microphone alone
 * into Ogg, a recorder killed mid-way, a track that ends, and bad requests.
 */
const dir = mkdtempSync(join(tmpdir(), 'switchyard-recordings-'));
const file = useTestServer({ WORKERS: '2', RECORDINGS_DIR: dir });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const FIELDS = 'id state reason format location sizeBytes durationMs trackNames storage';
const START = `mutation($input: StartRecordingInput!) { startRecording(input: $input) { ${FIELDS} } }`;
const STOP = `mutation($id: ID!) { stopRecording(id: $id) { ${FIELDS} } }`;
const READ = `query($id: ID!) { recording(id: $id) { ${FIELDS} } }`;

const publish = (tracks: ('camera' | 'mic')[]) => publishCameraAndMic(file.server.url, undefined, tracks);

const read = async (id: string) => (await gqlOk(file.server.url, READ, { id })).recording;
const finished = async (id: string) => {
  let recording = await read(id);
  const deadline = Date.now() + 20_000;
  while (recording.state !== 'DONE' && recording.state !== 'FAILED' && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    recording = await read(id);
  }
  return recording;
};

describe('recording', () => {
  it('records a session\'s camera and microphone into one WebM that starts with a key frame, audio and video together', { timeout: 60_000 }, async () => {
    const publisher = await publish(['camera', 'mic']);
    try {
      await new Promise((resolve) => setTimeout(resolve, 500));
      const started = (await gqlOk(file.server.url, START, { input: { sessionId: publisher.peer.sessionId } })).startRecording;
      expect(started.trackNames.sort()).toEqual(['camera', 'mic']);
      expect(started.format).toBe('webm');
      const t0 = Date.now();
      await new Promise((resolve) => setTimeout(resolve, 5000));
      const stopped = (await gqlOk(file.server.url, STOP, { id: started.id })).stopRecording;
      const wall = (Date.now() - t0) / 1000;
      // Stopping asks ffmpeg to finish: the answer comes before it has (RECORDING or FINISHING), DONE follows.
      expect(['RECORDING', 'FINISHING', 'DONE']).toContain(stopped.state);
      const done = await finished(started.id);
      expect(done.state).toBe('DONE');
      const probed = probe(done.location);
      const video = probed.streams.find((s) => s.kind === 'video')!;
      const audio = probed.streams.find((s) => s.kind === 'audio')!;
      console.log(`recording: ${done.location.split('/').slice(-1)[0]} ${done.sizeBytes} bytes, ${probed.duration} s (wall ${wall.toFixed(2)} s); video ${video.codec} ${video.width}x${video.height} ${video.frames} frames from ${video.start} s; audio ${audio.codec} from ${audio.start} s`);
      expect(video).toMatchObject({ codec: 'vp8', width: 320, height: 240 });
      expect(audio.codec).toBe('opus');
      expect(Math.abs(probed.duration - wall)).toBeLessThan(1);
      expect(Math.abs(video.start - audio.start)).toBeLessThan(0.1);
      expect(firstVideoPacketIsKey(done.location)).toBe(true);
      expect(done.durationMs).toBeGreaterThan(3500);
    } finally {
      publisher.stop();
    }
  });

  it('records a microphone alone into Ogg, and finishes by itself when the track ends', { timeout: 60_000 }, async () => {
    const publisher = await publish(['mic']);
    try {
      const started = (await gqlOk(file.server.url, START, { input: { sessionId: publisher.peer.sessionId, trackName: 'mic' } })).startRecording;
      expect(started.format).toBe('ogg');
      await new Promise((resolve) => setTimeout(resolve, 3000));
      await gqlOk(file.server.url, 'mutation($id: ID!) { closeSession(input: { sessionId: $id }) { sessionId } }', { id: publisher.peer.sessionId });
      const done = await finished(started.id);
      expect(done.state).toBe('DONE');
      const probed = probe(done.location);
      console.log(`audio recording: ${probed.format} ${probed.streams[0]!.codec} ${probed.duration} s`);
      expect(probed.streams.map((s) => s.codec)).toEqual(['opus']);
      expect(probed.duration).toBeGreaterThan(2.5);
    } finally {
      publisher.stop();
    }
  });

  it('a recorder killed mid-way leaves a file that plays up to then (FAILED, with why)', { timeout: 60_000 }, async () => {
    const publisher = await publish(['camera', 'mic']);
    try {
      await new Promise((resolve) => setTimeout(resolve, 500));
      const started = (await gqlOk(file.server.url, START, { input: { sessionId: publisher.peer.sessionId } })).startRecording;
      const t0 = Date.now();
      await new Promise((resolve) => setTimeout(resolve, 5000));
      process.kill(file.server.recordings.recorderPid(started.id)!, 'SIGKILL');
      const killedAfter = (Date.now() - t0) / 1000;
      const failed = await finished(started.id);
      expect(failed.state).toBe('FAILED');
      expect(failed.reason).toMatch(/SIGKILL/);
      const probed = probe(failed.location);
      console.log(`killed after ${killedAfter.toFixed(2)} s: the file plays ${probed.duration} s`);
      expect(probed.duration).toBeGreaterThan(killedAfter - 1);
      expect(probed.duration).toBeLessThan(killedAfter + 0.5);
    } finally {
      publisher.stop();
    }
  });

  it('records the sound of a session whose camera sends nothing, and says when nothing was recorded at all', { timeout: 60_000 }, async () => {
    const source = new wrtc.nonstandard.RTCVideoSource();
    const silentCamera = source.createTrack();
    const mic = toneMicrophone(440, 8000);
    const peer = new TestPeer(file.server.url);
    try {
      await peer.createSession();
      await peer.push([{ track: silentCamera, name: 'camera' }, { track: mic.track, name: 'mic' }]);
      // The microphone's media flows (ACTIVE), the camera's never does: the session recording takes the microphone alone.
      await waitFor('the microphone ACTIVE', () => file.server.sessions.tracks.get(peer.sessionId, 'mic')?.status === 'ACTIVE', 5000);
      const started = (await gqlOk(file.server.url, START, { input: { sessionId: peer.sessionId } })).startRecording;
      await new Promise((resolve) => setTimeout(resolve, 5000));
      await gqlOk(file.server.url, STOP, { id: started.id });
      const done = await finished(started.id);
      expect(done.reason).toBeNull();
      expect(done.state).toBe('DONE');
      const audio = probe(done.location).streams.find((s) => s.kind === 'audio')!;
      console.log(`camera off: ${done.trackNames.join(', ')} recorded, ${audio.codec} ${audio.frames} frames (${(audio.frames * 20) / 1000} s of sound over 5 s)`);
      expect(done.trackNames).toEqual(['mic']);
      expect(audio.frames * 20).toBeGreaterThan(4500);

      // Stopped at once: nothing reached the file, and the recording says so without naming the node's files.
      const instant = (await gqlOk(file.server.url, START, { input: { sessionId: peer.sessionId } })).startRecording;
      await gqlOk(file.server.url, STOP, { id: instant.id });
      const empty = await finished(instant.id);
      expect(empty.state).toBe('FAILED');
      expect(empty.reason).toMatch(/nothing was recorded/);
      expect(empty.reason).not.toMatch(/\//);
      expect(empty.location).toBeNull();
    } finally {
      silentCamera.stop();
      mic.stop();
      peer.stop();
    }
  });

  it('refuses what it cannot record, with clear errors, and starts nothing', async () => {
    const publisher = await publish(['mic']);
    try {
      const before = file.server.recordings.active.length;
      expect(errorCode(await gql(file.server.url, START, { input: { sessionId: 'nope' } }))).toBe('SESSION_NOT_FOUND');
      expect(errorCode(await gql(file.server.url, START, { input: { sessionId: publisher.peer.sessionId, trackName: 'nope' } }))).toBe('TRACK_NOT_FOUND');
      expect(errorCode(await gql(file.server.url, START, { input: { sessionId: publisher.peer.sessionId, storage: 'S3' } }))).toBe('BAD_REQUEST');
      expect(errorCode(await gql(file.server.url, START, { input: { sessionId: publisher.peer.sessionId, spatialLayer: 9 } }))).toBe('BAD_REQUEST');
      const unknown = await gql(file.server.url, STOP, { id: 'nope' });
      expect(errorCode(unknown)).toBe('BAD_REQUEST');
      expect(unknown.errors?.[0]?.extensions).toMatchObject({ recordingErrorCode: 'recording_not_found' });
      // No ffmpeg on the node: said at once, nothing left running.
      process.env.FFMPEG_PATH = '/nonexistent/ffmpeg';
      try {
        const asked = Date.now();
        const missing = await gql(file.server.url, START, { input: { sessionId: publisher.peer.sessionId } });
        expect(errorCode(missing)).toBe('UNAVAILABLE');
        expect(missing.errors?.[0]?.message).toMatch(/ffmpeg is not installed/);
        expect(Date.now() - asked).toBeLessThan(2000);
      } finally {
        delete process.env.FFMPEG_PATH;
      }
      expect(file.server.recordings.active.length).toBe(before);
    } finally {
      publisher.stop();
    }
  });
});
