/**
 * bench:recording's phases: N recordings of a track or of the session, and
 * N plain subscribers pulling the same tracks (the same-run baseline).
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { gqlOk } from '../../test/helpers/graphql.js';
import type { TestPeer } from '../../test/helpers/peer.js';
import { encoderState, sleep, waitUntil } from '../forwarding/raw.js';
import type { NodeHandle } from '../lib/node.js';
import { closeSubscribers, packetRates, subscribers } from '../lib/peers.js';
import type { BasePhase, PhaseRunner } from '../lib/phases.js';
import { epoch } from '../lib/settings.js';
import type { FromNode, StateTimes, ToNode } from './nodeSide.js';

/** What is recorded or pulled: the camera, the microphone, or both (a session recording: one file). */
export type Target = 'cam' | 'mic' | 'session';
export const TRACKS: Record<Target, string[]> = { cam: ['cam'], mic: ['mic'], session: ['cam', 'mic'] };
export type Kind = `${Target}-recordings` | `${Target}-subscribers`;

export interface RecordingResult {
  id: string;
  /** Bytes/s its spool file grew by over the window. */
  writtenPerSecond: number;
  /** Once finished. */
  state: string;
  reason: string | null;
  sizeBytes: number | null;
  durationMs: number | null;
  /** startRecording sent → RECORDING (ms). */
  toRecording: number;
  /** stopRecording sent → FINISHING (ffmpeg gone), → DONE (finished, probed, stored). */
  toFinishing: number;
  toDone: number;
}

export interface Phase extends BasePhase<Kind> {
  target?: Target;
  recordings?: RecordingResult[];
}

export interface Context {
  url: string;
  node: NodeHandle<ToNode, FromNode>;
  publisher: TestPeer;
  phases: PhaseRunner;
  dir: string;
  /** The node's clock minus this process's (ms). */
  clockOffset: number;
}

const START = 'mutation($input: StartRecordingInput!) { startRecording(input: $input) { id state format trackNames } }';
const STOP = 'mutation($id: ID!) { stopRecording(id: $id) { id state } }';
const GET = 'query($id: ID!) { recording(id: $id) { id state reason sizeBytes durationMs format } }';

const stateTimes = async (ctx: Context, ids: string[]): Promise<StateTimes> => (await ctx.node.ask({ cmd: 'recording-times', ids }, 'recording-times')).times;
/** When (this process's clock) a recording reached `state`, NaN if it did not. */
const when = (ctx: Context, times: StateTimes, id: string, state: string) => (times[id]?.find((t) => t.state === state)?.at ?? NaN) - ctx.clockOffset;
const FINISHED = ['DONE', 'FAILED'];

/** startRecording calls that failed and were tried again. */
export const startFailures: string[] = [];

/** Starts a recording of `target` per unit (one at a time), waits until every one is RECORDING. */
export async function startRecordings(ctx: Context, target: Target, n: number) {
  const started: { id: string; format: string; sentAt: number }[] = [];
  for (let i = 0; i < n; i += 1) {
    const input = { sessionId: ctx.publisher.sessionId, ...(target === 'session' ? {} : { trackName: target }) };
    let r: { id: string; format: string } | undefined;
    let sentAt = NaN;
    for (let attempt = 1; !r; attempt += 1) {
      try {
        sentAt = epoch();
        r = (await gqlOk(ctx.url, START, { input })).startRecording as { id: string; format: string };
      } catch (error) {
        // UNAVAILABLE "the recorder could not start": ffmpeg could not bind the port chosen for it (taken meanwhile).
        if (attempt >= 3 || !String(error).includes('UNAVAILABLE')) throw error;
        startFailures.push(String(error));
        console.error(`startRecording failed (attempt ${attempt}), retrying: ${String(error)}`);
      }
    }
    started.push({ id: r.id, format: r.format, sentAt });
  }
  const ids = started.map((r) => r.id);
  await waitUntil('every recording RECORDING', async () => {
    const times = await stateTimes(ctx, ids);
    return ids.every((id) => times[id]?.some((t) => t.state === 'RECORDING'));
  }, 20_000);
  return started;
}

/** Stops them all (one stopRecording after the other), waits until each is DONE or FAILED, and reads what each became. */
export async function stopRecordings(ctx: Context, started: { id: string; sentAt: number }[]) {
  const stopped: number[] = [];
  for (const r of started) {
    stopped.push(epoch());
    await gqlOk(ctx.url, STOP, { id: r.id });
  }
  const ids = started.map((r) => r.id);
  let times: StateTimes = {};
  await waitUntil('every recording DONE or FAILED', async () => {
    times = await stateTimes(ctx, ids);
    return ids.every((id) => times[id]?.some((t) => FINISHED.includes(t.state)));
  }, 120_000);
  return Promise.all(
    started.map(async (r, i) => {
      const got = (await gqlOk(ctx.url, GET, { id: r.id })).recording as { state: string; reason: string | null; sizeBytes: number | null; durationMs: number | null };
      const end = times[r.id]!.find((t) => FINISHED.includes(t.state))!.at - ctx.clockOffset;
      return {
        id: r.id,
        state: got.state,
        reason: got.reason,
        sizeBytes: got.sizeBytes,
        durationMs: got.durationMs,
        toRecording: when(ctx, times, r.id, 'RECORDING') - r.sentAt,
        toFinishing: when(ctx, times, r.id, 'FINISHING') - stopped[i]!,
        toDone: end - stopped[i]!,
      };
    }),
  );
}

/** The size of a running recording's spool file (docs/recording.md: RECORDINGS_DIR/.spool/<id>.part.<ext>). */
const spoolSize = (ctx: Context, r: { id: string; format: string }) => {
  try {
    return statSync(join(ctx.dir, '.spool', `${r.id}.part.${r.format}`)).size;
  } catch {
    return NaN;
  }
};

const range = (values: number[], unit: string, scale = 1) =>
  `${(Math.min(...values) / scale).toFixed(1)}-${(Math.max(...values) / scale).toFixed(1)} ${unit}`;

/** N recordings of `target`: measured while they record, then stopped and finished (outside the window). */
export async function recordings(ctx: Context, target: Target, n: number): Promise<Phase> {
  const outcome: { results: RecordingResult[] } = { results: [] };
  const phase: Phase = await ctx.phases.measure(`${target}-recordings`, n, async () => {
    const started = await startRecordings(ctx, target, n);
    let sizes: number[] = [];
    let rates: number[] = [];
    return {
      state: started,
      check: (_, seconds) => {
        const now = started.map((r) => spoolSize(ctx, r));
        if (seconds === 0) {
          sizes = now;
          return '';
        }
        rates = now.map((s, i) => (s - sizes[i]!) / seconds);
        return `${range(rates, 'kB/s', 1000)} written each`;
      },
      finish: async () => {
        const encoder = await encoderState(ctx.publisher.pc);
        return { note: `publisher encoding ${encoder.size} (${encoder.limitation})` };
      },
      undo: async () => {
        const finished = await stopRecordings(ctx, started);
        outcome.results = finished.map((f, i) => ({ ...f, writtenPerSecond: rates[i] ?? NaN }));
      },
    };
  });
  return { ...phase, target, recordings: outcome.results };
}

/** N plain subscribers (libwebrtc sessions) pulling the tracks of `target`. */
export async function pullers(ctx: Context, target: Target, n: number): Promise<Phase> {
  const phase: Phase = await ctx.phases.measure(`${target}-subscribers`, n, async () => {
    const peers = await subscribers(ctx.url, ctx.publisher.sessionId, n, TRACKS[target]);
    const rates = packetRates(peers, target === 'session' ? ['video', 'audio'] : []);
    await rates.start();
    const since = performance.now();
    return {
      state: peers,
      finish: async () => {
        const encoder = await encoderState(ctx.publisher.pc);
        // Over the settling time and the window.
        return { work: await rates.end((performance.now() - since) / 1000), note: `publisher encoding ${encoder.size} (${encoder.limitation})` };
      },
      undo: (peers) => closeSubscribers(ctx.url, peers),
    };
  });
  return { ...phase, target };
}

/** Warm-up, not measured: a session recording and a subscriber of both tracks for a few seconds (ffmpeg's binary and codecs loaded, code compiled). */
export async function warmUpRecording(ctx: Context): Promise<RecordingResult[]> {
  const peers = await subscribers(ctx.url, ctx.publisher.sessionId, 1, TRACKS.session);
  const started = await startRecordings(ctx, 'session', 1);
  await sleep(3000);
  const finished = await stopRecordings(ctx, started);
  await closeSubscribers(ctx.url, peers);
  return finished.map((f) => ({ ...f, writtenPerSecond: NaN }));
}
