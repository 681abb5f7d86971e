/**
 * The node under soak, as the churn sees it: its settings, samples, the
 * sessions it still holds, the drain check. Two ways to run it:
 * - separateNode():  a child process (nodeProcess.ts) that holds the node and
 *   answers over the IPC channel, so its memory and fds are the server's
 *   alone and the libwebrtc peers' native allocations stay in this process;
 * - inProcessNode(): the node in this process, the probe called directly.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Switchyard } from '../../src/app.js';
import { NodeProbe } from './probe.js';
import type { NodeFailure, NodeInfo, NodeSample, SessionView, SoakMode } from './types.js';

export interface SoakNode {
  readonly mode: SoakMode;
  readonly info: NodeInfo;
  sample(): Promise<NodeSample>;
  /** undefined once the node has closed the session. */
  session(id: string): Promise<SessionView | undefined>;
  leftovers(): Promise<string[]>;
  liveSessions(): Promise<string[]>;
  /** Worker deaths, unhandled rejections in the node's process, the node's process exiting. */
  onFailure(listener: (failure: NodeFailure) => void): void;
  stop(): Promise<void>;
}

/** The node in this process (startSoakNode's), probed directly. */
export function inProcessNode(node: Switchyard): SoakNode {
  const listeners: ((failure: NodeFailure) => void)[] = [];
  const probe = new NodeProbe(node, (failure) => listeners.forEach((listener) => listener(failure)));
  return {
    mode: 'in-process',
    info: probe.info(),
    sample: () => probe.sample(),
    session: async (id) => probe.session(id),
    leftovers: () => probe.leftovers(),
    liveSessions: async () => probe.liveSessions(),
    onFailure: (listener) => void listeners.push(listener),
    async stop() {
      probe.detach();
      await node.stop();
    },
  };
}

/** Messages of the IPC channel (nodeProcess.ts is the other end). */
export type ToNode = { type: 'start'; env: Record<string, string> } | { type: 'call'; id: number; method: ProbeMethod; args: string[] };
export type FromNode =
  | { type: 'ready'; info: NodeInfo }
  | { type: 'startFailed'; message: string }
  | { type: 'result'; id: number; value?: unknown; error?: string }
  | { type: 'failure'; failure: NodeFailure };
export type ProbeMethod = 'sample' | 'session' | 'leftovers' | 'liveSessions' | 'stop';

const NODE_PROCESS = fileURLToPath(new URL('./nodeProcess.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;

/**
 * Forks nodeProcess.ts (TypeScript through tsx's loader, --expose-gc for the
 * heap after GC) and waits for its node to listen. Whatever happens to this
 * process, the child does not outlive it: it stops when the IPC channel closes.
 */
export async function separateNode(env: Record<string, string>): Promise<SoakNode> {
  const child: ChildProcess = fork(NODE_PROCESS, [], {
    cwd: ROOT,
    execArgv: ['--import', 'tsx', '--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const listeners: ((failure: NodeFailure) => void)[] = [];
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  let nextId = 0;
  let exited = false;
  let stopping = false;

  const info = await new Promise<NodeInfo>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the node's process did not start within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
    const onMessage = (message: FromNode) => {
      if (message.type !== 'ready' && message.type !== 'startFailed') return;
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onEarlyExit);
      if (message.type === 'ready') resolve(message.info);
      else reject(new Error(`the node's process could not start the node: ${message.message}`));
    };
    const onEarlyExit = (code: number | null, signal: string | null) => {
      clearTimeout(timer);
      reject(new Error(`the node's process exited before it was ready (code ${code}, signal ${signal})`));
    };
    child.on('message', onMessage);
    child.once('exit', onEarlyExit);
    child.send({ type: 'start', env } satisfies ToNode);
  }).catch((error: unknown) => {
    child.kill('SIGKILL');
    throw error;
  });

  child.on('message', (message: FromNode) => {
    if (message.type === 'failure') {
      for (const listener of listeners) listener(message.failure);
    } else if (message.type === 'result') {
      const call = pending.get(message.id);
      pending.delete(message.id);
      if (message.error !== undefined) call?.reject(new Error(`node process: ${message.error}`));
      else call?.resolve(message.value);
    }
  });
  child.once('exit', (code, signal) => {
    exited = true;
    for (const call of pending.values()) call.reject(new Error(`the node's process exited (code ${code}, signal ${signal})`));
    pending.clear();
    const failure: NodeFailure = { kind: 'process-exited', message: `the node's process exited (code ${code}, signal ${signal})` };
    if (!stopping) for (const listener of listeners) listener(failure);
  });

  const call = <T>(method: ProbeMethod, ...args: string[]): Promise<T> => {
    if (exited) return Promise.reject(new Error(`the node's process has exited (${method})`));
    nextId += 1;
    const id = nextId;
    return new Promise<T>((resolve, reject) => {
      pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      child.send({ type: 'call', id, method, args } satisfies ToNode);
    });
  };

  return {
    mode: 'separate',
    info,
    sample: () => call<NodeSample>('sample'),
    // IPC turns undefined into an absent value: null on the wire means closed.
    session: async (id) => (await call<SessionView | null>('session', id)) ?? undefined,
    leftovers: () => call<string[]>('leftovers'),
    liveSessions: () => call<string[]>('liveSessions'),
    onFailure: (listener) => void listeners.push(listener),
    async stop() {
      if (exited) return;
      stopping = true;
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      await call('stop').catch(() => undefined);
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await gone;
      clearTimeout(timer);
    },
  };
}
