/** bench:adapters' latency part: tone onsets through a PCM egress adapter and through an ingest adapter, against plain subscribers. */
import { TestPeer } from '../../test/helpers/peer.js';
import { sleep, waitUntil } from '../forwarding/raw.js';
import { MIC_QUIET_MS, TONE_MS, listen } from '../lib/media.js';
import { closeSubscribers } from '../lib/peers.js';
import { closeAdapters, createAdapters, type Context } from './context.js';
import { pullers } from './phases.js';
import { ONSETS, QUIET_MS } from './settings.js';

/** For each onset, the first time in `times` after it (within 1.5 s), minus the onset. */
const after = (onsets: number[], times: number[]) =>
  onsets.map((t) => {
    const hit = times.find((x) => x > t);
    return hit !== undefined && hit - t < 1500 ? hit - t : NaN;
  });

export interface EgressLatency {
  onsets: number;
  toService: number[];
  toSubscriber: number[];
  toAdapter: number[];
}

/** d. Tone onsets at the publisher: to the service through a PCM egress adapter, and to a plain subscriber. */
export async function egressLatency(ctx: Context): Promise<EgressLatency> {
  console.error('latency: PCM egress against a plain subscriber');
  const [peer] = await pullers(ctx, 1, 'mic');
  const heard = listen([...peer!.received.values()][0]!);
  const before = (await ctx.node.ask({ cmd: 'egress', from: Number.MAX_SAFE_INTEGER }, 'egress')).count;
  const path = `/egress/latency/${ctx.phases.nextId()}`;
  const adapters = await createAdapters(ctx, [{ location: 'REMOTE', sessionId: ctx.publisher.sessionId, trackName: 'mic', codec: 'PCM', endpoint: ctx.service.url(path) }]);
  try {
    await waitUntil('PCM at the service', () => (ctx.service.get(path)?.messages ?? 0) > 10, 15_000);
    ctx.mic.startPattern();
    await sleep(ONSETS * (MIC_QUIET_MS + TONE_MS) + 300);
    ctx.mic.steady();
    const onsets = ctx.mic.state.onsets;
    const c = ctx.service.get(path)!;
    const egress = (await ctx.node.ask({ cmd: 'egress', from: before }, 'egress')).egresses[0];
    // When the first loud Packet's RTP packet reached the adapter (same number).
    const toAdapter = onsets.map((t) => {
      const seq = c.arrivals.findIndex((at) => at > t && c.loud.includes(at));
      const decodedAt = seq >= 0 ? egress?.times[seq] : undefined;
      return decodedAt !== undefined ? decodedAt - ctx.clockOffset - t : NaN;
    });
    return { onsets: onsets.length, toService: after(onsets, c.loud), toSubscriber: after(onsets, heard.loud), toAdapter };
  } finally {
    heard.stop();
    await closeAdapters(ctx, adapters, [path]);
    await closeSubscribers(ctx.url, [peer!]);
  }
}

export interface IngestLatency {
  onsets: number;
  toSubscriber: number[];
  wsHop: number[];
  buffer: number[];
  rest: number[];
}

/** d. Onsets in the service's PCM: to a plain subscriber through an ingest adapter, split by the node's hooks. */
export async function ingestLatency(ctx: Context): Promise<IngestLatency> {
  console.error('latency: PCM ingest to a plain subscriber');
  const path = `/ingest/latency/${ctx.phases.nextId()}`;
  await ctx.node.ask({ cmd: 'ingest-hooks', on: false }, 'ingest-hooks');
  const [adapter] = await createAdapters(ctx, [{ location: 'LOCAL', trackName: 'ingest-latency', endpoint: ctx.service.url(path) }]);
  const peer = new TestPeer(ctx.url);
  try {
    await peer.createSession();
    const [pulled] = await peer.pull([{ sessionId: adapter!.sessionId, trackName: 'ingest-latency' }]);
    if (!pulled || pulled.error) throw new Error(`pullTracks: ${JSON.stringify(pulled?.error)}`);
    await waitUntil('the ingest track at the subscriber', () => peer.received.size > 0, 15_000);
    const heard = listen([...peer.received.values()][0]!);
    await waitUntil('audio at the subscriber', () => heard.chunks() > 50, 15_000);
    const c = ctx.service.get(path)!;
    const onsetsBefore = c.sentOnsets.length;
    await ctx.node.ask({ cmd: 'ingest-hooks', on: true }, 'ingest-hooks');
    await sleep(ONSETS * (QUIET_MS + TONE_MS) + 300);
    const hooks = await ctx.node.ask({ cmd: 'ingest-hooks', on: false }, 'ingest-hooks');
    heard.stop();
    const onsets = c.sentOnsets.slice(onsetsBefore);
    const received = hooks.received.map((t) => t - ctx.clockOffset);
    const framed = hooks.framed.map((t) => t - ctx.clockOffset);
    const toSubscriber = after(onsets, heard.loud);
    const wsHop = after(onsets, received);
    const toFrame = after(onsets, framed);
    return {
      onsets: onsets.length,
      toSubscriber,
      wsHop,
      buffer: toFrame.map((f, i) => f - wsHop[i]!),
      rest: toSubscriber.map((s, i) => s - toFrame[i]!),
    };
  } finally {
    await closeAdapters(ctx, [adapter!], [path]);
    peer.stop();
  }
}
