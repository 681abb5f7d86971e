/**
 * The node's side of the soak: everything the report needs that only the
 * node knows (sessions, tracks, the mediasoup census, the graphql-ws census,
 * its heap after GC, RSS and file descriptors of it and its workers) and the
 * drain check. The same probe serves both modes: called directly when the
 * peers share the node's process, over IPC from nodeProcess.ts when they do
 * not, so that both modes count alike.
 */
import type { types } from 'mediasoup';
import type { Switchyard } from '../../src/app.js';
import { takeCensus } from '../../src/media/census.js';
import type { MediaWorker } from '../../src/media/workerPool.js';
import { sessionHoldings } from '../../src/session/bounds.js';
import { nodeMemoryKb, openFds, processRssKb } from './metrics.js';
import type { NodeFailure, NodeInfo, NodeSample, SessionView } from './types.js';

export class NodeProbe {
  /** Transport id -> type ('webrtc', 'pipe', …), from every router's observer since the start. */
  private readonly transportTypes = new Map<string, types.TransportType>();
  private readonly observe = (slot: MediaWorker) => {
    slot.router.observer.on('newtransport', (transport) => {
      this.transportTypes.set(transport.id, transport.type);
      transport.observer.once('close', () => this.transportTypes.delete(transport.id));
    });
  };
  private readonly onWorkerDied = (slot: MediaWorker) => this.onFailure({ kind: 'worker-died', message: `mediasoup worker ${slot.index} (pid ${slot.worker.pid}) died` });

  constructor(
    private readonly node: Switchyard,
    /** A worker death: the runner counts it and fails the run. */
    private readonly onFailure: (failure: NodeFailure) => void,
  ) {
    for (const slot of node.pool.workers) this.observe(slot);
    node.pool.on('workerReady', this.observe);
    node.pool.on('workerDied', this.onWorkerDied);
  }

  detach(): void {
    this.node.pool.off('workerReady', this.observe);
    this.node.pool.off('workerDied', this.onWorkerDied);
  }

  info(): NodeInfo {
    const { config } = this.node;
    return {
      url: this.node.url,
      pid: process.pid,
      workers: this.node.pool.workers.map((w) => ({ index: w.index, pid: w.worker.pid })),
      sessionIdleTimeoutMs: config.sessionIdleTimeoutMs,
      reconnectGraceMs: config.reconnectGraceMs,
      trackInactiveAfterMs: config.trackInactiveAfterMs,
      maxListItems: config.maxListItems,
      maxTransceiversPerSession: config.sessionBounds.maxTransceivers,
      maxPendingPullsPerSession: config.sessionBounds.maxPendingPulls,
    };
  }

  /** Counts, then memory after a full GC: the collection runs in the node's process, whichever mode. */
  async sample(): Promise<NodeSample> {
    const census = await takeCensus(this.node.pool);
    const memory = await nodeMemoryKb();
    return {
      sessions: this.node.sessions.sessionCount,
      tracks: this.node.sessions.tracks.size,
      census,
      pipeTransports: this.pipeTransports(),
      heapKb: memory.heapKb,
      rssKb: memory.rssKb,
      nodeFds: openFds(process.pid),
      workers: this.node.pool.workers.map((w) => ({ index: w.index, pid: w.worker.pid, rssKb: processRssKb(w.worker.pid), fds: openFds(w.worker.pid) })),
      api: this.node.api.census(),
    };
  }

  /** A session as the journeys check it: undefined once the node has closed it. */
  session(id: string): SessionView | undefined {
    const session = this.node.sessions.get(id);
    if (!session) return undefined;
    return { connectionState: session.connectionState, holdings: sessionHoldings(session.transceivers) };
  }

  /** What is not back to zero; empty once drained. */
  async leftovers(): Promise<string[]> {
    const left: string[] = [];
    const { sessions } = this.node;
    if (sessions.sessionCount > 0) left.push(`${sessions.sessionCount} sessions`);
    if (sessions.tracks.size > 0) left.push(`${sessions.tracks.size} tracks`);
    const census = await takeCensus(this.node.pool);
    const pipes = this.pipeTransports();
    if (census.transports - pipes > 0) left.push(`${census.transports - pipes} mediasoup transports (besides ${pipes} pipe transports)`);
    // mediasoup keeps one PipeTransport pair per pair of routers for later pipes: at most w(w-1) for w workers.
    const workers = this.node.pool.workers.length;
    if (pipes > workers * (workers - 1)) left.push(`${pipes} pipe transports (more than the ${workers * (workers - 1)} of one pair per router pair)`);
    for (const key of ['producers', 'consumers', 'dataProducers', 'dataConsumers'] as const) {
      if (census[key] > 0) left.push(`${census[key]} mediasoup ${key}`);
    }
    // Every peer's graphql-ws connection is disposed by now: whatever the API still holds leaked.
    const api = this.node.api.census();
    if (api.connections > 0) left.push(`${api.connections} graphql-ws connections`);
    if (api.subscriptions > 0) left.push(`${api.subscriptions} graphql-ws subscriptions`);
    return left;
  }

  /** For the report of an incomplete drain: which sessions stayed, in what state. */
  liveSessions(): string[] {
    return this.node.sessions
      .sessionIds()
      .slice(0, 10)
      .map((id) => `session ${id} ${this.node.sessions.get(id)?.connectionState ?? '?'}`);
  }

  private pipeTransports(): number {
    let count = 0;
    for (const type of this.transportTypes.values()) if (type === 'pipe') count += 1;
    return count;
  }
}
