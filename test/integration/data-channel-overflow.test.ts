import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/media.js';
import { TestPeer } from '../helpers/peer.js';
import { useTestServer } from '../helpers/server.js';
import { collect, wsClient } from '../helpers/subscriptions.js';
import { inbox, openNegotiated, opened, publishData, subscribeData } from '../helpers/dataChannels.js';

/**
 * A subscriber that stops reading (a frozen process: its SCTP stack stops
 * acknowledging) must not hold the publisher back, and must not be left
 * with a silent gap in a reliable channel: once the SFU's send buffer
 * towards it is full, its subscription ends with DATA_CHANNEL_ENDED, reason
 * OVERFLOW, while the other subscribers get everything.
 */
const file = useTestServer({ WORKERS: '1' });
const SUBSCRIBER = join(import.meta.dirname, '..', 'helpers', 'data-subscriber-process.mjs');

type Line = { ready?: { sessionId: string; id: number }; closed?: { received: number; contiguous: boolean; last: number }; received?: number; contiguous?: boolean };

function startSubscriber(url: string, source: string, name: string): { child: ChildProcess; lines: Line[] } {
  const child = spawn(process.execPath, [SUBSCRIBER, url, source, name], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: Line[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => lines.push(JSON.parse(line) as Line));
  return { child, lines };
}

describe('a subscriber that cannot keep up', () => {
  it('loses its reliable subscription with DATA_CHANNEL_ENDED (OVERFLOW), never a silent gap; the others get every message', { timeout: 90_000 }, async () => {
    const { server, cleanups } = file;
    const publisher = new TestPeer(server.url);
    cleanups.push(() => publisher.stop());
    await publisher.createSession();
    const [published] = await publishData(publisher, [{ name: 'firehose' }]);
    const sending = openNegotiated(publisher, published!);

    const fast = new TestPeer(server.url);
    cleanups.push(() => fast.stop());
    await fast.createSession();
    const [fastResult] = await subscribeData(fast, [{ sessionId: publisher.sessionId, name: 'firehose' }]);
    const fastChannel = openNegotiated(fast, fastResult!);
    const fastInbox = inbox(fastChannel);

    const slow = startSubscriber(server.url, publisher.sessionId, 'firehose');
    cleanups.push(() => {
      slow.child.kill('SIGCONT');
      slow.child.kill('SIGTERM');
    });
    await waitFor('the slow subscriber\'s channel open', () => slow.lines.some((l) => l.ready), 20_000);
    const slowSession = slow.lines.find((l) => l.ready)!.ready!;
    const events = collect(wsClient(server.url), 'subscription($id: ID!) { sessionEvents(sessionId: $id) { type dataChannelId dataChannelEndReason } }', { id: slowSession.sessionId }, (d) => d.sessionEvents);
    cleanups.push(() => void events.close());
    await Promise.all([opened(sending), opened(fastChannel)]);
    await new Promise((resolve) => setTimeout(resolve, 300));

    // Frozen: it acknowledges nothing from now on. 4 MB go out, far more than the SFU buffers for it.
    slow.child.kill('SIGSTOP');
    const COUNT = 4000;
    const message = new Uint8Array(1000);
    const view = new DataView(message.buffer);
    for (let seq = 0; seq < COUNT; seq += 1) {
      view.setUint32(0, seq);
      sending.send(message);
      if (seq % 100 === 99) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await waitFor('every message at the fast subscriber', () => fastInbox.length === COUNT, 30_000);
    const order = fastInbox.map((m) => new DataView((m as Uint8Array).buffer).getUint32(0));
    expect(order).toEqual(Array.from({ length: COUNT }, (_, i) => i));

    const ended = await events.waitFor(1, 15_000);
    expect(ended[0]).toEqual({ type: 'DATA_CHANNEL_ENDED', dataChannelId: slowSession.id, dataChannelEndReason: 'OVERFLOW' });
    expect(server.sessions.get(slowSession.sessionId)!.dataChannels).toEqual([]);
    // The publisher was never held back, and its channel is still open.
    expect(sending.readyState).toBe('open');

    // Thawed, the subscriber sees its channel close after what reached it.
    slow.child.kill('SIGCONT');
    await waitFor('the slow subscriber\'s channel closed', () => slow.lines.some((l) => l.closed), 20_000);
    const closed = slow.lines.find((l) => l.closed)!.closed!;
    console.log(`overflow: the frozen subscriber got ${closed.received} of ${COUNT} messages (contiguous: ${closed.contiguous}) before its channel closed`);
    expect(closed.received).toBeLessThan(COUNT);
    // Frozen, its buffer never drained: nothing after the first dropped message got through.
    expect(closed.contiguous).toBe(true);
  });
});
