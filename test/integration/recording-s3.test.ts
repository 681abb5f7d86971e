import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { gqlOk } from '../helpers/graphql.js';
import { waitFor } from '../helpers/media.js';
import { publishCameraAndMic } from '../helpers/call.js';
import { probe } from '../helpers/probe.js';
import { startS3Server, type TestS3 } from '../helpers/s3.js';
import { startTestServer } from '../helpers/server.js';
import { startWebhookReceiver, verifySwitchyard, type WebhookReceiver } from '../helpers/webhookReceiver.js';

/**
 * Recording into S3-compatible object storage, end to end: a node whose
 * RECORDINGS_S3_* point at s3rver (signatures checked, test/helpers/s3.ts)
 * records a libwebrtc camera and microphone for 4 s; the object read back
 * through the S3 API plays (VP8 + Opus, ~4 s), and the recording.finished
 * webhook (development mode's WEBHOOK_URLS) tells the same location, size and
 * duration. A node with a wrong secret ends its recording FAILED, saying the
 * credentials were refused (without echoing any of them), and keeps the file
 * in RECORDINGS_DIR.
 */
const HOOK_SECRET = 'recording-s3-test-signing-secret-0123456789';
const PREFIX = 'switchyard/';
const FIELDS = 'id state reason format storage location sizeBytes durationMs trackNames';
const START = `mutation($input: StartRecordingInput!) { startRecording(input: $input) { ${FIELDS} } }`;
const STOP = `mutation($id: ID!) { stopRecording(id: $id) { ${FIELDS} } }`;
const READ = `query($id: ID!) { recording(id: $id) { ${FIELDS} } }`;

let s3: TestS3;
let hooks: WebhookReceiver;
let work: string;
const nodes: Switchyard[] = [];

beforeAll(async () => {
  s3 = await startS3Server();
  hooks = await startWebhookReceiver();
  work = await mkdtemp(join(tmpdir(), 'switchyard-recording-s3-'));
});

afterAll(async () => {
  for (const node of nodes) await node.stop();
  await hooks?.stop();
  await s3?.close();
  await rm(work, { recursive: true, force: true });
});

/** A node recording into the test's s3rver (its secret replaced when given), posting webhooks to the receiver. */
async function node(name: string, secret?: string): Promise<{ server: Switchyard; dir: string }> {
  const dir = join(work, name);
  const server = await startTestServer({
    WORKERS: '1',
    RECORDINGS_DIR: dir,
    RECORDINGS_STORAGE: 's3',
    RECORDINGS_S3_ENDPOINT: s3.endpoint,
    RECORDINGS_S3_REGION: s3.region,
    RECORDINGS_S3_BUCKET: s3.bucket,
    RECORDINGS_S3_PREFIX: PREFIX,
    RECORDINGS_S3_ACCESS_KEY_ID: s3.accessKeyId,
    RECORDINGS_S3_SECRET_ACCESS_KEY: secret ?? s3.secretAccessKey,
    WEBHOOK_URLS: hooks.url,
    WEBHOOK_SECRET: HOOK_SECRET,
    WEBHOOK_EVENTS: 'recording.finished',
  });
  nodes.push(server);
  return { server, dir };
}

/** A libwebrtc session on `url` publishing a 320x240 camera and a 440 Hz microphone. */
const publish = (url: string) => publishCameraAndMic(url);

/** Records the publisher's session for `ms` through `url`, then stops it; resolves once it is DONE or FAILED. */
async function record(url: string, sessionId: string, ms: number) {
  const started = (await gqlOk(url, START, { input: { sessionId, storage: 'S3' } })).startRecording;
  expect(started).toMatchObject({ state: expect.stringMatching(/^(STARTING|RECORDING)$/), storage: 'S3', format: 'webm' });
  const t0 = performance.now();
  await new Promise((resolve) => setTimeout(resolve, ms));
  await gqlOk(url, STOP, { id: started.id });
  const wall = (performance.now() - t0) / 1000;
  let recording = started;
  const deadline = Date.now() + 30_000;
  while (!['DONE', 'FAILED'].includes(recording.state) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    recording = (await gqlOk(url, READ, { id: started.id })).recording;
  }
  return { recording, wall };
}

/** The recording.finished event of a recording, once it arrived. */
async function finishedEvent(id: string) {
  await waitFor(`recording.finished of ${id}`, () => hooks.requests.some((r) => r.event.type === 'recording.finished' && r.event.data.recording.id === id), 15_000);
  return hooks.requests.find((r) => r.event.type === 'recording.finished' && r.event.data.recording.id === id)!;
}

describe('recording into S3', () => {
  it('a session recorded for 4 s is stored in the bucket (signed requests), plays VP8 + Opus for ~4 s, and the webhook says where', { timeout: 60_000 }, async () => {
    const { server } = await node('good');
    const publisher = await publish(server.url);
    try {
      await new Promise((resolve) => setTimeout(resolve, 500));
      const before = s3.requests.length;
      const { recording: done, wall } = await record(server.url, publisher.peer.sessionId, 4000);
      expect(done.state).toBe('DONE');
      expect(done.reason).toBeNull();
      const day = new Date().toISOString().slice(0, 10);
      const key = `${PREFIX}dev/${day}/${done.id}.webm`;
      expect(done.location).toBe(`s3://${s3.bucket}/${key}`);

      // What s3rver got: signed requests only (a recording of a few hundred kB goes in one PUT).
      const sent = s3.requests.slice(before);
      expect(sent.length).toBeGreaterThan(0);
      expect(sent.every((r) => r.auth === 'ok')).toBe(true);
      expect(await s3.list()).toContain(key);

      // The object, read back through the S3 API, plays.
      const bytes = await s3.get(key);
      expect(bytes.length).toBe(done.sizeBytes);
      const file = join(work, 'downloaded.webm');
      await writeFile(file, bytes);
      const probed = probe(file);
      const video = probed.streams.find((s) => s.kind === 'video')!;
      const audio = probed.streams.find((s) => s.kind === 'audio')!;
      console.log(`S3 recording ${key}: ${bytes.length} bytes in ${sent.length} request(s) (${sent.map((r) => r.method).join(' ')}), ${probed.duration} s (asked 4 s, wall ${wall.toFixed(2)} s, durationMs ${done.durationMs}); ${video.codec} ${video.width}x${video.height} ${video.frames} frames, ${audio.codec}`);
      expect(probed.format).toContain('webm');
      expect(video).toMatchObject({ codec: 'vp8', width: 320, height: 240 });
      expect(audio.codec).toBe('opus');
      expect(Math.abs(probed.duration - 4)).toBeLessThan(0.5);
      expect(Math.abs(done.durationMs / 1000 - probed.duration)).toBeLessThan(0.01);

      // Nothing left behind in the spool once the object is stored.
      expect(await readdir(join(work, 'good', '.spool'))).toEqual([]);

      // The webhook: signed with WEBHOOK_SECRET, the same location, size and duration.
      const hook = await finishedEvent(done.id);
      expect(verifySwitchyard(HOOK_SECRET, hook.headers['switchyard-signature'] as string | undefined, hook.rawBody)).toBe(true);
      expect(hook.event.appId).toBe('dev');
      expect(hook.event.data.recording).toMatchObject({
        id: done.id,
        sessionId: publisher.peer.sessionId,
        state: 'DONE',
        reason: null,
        storage: 'S3',
        format: 'webm',
        location: done.location,
        sizeBytes: done.sizeBytes,
        durationMs: done.durationMs,
      });
      expect([...hook.event.data.recording.trackNames].sort()).toEqual(['camera', 'mic']);
    } finally {
      publisher.stop();
    }
  });

  it('a wrong secret: the recording ends FAILED, the reason names the refusal and no credential; the file is kept in RECORDINGS_DIR', { timeout: 60_000 }, async () => {
    const wrongSecret = `wrong-${Math.random().toString(36).slice(2)}-secret`;
    const { server, dir } = await node('wrong-secret', wrongSecret);
    const publisher = await publish(server.url);
    try {
      await new Promise((resolve) => setTimeout(resolve, 500));
      const before = s3.requests.length;
      const { recording: failed, wall } = await record(server.url, publisher.peer.sessionId, 2000);
      console.log(`wrong secret: ${failed.state}: ${failed.reason}`);
      expect(failed.state).toBe('FAILED');
      expect(failed.reason).toMatch(/the credentials were refused \(HTTP 403 SignatureDoesNotMatch\)/);
      for (const secret of [wrongSecret, s3.secretAccessKey, s3.accessKeyId, s3.endpoint, '127.0.0.1']) expect(failed.reason).not.toContain(secret);
      expect(s3.requests.slice(before).map((r) => r.auth)).toContain('SignatureDoesNotMatch');
      expect((await s3.list()).filter((k) => k.includes(failed.id))).toEqual([]);

      // Not lost: kept where a LOCAL recording would be, and the reason says where.
      const day = new Date().toISOString().slice(0, 10);
      expect(failed.location).toBe(join(dir, 'dev', day, `${failed.id}.webm`));
      expect(failed.reason).toContain(failed.location);
      const kept = probe(failed.location);
      console.log(`wrong secret: kept ${failed.sizeBytes} bytes, ${kept.duration} s (wall ${wall.toFixed(2)} s)`);
      expect(kept.streams.map((s) => s.codec).sort()).toEqual(['opus', 'vp8']);
      expect(Math.abs(kept.duration - wall)).toBeLessThan(0.5);
      expect(await readdir(join(dir, '.spool'))).toEqual([]);

      const hook = await finishedEvent(failed.id);
      expect(hook.event.data.recording).toMatchObject({ id: failed.id, state: 'FAILED', reason: failed.reason, location: failed.location, sizeBytes: failed.sizeBytes, durationMs: failed.durationMs });
      for (const secret of [wrongSecret, s3.secretAccessKey, s3.accessKeyId]) expect(hook.rawBody).not.toContain(secret);
    } finally {
      publisher.stop();
    }
  });
});
