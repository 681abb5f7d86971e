import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { gqlOk } from '../helpers/graphql.js';
import { waitFor } from '../helpers/media.js';
import { publishCameraAndMic } from '../helpers/call.js';
import { TestPeer } from '../helpers/peer.js';
import { firstVideoPacketIsKey, probe } from '../helpers/probe.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { startTestServer } from '../helpers/server.js';
import { collect, wsClient } from '../helpers/subscriptions.js';

/**
 * Recording in a cluster: two nodes on one real redis-server, each with a
 * RECORDINGS_DIR of its own, a libwebrtc camera and microphone published on
 * node B. A recording runs on the node of its session (its id names that
 * node), whichever node took the call: started through B or through A, it
 * runs on B and is read, listed, watched and stopped through either node.
 * The file is in B's directory and plays. (When B records its maximum, a
 * recording goes to A through a pipe: recording-pipe.test.ts.)
 */
const FIELDS = 'id sessionId state reason format storage location sizeBytes durationMs trackNames';
const START = `mutation($input: StartRecordingInput!) { startRecording(input: $input) { ${FIELDS} } }`;
const STOP = `mutation($id: ID!) { stopRecording(id: $id) { ${FIELDS} } }`;
const READ = `query($id: ID!) { recording(id: $id) { ${FIELDS} } }`;
const LISTED = `query($id: ID!) { session(id: $id) { recordings { id state } } }`;
const EVENTS = `subscription($sessionId: ID!) { recordingEvents(sessionId: $sessionId) { type recording { id state } } }`;

let redis: TestRedis;
let work: string;
let a: Switchyard;
let b: Switchyard;
let publisher: TestPeer;
let media: { stop(): void }[] = [];

beforeAll(async () => {
  redis = await startRedis();
  work = await mkdtemp(join(tmpdir(), 'switchyard-recording-cluster-'));
  a = await startTestServer({ WORKERS: '1', REDIS_URL: redis.url, RECORDINGS_DIR: join(work, 'a') });
  b = await startTestServer({ WORKERS: '1', REDIS_URL: redis.url, RECORDINGS_DIR: join(work, 'b') });
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
  await rm(work, { recursive: true, force: true });
});

async function finished(url: string, id: string) {
  let recording = (await gqlOk(url, READ, { id })).recording;
  for (const deadline = Date.now() + 20_000; recording.state !== 'DONE' && recording.state !== 'FAILED' && Date.now() < deadline; ) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    recording = (await gqlOk(url, READ, { id })).recording;
  }
  return recording;
}

/** The first 8 characters of the ids a node makes (sessions, recordings): calls about an id reach its node. */
const tagOf = (node: Switchyard) => node.shared.cluster!.newSessionId().slice(0, 8);
type Seen = { type: string; recording: { id: string; state: string } };

/**
 * Records the session for ~`ms`, started through `startVia`; read, stopped
 * and waited for through `via`; watched (recordingEvents) and listed
 * (Session.recordings) through both nodes.
 */
async function recordThrough(startVia: Switchyard, via: Switchyard, ms: number) {
  const clients = [a, b].map((node) => wsClient(node.url));
  try {
    const watches = clients.map((client) => collect(client, EVENTS, { sessionId: publisher.sessionId }, (d) => d.recordingEvents as Seen));
    await new Promise((resolve) => setTimeout(resolve, 500));
    const started = (await gqlOk(startVia.url, START, { input: { sessionId: publisher.sessionId } })).startRecording;
    const t0 = performance.now();
    expect(started).toMatchObject({ sessionId: publisher.sessionId, format: 'webm', storage: 'LOCAL' });
    expect([...started.trackNames].sort()).toEqual(['camera', 'mic']);
    const runsOn = a.recordings.active.some((r) => r.id === started.id) ? 'A' : b.recordings.active.some((r) => r.id === started.id) ? 'B' : 'none';
    let reading = (await gqlOk(via.url, READ, { id: started.id })).recording;
    while (reading.state === 'STARTING' && performance.now() - t0 < 5000) reading = (await gqlOk(via.url, READ, { id: started.id })).recording;
    const recordingAfterMs = Math.round(performance.now() - t0);
    const listed = await Promise.all([a, b].map(async (node) => (await gqlOk(node.url, LISTED, { id: publisher.sessionId })).session.recordings as { id: string; state: string }[]));
    await new Promise((resolve) => setTimeout(resolve, ms - (performance.now() - t0)));
    const stopped = (await gqlOk(via.url, STOP, { id: started.id })).stopRecording;
    const wall = (performance.now() - t0) / 1000;
    expect(stopped.id).toBe(started.id);
    expect(['RECORDING', 'FINISHING', 'DONE']).toContain(stopped.state);
    const done = await finished(via.url, started.id);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const events = watches.map((w) => w.items.filter((e) => e.recording.id === started.id).map((e) => e.type));
    expect(watches.flatMap((w) => w.errors)).toEqual([]);
    return { started, state: reading.state as string, recordingAfterMs, runsOn, listed: listed.map((l) => l.filter((r) => r.id === started.id)), done, wall, events };
  } finally {
    for (const client of clients) await client.dispose();
  }
}

function checkFile(path: string, what: string, wall: number) {
  const probed = probe(path);
  const video = probed.streams.find((s) => s.kind === 'video')!;
  const audio = probed.streams.find((s) => s.kind === 'audio')!;
  console.log(`${what}: ${probed.duration} s (wall ${wall.toFixed(2)} s); ${video.codec} ${video.width}x${video.height} ${video.frames} frames from ${video.start} s, ${audio.codec} from ${audio.start} s`);
  expect(video).toMatchObject({ codec: 'vp8', width: 320, height: 240 });
  expect(audio.codec).toBe('opus');
  expect(Math.abs(video.start - audio.start)).toBeLessThan(0.1);
  expect(firstVideoPacketIsKey(path)).toBe(true);
  return probed;
}

const day = () => new Date().toISOString().slice(0, 10);

describe('recording in a cluster', () => {
  it('started through B, the session\'s node, it runs on B; read, listed, watched and stopped through A; the file is in B\'s directory and plays', { timeout: 60_000 }, async () => {
    expect(publisher.sessionId.slice(0, 8)).toBe(tagOf(b));
    expect(tagOf(a)).not.toBe(tagOf(b));
    const r = await recordThrough(b, a, 4000);
    console.log(`through B: runs on ${r.runsOn}, RECORDING after ${r.recordingAfterMs} ms; events through A ${r.events[0]!.join(' ')}, through B ${r.events[1]!.join(' ')}`);
    expect(r.runsOn).toBe('B');
    expect(r.started.id.slice(0, 8)).toBe(tagOf(b));
    expect(r.state).toBe('RECORDING');
    expect(r.listed).toEqual([[{ id: r.started.id, state: 'RECORDING' }], [{ id: r.started.id, state: 'RECORDING' }]]);
    expect(r.events).toEqual([['RECORDING', 'FINISHING', 'DONE'], ['RECORDING', 'FINISHING', 'DONE']]);
    expect(r.done.state).toBe('DONE');
    expect(r.done.location).toBe(join(work, 'b', 'dev', day(), `${r.started.id}.webm`));
    const probed = checkFile(r.done.location, 'recorded on B, driven through A', r.wall);
    expect(Math.abs(probed.duration - r.wall)).toBeLessThan(1);
    expect(existsSync(join(work, 'a', 'dev'))).toBe(false);
  });

  it('started through A, it runs on B all the same (the session\'s node); read, listed, watched and stopped through either node', { timeout: 60_000 }, async () => {
    const r = await recordThrough(a, b, 4000);
    console.log(`through A: runs on ${r.runsOn}, RECORDING after ${r.recordingAfterMs} ms; events through A [${r.events[0]!.join(' ')}], through B [${r.events[1]!.join(' ')}]`);
    expect(r.runsOn).toBe('B');
    expect(r.started.id.slice(0, 8)).toBe(tagOf(b));
    expect(r.state).toBe('RECORDING');
    expect(r.listed).toEqual([[{ id: r.started.id, state: 'RECORDING' }], [{ id: r.started.id, state: 'RECORDING' }]]);
    expect(r.events).toEqual([['RECORDING', 'FINISHING', 'DONE'], ['RECORDING', 'FINISHING', 'DONE']]);
    expect(r.done.state).toBe('DONE');
    expect(r.done.location).toBe(join(work, 'b', 'dev', day(), `${r.started.id}.webm`));
    const probed = checkFile(r.done.location, 'recorded on B, driven through A', r.wall);
    expect(Math.abs(probed.duration - r.wall)).toBeLessThan(1);
  });
});
