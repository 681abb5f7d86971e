/**
 * The node's process of a separate-mode soak (forked by node.ts): a
 * Switchyard node started as startSoakNode does, and a NodeProbe answering
 * the soak over the IPC channel. Nothing else lives here, so the heap, RSS
 * and fds the probe reads are the server's (plus tsx's loader, a constant).
 * It stops the node and exits when asked, and also when the soak's process
 * goes away without asking (the channel closes): a crashed soak must not
 * leave a node and its workers running.
 */
import type { Switchyard } from '../../src/app.js';
import type { FromNode, ToNode } from './node.js';
import { NodeProbe } from './probe.js';
import { startSoakNode } from './startNode.js';
import { errorMessage } from './util.js';

let node: Switchyard | undefined;
let probe: NodeProbe | undefined;
let exiting = false;

const send = (message: FromNode) => {
  if (process.connected) process.send?.(message);
};

async function exit(code: number): Promise<void> {
  if (exiting) return;
  exiting = true;
  probe?.detach();
  await node?.stop().catch(() => undefined);
  process.exit(code);
}

async function answer(message: Extract<ToNode, { type: 'call' }>): Promise<unknown> {
  if (!probe) throw new Error('the node is not started');
  switch (message.method) {
    case 'sample':
      return probe.sample();
    case 'session':
      return probe.session(message.args[0] ?? '') ?? null;
    case 'leftovers':
      return probe.leftovers();
    case 'liveSessions':
      return probe.liveSessions();
    case 'stop':
      probe.detach();
      await node?.stop();
      node = undefined;
      return null;
  }
}

process.on('message', (message: ToNode) => {
  if (message.type === 'start') {
    startSoakNode(message.env).then(
      (started) => {
        node = started;
        probe = new NodeProbe(started, (failure) => send({ type: 'failure', failure }));
        send({ type: 'ready', info: probe.info() });
      },
      (error: unknown) => {
        send({ type: 'startFailed', message: errorMessage(error) });
        void exit(1);
      },
    );
    return;
  }
  answer(message).then(
    (value) => {
      send({ type: 'result', id: message.id, value });
      if (message.method === 'stop') void exit(0);
    },
    (error: unknown) => send({ type: 'result', id: message.id, error: errorMessage(error) }),
  );
});

// An error of the server's that nothing caught fails the soak, as it does in-process.
process.on('unhandledRejection', (reason) =>
  send({ type: 'failure', failure: { kind: 'unhandled-rejection', message: `unhandled rejection in the node's process: ${errorMessage(reason)}` } }),
);
process.on('disconnect', () => void exit(0));
// Ctrl-C reaches the whole process group: stop the node (and so its workers) rather than die mid-way.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void exit(130));
