/**
 * The node under test in a process of its own: a fork of the bench's entry
 * file (run with `--node`), so that its CPU is only the node's. The node
 * side (serveNode) starts startBenchNode (WORKERS=1) and answers the bench's
 * questions over IPC, one at a time: ping (its clock), loop (its event-loop
 * delay), stop, and whatever a bench adds (`handle`). The bench side
 * (startNode) asks and waits for the answer of a given type.
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { Switchyard } from '../../src/app.js';
import { askingChild } from './child.js';
import { loopMonitor, type LoopDelay } from './cpu.js';
import { epoch } from './settings.js';

export type ToNodeBase = { cmd: 'ping' } | { cmd: 'loop' } | { cmd: 'stop' };
export type FromNodeBase =
  | { type: 'ready'; url: string; workerPid: number }
  | { type: 'loop'; delay: LoopDelay }
  | { type: 'pong'; epoch: number }
  | { type: 'stopped' }
  | { type: 'error'; message: string };

/**
 * In the forked process: starts the node with `env` (over startBenchNode's defaults) and serves the bench.
 * `handle` answers a bench's own commands (the base ones are answered here).
 */
export async function serveNode<To extends { cmd: string }, From extends { type: string }>(options: {
  env: Record<string, string>;
  handle?: (message: To, send: (message: From) => void, server: Switchyard) => void;
  /** Runs once the node is up, before it says ready (hooks on its objects). */
  started?: (server: Switchyard, send: (message: From) => void) => void;
}): Promise<void> {
  const send = (message: FromNodeBase | From) => process.send!(message);
  try {
    const { startBenchNode } = await import('../benchNode.js');
    const server = await startBenchNode(options.env);
    options.started?.(server, send);
    const loop = loopMonitor();
    process.on('message', (raw) => {
      const message = raw as ToNodeBase | To;
      if (message.cmd === 'ping') send({ type: 'pong', epoch: epoch() });
      else if (message.cmd === 'loop') send({ type: 'loop', delay: loop() });
      else if (message.cmd === 'stop') {
        void server.stop().finally(() => {
          send({ type: 'stopped' });
          setTimeout(() => process.exit(0), 100);
        });
      } else options.handle?.(message as To, send, server);
    });
    send({ type: 'ready', url: server.url, workerPid: server.pool.workers[0]!.worker.pid });
  } catch (error) {
    send({ type: 'error', message: String((error as Error)?.stack ?? error) });
    process.exit(1);
  }
}

/** The node process, asked one thing at a time: `next` waits for a message of a type, `ask` sends and waits. */
export interface NodeHandle<To extends { cmd: string } = never, From extends { type: string } = never> {
  child: ChildProcess;
  next<T extends (FromNodeBase | From)['type']>(type: T, timeoutMs?: number): Promise<Extract<FromNodeBase | From, { type: T }>>;
  ask<T extends (FromNodeBase | From)['type']>(message: ToNodeBase | To, type: T): Promise<Extract<FromNodeBase | From, { type: T }>>;
  /** Stops the node (its recordings and adapters end with it); kills it if it does not answer. */
  stop(): Promise<void>;
  /** The node's event-loop delay since the last call. */
  loopDelay(): Promise<LoopDelay>;
  /** The node's clock (epoch ms). */
  ping(): Promise<number>;
}

/** The node process: a fork of `entry` with `--node`. */
export function startNode<To extends { cmd: string } = never, From extends { type: string } = never>(entry: string): NodeHandle<To, From> {
  const child: ChildProcess = fork(entry, ['--node'], { env: process.env });
  // Typed for the base messages here; the handle's type adds the bench's own (To, From).
  const { next, ask } = askingChild<ToNodeBase, FromNodeBase>(child, 'node process', 60_000);
  async function stop() {
    if (child.exitCode !== null) return;
    await ask({ cmd: 'stop' }, 'stopped').catch(() => undefined);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
  const loopDelay = async () => (await ask({ cmd: 'loop' }, 'loop')).delay;
  const ping = async () => (await ask({ cmd: 'ping' }, 'pong')).epoch;
  return { child, next, ask, stop, loopDelay, ping } as unknown as NodeHandle<To, From>;
}

/** What the bench side needs of any node, whatever commands it adds. */
export type NodeLink = Pick<NodeHandle, 'loopDelay' | 'ping'>;

/** The node's clock against this one (ms): the ping with the shortest round trip, its answer taken as sent halfway. */
export async function clockOffset(node: NodeLink) {
  let best = { rtt: Infinity, offset: 0 };
  for (let i = 0; i < 20; i += 1) {
    const sent = epoch();
    const pong = await node.ping();
    const back = epoch();
    if (back - sent < best.rtt) best = { rtt: back - sent, offset: pong - (sent + back) / 2 };
  }
  return best;
}

/**
 * What a node-process bench starts with: the node forked from `entry` (stopped by `defer`), its URL and
 * worker, how long it took to come up, and its clock against this one; logged with `about` (e.g. its directory).
 */
export async function startMeasuredNode<To extends { cmd: string } = never, From extends { type: string } = never>(entry: string, defer: (undo: () => unknown) => void, about = '') {
  const setupStarted = performance.now();
  // Its base messages only here; the caller gets the handle with its own (To, From).
  const node = startNode(entry);
  defer(() => node.stop());
  const { url, workerPid } = await node.next('ready');
  const setupMs = performance.now() - setupStarted;
  const best = await clockOffset(node);
  console.error(`node up (${url}, worker ${workerPid}${about ? `, ${about}` : ''}); clock offset ${best.offset.toFixed(2)} ms (IPC round trip ${best.rtt.toFixed(2)} ms)`);
  return { node: node as unknown as NodeHandle<To, From>, url, workerPid, setupMs, clockOffset: best.offset };
}
