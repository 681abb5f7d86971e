import type { types } from 'mediasoup';
import type { TrackEvent, TrackEventBus } from '../events/TrackEventBus.js';
import { trackKey } from '../events/TrackEventBus.js';
import type { Logger } from '../logger.js';
import type { LayerDemand } from '../media/layerDemand.js';
import type { Pipeable } from '../media/producerPipes.js';
import type { TrackRefusal } from '../session/types.js';
import type { TrackStatus, TrackView } from '../tracks/PublishedTrack.js';
import type { Cluster } from './Cluster.js';
import { SwitchyardError, trackNotFound, unavailable } from '../errors.js';
import { callNode } from './internalCalls.js';

/** How long an UNPUBLISHED is remembered for pipes still opening. */
const UNPUBLISHED_MEMORY_MS = 30_000;
import { pipeListenInfo, type DataPipeAnswer, type PipeAddress, type PipeAnswer } from './PipeServer.js';

type Piped = RemoteSource | RemoteDataSource;
const closePiped = (piped: Piped) => ('producer' in piped ? piped.producer.close() : piped.dataProducer.close());

/** A track of another node, as a puller on this node uses it: its view (kept current from events) and its pipe producer here. */
export interface RemoteSource {
  readonly view: TrackView & { status: TrackStatus; muted: boolean };
  /** On the router the pull asked for; consumers there consume it like any producer. */
  readonly producer: types.Producer;
}

/** What the session engine asks of the cluster when a pulled track is not on this node. */
export interface RemoteTrackSource {
  /**
   * The track (on another live node) piped onto `router`; null when no node
   * holds it. `check` sees the track's view first: a refusal opens no pipe.
   */
  find(sessionId: string, trackName: string, router: types.Router, check: (view: TrackView) => TrackRefusal | null): Promise<RemoteSource | TrackRefusal | null>;
  /** The same for a data channel: its data producer piped onto `router`. */
  findData(sessionId: string, name: string, router: types.Router, check: (view: TrackView) => TrackRefusal | null): Promise<RemoteDataSource | TrackRefusal | null>;
}

/** A data channel of another node, piped here for the subscribers of this node. */
export interface RemoteDataSource {
  readonly view: TrackView & { status: TrackStatus; muted: boolean };
  readonly dataProducer: types.DataProducer;
}

/**
 * The pulling side of media between nodes: the first pull on this node of a
 * track published on another node opens a pipe from the owner's router to
 * the puller's (PipeServer there), once per (track, router); every later
 * pull there consumes the same pipe producer. Pipe producers never learn by
 * themselves that their source is gone (shared/notes/cluster.md), so the
 * cluster's event log closes them: an UNPUBLISHED track's pipes close here,
 * and with them its consumers (TRACK_ENDED for their sessions).
 */
export class RemoteTracks implements RemoteTrackSource {
  /** trackKey + router id -> the pipe (or the pipe being made). */
  private readonly pipes = new Map<string, Promise<Piped>>();
  /** Current views of remote tracks being piped here, by trackKey. */
  private readonly views = new Map<string, RemoteSource['view']>();
  private following: AsyncIterator<TrackEvent> | undefined;
  private directory: TrackEventBus | undefined;
  private demand: LayerDemand | undefined;
  /** Owner URL of each simulcast track piped here, by producer id: where this node's layer demand goes. */
  private readonly owners = new Map<string, string>();
  /** Tracks unpublished lately, so that a pipe that finishes opening after the event closes at once. */
  private readonly unpublished = new Set<string>();
  /** Per producer: the demand report on its way and the latest one waiting (sent in order, only the newest). */
  private readonly demandReports = new Map<string, { sending: boolean; next: number | undefined }>();

  constructor(
    private readonly cluster: Cluster,
    private readonly address: PipeAddress,
    private readonly logger: Logger,
  ) {}

  /**
   * Passes this node's layer demand for piped simulcast tracks to their
   * owners: what the subscribers here prefer (LayerDemand, with its delay for
   * less) is what this node's pipe asks the publisher for.
   */
  useDemand(demand: LayerDemand): void {
    this.demand = demand;
    demand.on('change', (producerId, highest) => {
      if (this.owners.has(producerId)) this.reportDemand(producerId, highest);
    });
  }

  /** Reports per producer go one at a time, in order, and only the newest waits: the owner always ends with the latest. */
  private reportDemand(producerId: string, layer: number): void {
    const state = this.demandReports.get(producerId) ?? { sending: false, next: undefined };
    this.demandReports.set(producerId, state);
    state.next = layer;
    if (state.sending) return;
    const send = async () => {
      while (state.next !== undefined) {
        const owner = this.owners.get(producerId);
        const next = state.next;
        state.next = undefined;
        if (!owner) break;
        try {
          await callNode(this.cluster, owner, 'demand', { producerId, fromNode: this.cluster.nodeId, layer: next });
        } catch (error) {
          this.logger.debug({ err: error, producer: producerId }, 'could not tell the owner of a piped track which layers are watched here');
        }
      }
      state.sending = false;
      if (!this.owners.has(producerId)) this.demandReports.delete(producerId);
    };
    state.sending = true;
    void send();
  }

  /** Follows the cluster's track events: status changes update views, UNPUBLISHED closes pipes. */
  async follow(events: TrackEventBus): Promise<void> {
    this.directory = events;
    const stream = await events.subscribe(null, (event) => this.views.has(trackKey(event.track.sessionId, event.track.name)));
    this.following = stream;
    void (async () => {
      try {
        for await (const event of stream) this.onEvent(event);
      } catch (error) {
        this.logger.warn({ err: error }, 'stopped following track events for piped tracks; following again');
        if (this.following === stream) await this.follow(events).catch(() => undefined);
      }
    })();
  }

  async find(sessionId: string, trackName: string, router: types.Router, check: (view: TrackView) => TrackRefusal | null): Promise<RemoteSource | TrackRefusal | null> {
    return this.findPiped(sessionId, trackName, router, check, (url, key) => this.open(url, sessionId, trackName, router, key)) as Promise<RemoteSource | TrackRefusal | null>;
  }

  async findData(sessionId: string, name: string, router: types.Router, check: (view: TrackView) => TrackRefusal | null): Promise<RemoteDataSource | TrackRefusal | null> {
    return this.findPiped(sessionId, name, router, check, (url, key) => this.openData(url, sessionId, name, router, key)) as Promise<RemoteDataSource | TrackRefusal | null>;
  }

  /** A track or data channel of another node piped onto `router`: the pipe of an earlier pull, or a new one. */
  private async findPiped(
    sessionId: string,
    trackName: string,
    router: types.Router,
    check: (view: TrackView) => TrackRefusal | null,
    open: (ownerUrl: string, key: string) => Promise<Piped>,
  ): Promise<Piped | TrackRefusal | null> {
    const route = await this.cluster.route(sessionId);
    if (route.kind !== 'remote') return null;
    const view = await this.directory?.track(sessionId, trackName);
    if (!view) return null;
    const refusal = check(view);
    if (refusal) return refusal;
    const key = `${trackKey(sessionId, trackName)}|${router.id}`;
    let pipe = this.pipes.get(key);
    if (!pipe) {
      // The view is followed before the pipe opens: an UNPUBLISHED that comes while it opens is not missed.
      const viewKey = trackKey(sessionId, trackName);
      // The directory says it is published now; only an UNPUBLISHED from here on counts.
      this.unpublished.delete(viewKey);
      if (!this.views.has(viewKey)) this.views.set(viewKey, { ...view, publishedAt: new Date(view.publishedAt) });
      pipe = open(route.url, key).catch((error: unknown) => {
        if (!this.hasPipesOf(viewKey, key)) this.views.delete(viewKey);
        if (error instanceof SwitchyardError) throw error;
        // mediasoup's words (a closed router, a channel error) are for the log: the puller's client gets a stable reason.
        this.logger.warn({ err: error, session: sessionId, track: trackName, owner: route.nodeId }, 'could not open a pipe from another node');
        throw unavailable(`could not open a pipe from the node that publishes ${trackName}; retry shortly`);
      });
      this.pipes.set(key, pipe);
      pipe.catch(() => this.pipes.delete(key));
    }
    return pipe;
  }

  /** Pipes open now (made or being made), for tests and metrics. */
  get size(): number {
    return this.pipes.size;
  }

  /**
   * Closes every pipe from other nodes (their consumers here end): after the
   * cluster declared this node gone, the other ends were closed, and a pipe
   * kept here would carry nothing.
   */
  closePipes(): void {
    for (const pipe of this.pipes.values()) void pipe.then(closePiped).catch(() => undefined);
    this.pipes.clear();
  }

  close(): void {
    void this.following?.return?.();
    this.following = undefined;
  }

  /** Whether any pipe of the track (on any router; `except` one of them) is open or opening here. */
  private hasPipesOf(viewKey: string, except?: string): boolean {
    return [...this.pipes.keys()].some((k) => k !== except && k.startsWith(`${viewKey}|`));
  }

  private async open(ownerUrl: string, sessionId: string, trackName: string, router: types.Router, key: string): Promise<RemoteSource> {
    const transport = await router.createPipeTransport({
      listenInfo: pipeListenInfo(this.address),
      enableSrtp: true,
      enableRtx: true,
    });
    try {
      const answer = (await callNode(this.cluster, ownerUrl, 'pipe', {
        sessionId,
        trackName,
        fromNode: this.cluster.nodeId,
        ip: transport.tuple.localAddress,
        port: transport.tuple.localPort,
        srtpParameters: transport.srtpParameters,
      })) as unknown as PipeAnswer;
      await transport.connect({ ip: answer.ip, port: answer.port, ...(answer.srtpParameters ? { srtpParameters: answer.srtpParameters } : {}) });
      const producer = await transport.produce({ id: answer.producerId, kind: answer.kind, rtpParameters: answer.rtpParameters, paused: answer.paused });
      const view = this.adopt(sessionId, trackName, answer.view, producer);
      const layers = answer.view.simulcastRids.length;
      if (layers > 1 && this.demand) {
        this.owners.set(producer.id, ownerUrl);
        this.demand.track(producer.id, layers);
      }
      this.closeWith(producer, transport, key, trackKey(sessionId, trackName), () => {
        this.owners.delete(producer.id);
        this.demand?.forget(producer.id);
      });
      return { view, producer };
    } catch (error) {
      transport.close();
      throw error;
    }
  }

  /** A data channel's pipe: a PipeTransport with SCTP (in the clear, see PipeServer.openData) and a pipe data producer. */
  private async openData(ownerUrl: string, sessionId: string, name: string, router: types.Router, key: string): Promise<RemoteDataSource> {
    const transport = await router.createPipeTransport({ listenInfo: pipeListenInfo(this.address), enableSctp: true });
    try {
      const answer = (await callNode(this.cluster, ownerUrl, 'pipeData', {
        sessionId,
        trackName: name,
        fromNode: this.cluster.nodeId,
        ip: transport.tuple.localAddress,
        port: transport.tuple.localPort,
      })) as unknown as DataPipeAnswer;
      await transport.connect({ ip: answer.ip, port: answer.port });
      const dataProducer = await transport.produceData({
        id: answer.dataProducerId,
        sctpStreamParameters: answer.sctpStreamParameters,
        label: answer.label,
        protocol: answer.protocol,
      });
      const view = this.adopt(sessionId, name, answer.view, dataProducer);
      this.closeWith(dataProducer, transport, key, trackKey(sessionId, name));
      return { view, dataProducer };
    } catch (error) {
      transport.close();
      throw error;
    }
  }

  /**
   * The view a new pipe producer follows: the one this node already follows,
   * or the owner's answer. A track unpublished while its pipe was opening
   * closes the producer and answers TRACK_NOT_FOUND.
   */
  private adopt(sessionId: string, name: string, answered: TrackView, producer: { close(): void }): RemoteSource['view'] {
    const viewKey = trackKey(sessionId, name);
    const view = this.views.get(viewKey) ?? { ...answered, publishedAt: new Date(answered.publishedAt) };
    this.views.set(viewKey, view);
    if (this.unpublished.has(viewKey)) {
      producer.close();
      throw trackNotFound(sessionId, name);
    }
    return view;
  }

  /** When a pipe producer closes, its transport goes; the track's last pipe on this node stops following it (`lastPipe` too). */
  private closeWith(producer: Pipeable, transport: types.PipeTransport, key: string, viewKey: string, lastPipe?: () => void): void {
    producer.observer.once('close', () => {
      transport.close();
      this.pipes.delete(key);
      if (!this.hasPipesOf(viewKey)) {
        lastPipe?.();
        this.views.delete(viewKey);
      }
    });
  }

  private onEvent(event: TrackEvent): void {
    const viewKey = trackKey(event.track.sessionId, event.track.name);
    const view = this.views.get(viewKey);
    if (!view) return;
    if (event.type === 'UNPUBLISHED') {
      view.status = 'INACTIVE';
      this.unpublished.add(viewKey);
      setTimeout(() => this.unpublished.delete(viewKey), UNPUBLISHED_MEMORY_MS).unref();
      for (const [key, pipe] of [...this.pipes]) {
        if (key.startsWith(`${viewKey}|`)) void pipe.then(closePiped).catch(() => undefined);
      }
      return;
    }
    view.status = event.track.status;
    view.muted = event.track.muted;
  }
}
