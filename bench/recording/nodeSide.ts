/**
 * The node process of bench:recording (`--node`): the node, recording into
 * the bench's RECORDINGS_DIR, and the time (its clock) of every recording's
 * state changes, read from its Recordings' events: STARTING is the start,
 * RECORDING the first media in the file, FINISHING ffmpeg gone, DONE the
 * file finished (the copy pass), probed and stored.
 */
import { serveNode } from '../lib/node.js';
import { epoch } from '../lib/settings.js';

export type StateTimes = Record<string, { state: string; at: number }[]>;
export type ToNode = { cmd: 'recording-times'; ids: string[] };
export type FromNode = { type: 'recording-times'; times: StateTimes };

export async function nodeProcess(): Promise<void> {
  const times: StateTimes = {};
  await serveNode<ToNode, FromNode>({
    env: {
      RECORDINGS_DIR: process.env.RECORDINGS_DIR!,
      MAX_RECORDINGS_PER_NODE: '1000',
      MAX_RECORDINGS_PER_APP: '1000',
      SESSION_CREATIONS_PER_APP_PER_SECOND: '100000',
      RATE_LIMIT_MUTATIONS_PER_SECOND: '100000',
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
    },
    started: (server) => {
      server.recordings.on('state', (recording) => {
        (times[recording.id] ??= []).push({ state: recording.state, at: epoch() });
      });
    },
    handle: (message, send) => {
      if (message.cmd === 'recording-times') send({ type: 'recording-times', times: Object.fromEntries(message.ids.map((id) => [id, times[id] ?? []])) });
    },
  });
}
