import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { waitFor } from '../helpers/media.js';
import { publishCameraAndMic } from '../helpers/call.js';
import { TestPeer } from '../helpers/peer.js';
import { startTestServer } from '../helpers/server.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { errorCode, gql, gqlOk } from '../helpers/graphql.js';
import { probe } from '../helpers/probe.js';
import { collect, wsClient } from '../helpers/subscriptions.js';

/**
 * Recording anywhere in a cluster: a recording runs on the node of its
 * session; when that node records its maximum, on another node with room,
 * the tracks piped there. Two nodes on one real redis-server, a libwebrtc
 * camera and microphone on node B, which records one at a time.
 */
let redis: TestRedis;
let a: Switchyard;
let b: Switchyard;
let publisher: TestPeer;
let media: { stop(): void }[] = [];
const dirs = [mkdtempSync(join(tmpdir(), 'rec-a-')), mkdtempSync(join(tmpdir(), 'rec-b-'))];

const FIELDS = 'id state reason location durationMs trackNames';
const START = `mutation($input: StartRecordingInput!) { startRecording(input: $input) { ${FIELDS} } }`;
const STOP = `mutation($id: ID!) { stopRecording(id: $id) { ${FIELDS} } }`;
const READ = `query($id: ID!) { recording(id: $id) { ${FIELDS} } }`;
const LISTED = `query($id: ID!) { session(id: $id) { recordings { id state } } }`;
const EVENTS = `subscription($sessionId: ID!) { recordingEvents(sessionId: $sessionId) { type recording { id state } } }`;

beforeAll(async () => {
  redis = await startRedis();
  a = await startTestServer({ WORKERS: '1', REDIS_URL: redis.url, RECORDINGS_DIR: dirs[0]! });
  // Node B records one at a time: a second recording of its session goes to A.
  b = await startTestServer({ WORKERS: '1', REDIS_URL: redis.url, RECORDINGS_DIR: dirs[1]!, MAX_RECORDINGS_PER_NODE: '1' });
  await waitFor('the nodes to see each other', () => [a, b].every((n) => n.shared.cluster!.nodes.peers.length === 2), 5000);
  const published = await publishCameraAndMic(b.url);
  publisher = published.peer;
  media = [published];
}, 60_000);

afterAll(async () => {
  publisher?.stop();
  for (const m of media) m.stop();
  await a?.stop();
  await b?.stop();
  await redis?.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function untilFinished(url: string, id: string) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const recording = (await gqlOk(url, READ, { id })).recording;
    if (recording.state === 'DONE' || recording.state === 'FAILED' || Date.now() > deadline) return recording;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('recording in a cluster', () => {
  it('records on the session\'s node; that node full, on the other one through a pipe', { timeout: 60_000 }, async () => {
    // Watched on B, the session's node, where recordingEvents and Session.recordings are answered (through either node).
    const client = wsClient(a.url);
    const events = collect(client, EVENTS, { sessionId: publisher.sessionId }, (d) => d.recordingEvents as { type: string; recording: { id: string; state: string } });
    // (graphql-ws says nothing when a subscription is set up: give it a moment.)
    await new Promise((resolve) => setTimeout(resolve, 500));
    // Asked of A, recorded on B, where the session is.
    const local = (await gqlOk(a.url, START, { input: { sessionId: publisher.sessionId, trackName: 'mic' } })).startRecording;
    expect(b.recordings.active.map((r) => r.id)).toEqual([local.id]);
    // B records its maximum: asked of B this time, the session recording goes to A, its tracks piped there.
    const piped0 = (await gqlOk(b.url, START, { input: { sessionId: publisher.sessionId } })).startRecording;
    expect(a.recordings.active.map((r) => r.id)).toEqual([piped0.id]);
    const [first, second] = [piped0, local];
    await new Promise((resolve) => setTimeout(resolve, 4000));
    // Read and stopped through the other node: the ids name their node.
    expect((await gqlOk(b.url, READ, { id: first.id })).recording.state).toBe('RECORDING');
    // B lists the recording A runs for its session, through either node, and still counts only its own against its limit.
    for (const node of [a, b]) {
      const listed = (await gqlOk(node.url, LISTED, { id: publisher.sessionId })).session.recordings as { id: string; state: string }[];
      expect(listed.sort((x, y) => x.id.localeCompare(y.id))).toEqual([{ id: local.id, state: 'RECORDING' }, { id: piped0.id, state: 'RECORDING' }].sort((x, y) => x.id.localeCompare(y.id)));
    }
    expect(b.recordings.active.map((r) => r.id)).toEqual([local.id]);
    await gqlOk(b.url, STOP, { id: first.id });
    await gqlOk(a.url, STOP, { id: second.id });
    const [piped, here] = [await untilFinished(b.url, first.id), await untilFinished(a.url, second.id)];
    expect(piped.state).toBe('DONE');
    expect(here.state).toBe('DONE');
    expect(piped.location.startsWith(dirs[0]!)).toBe(true);
    expect(here.location.startsWith(dirs[1]!)).toBe(true);
    // Its changes reached the session's watchers, in order, as the local recording's did.
    const seen = (id: string) => events.items.filter((e) => e.recording.id === id).map((e) => e.recording.state);
    await waitFor('the piped recording DONE on the session\'s node', () => seen(piped0.id).includes('DONE'), 5000);
    console.log(`events on B: piped ${seen(piped0.id).join(' ')}; local ${seen(local.id).join(' ')}`);
    expect(seen(piped0.id)).toEqual(['RECORDING', 'FINISHING', 'DONE']);
    expect(seen(local.id)).toEqual(['RECORDING', 'FINISHING', 'DONE']);
    expect((await gqlOk(b.url, LISTED, { id: publisher.sessionId })).session.recordings).toContainEqual({ id: piped0.id, state: 'DONE' });
    await events.close();
    await client.dispose();
    const probed = probe(piped.location);
    console.log(`piped recording on A: ${probed.duration} s, ${probed.streams.map((s) => `${s.codec} ${s.frames} frames from ${s.start} s`).join(', ')}; B's own: ${probe(here.location).duration} s`);
    expect(probed.streams.map((s) => s.codec).sort()).toEqual(['opus', 'vp8']);
    expect(probed.duration).toBeGreaterThan(3);
    expect(existsSync(piped.location)).toBe(true);
  });

  it('refuses a track no node publishes, through any node', async () => {
    expect(errorCode(await gql(a.url, START, { input: { sessionId: publisher.sessionId, trackName: 'nope' } }))).toBe('TRACK_NOT_FOUND');
    expect(errorCode(await gql(a.url, START, { input: { sessionId: 'nope' } }))).toBe('SESSION_NOT_FOUND');
  });
});
