import { readFile } from 'node:fs/promises';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { types } from 'mediasoup';
import { ErrorCode } from '../errors.js';
import { eventCounters } from '../events/eventCounters.js';
import type { MediaWorker } from '../media/workerPool.js';
import type { SessionService } from '../session/SessionService.js';
import type { ApiObserver } from './apiMetrics.js';
import { MediaCounters, type Direction, type RtpTotals } from './mediaCounters.js';
import type { WebhookStats } from '../webhooks/WebhookDelivery.js';
import type { NodeLoad } from '../cluster/NodeRegistry.js';

/** What the metrics read at each scrape. */
export interface MetricSources {
  workers: () => readonly MediaWorker[];
  sessions: SessionService;
  /** graphql-ws connections and live subscriptions (the API server's census). */
  api: () => { connections: number; subscriptions: number };
  /** The webhook queue's counts (WebhookDelivery.stats). */
  webhooks?: () => WebhookStats;
  /** Open WebSocket adapters on this node. */
  adapters?: () => readonly { location: string; codec: string }[];
  /** Recordings running on this node. */
  recordings?: () => number;
  /** This node's load as it announces it to the cluster (NodeLoadMeter), and what it takes at most. */
  load?: () => NodeLoad;
  capacity?: { maxSessions: number; region: string };
  /** In a cluster: pipes to and from other nodes, and the other members as this node sees them. */
  cluster?: {
    pipesOut: () => number;
    pipesIn: () => number;
    peers: () => { alive: number; gone: number };
    redisReady: () => boolean;
    /** Each track's link to or from another node (one per track and node pair): the relay tree as this node sees it. */
    links?: () => { direction: 'in' | 'out'; peer: string }[];
  };
}

/** Current RSS of a process from /proc (Linux); mediasoup's resource usage only has the maximum. */
async function residentBytes(pid: number): Promise<number | undefined> {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The node's Prometheus metrics (prom-client), in a registry of their own.
 * Gauges are read from the engine at each scrape; RTP counters from
 * mediasoup's stats at each scrape (MediaCounters); API timings as calls end.
 */
export class SwitchyardMetrics implements ApiObserver {
  readonly registry = new Registry();
  private readonly media = new MediaCounters();
  /** Worker CPU seconds already counted, by worker pid (a replaced worker starts again from 0). */
  private readonly cpuSeen = new Map<number, number>();
  /** What each counter fed from an outside total has been raised to, by labels. */
  private readonly raised = new Map<Counter<string>, Map<string, number>>();
  private readonly apiDuration: Histogram<'operation' | 'code'>;
  private readonly refusals: Counter<'code'>;
  private readonly gauges: Record<string, Gauge<string>>;
  private readonly counters: Record<string, Counter<string>>;

  constructor(private readonly sources: MetricSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'switchyard_' });
    const gauge = (name: string, help: string, labelNames: string[] = []) => new Gauge({ name, help, labelNames, registers });
    const counter = (name: string, help: string, labelNames: string[] = []) => new Counter({ name, help, labelNames, registers });
    this.apiDuration = new Histogram({
      name: 'switchyard_api_request_duration_seconds',
      help: 'GraphQL queries and mutations (HTTP and graphql-ws, and the Cloudflare, WHIP and WHEP adapters through them) by root field and result code (OK or the contract code).',
      labelNames: ['operation', 'code'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.refusals = counter('switchyard_api_refusals_total', 'Calls refused by a rate limit or a cap (RATE_LIMITED, LIMIT_EXCEEDED).', ['code']);
    this.gauges = {
      workerMemory: gauge('switchyard_worker_memory_bytes', 'Resident memory of each mediasoup worker process.', ['worker']),
      workerMaxRss: gauge('switchyard_worker_max_rss_bytes', 'Largest resident memory of each mediasoup worker process so far (getResourceUsage).', ['worker']),
      workerSessions: gauge('switchyard_worker_sessions', 'Sessions on each mediasoup worker.', ['worker']),
      sessions: gauge('switchyard_sessions', 'Live sessions of this node by PeerConnection state.', ['state']),
      tracks: gauge('switchyard_published_tracks', 'Tracks and data channels published on this node, by kind and status.', ['kind', 'status']),
      consumers: gauge('switchyard_consumers', 'Pulled tracks being forwarded to subscribers of this node, by kind.', ['kind']),
      pipes: gauge('switchyard_pipes', 'Pipes carrying tracks between this node\'s workers (worker) and to or from other nodes (node_out, node_in).', ['scope']),
      wsConnections: gauge('switchyard_graphql_ws_connections', 'Open graphql-ws connections.'),
      subscriptions: gauge('switchyard_subscriptions', 'Live subscriptions (track and session events, stats; WebSocket and HTTP).'),
      peers: gauge('switchyard_cluster_peers', 'Other nodes of the cluster as this node saw them at its last check, by state (alive, gone).', ['state']),
      redisUp: gauge('switchyard_cluster_redis_up', '1 while this node\'s Redis connection is ready.'),
      links: gauge('switchyard_pipe_links', 'Tracks this node takes from (in) or feeds to (out) each other node of the cluster, by that node\'s id (the relay tree; switchyard_pipes{scope="node_in"|"node_out"} is the total).', ['direction', 'peer']),
      load: gauge('switchyard_node_load', 'This node\'s load as it announces it to the cluster with each heartbeat: sessions, consumers, worker_cpu (mean share of a core, 0-1), outgoing_bitrate (bit/s).', ['measure']),
      capacity: gauge('switchyard_node_capacity', 'What this node takes at most (max_sessions: MAX_SESSIONS_PER_NODE), labelled with its region (NODE_REGION).', ['measure', 'region']),
      webhookQueue: gauge('switchyard_webhook_queue_length', 'Webhook deliveries (one per event and endpoint) waiting, in flight or waiting for a retry on this node.'),
      recordings: gauge('switchyard_recordings', 'Recordings running on this node (starting or recording).'),
      adapters: gauge('switchyard_websocket_adapters', 'Open WebSocket adapters on this node, by location (local: ingest, remote: egress) and codec.', ['location', 'codec']),
    };
    this.counters = {
      workerCpu: counter('switchyard_worker_cpu_seconds_total', 'CPU time of each mediasoup worker process (user and system).', ['worker']),
      sessionsCreated: counter('switchyard_sessions_created_total', 'Sessions created on this node.'),
      sessionsClosed: counter('switchyard_sessions_closed_total', 'Sessions ended on this node.'),
      rtpBytes: counter('switchyard_rtp_bytes_total', 'RTP bytes received from publishers (in) and sent to subscribers (out).', ['direction']),
      rtpPackets: counter('switchyard_rtp_packets_total', 'RTP packets received from publishers (in) and sent to subscribers (out).', ['direction']),
      rtpLost: counter('switchyard_rtp_packets_lost_total', 'RTP packets lost from publishers as the SFU saw them (in), and towards subscribers as their reports say (out).', ['direction']),
      nacks: counter('switchyard_nacks_total', 'NACKs the SFU sent to publishers (in) and received from subscribers (out).', ['direction']),
      keyFrameRequests: counter('switchyard_key_frame_requests_total', 'PLI and FIR the SFU sent to publishers (in) and received from subscribers (out).', ['direction']),
      eventsPublished: counter('switchyard_events_published_total', 'Events this node published, by stream (track, session).', ['stream']),
      eventsDelivered: counter('switchyard_events_delivered_total', 'Events handed to subscribers.'),
      webhookDeliveries: counter(
        'switchyard_webhook_deliveries_total',
        'Webhook deliveries done with, by outcome: delivered (a 2xx), gave_up (WEBHOOK_MAX_ATTEMPTS failed), dropped (the queue was full), abandoned (queued when the node stopped).',
        ['outcome'],
      ),
      webhookRetries: counter('switchyard_webhook_retries_total', 'Webhook attempts that failed (no 2xx) and were retried later.'),
    };
  }

  observeOperation(operation: string, code: string, seconds: number): void {
    this.apiDuration.observe({ operation, code }, seconds);
    if (code === ErrorCode.RATE_LIMITED || code === ErrorCode.LIMIT_EXCEEDED) this.refusals.inc({ code });
  }

  /** The refresh under way, which concurrent scrapes share. */
  private refreshing: Promise<void> | undefined;

  /**
   * The exposition text, read fresh. Scrapes that arrive while a refresh is
   * under way share it: two refreshes interleaved would each bring the
   * counters up from their own reading (an older one could count a delta
   * twice) and one could render while the other had reset the gauges.
   */
  async render(): Promise<string> {
    this.refreshing ??= this.refresh().finally(() => (this.refreshing = undefined));
    await this.refreshing;
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private async refresh(): Promise<void> {
    const { sessions } = this.sources;
    const live = sessions.list();
    const producers: types.Producer[] = [];
    const consumers: types.Consumer[] = [];
    const byState = new Map<string, number>();
    const consumersByKind = new Map<string, number>();
    for (const session of live) {
      byState.set(session.connectionState, (byState.get(session.connectionState) ?? 0) + 1);
      for (const t of session.transceivers) {
        if (t.pushed && !t.pushed.producer.closed) producers.push(t.pushed.producer);
        if (t.pulled && !t.pulled.consumer.closed) {
          consumers.push(t.pulled.consumer);
          consumersByKind.set(t.pulled.consumer.kind, (consumersByKind.get(t.pulled.consumer.kind) ?? 0) + 1);
        }
      }
    }
    await Promise.all([this.media.refresh({ producers, consumers }), this.readWorkers()]);

    const g = this.gauges;
    g.sessions!.reset();
    for (const state of ['NEW', 'CONNECTING', 'CONNECTED', 'DISCONNECTED', 'FAILED']) g.sessions!.set({ state }, byState.get(state) ?? 0);
    g.tracks!.reset();
    for (const track of sessions.tracks.list()) g.tracks!.inc({ kind: track.kind.toLowerCase(), status: track.status.toLowerCase() });
    for (const channel of sessions.data.registry.list()) g.tracks!.inc({ kind: 'data', status: channel.status.toLowerCase() });
    g.consumers!.reset();
    for (const kind of ['audio', 'video']) g.consumers!.set({ kind }, consumersByKind.get(kind) ?? 0);
    g.pipes!.set({ scope: 'worker' }, sessions.pipes.size);
    const census = this.sources.api();
    g.wsConnections!.set(census.connections);
    g.subscriptions!.set(census.subscriptions);
    const load = this.sources.load?.();
    if (load) {
      g.load!.set({ measure: 'sessions' }, load.sessions);
      g.load!.set({ measure: 'consumers' }, load.consumers);
      g.load!.set({ measure: 'worker_cpu' }, load.workerCpu);
      g.load!.set({ measure: 'outgoing_bitrate' }, load.outgoingBitrate);
    }
    const capacity = this.sources.capacity;
    if (capacity) g.capacity!.set({ measure: 'max_sessions', region: capacity.region }, capacity.maxSessions);
    const { cluster } = this.sources;
    if (cluster) {
      g.pipes!.set({ scope: 'node_out' }, cluster.pipesOut());
      g.pipes!.set({ scope: 'node_in' }, cluster.pipesIn());
      const peers = cluster.peers();
      g.peers!.set({ state: 'alive' }, peers.alive);
      g.peers!.set({ state: 'gone' }, peers.gone);
      g.redisUp!.set(cluster.redisReady() ? 1 : 0);
      g.links!.reset();
      for (const link of cluster.links?.() ?? []) g.links!.inc(link);
    }

    const c = this.counters;
    const totals = sessions.totals;
    this.raise(c.sessionsCreated!, {}, totals.created);
    this.raise(c.sessionsClosed!, {}, totals.closed);
    for (const direction of ['in', 'out'] as Direction[]) {
      const t: RtpTotals = this.media.totals[direction];
      this.raise(c.rtpBytes!, { direction }, t.bytes);
      this.raise(c.rtpPackets!, { direction }, t.packets);
      this.raise(c.rtpLost!, { direction }, t.packetsLost);
      this.raise(c.nacks!, { direction }, t.nacks);
      this.raise(c.keyFrameRequests!, { direction }, t.keyFrameRequests);
    }
    this.raise(c.eventsPublished!, { stream: 'track' }, eventCounters.trackPublished);
    this.raise(c.eventsPublished!, { stream: 'session' }, eventCounters.sessionPublished);
    this.raise(c.eventsDelivered!, {}, eventCounters.delivered);
    const recordings = this.sources.recordings?.();
    if (recordings !== undefined) g.recordings!.set(recordings);
    const adapters = this.sources.adapters?.();
    if (adapters) {
      g.adapters!.reset();
      for (const adapter of adapters) g.adapters!.inc({ location: adapter.location, codec: adapter.codec });
    }
    const webhooks = this.sources.webhooks?.();
    if (webhooks) {
      g.webhookQueue!.set(webhooks.queued);
      this.raise(c.webhookDeliveries!, { outcome: 'delivered' }, webhooks.delivered);
      this.raise(c.webhookDeliveries!, { outcome: 'gave_up' }, webhooks.gaveUp);
      this.raise(c.webhookDeliveries!, { outcome: 'dropped' }, webhooks.dropped);
      this.raise(c.webhookDeliveries!, { outcome: 'abandoned' }, webhooks.abandoned);
      this.raise(c.webhookRetries!, {}, webhooks.retries);
    }
  }

  /** Brings a counter up to a total kept elsewhere (counters only go up). */
  private raise(counter: Counter<string>, labels: Record<string, string>, total: number): void {
    const byLabels = this.raised.get(counter) ?? new Map<string, number>();
    this.raised.set(counter, byLabels);
    const key = JSON.stringify(labels);
    const delta = total - (byLabels.get(key) ?? 0);
    // inc by 0 makes the series appear before anything happened.
    counter.inc(labels, Math.max(0, delta));
    byLabels.set(key, Math.max(total, byLabels.get(key) ?? 0));
  }

  private async readWorkers(): Promise<void> {
    const g = this.gauges;
    g.workerMemory!.reset();
    g.workerMaxRss!.reset();
    g.workerSessions!.reset();
    await Promise.all(
      this.sources.workers().map(async (w) => {
        const worker = String(w.index);
        g.workerSessions!.set({ worker }, w.load);
        if (w.worker.closed) return;
        const usage = await w.worker.getResourceUsage().catch(() => undefined);
        if (!usage) return;
        const cpuSeconds = (usage.ru_utime + usage.ru_stime) / 1000;
        const seen = this.cpuSeen.get(w.worker.pid) ?? 0;
        if (cpuSeconds > seen) this.counters.workerCpu!.inc({ worker }, cpuSeconds - seen);
        this.cpuSeen.set(w.worker.pid, cpuSeconds);
        g.workerMaxRss!.set({ worker }, usage.ru_maxrss * 1024);
        const rss = await residentBytes(w.worker.pid);
        if (rss !== undefined) g.workerMemory!.set({ worker }, rss);
      }),
    );
  }
}
