/**
 * A forked process asked one thing at a time over IPC: `next` waits for its
 * next message of a type, `ask` sends a command and waits for the answer's
 * type. A message `{ type: 'error' }`, or the process exiting, fails every
 * wait (and every later one) with what it said. Used by the node process of
 * the adapter and recording benches and the peers process of bench:quality.
 */
import type { ChildProcess } from 'node:child_process';

export function askingChild<To, From extends { type: string }>(child: ChildProcess, name: string, defaultTimeoutMs: number) {
  const waiting = new Map<string, { resolve: (m: From) => void; reject: (e: Error) => void }>();
  let failure: Error | undefined;
  const failAll = (error: Error) => {
    failure ??= error;
    for (const w of waiting.values()) w.reject(error);
    waiting.clear();
  };
  child.on('message', (raw) => {
    const message = raw as From & { message?: string };
    if (message.type === 'error') return failAll(new Error(`${name}: ${message.message}`));
    const w = waiting.get(message.type);
    waiting.delete(message.type);
    w?.resolve(message);
  });
  child.on('exit', (code, signal) => failAll(new Error(`${name} exited (${code ?? signal})`)));
  function next<T extends From['type']>(type: T, timeoutMs = defaultTimeoutMs): Promise<Extract<From, { type: T }>> {
    if (failure) return Promise.reject(failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name}: no ${type} within ${timeoutMs} ms`)), timeoutMs);
      waiting.set(type, {
        resolve: (m) => { clearTimeout(timer); resolve(m as Extract<From, { type: T }>); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
    });
  }
  function ask<T extends From['type']>(message: To, type: T): Promise<Extract<From, { type: T }>> {
    const answer = next(type);
    child.send(message as object);
    return answer;
  }
  return { next, ask };
}
