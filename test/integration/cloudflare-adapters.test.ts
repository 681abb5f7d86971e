import { createServer } from 'node:net';
import wrtc from '@roamhq/wrtc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leftChannel } from '../helpers/audio.js';
import { packetOf, startAdapterService, tonePcm, tonePower } from '../helpers/adapterService.js';
import { CloudflareApi } from '../helpers/cloudflareApi.js';
import { DOCUMENTED_DIFFERENCES } from '../helpers/cloudflareClients.js';
import { toneMicrophone, waitFor } from '../helpers/media.js';
import { checkResponse, type OpenApiFixture, type Schema } from '../helpers/openapiShape.js';
import { TestPeer } from '../helpers/peer.js';
import { useTestServer } from '../helpers/server.js';

/**
 * Cloudflare's WebSocket adapter API (POST /v1/apps/{appId}/adapters/websocket/new
 * and /close) against a node, with a WebSocket service the test runs and
 * libwebrtc peers: a published microphone reaches the service as PCM
 * Packets (remote), the service's PCM becomes a track that a Cloudflare
 * client pulls with tracks/new (local). Batches answer 200 when an item
 * succeeded, 503 when none did, with item errors in request order; bodies
 * Cloudflare could not decode are 400 decoding_error, invalid ones 406
 * invalid_params; close is idempotent as in Cloudflare's GA contract.
 *
 * test/fixtures/cloudflare-calls-openapi-2024-05-21.json predates adapters,
 * so ADAPTER_DOCUMENT below is the adapter part of Cloudflare's document
 * (realtime-api-2024-05-21.yaml, cloudflare-docs @47a2db92), its allOf
 * flattened for openapiShape's walker: every body is checked against it.
 */
const { RTCPeerConnection } = wrtc;
const { RTCAudioSink } = wrtc.nonstandard;

const str: Schema = { type: 'string' };
const ADAPTER_ITEM: Schema = {
  type: 'object',
  properties: {
    location: { type: 'string', enum: ['local', 'remote'] },
    sessionId: str,
    trackName: { type: 'string', minLength: 1 },
    endpoint: { type: 'string', minLength: 1 },
    outputCodec: { type: 'string', enum: ['pcm', 'jpeg'] },
    inputCodec: { type: 'string', enum: ['pcm'] },
    mode: { type: 'string', enum: ['stream', 'buffer'] },
    adapterId: str,
    errorCode: str,
    errorDescription: str,
  },
};
const STAT_ITEM: Schema = { type: 'object', properties: { adapterId: str, bytesProcessed: { type: 'number' }, errorCode: str, errorDescription: str } };
const REQUEST_ERROR: Schema = { type: 'object', properties: { errorCode: str, errorDescription: str }, required: ['errorCode', 'errorDescription'] };
const batchOf = (items: Schema): Schema => ({ type: 'object', properties: { errorCode: str, errorDescription: str, tracks: { type: 'array', items } } });
const ADAPTER_DOCUMENT: OpenApiFixture = {
  operations: {
    'POST /apps/{appId}/adapters/websocket/new': { requestBody: null, responses: { 200: batchOf(ADAPTER_ITEM), 503: batchOf(ADAPTER_ITEM), 400: REQUEST_ERROR, 406: REQUEST_ERROR } },
    'POST /apps/{appId}/adapters/websocket/close': { requestBody: null, responses: { 200: batchOf(STAT_ITEM), 503: batchOf(STAT_ITEM), 400: REQUEST_ERROR, 406: REQUEST_ERROR } },
  },
  // Statuses the document does not declare for these operations (401) have the error body of the notes' ErrorResponse.
  schemas: { ErrorResponse: REQUEST_ERROR },
  notes: [],
};

const SECRET = 'acme-secret-'.padEnd(40, 'a');
// Loopback stays allowed for the test's own service (127.0.0.1), not ::1: websocket_localhost_not_allowed has an address to refuse.
const file = useTestServer({ WORKERS: '1', APPS: `acme:${SECRET}`, ADAPTER_ALLOW_PRIVATE_ENDPOINTS: 'false', ADAPTER_PRIVATE_NETWORKS: '127.0.0.1/32' });
let service: Awaited<ReturnType<typeof startAdapterService>>;
/** A loopback port nothing listens on: connecting to it is refused at once. */
let deadPort = 0;
/** `${operation} ${status}` of every adapter response the walker checked. */
const checked = new Set<string>();

beforeAll(async () => {
  service = await startAdapterService();
  const probe = createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => probe.once('listening', resolve));
  deadPort = (probe.address() as { port: number }).port;
  await new Promise((resolve) => probe.close(resolve));
});

afterAll(async () => {
  await service?.close();
});

interface Reply {
  status: number;
  headers: Headers;
  body: any;
}

/** POST adapters/websocket/{action} as Cloudflare's examples send it (Bearer secret, JSON); the body is checked against ADAPTER_DOCUMENT. */
async function adapters(action: 'new' | 'close', body: unknown, options: { raw?: string; secret?: string | null; appId?: string } = {}): Promise<Reply> {
  const secret = options.secret === undefined ? SECRET : options.secret;
  const path = `/v1/apps/${options.appId ?? 'acme'}/adapters/websocket/${action}`;
  const response = await fetch(`${file.server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(secret ? { authorization: `Bearer ${secret}` } : {}) },
    body: options.raw ?? JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await response.text();
  const parsed: unknown = JSON.parse(text);
  const check = checkResponse(ADAPTER_DOCUMENT, { method: 'POST', path }, response.status, parsed);
  expect(check.problems, `${action} answered ${response.status} ${text.slice(0, 600)}`).toEqual([]);
  checked.add(`${action} ${response.status}`);
  return { status: response.status, headers: response.headers, body: parsed };
}

/** A libwebrtc publisher of a 440 Hz microphone as `trackName`, through the GraphQL API. */
async function publishMicrophone(trackName: string) {
  const microphone = toneMicrophone(440, 8000);
  const peer = new TestPeer(file.server.url, SECRET);
  file.cleanups.push(() => peer.stop(), microphone.stop);
  await peer.createSession();
  await peer.push([{ track: microphone.track, name: trackName }]);
  return peer.sessionId;
}

const remote = (sessionId: string, trackName: string, endpoint: string, extra: Record<string, unknown> = {}) => ({ location: 'remote', sessionId, trackName, endpoint, outputCodec: 'pcm', ...extra });
const local = (trackName: string, endpoint: string, extra: Record<string, unknown> = {}) => ({ location: 'local', trackName, endpoint, inputCodec: 'pcm', ...extra });
const failure = (trackName: string, errorCode: string) => ({ trackName, errorCode, errorDescription: expect.any(String) });

describe('Cloudflare WebSocket adapter API', () => {
  it('remote pcm: answers { trackName, adapterId, endpoint } without sessionId, and the service receives the microphone as PCM Packets', async () => {
    const sessionId = await publishMicrophone('mic');
    const endpoint = service.url('/egress?token=scoped');
    const created = await adapters('new', { tracks: [remote(sessionId, 'mic', endpoint, { mode: 'stream' })] });
    expect(created.status).toBe(200);
    expect(created.headers.get('vary')).toMatch(/origin/i);
    // The requested endpoint is echoed as it was sent, query included.
    expect(created.body).toEqual({ tracks: [{ trackName: 'mic', adapterId: expect.any(String), endpoint }] });

    const connection = service.latest('/egress')!;
    expect(connection.query.get('token')).toBe('scoped');
    // Cloudflare sends no custom headers and no subprotocol.
    expect(connection.headers['sec-websocket-protocol']).toBeUndefined();
    await waitFor('50 Packets at the service', () => connection.packets.length >= 50, 10_000);
    const packets = connection.packets.slice(-25).map((p) => p.packet);
    // 20 ms of 48 kHz stereo s16le per Packet, numbered in order, carrying the 440 Hz tone.
    expect(packets.every((p) => p.payload.length === 3840)).toBe(true);
    expect(packets.every((p, i) => i === 0 || p.sequenceNumber === packets[i - 1]!.sequenceNumber + 1)).toBe(true);
    expect(packets.some((p) => tonePower(leftChannel(Buffer.from(p.payload)), 440, 48_000) > 500)).toBe(true);

    const closed = await adapters('close', { tracks: [{ adapterId: created.body.tracks[0].adapterId }] });
    expect(closed.status).toBe(200);
    expect(closed.body.tracks).toEqual([{ adapterId: created.body.tracks[0].adapterId, bytesProcessed: expect.any(Number) }]);
    expect(closed.body.tracks[0].bytesProcessed).toBeGreaterThanOrEqual(50 * 3840);
    await waitFor('the service\'s socket closed', () => connection.closeCode !== undefined, 5000);
  });

  it('Switchyard\'s extensions (not Cloudflare\'s): sampleRate, channels, headers and subprotocols of a remote item', async () => {
    const sessionId = await publishMicrophone('mic16');
    const created = await adapters('new', {
      tracks: [remote(sessionId, 'mic16', service.url('/mono'), { sampleRate: 16000, channels: 1, headers: { 'x-service-token': 'abc' }, subprotocols: ['pcm.v1'] })],
    });
    expect(created.status).toBe(200);
    const connection = service.latest('/mono')!;
    expect(connection.headers['x-service-token']).toBe('abc');
    expect(connection.headers['sec-websocket-protocol']).toBe('pcm.v1');
    await waitFor('Packets at the service', () => connection.packets.length >= 10, 10_000);
    // 20 ms of 16 kHz mono s16le.
    expect(connection.packets.at(-1)!.packet.payload.length).toBe(640);
    expect((await adapters('close', { tracks: [{ adapterId: created.body.tracks[0].adapterId }] })).status).toBe(200);
  });

  it('local pcm: answers a new sessionId, whose track a Cloudflare client pulls with tracks/new and hears; close reports bytesProcessed, then a bare { adapterId }', async () => {
    const endpoint = service.url('/speak');
    // sessionId is ignored for local (the SFU allocates the session) and mode is ignored, as Cloudflare's GA contract says.
    const created = await adapters('new', { tracks: [local('speech', endpoint, { sessionId: 'ignored', mode: 'buffer' })] });
    expect(created.status).toBe(200);
    expect(created.body).toEqual({ tracks: [{ trackName: 'speech', adapterId: expect.any(String), sessionId: expect.any(String), endpoint }] });
    const { adapterId, sessionId } = created.body.tracks[0];
    expect(sessionId).not.toBe('ignored');

    // The pull, as Cloudflare's examples do it: sessions/new with no body, tracks/new remote, the SFU's offer answered with renegotiate.
    const cf = new CloudflareApi(file.server.url, 'acme', SECRET, DOCUMENTED_DIFFERENCES);
    const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
    file.cleanups.push(() => pc.close());
    const received: MediaStreamTrack[] = [];
    pc.ontrack = (event: RTCTrackEvent) => void received.push(event.track);
    const session = await cf.newSession();
    expect(session.status).toBe(201);
    const pulled = await cf.call('POST', `/sessions/${session.body.sessionId}/tracks/new`, { tracks: [{ location: 'remote', sessionId, trackName: 'speech' }] });
    expect(pulled.status).toBe(200);
    expect(pulled.body.tracks).toEqual([{ sessionId, trackName: 'speech', mid: expect.any(String) }]);
    await pc.setRemoteDescription(pulled.body.sessionDescription);
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    expect((await cf.call('PUT', `/sessions/${session.body.sessionId}/renegotiate`, { sessionDescription: { type: 'answer', sdp: answer.sdp } })).status).toBe(200);
    await waitFor('the ingest track at the Cloudflare client', () => received.length > 0, 10_000);

    const sink = new RTCAudioSink(received[0]!);
    file.cleanups.push(() => sink.stop());
    let heard = 0;
    sink.ondata = ({ samples, channelCount }: { samples: Int16Array; channelCount: number }) => {
      const mono = Float64Array.from({ length: samples.length / channelCount }, (_, i) => samples[i * channelCount]!);
      if (tonePower(mono, 660, 48_000) > 500) heard += 1;
    };
    // 2 s of 660 Hz in 16 KB Packets (the size of Cloudflare's example), as the service would send speech.
    const pcm = tonePcm(660, 2000);
    const socket = service.latest('/speak')!.socket;
    for (let at = 0; at < pcm.length; at += 16 * 1024) socket.send(packetOf(pcm.subarray(at, at + 16 * 1024)));
    await waitFor('the service\'s tone at the Cloudflare client', () => heard >= 50, 10_000);

    const closed = await adapters('close', { tracks: [{ adapterId }] });
    expect(closed.status).toBe(200);
    expect(closed.body.tracks).toEqual([{ adapterId, bytesProcessed: pcm.length }]);
    // Idempotent close: an already-closed adapter succeeds without the statistic; the same id twice in one batch claims the close once.
    const again = await adapters('close', { tracks: [{ adapterId }] });
    expect(again.status).toBe(200);
    expect(again.body.tracks).toEqual([{ adapterId }]);
    const twice = await adapters('new', { tracks: [local('twice', service.url('/twice'))] });
    const twiceId = twice.body.tracks[0].adapterId;
    const both = await adapters('close', { tracks: [{ adapterId: twiceId }, { adapterId: twiceId }] });
    expect(both.body.tracks).toEqual([{ adapterId: twiceId, bytesProcessed: 0 }, { adapterId: twiceId }]);
  });

  it('a batch where one item fails answers 200 with that item\'s error, in request order; all failing answers 503 with the same shape', async () => {
    const sessionId = await publishMicrophone('mic');
    const dead = `ws://127.0.0.1:${deadPort}/gone`;
    const partial = await adapters('new', { tracks: [remote(sessionId, 'mic', dead), local('ok', service.url('/partial'))] });
    expect(partial.status).toBe(200);
    expect(partial.body.tracks).toEqual([
      failure('mic', 'websocket_handshake_failed'),
      { trackName: 'ok', adapterId: expect.any(String), sessionId: expect.any(String), endpoint: service.url('/partial') },
    ]);

    const none = await adapters('new', {
      tracks: [
        remote(sessionId, 'no-such-track', service.url('/never')),
        local('refused', `ws://[::1]:${deadPort}/`),
        remote(sessionId, 'mic', dead),
        // A Switchyard extension with a value GraphQL refuses: that item's invalid_params, not the batch's.
        remote(sessionId, 'mic', service.url('/never'), { sampleRate: 44100 }),
      ],
    });
    expect(none.status).toBe(503);
    expect(none.headers.get('vary')).toMatch(/origin/i);
    expect(none.body).toEqual({
      tracks: [failure('no-such-track', 'not_found_track_error'), failure('refused', 'websocket_localhost_not_allowed'), failure('mic', 'websocket_handshake_failed'), failure('mic', 'invalid_params')],
    });
    expect(service.latest('/never')).toBeUndefined();
    expect((await adapters('close', { tracks: [{ adapterId: partial.body.tracks[1].adapterId }] })).status).toBe(200);
  });

  it('406 invalid_params for a count outside 1..4, missing or invalid values; 400 decoding_error for what is not JSON or of the wrong type; nothing is created', async () => {
    const before = service.connections.length;
    const item = local('x', service.url('/nothing'));
    const invalid = async (body: unknown, description?: string) => {
      const reply = await adapters('new', body);
      expect(reply.status, JSON.stringify(body)).toBe(406);
      expect(reply.body).toEqual({ errorCode: 'invalid_params', errorDescription: description ?? expect.any(String) });
    };
    await invalid({ tracks: [item, item, item, item, item] }, 'Expecting at most 4 track in the request');
    await invalid({ tracks: [] });
    await invalid({});
    await invalid({ tracks: [{ location: 'local', trackName: 'x', endpoint: service.url('/nothing') }] }, expect.stringContaining('inputCodec'));
    await invalid({ tracks: [local('x', service.url('/nothing'), { inputCodec: 'opus' })] });
    await invalid({ tracks: [{ ...item, location: 'sideways' }] });
    await invalid({ tracks: [{ ...item, trackName: '' }] });
    await invalid({ tracks: [{ ...item, endpoint: 'https://example.com/ws' }] }, expect.stringContaining('endpoint'));
    await invalid({ tracks: [{ ...item, endpoint: 'ws://' }] });
    await invalid({ tracks: [{ location: 'remote', trackName: 'mic', endpoint: service.url('/nothing'), outputCodec: 'pcm' }] }, expect.stringContaining('sessionId'));
    await invalid({ tracks: [{ location: 'remote', sessionId: 's', trackName: 'mic', endpoint: service.url('/nothing') }] }, expect.stringContaining('outputCodec'));
    await invalid({ tracks: [{ location: 'remote', sessionId: 's', trackName: 'mic', endpoint: service.url('/nothing'), outputCodec: 'h264' }] });
    // One invalid item refuses the batch before anything is created.
    await invalid({ tracks: [item, { ...item, inputCodec: undefined }] });

    const decoding = async (body: unknown, raw?: string) => {
      const reply = await adapters('new', body, raw === undefined ? {} : { raw });
      expect(reply.status, raw ?? JSON.stringify(body)).toBe(400);
      expect(reply.body).toEqual({ errorCode: 'decoding_error', errorDescription: expect.stringContaining('could not be decoded') });
    };
    await decoding(undefined, '{"tracks": [');
    await decoding(undefined, '');
    await decoding(['not', 'an', 'object']);
    await decoding({ tracks: 'all of them' });
    await decoding({ tracks: [{ ...item, trackName: 5 }] });
    await decoding({ tracks: [{ ...item, sampleRate: '48000' }] });
    await decoding({ tracks: [{ ...item, headers: { 'x-token': 1 } }] });
    expect(service.connections.length).toBe(before);

    const closeInvalid = async (body: unknown) => {
      const reply = await adapters('close', body);
      expect(reply.status, JSON.stringify(body)).toBe(406);
      expect(reply.body.errorCode).toBe('invalid_params');
    };
    await closeInvalid({ tracks: [{ adapterId: '' }] });
    await closeInvalid({ tracks: [{}] });
    await closeInvalid({ tracks: [] });
    await closeInvalid({ tracks: Array.from({ length: 5 }, () => ({ adapterId: 'a' })) });
    expect((await adapters('close', { tracks: [{ adapterId: 7 }] })).status).toBe(400);
  });

  it('close of an unknown adapter: adapter_not_found (503 when every item failed, 200 beside a success)', async () => {
    const unknown = await adapters('close', { tracks: [{ adapterId: 'no-such-adapter' }] });
    expect(unknown.status).toBe(503);
    expect(unknown.body).toEqual({ tracks: [{ adapterId: 'no-such-adapter', errorCode: 'adapter_not_found', errorDescription: expect.any(String) }] });

    const created = await adapters('new', { tracks: [local('closing', service.url('/closing'))] });
    const adapterId = created.body.tracks[0].adapterId;
    const mixed = await adapters('close', { tracks: [{ adapterId: 'no-such-adapter' }, { adapterId }] });
    expect(mixed.status).toBe(200);
    expect(mixed.body.tracks).toEqual([
      { adapterId: 'no-such-adapter', errorCode: 'adapter_not_found', errorDescription: expect.any(String) },
      { adapterId, bytesProcessed: 0 },
    ]);
    await waitFor('the service\'s socket closed', () => service.latest('/closing')!.closeCode !== undefined, 5000);
  });

  it('a wrong app secret, no secret or another app id is Cloudflare\'s 401 unauthorized, and creates nothing', async () => {
    const before = service.connections.length;
    const body = { tracks: [local('x', service.url('/unauthorized'))] };
    for (const options of [{ secret: 'not-the-secret-of-any-app-0123456789abcdef' }, { secret: null }, { appId: 'beta' }]) {
      const refused = await adapters('new', body, options);
      expect(refused.status, JSON.stringify(options)).toBe(401);
      expect(refused.body).toEqual({ errorCode: 'unauthorized', errorDescription: expect.any(String) });
    }
    expect((await adapters('close', { tracks: [{ adapterId: 'a' }] }, { secret: 'wrong' })).status).toBe(401);
    expect(service.connections.length).toBe(before);
  });

  it('answered every documented status of both operations with a body the walker checked', () => {
    expect([...checked].sort()).toEqual(['close 200', 'close 400', 'close 401', 'close 406', 'close 503', 'new 200', 'new 400', 'new 401', 'new 406', 'new 503']);
  });
});
