import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { GrantInput } from '../../src/auth/grant.js';
import { mintClientToken } from '../../src/auth/tokens.js';
import { publishCameraAndMic } from '../helpers/call.js';
import { firstVideoPacketIsKey, probe } from '../helpers/probe.js';
import { useTestServer } from '../helpers/server.js';

/**
 * The recording REST routes (src/api/cloudflare/recordings.ts), in the
 * style of the Cloudflare-compatible API: POST /v1/apps/{appId}/recordings/new,
 * POST .../recordings/{id}/stop and GET .../recordings/{id}, on a node in
 * production mode (APPS), with a libwebrtc publisher. A session's camera and
 * microphone are recorded, stopped and read back, and the file probes;
 * bad requests get Cloudflare-style errors and start nothing; a client token
 * records only with grant.record.
 */
const ACME = { id: 'acme', secret: `acme-${'s'.repeat(40)}` };
const BETA = { id: 'beta', secret: `beta-${'s'.repeat(40)}` };
const dir = mkdtempSync(join(tmpdir(), 'switchyard-recordings-rest-'));
const file = useTestServer({ WORKERS: '1', APPS: `${ACME.id}:${ACME.secret},${BETA.id}:${BETA.secret}`, RECORDINGS_DIR: dir });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Reply {
  status: number;
  body: any;
}

/** One call of the routes, as a backend makes it: `Authorization: Bearer <credential>` (null: none), a JSON string body. */
async function call(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown, options: { credential?: string | null; app?: string; raw?: string } = {}): Promise<Reply> {
  const credential = options.credential === undefined ? ACME.secret : options.credential;
  const headers: Record<string, string> = credential ? { authorization: `Bearer ${credential}` } : {};
  const payload = options.raw ?? (body === undefined ? undefined : JSON.stringify(body));
  const response = await fetch(`${file.server.url}/v1/apps/${options.app ?? ACME.id}/recordings${path}`, { method, headers, signal: AbortSignal.timeout(15_000), ...(payload !== undefined ? { body: payload } : {}) });
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  return { status: response.status, body: await response.json() };
}

/** A session of acme's backend publishing a 320x240 camera and a 440 Hz microphone. */
async function publish() {
  const { peer, stop } = await publishCameraAndMic(file.server.url, ACME.secret);
  file.cleanups.push(stop);
  return peer;
}

/** GET until the recording is done or failed. */
async function finished(id: string, credential?: string): Promise<any> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const reply = await call('GET', `/${id}`, undefined, { credential });
    expect(reply.status).toBe(200);
    if (reply.body.state === 'done' || reply.body.state === 'failed' || Date.now() > deadline) return reply.body;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const token = (grant: GrantInput, subject: string) => mintClientToken({ appId: ACME.id, secret: ACME.secret, grant, subject });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('recording REST routes', () => {
  it('records a session through REST: new, stop, get; the file plays both tracks from a key frame', { timeout: 60_000 }, async () => {
    const peer = await publish();
    await sleep(500);
    const started = await call('POST', '/new', { sessionId: peer.sessionId });
    expect(started.status).toBe(201);
    expect(Object.keys(started.body).sort()).toEqual(['format', 'recordingId', 'sessionId', 'state', 'storage', 'trackName', 'trackNames']);
    expect(started.body).toMatchObject({ sessionId: peer.sessionId, trackName: null, format: 'webm', storage: 'local' });
    expect([...started.body.trackNames].sort()).toEqual(['camera', 'mic']);
    expect(['starting', 'recording']).toContain(started.body.state);
    const id: string = started.body.recordingId;
    const t0 = Date.now();

    await sleep(3000);
    const running = await call('GET', `/${id}`);
    expect(running.status).toBe(200);
    expect(running.body).toMatchObject({ recordingId: id, state: 'recording', location: null, sizeBytes: null, durationMs: null, endedAt: null, reason: null });
    expect(Date.parse(running.body.createdAt)).toBeGreaterThan(t0 - 10_000);

    const stopped = await call('POST', `/${id}/stop`);
    const wall = (Date.now() - t0) / 1000;
    expect(stopped.status).toBe(200);
    expect(stopped.body.recordingId).toBe(id);
    expect(['recording', 'finishing', 'done']).toContain(stopped.body.state);

    const done = await finished(id);
    expect(Object.keys(done).sort()).toEqual(['createdAt', 'durationMs', 'endedAt', 'format', 'location', 'reason', 'recordingId', 'sessionId', 'sizeBytes', 'state', 'storage', 'trackName', 'trackNames']);
    expect(done).toMatchObject({ state: 'done', reason: null, format: 'webm', storage: 'local' });
    expect(done.location.startsWith(dir)).toBe(true);
    expect(statSync(done.location).size).toBe(done.sizeBytes);
    const probed = probe(done.location);
    const video = probed.streams.find((s) => s.kind === 'video')!;
    const audio = probed.streams.find((s) => s.kind === 'audio')!;
    console.log(`REST recording: ${done.sizeBytes} bytes, ${done.durationMs} ms (wall ${wall.toFixed(2)} s); video ${video.codec} ${video.width}x${video.height} ${video.frames} frames from ${video.start} s; audio ${audio.codec} from ${audio.start} s`);
    expect(video).toMatchObject({ codec: 'vp8', width: 320, height: 240 });
    expect(audio.codec).toBe('opus');
    expect(Math.abs(probed.duration - wall)).toBeLessThan(1);
    expect(firstVideoPacketIsKey(done.location)).toBe(true);

    // Stopping again answers the finished recording as it is; another app does not see it.
    const again = await call('POST', `/${id}/stop`);
    expect(again).toMatchObject({ status: 200, body: { recordingId: id, state: 'done' } });
    expect(await call('GET', `/${id}`, undefined, { credential: BETA.secret, app: BETA.id })).toMatchObject({ status: 404, body: { errorCode: 'recording_not_found' } });
  });

  it('refuses bad requests with Cloudflare-style errors, and starts nothing', { timeout: 30_000 }, async () => {
    const peer = await publish();
    const sessionId = peer.sessionId;
    const before = file.server.recordings.active.length;
    const refused = async (body: unknown, status: number, errorCode: string, raw?: string) => {
      const reply = await call('POST', '/new', body, raw === undefined ? {} : { raw });
      expect({ status: reply.status, errorCode: reply.body.errorCode }, JSON.stringify({ body, raw, reply: reply.body })).toEqual({ status, errorCode });
      expect(typeof reply.body.errorDescription).toBe('string');
      return reply.body.errorDescription as string;
    };
    // Not JSON, not an object, nothing: the body cannot be decoded.
    await refused(undefined, 400, 'decoding_error', '{"sessionId": ');
    await refused(undefined, 400, 'decoding_error', '[1, 2]');
    await refused(undefined, 400, 'decoding_error');
    // Fields of the wrong type or value.
    expect(await refused({}, 406, 'invalid_params')).toMatch(/sessionId is required/);
    await refused({ sessionId: 42 }, 406, 'invalid_params');
    await refused({ sessionId }, 406, 'invalid_params', JSON.stringify({ sessionId, trackName: '' }));
    expect(await refused({ sessionId, storage: 'disk' }, 406, 'invalid_params')).toMatch(/storage/);
    await refused({ sessionId, storage: 'LOCAL' }, 406, 'invalid_params');
    expect(await refused({ sessionId, spatialLayer: 9 }, 406, 'invalid_params')).toMatch(/spatialLayer/);
    await refused({ sessionId, spatialLayer: 1.5 }, 406, 'invalid_params');
    await refused({ sessionId, spatialLayer: '1' }, 406, 'invalid_params');
    // What the GraphQL API refuses: unknown session and track, storage this node has not.
    await refused({ sessionId: 'nope' }, 404, 'session_error');
    await refused({ sessionId, trackName: 'nope' }, 404, 'not_found_track_error');
    expect(await refused({ sessionId, storage: 's3' }, 400, 'invalid_params')).toMatch(/RECORDINGS_S3_BUCKET/);
    expect(file.server.recordings.active.length).toBe(before);

    // Unknown recordings and operations.
    expect(await call('GET', '/nope')).toMatchObject({ status: 404, body: { errorCode: 'recording_not_found' } });
    expect(await call('POST', '/nope/stop')).toMatchObject({ status: 404, body: { errorCode: 'recording_not_found' } });
    expect(await call('POST', '/nope/stop', undefined, { raw: 'not json' })).toMatchObject({ status: 400, body: { errorCode: 'decoding_error' } });
    for (const [method, path] of [['GET', '/new'], ['PUT', '/nope/stop'], ['POST', '/nope/pause'], ['POST', '/nope'], ['GET', '/nope/stop/now']] as const) {
      expect((await call(method, path)).status, `${method} ${path}`).toBe(404);
    }

    // Credentials: none, wrong, or another app's.
    expect(await call('POST', '/new', { sessionId }, { credential: null })).toMatchObject({ status: 401, body: { errorCode: 'unauthorized' } });
    expect(await call('POST', '/new', { sessionId }, { credential: 'x'.repeat(45) })).toMatchObject({ status: 401, body: { errorCode: 'unauthorized' } });
    expect(await call('POST', '/new', { sessionId }, { credential: BETA.secret })).toMatchObject({ status: 401, body: { errorCode: 'unauthorized' } });
    expect(await call('GET', '/nope', undefined, { credential: null })).toMatchObject({ status: 401, body: { errorCode: 'unauthorized' } });
    // Beta's own credentials on its own path: acme's session is not there for it.
    expect(await call('POST', '/new', { sessionId }, { credential: BETA.secret, app: BETA.id })).toMatchObject({ status: 404, body: { errorCode: 'session_error' } });
    expect(file.server.recordings.active.length).toBe(before);
  });

  it('a client token records only with grant.record, and sees only its own recordings', { timeout: 60_000 }, async () => {
    const peer = await publish();
    const pull = { sessions: [peer.sessionId] };
    const before = file.server.recordings.active.length;
    const withoutRecord = await token({ pull }, 'viewer');
    const refused = await call('POST', '/new', { sessionId: peer.sessionId, trackName: 'mic' }, { credential: withoutRecord });
    console.log('without grant.record:', refused.status, refused.body);
    expect(refused).toMatchObject({ status: 403, body: { errorCode: 'unauthorized' } });
    expect(refused.body.errorDescription).toMatch(/grant\.record/);
    // grant.record alone records only what the token may pull.
    const recordOnly = await token({ record: true }, 'recorder-without-pull');
    expect(await call('POST', '/new', { sessionId: peer.sessionId, trackName: 'mic' }, { credential: recordOnly })).toMatchObject({ status: 403, body: { errorCode: 'unauthorized' } });
    expect(file.server.recordings.active.length).toBe(before);

    const recorder = await token({ record: true, pull }, 'recorder');
    const started = await call('POST', '/new', { sessionId: peer.sessionId, trackName: 'mic' }, { credential: recorder });
    expect(started.status).toBe(201);
    expect(started.body).toMatchObject({ trackName: 'mic', trackNames: ['mic'], format: 'ogg' });
    const id: string = started.body.recordingId;
    await sleep(1500);
    // Another client of the app does not see it, and one without grant.record may not stop it.
    const otherRecorder = await token({ record: true, pull }, 'someone-else');
    expect(await call('GET', `/${id}`, undefined, { credential: otherRecorder })).toMatchObject({ status: 404, body: { errorCode: 'recording_not_found' } });
    expect(await call('POST', `/${id}/stop`, undefined, { credential: otherRecorder })).toMatchObject({ status: 404, body: { errorCode: 'recording_not_found' } });
    expect(await call('POST', `/${id}/stop`, undefined, { credential: withoutRecord })).toMatchObject({ status: 403, body: { errorCode: 'unauthorized' } });

    const stopped = await call('POST', `/${id}/stop`, {}, { credential: recorder });
    expect(stopped.status).toBe(200);
    const done = await finished(id, recorder);
    expect(done).toMatchObject({ state: 'done', format: 'ogg', trackName: 'mic' });
    // The app's backend sees its clients' recordings.
    expect(await call('GET', `/${id}`)).toMatchObject({ status: 200, body: { recordingId: id, state: 'done' } });
    const probed = probe(done.location);
    console.log(`client-token recording: ${probed.format} ${probed.streams.map((s) => s.codec).join('+')} ${probed.duration} s`);
    expect(probed.streams.map((s) => s.codec)).toEqual(['opus']);
    expect(probed.duration).toBeGreaterThan(1);
  });
});
