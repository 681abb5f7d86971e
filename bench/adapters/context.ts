/** What bench:adapters' phases share: the context, the phase type, adapters created and closed through the API. */
import { gqlOk } from '../../test/helpers/graphql.js';
import type { TestPeer } from '../../test/helpers/peer.js';
import { waitUntil } from '../forwarding/raw.js';
import type { Microphone } from '../lib/media.js';
import type { NodeHandle as Handle } from '../lib/node.js';
import type { BasePhase, Load, PhaseRunner } from '../lib/phases.js';
import { epoch } from '../lib/settings.js';
import type { FromNode, ToNode } from './nodeSide.js';
import type { Service } from './service.js';

export type Kind = 'idle' | 'pcm-egress' | 'audio-subscribers' | 'pcm-ingest' | 'jpeg-1' | 'jpeg-5' | 'video-subscriber';

export interface Phase extends BasePhase<Kind> {
  /** Egress PCM: adapter (RTP at its decoder) to service, per Packet (ms); JPEG and video subscriber: image/frame ages (ms). */
  latencies: number[];
  /** Egress PCM: Packets whose timestamp says a packet was lost before them (their number no longer matches the decoder's calls). */
  unmatched?: number;
  /** JPEG: from createWebSocketAdapter to the first image (ms), per adapter. */
  firstImageMs?: number[];
}

export type NodeHandle = Handle<ToNode, FromNode>;

export interface Context {
  url: string;
  node: NodeHandle;
  nodePid: number;
  workerPid: number;
  service: Service;
  publisher: TestPeer;
  mic: Microphone;
  /** The node's clock minus this process's (ms), measured over IPC. */
  clockOffset: number;
  phases: PhaseRunner;
}

/** Runs `load`, settles, measures SECONDS (lib/phases.ts). */
export async function measurePhase<T>(ctx: Context, kind: Kind, n: number, load: (id: number) => Promise<Load<T, Partial<Phase>>>): Promise<Phase> {
  return { latencies: [], ...(await ctx.phases.measure(kind, n, load)) } as Phase;
}

export const idle = (ctx: Context) => measurePhase(ctx, 'idle', 0, async () => ({ state: null, undo: async () => undefined }));

const CREATE = 'mutation($input: CreateWebSocketAdapterInput!) { createWebSocketAdapter(input: $input) { id sessionId state } }';
const CLOSE = 'mutation($id: ID!) { closeWebSocketAdapter(id: $id) { id state bytesProcessed } }';

export async function createAdapters(ctx: Context, inputs: Record<string, unknown>[]): Promise<{ id: string; sessionId: string; createdAt: number }[]> {
  const created = [];
  for (const input of inputs) {
    const createdAt = epoch();
    const adapter = (await gqlOk(ctx.url, CREATE, { input })).createWebSocketAdapter as { id: string; sessionId: string };
    created.push({ ...adapter, createdAt });
  }
  return created;
}

export async function closeAdapters(ctx: Context, adapters: { id: string }[], paths: string[]): Promise<void> {
  for (const adapter of adapters) await gqlOk(ctx.url, CLOSE, { id: adapter.id });
  await waitUntil("the service's sockets to close", () => paths.every((p) => ctx.service.get(p)?.closed !== false), 10_000).catch((error: unknown) => console.error(String(error)));
}

/** Counts of messages per connection over the window: `check` reads them at its start and end. */
export function messageRates(ctx: Context, paths: string[]) {
  let start: number[] = [];
  return (seconds: number) => {
    const counts = paths.map((p) => ctx.service.get(p)?.messages ?? 0);
    if (seconds === 0) {
      start = counts;
      return '';
    }
    const rates = counts.map((c, i) => (c - start[i]!) / seconds);
    return `${Math.min(...rates).toFixed(1)}-${Math.max(...rates).toFixed(1)} msg/s each`;
  };
}
