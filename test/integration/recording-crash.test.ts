import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gqlOk } from '../helpers/graphql.js';
import { waitFor } from '../helpers/media.js';
import { publishCameraAndMic } from '../helpers/call.js';
import { buildOnce, startNodeProcess, type NodeProcess } from '../helpers/nodeProcess.js';
import { firstVideoPacketIsKey, probe } from '../helpers/probe.js';

/**
 * Crash safety of a recording node, with a node process as users run one
 * (`node dist/src/main.js`): a libwebrtc camera and microphone connected to
 * it are recorded, and at ~5 s the node is SIGKILLed. Its media worker ends
 * with it; its recorder (an ffmpeg child) must die with it too (the
 * parent-death signal), and none is left running after the test; the spool
 * (RECORDINGS_DIR/.spool) holds a file that plays up to then; the node
 * started again on the same RECORDINGS_DIR finishes it by itself into
 * RECORDINGS_DIR/<app>/<day>/<id>.webm and answers the recording FAILED,
 * with why.
 */
const FIELDS = 'id state reason format storage location sizeBytes durationMs trackNames';
const START = `mutation($input: StartRecordingInput!) { startRecording(input: $input) { ${FIELDS} } }`;
const READ = `query($id: ID!) { recording(id: $id) { ${FIELDS} } }`;
/** How long an ffmpeg that outlives its node is watched before the test ends it. */
const ORPHAN_WATCH_MS = 15_000;

let dir: string;
let scratch: string;
const nodes: NodeProcess[] = [];
/** Recorder processes seen, ended at the end whatever happened (by their pid, if still an ffmpeg). */
const recorders = new Set<number>();

beforeAll(async () => {
  await buildOnce();
  dir = await mkdtemp(join(tmpdir(), 'switchyard-recording-crash-'));
  scratch = await mkdtemp(join(tmpdir(), 'switchyard-recording-crash-probe-'));
}, 180_000);

afterAll(async () => {
  for (const node of nodes) await node.stop();
  for (const pid of recorders) if (isFfmpeg(pid)) process.kill(pid, 'SIGKILL');
  await rm(dir, { recursive: true, force: true });
  await rm(scratch, { recursive: true, force: true });
});

/** Whether `pid` is a running (not zombie) ffmpeg. */
function isFfmpeg(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return /^\d+ \(ffmpeg\) [^Z]/.test(stat);
  } catch {
    return false;
  }
}

/** The processes whose parent is `pid` and whose name starts with `name` (ffmpeg, mediasoup-worker). */
function children(pid: number, name: string): number[] {
  let out = '';
  try {
    out = execFileSync('ps', ['-o', 'pid=,comm=', '--ppid', String(pid)]).toString();
  } catch {
    return []; // ps exits 1 when there is none
  }
  return out
    .trim()
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(([, comm]) => comm?.startsWith(name))
    .map(([child]) => Number(child));
}

const running = (pid: number) => {
  try {
    return !/^\d+ \([^)]*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

const publish = (url: string) => publishCameraAndMic(url);

describe('a recording node that dies', () => {
  it('leaves a spool that plays up to the crash, no recorder running, and its next start finishes the file (FAILED, with why)', { timeout: 120_000 }, async () => {
    const first = await startNodeProcess('recorder', { WORKERS: '1', RECORDINGS_DIR: dir });
    nodes.push(first);
    const publisher = await publish(first.url);
    let id: string;
    let killedAfter: number;
    try {
      await new Promise((resolve) => setTimeout(resolve, 500));
      const started = (await gqlOk(first.url, START, { input: { sessionId: publisher.peer.sessionId } })).startRecording;
      id = started.id;
      expect(started.format).toBe('webm');
      const t0 = performance.now();
      const recorder = children(first.child.pid!, 'ffmpeg');
      expect(recorder).toHaveLength(1);
      recorders.add(recorder[0]!);
      const workers = children(first.child.pid!, 'mediasoup');
      expect(workers).toHaveLength(1);
      await new Promise((resolve) => setTimeout(resolve, 5000 - (performance.now() - t0)));
      expect((await gqlOk(first.url, READ, { id })).recording.state).toBe('RECORDING');

      // SIGKILL: nothing of the node runs any more, no handler, no stopAll().
      const exited = new Promise((resolve) => first.child.once('exit', resolve));
      first.signal('SIGKILL');
      killedAfter = (performance.now() - t0) / 1000;
      await exited;
      await waitFor('the media worker to end with its node', () => !workers.some(running), 5000);

      // The recorder was the node's child: does it outlive it?
      const pid = recorder[0]!;
      const since = performance.now();
      while (isFfmpeg(pid) && performance.now() - since < ORPHAN_WATCH_MS) await new Promise((resolve) => setTimeout(resolve, 100));
      const outlived = isFfmpeg(pid) ? `still running after ${ORPHAN_WATCH_MS} ms` : `gone ${Math.round(performance.now() - since)} ms after the node`;
      console.log(`node SIGKILLed ${killedAfter.toFixed(2)} s into the recording; its recorder ffmpeg (pid ${pid}): ${outlived}`);
      if (isFfmpeg(pid)) process.kill(pid, 'SIGKILL');
      // It dies with its node (the parent-death signal setpriv gives it), instead of writing on for ~10 s.
      expect(outlived).toMatch(/^gone/);
      expect(performance.now() - since).toBeLessThan(2000);
    } finally {
      publisher.stop();
    }

    // The spool: the manifest and the file as far as ffmpeg wrote it.
    const spool = join(dir, '.spool');
    expect((await readdir(spool)).sort()).toEqual([`${id}.json`, `${id}.part.webm`]);
    const manifest = JSON.parse(await readFile(join(spool, `${id}.json`), 'utf8')) as { appId: string; createdAt: string };
    const copy = join(scratch, 'spooled.webm');
    await copyFile(join(spool, `${id}.part.webm`), copy);
    const direct = probe(copy);
    const remuxed = join(scratch, 'remuxed.webm');
    execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-i', copy, '-map', '0', '-c', 'copy', '-y', remuxed]);
    const fixed = probe(remuxed);
    const frames = (p: typeof fixed) => p.streams.find((s) => s.kind === 'video')?.frames;
    console.log(`spooled file: ffprobe reads ${direct.duration} s directly (${frames(direct)} frames), ${fixed.duration} s after a remux (${frames(fixed)} frames); killed at ${killedAfter!.toFixed(2)} s`);
    expect(fixed.streams.map((s) => s.codec).sort()).toEqual(['opus', 'vp8']);
    expect(fixed.duration).toBeGreaterThan(killedAfter! - 1);
    expect(fixed.duration).toBeLessThan(killedAfter! + 0.5);

    // Started again on the same RECORDINGS_DIR, the node finishes the spool by itself.
    const second = await startNodeProcess('recorder-again', { WORKERS: '1', RECORDINGS_DIR: dir });
    nodes.push(second);
    const stored = join(dir, manifest.appId, manifest.createdAt.slice(0, 10), `${id}.webm`);
    const restartedAt = performance.now();
    await waitFor(`the recovered file ${stored}`, () => existsSync(stored), 20_000);
    let recording = (await gqlOk(second.url, READ, { id })).recording;
    for (const deadline = Date.now() + 10_000; recording.state !== 'FAILED' && Date.now() < deadline; ) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      recording = (await gqlOk(second.url, READ, { id })).recording;
    }
    const recovered = probe(stored);
    console.log(`recovered by the next start in ${Math.round(performance.now() - restartedAt)} ms: ${stored.slice(dir.length)} ${recording.sizeBytes} bytes, ${recovered.duration} s, ${frames(recovered)} frames; ${recording.state}: ${recording.reason}`);
    expect(recording).toMatchObject({ id, state: 'FAILED', location: stored, format: 'webm', storage: 'LOCAL' });
    expect(recording.reason).toMatch(/the node stopped while recording/);
    expect(recovered.streams.map((s) => s.codec).sort()).toEqual(['opus', 'vp8']);
    expect(Math.abs(recovered.duration - 5)).toBeLessThan(1);
    expect(recording.durationMs).toBe(Math.round(recovered.duration * 1000));
    expect(firstVideoPacketIsKey(stored)).toBe(true);
    expect(await readdir(spool)).toEqual([]);
    expect(second.output()).toContain('finished recordings left by a node that stopped while recording');
    expect(children(second.child.pid!, 'ffmpeg')).toEqual([]);
  });
});
