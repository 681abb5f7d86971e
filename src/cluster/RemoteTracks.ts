import type { types } from 'mediasoup';
import type { TrackEvent, TrackEventBus } from '../events/TrackEventBus.js';
import { trackKey } from '../events/TrackEventBus.js';
import type { Logger } from '../logger.js';
import type { LayerDemand } from '../media/layerDemand.js';
import type { ProducerPipes } from '../media/producerPipes.js';
import type { TrackRefusal } from '../session/types.js';
import type { TrackStatus, TrackView } from '../tracks/PublishedTrack.js';
import type { Cluster } from './Cluster.js';
import { SwitchyardError, trackNotFound, unavailable } from '../errors.js';
import { callNode } from './internalCalls.js';
import type { PipeAddress } from './PipeServer.js';
import { RemoteDataChannels, type RemoteDataSource } from './RemoteDataChannels.js';
import { lookUpTrack } from './lookUpTrack.js';
import type { CarrierDirectory } from '../relay/CarrierDirectory.js';
import type { Carrier } from '../relay/RelaySelector.js';
import { joinTree } from '../relay/joinTree.js';
import { InboundDemand } from '../relay/InboundDemand.js';

export type { RemoteDataSource };

/** How long a new inbound pipe waits for the pull that opened it to consume it, at least. */
const FIRST_USE_MS = 5_000;
/** How long a node this one fed waits for it to finish re-attaching, at most. */
const MOVE_WAIT_MS = 5_000;
/** How long an UNPUBLISHED is remembered for pipes still opening. */
const UNPUBLISHED_MEMORY_MS = 30_000;

/** A track of another node, as a puller on this node uses it. */
export interface RemoteSource {
  readonly view: TrackView & { status: TrackStatus; muted: boolean };
  /** The track's inbound pipe producer on this node (whose layer scores a subscriber's simulcast policy follows). */
  readonly producer: types.Producer;
  /** What the puller's router consumes: the same id, piped onto that router when it is another worker's. */
  readonly producerId: string;
}

/** What the session engine asks of the cluster when a pulled track is not on this node. */
export interface RemoteTrackSource {
  /** The track (on another live node) made consumable on `router`; null when no node holds it. `check` sees its view first. */
  find(sessionId: string, trackName: string, router: types.Router, check: (view: TrackView) => TrackRefusal | null): Promise<RemoteSource | TrackRefusal | null>;
  /** The same for a data channel: its data producer piped onto `router`. */
  findData(sessionId: string, name: string, router: types.Router, check: (view: TrackView) => TrackRefusal | null): Promise<RemoteDataSource | TrackRefusal | null>;
  /** A consumer of a remote track on this node: the track's inbound pipe stays while one is left. */
  hold(sessionId: string, trackName: string, consumer: { observer: { once(event: 'close', listener: () => void): unknown } }): void;
  /**
   * The track's inbound pipe is being replaced (its relay died): resolves
   * true once the track can be consumed again, false if it could not be.
   * Undefined when the track is not moving (it ended).
   */
  moving(sessionId: string, trackName: string): Promise<boolean> | undefined;
  /** A data channel of another node whose session moved (MOVED): resolves true; undefined when it did not. */
  dataMoving(sessionId: string, name: string): Promise<boolean> | undefined;
}

/** A track entering this node: one pipe from its parent in the track's tree, whatever the number of workers here. */
export interface Inbound {
  readonly sessionId: string;
  readonly trackName: string;
  readonly ownerId: string;
  readonly router: types.Router;
  readonly producer: types.Producer;
  readonly parentId: string;
  readonly parentUrl: string;
  /** The port of the parent's end of the pipe (what names the pipe there). */
  readonly parentPort: number;
  /** This node's place in the track's tree (what it tells the nodes below it). */
  readonly carrier: Carrier;
  readonly view: RemoteSource['view'];
  /** Consumers on this node (any router) that keep the pipe. */
  holders: number;
  idle?: NodeJS.Timeout | undefined;
}

export interface RemoteTracksOptions {
  cluster: Cluster;
  address: PipeAddress;
  logger: Logger;
  carriers: CarrierDirectory;
  /** A router for a track this node relays without a subscriber of its own. */
  anyRouter: () => types.Router;
  pipeIdleGraceMs: number;
}

/**
 * The pulling side of media between nodes. A track of another node enters
 * this node once (Inbound), on the router of its first subscriber, and is
 * piped to other workers here as they pull it. It comes from its tree's
 * nearest carrier (relayCandidates), which may be the owner or a relay. The
 * cluster's event log closes inbound pipes (UNPUBLISHED), since pipe
 * producers never learn by themselves that their source is gone; a dead
 * parent makes this node attach elsewhere (`parentGone`); a pipe that no
 * subscriber and no fed node uses closes after PIPE_IDLE_GRACE_MS.
 */
export class RemoteTracks implements RemoteTrackSource {
  private readonly inbounds = new Map<string, Promise<Inbound>>();
  private readonly ready = new Map<string, Inbound>();
  /** Views of remote tracks with pipes here, by trackKey, kept current from the events. */
  private readonly views = new Map<string, RemoteSource['view']>();
  private readonly moves = new Map<string, Promise<boolean>>();
  /** The nodes this node fed with a track when it began re-attaching it: they alone wait for the move. */
  private readonly movingFor = new Map<string, Set<string>>();
  private readonly unpublished = new Set<string>();
  private readonly data: RemoteDataChannels;
  private following: AsyncIterator<TrackEvent> | undefined;
  private directory: TrackEventBus | undefined;
  private inboundDemand: InboundDemand | undefined;
  /** Spreads an inbound producer to the other workers of this node (the session engine's, set by useEngine). */
  private pipes: ProducerPipes | undefined;
  /** How many other nodes this node feeds with a producer (PipeServer): a relay keeps its pipe for them. */
  feeds: (producerId: string) => number = () => 0;
  /** Which nodes this node feeds with a producer now (PipeServer). */
  fedNodes: (producerId: string) => string[] = () => [];

  constructor(private readonly options: RemoteTracksOptions) {
    this.data = new RemoteDataChannels(options.cluster, options.address, options.logger);
  }

  private get cluster(): Cluster {
    return this.options.cluster;
  }

  /**
   * Joins the session engine: its pipes between workers spread inbound
   * tracks inside this node, and the layer demand of its subscribers (and of
   * the nodes this one feeds) goes up to each inbound pipe's parent.
   */
  useEngine(demand: LayerDemand, pipes: ProducerPipes): void {
    this.inboundDemand = new InboundDemand(demand, this.cluster, this.options.logger);
    this.pipes = pipes;
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
        this.options.logger.warn({ err: error }, 'stopped following track events for piped tracks; following again');
        if (this.following === stream) await this.follow(events).catch(() => undefined);
      }
    })();
  }

  async find(sessionId: string, trackName: string, router: types.Router, check: (view: TrackView) => TrackRefusal | null): Promise<RemoteSource | TrackRefusal | null> {
    const key = trackKey(sessionId, trackName);
    let inbound = this.inbounds.get(key);
    if (inbound) {
      // A track that enters this node already: its view is here, no round trip.
      const known = this.views.get(key);
      const refusal = known ? check(known) : null;
      if (refusal) return refusal;
    } else {
      const found = await this.lookUp(sessionId, trackName);
      if (!found) return null;
      const refusal = check(found.view);
      if (refusal) return refusal;
      inbound = this.inboundFor(sessionId, trackName, found.ownerId, found.view, router);
    }
    let entered = await inbound;
    if (entered.producer.closed) {
      // Closed while this pull waited (unpublished, or re-attaching): the new pipe if there is one, else the track is gone.
      await this.moves.get(key);
      const next = this.inbounds.get(key);
      if (!next) return null;
      entered = await next;
      if (entered.producer.closed) return null;
    }
    if (!this.pipes) throw new Error('RemoteTracks is used before useEngine');
    const producerId = await this.pipes.availableOn(entered.producer, entered.router, router);
    return { view: entered.view, producer: entered.producer, producerId };
  }

  async findData(sessionId: string, name: string, router: types.Router, check: (view: TrackView) => TrackRefusal | null): Promise<RemoteDataSource | TrackRefusal | null> {
    const found = await this.lookUp(sessionId, name);
    if (!found) return null;
    const { view } = found;
    const route = { url: found.ownerUrl, nodeId: found.ownerId };
    const refusal = check(view);
    if (refusal) return refusal;
    const key = trackKey(sessionId, name);
    if (!this.views.has(key)) this.views.set(key, { ...view, publishedAt: new Date(view.publishedAt) });
    return this.data.pipe(route.url, route.nodeId, sessionId, name, this.views.get(key)!, router).catch((error: unknown) => {
      if (!this.data.carries(key) && !this.inbounds.has(key)) this.views.delete(key);
      throw error;
    });
  }

  /**
   * The track as this node carries it, for a node below this one in its tree:
   * the inbound pipe that is here or coming, or (`attach`: this node is its
   * region's entry) a new one. Undefined when this node does not carry it.
   */
  async carrying(sessionId: string, trackName: string, attach: boolean, fromNode?: string): Promise<Inbound | undefined> {
    const key = trackKey(sessionId, trackName);
    const moving = this.moves.get(key);
    if (moving) {
      // Only the nodes it fed before the move wait for it (they were told, and keep the tree's shape); any other asker
      // (a sibling re-attaching too) is sent on at once rather than waiting on a node that may be waiting on it.
      if (fromNode === undefined || !this.movingFor.get(key)?.has(fromNode)) throw unavailable(`this node is taking ${trackName} from another carrier; ask another`);
      await Promise.race([moving, new Promise((resolve) => setTimeout(resolve, MOVE_WAIT_MS).unref())]);
    }
    const inbound = this.inbounds.get(key);
    if (inbound) return inbound;
    if (!attach) return undefined;
    const found = await this.lookUp(sessionId, trackName);
    if (!found) return undefined;
    return this.inboundFor(sessionId, trackName, found.ownerId, found.view, this.options.anyRouter());
  }

  hold(sessionId: string, trackName: string, consumer: { observer: { once(event: 'close', listener: () => void): unknown } }): void {
    const inbound = this.ready.get(trackKey(sessionId, trackName));
    if (!inbound) return;
    inbound.holders += 1;
    clearTimeout(inbound.idle);
    inbound.idle = undefined;
    consumer.observer.once('close', () => {
      inbound.holders -= 1;
      this.closeIfIdle(inbound);
    });
  }

  moving(sessionId: string, trackName: string): Promise<boolean> | undefined {
    return this.moves.get(trackKey(sessionId, trackName));
  }

  dataMoving(sessionId: string, name: string): Promise<boolean> | undefined {
    return this.data.moving(trackKey(sessionId, name));
  }

  isMoving(sessionId: string, trackName: string): boolean {
    return this.moves.has(trackKey(sessionId, trackName));
  }

  /** A node this one fed with `producerId` stopped taking it: the pipe may now be idle. */
  fedNodeLeft(producerId: string): void {
    for (const inbound of this.ready.values()) if (inbound.producer.id === producerId) this.closeIfIdle(inbound);
  }

  /** A node died: every track this node took from it comes from another carrier now. */
  parentGone(nodeId: string): void {
    for (const inbound of [...this.ready.values()]) {
      if (inbound.parentId === nodeId && inbound.ownerId !== nodeId) void this.reattach(inbound.sessionId, inbound.trackName, 'its relay node died or stopped answering', { avoid: nodeId });
    }
  }

  /** The nodes this node takes tracks from now, with their API URLs (ParentWatch asks them). */
  parents(): Map<string, string> {
    const urls = new Map<string, string>();
    for (const inbound of this.ready.values()) urls.set(inbound.parentId, inbound.parentUrl);
    return urls;
  }

  /** The parent of a track here lost it itself (it re-attaches): so does this node. */
  upstreamLost(sessionId: string, trackName: string, parentId: string): { reattaching: boolean } {
    const key = trackKey(sessionId, trackName);
    const inbound = this.ready.get(key);
    if (!inbound || inbound.parentId !== parentId || this.unpublished.has(key)) return { reattaching: false };
    // The parent is taking the track again itself: it stays the first to ask, so the tree keeps its shape.
    void this.reattach(sessionId, trackName, 'its relay node lost it', { preferred: parentId });
    return { reattaching: true };
  }

  /** Inbound pipes (one per track) and data channel pipes open now, for tests and metrics. */
  get size(): number {
    return this.inbounds.size + this.data.size;
  }

  /** The tracks entering this node and where from (metrics, tests, the link table). */
  links(): { sessionId: string; trackName: string; parentId: string; depth: number; holders: number; feeds: number }[] {
    return [...this.ready.values()].map((i) => ({ sessionId: i.sessionId, trackName: i.trackName, parentId: i.parentId, depth: i.carrier.depth, holders: i.holders, feeds: this.feeds(i.producer.id) }));
  }

  /** Closes every pipe from other nodes (after the cluster declared this node gone, their other ends were closed). */
  closePipes(): void {
    for (const inbound of this.inbounds.values()) void inbound.then((i) => i.producer.close()).catch(() => undefined);
    this.inbounds.clear();
    this.data.closeAll();
  }

  close(): void {
    void this.following?.return?.();
    this.following = undefined;
  }

  /** Where a track lives and its view (lookUpTrack). */
  private lookUp(sessionId: string, trackName: string): Promise<{ ownerId: string; ownerUrl: string; view: TrackView } | null> {
    return lookUpTrack(this.cluster, this.directory, sessionId, trackName);
  }

  /** The track's inbound pipe: made once, shared by every pull and fed node while it opens. */
  private inboundFor(sessionId: string, trackName: string, ownerId: string, view: TrackView, router: types.Router, choice: { preferred?: string; avoid?: string } = {}): Promise<Inbound> {
    const key = trackKey(sessionId, trackName);
    const existing = this.inbounds.get(key);
    if (existing) return existing;
    // The view is followed before the pipe opens: an UNPUBLISHED that comes while it opens is not missed.
    this.unpublished.delete(key);
    if (!this.views.has(key)) this.views.set(key, { ...view, publishedAt: new Date(view.publishedAt) });
    const made = this.attach(sessionId, trackName, ownerId, router, choice).catch((error: unknown) => {
      if (this.inbounds.get(key) === made) this.inbounds.delete(key);
      if (!this.data.carries(key) && !this.moves.has(key)) this.views.delete(key);
      if (error instanceof SwitchyardError) throw error;
      this.options.logger.warn({ err: error, session: sessionId, track: trackName, owner: ownerId }, 'could not open a pipe from another node');
      throw unavailable(`could not open a pipe from the node that publishes ${trackName}; retry shortly`);
    });
    this.inbounds.set(key, made);
    return made;
  }

  /** Joins the track's tree (joinTree) and keeps the pipe it got as this node's inbound pipe of the track. */
  private async attach(sessionId: string, trackName: string, ownerId: string, router: types.Router, choice: { preferred?: string; avoid?: string }): Promise<Inbound> {
    const { producer, parentId, parentUrl, carrier, answer } = await joinTree(this.options, { sessionId, trackName, ownerId, router, ...choice });
    const key = trackKey(sessionId, trackName);
    if (this.unpublished.has(key)) {
      producer.close();
      throw trackNotFound(sessionId, trackName);
    }
    const view = this.views.get(key) ?? { ...answer.view, publishedAt: new Date(answer.view.publishedAt) };
    this.views.set(key, view);
    const inbound: Inbound = { sessionId, trackName, ownerId, router, producer, parentId, parentUrl, parentPort: answer.port, carrier, view, holders: 0 };
    this.ready.set(key, inbound);
    this.inboundDemand?.follow(producer.id, answer.view.simulcastRids.length, parentUrl);
    producer.observer.once('close', () => this.closed(inbound));
    this.options.carriers.add(sessionId, trackName, carrier).catch((error: unknown) => this.options.logger.warn({ err: error, track: trackName }, 'could not record this node as a carrier of a track'));
    this.options.logger.info({ session: sessionId, track: trackName, from: parentId, depth: carrier.depth }, 'a track enters this node');
    // A pipe that nobody takes closes (a pull that failed after the pipe opened), given time for the first pull to consume it.
    this.closeIfIdle(inbound, FIRST_USE_MS);
    return inbound;
  }

  private closed(inbound: Inbound): void {
    const key = trackKey(inbound.sessionId, inbound.trackName);
    // The parent's end closes too (it may then be idle itself); a dead parent does not answer, which is fine.
    callNode(this.cluster, inbound.parentUrl, 'unpipe', { fromNode: this.cluster.nodeId, port: inbound.parentPort }).catch(() => undefined);
    clearTimeout(inbound.idle);
    if (this.ready.get(key) === inbound) {
      this.ready.delete(key);
      this.inbounds.delete(key);
    }
    this.inboundDemand?.forget(inbound.producer.id);
    if (!this.inbounds.has(key) && !this.moves.has(key) && !this.data.carries(key)) this.views.delete(key);
    // While re-attaching, this node stays a carrier (its record is rewritten by the new pipe) and keeps its region entry.
    if (!this.moves.has(key)) this.options.carriers.remove(inbound.sessionId, inbound.trackName, this.cluster.nodeId, this.cluster.topology.region).catch(() => undefined);
  }

  /** Closes an inbound pipe that no consumer here and no fed node has used for PIPE_IDLE_GRACE_MS. */
  private closeIfIdle(inbound: Inbound, atLeastMs = 0): void {
    if (inbound.holders > 0 || this.feeds(inbound.producer.id) > 0 || inbound.idle || inbound.producer.closed) return;
    inbound.idle = setTimeout(() => {
      inbound.idle = undefined;
      if (inbound.holders > 0 || this.feeds(inbound.producer.id) > 0) return;
      this.options.logger.info({ session: inbound.sessionId, track: inbound.trackName }, 'closing an idle inbound pipe: no subscriber and no fed node left');
      inbound.producer.close();
    }, Math.max(atLeastMs, this.options.pipeIdleGraceMs));
    inbound.idle.unref();
  }

  /**
   * Takes the track from another carrier. The old pipe producer closes first
   * (the new one takes its id); consumers here see `moving` and follow the
   * track onto the new producer on their transceivers.
   */
  private async reattach(sessionId: string, trackName: string, why: string, choice: { preferred?: string; avoid?: string; ownerId?: string } = {}): Promise<void> {
    const key = trackKey(sessionId, trackName);
    const old = this.ready.get(key);
    if (!old || this.moves.has(key)) return;
    const started = Date.now();
    let settle: (back: boolean) => void = () => undefined;
    this.moves.set(key, new Promise<boolean>((resolve) => (settle = resolve)));
    this.movingFor.set(key, new Set(this.fedNodes(old.producer.id)));
    try {
      old.producer.close();
      const entered = await this.inboundFor(sessionId, trackName, choice.ownerId ?? old.ownerId, old.view, old.router, choice);
      this.options.logger.warn({ session: sessionId, track: trackName, why, from: entered.parentId, ms: Date.now() - started }, 'a track re-attached to another carrier');
      settle(true);
      await this.released(old);
    } catch (error) {
      this.options.logger.error({ err: error, session: sessionId, track: trackName, why }, 'could not re-attach a track to another carrier: its subscribers here lose it');
      settle(false);
    } finally {
      this.moves.delete(key);
      this.movingFor.delete(key);
      if (!this.inbounds.has(key) && !this.data.carries(key)) this.views.delete(key);
    }
  }

  /**
   * The track's session moved (resumeSession) and published it again: the
   * pipe from its old source closes, and the track comes from its new node,
   * or, when the session moved here, from the local producer. Consumers here
   * follow it on their transceivers (`moving`).
   */
  private async followMove(sessionId: string, trackName: string): Promise<void> {
    const key = trackKey(sessionId, trackName);
    const old = this.ready.get(key);
    if (!old || this.moves.has(key)) return;
    const route = await this.cluster.route(sessionId, { fresh: true }).catch(() => undefined);
    if (route?.kind === 'remote') return this.reattach(sessionId, trackName, 'its session moved to another node', { ownerId: route.nodeId });
    if (route?.kind !== 'local') return;
    this.moves.set(key, Promise.resolve(true));
    try {
      old.producer.close();
      await this.released(old);
      this.options.logger.info({ session: sessionId, track: trackName }, 'a piped track\'s session moved to this node: its subscribers here take the local producer');
    } finally {
      this.moves.delete(key);
      if (!this.inbounds.has(key) && !this.data.carries(key)) this.views.delete(key);
    }
  }

  /**
   * Until every consumer of a closed inbound pipe here has heard of it:
   * mediasoup tells them asynchronously (a worker notification, later still
   * under load), and each must find the track's move then (`moving`), not
   * after it was settled and forgotten, or its transceiver would end.
   */
  private async released(inbound: Inbound): Promise<void> {
    for (let waited = 0; inbound.holders > 0 && waited < MOVE_WAIT_MS; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
  }

  private onEvent(event: TrackEvent): void {
    const key = trackKey(event.track.sessionId, event.track.name);
    const view = this.views.get(key);
    if (!view) return;
    if (event.type === 'MOVED') {
      view.status = event.track.status;
      // Its pipes from the old source carry nothing now: closed, their relays take the channel from where it went.
      if (this.data.carries(key)) this.data.moved(key);
      void this.followMove(event.track.sessionId, event.track.name).catch((error: unknown) =>
        this.options.logger.warn({ err: error, session: event.track.sessionId, track: event.track.name }, 'could not follow a piped track whose session moved'),
      );
      return;
    }
    if (event.type === 'UNPUBLISHED') {
      view.status = 'INACTIVE';
      this.unpublished.add(key);
      setTimeout(() => this.unpublished.delete(key), UNPUBLISHED_MEMORY_MS).unref();
      void this.inbounds.get(key)?.then((i) => i.producer.close()).catch(() => undefined);
      this.data.unpublish(key);
      return;
    }
    view.status = event.track.status;
    view.muted = event.track.muted;
  }
}
