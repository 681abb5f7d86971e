import type { types } from 'mediasoup';
import { trackKey } from '../events/TrackEventBus.js';
import type { Logger } from '../logger.js';
import type { TrackRefusal } from '../session/types.js';
import type { TrackStatus, TrackView } from '../tracks/PublishedTrack.js';
import type { Cluster } from './Cluster.js';
import { SwitchyardError, trackNotFound, unavailable } from '../errors.js';
import { callNode } from './internalCalls.js';
import { pipeListenInfo, type DataPipeAnswer, type PipeAddress } from './PipeServer.js';

/** A data channel of another node, piped here for the subscribers of this node. */
export interface RemoteDataSource {
  readonly view: TrackView & { status: TrackStatus; muted: boolean };
  readonly dataProducer: types.DataProducer;
}

/**
 * Data channels of other nodes, piped straight from their owner once per
 * (channel, router) of this node: data channels take no relay tree (their
 * subscribers are few and their messages small), so each pulling router
 * asks the owner. The pipe closes with the channel (UNPUBLISHED, `close`).
 */
export class RemoteDataChannels {
  /** trackKey + router id -> the pipe (or the pipe being made). */
  private readonly pipes = new Map<string, Promise<RemoteDataSource>>();
  /** Channels unpublished lately, so that a pipe that finishes opening after the event closes at once. */
  private readonly unpublished = new Set<string>();
  /** Channels whose session moved lately: a relay whose pipe closed for it takes the channel again. */
  private readonly movedLately = new Set<string>();

  constructor(
    private readonly cluster: Cluster,
    private readonly address: PipeAddress,
    private readonly logger: Logger,
  ) {}

  get size(): number {
    return this.pipes.size;
  }

  /** The channel's pipe onto `router`: the one of an earlier pull, or a new one from the owner at `ownerUrl`. */
  pipe(ownerUrl: string, ownerId: string, sessionId: string, name: string, view: TrackView, router: types.Router): Promise<RemoteDataSource> {
    const key = `${trackKey(sessionId, name)}|${router.id}`;
    let pipe = this.pipes.get(key);
    if (!pipe) {
      this.unpublished.delete(trackKey(sessionId, name));
      pipe = this.open(ownerUrl, sessionId, name, view, router, key).catch((error: unknown) => {
        if (error instanceof SwitchyardError) throw error;
        this.logger.warn({ err: error, session: sessionId, dataChannel: name, owner: ownerId }, 'could not open a data channel pipe from another node');
        throw unavailable(`could not open a pipe from the node that publishes ${name}; retry shortly`);
      });
      this.pipes.set(key, pipe);
      pipe.catch(() => this.pipes.delete(key));
    }
    return pipe;
  }

  /** Whether any pipe of this channel is open or opening here. */
  carries(viewKey: string): boolean {
    return [...this.pipes.keys()].some((k) => k.startsWith(`${viewKey}|`));
  }

  /** The channel was unpublished: its pipes close (and its subscribers' streams with them). */
  unpublish(viewKey: string): void {
    this.unpublished.add(viewKey);
    setTimeout(() => this.unpublished.delete(viewKey), 30_000).unref();
    this.closePipesOf(viewKey);
  }

  /** The channel's session moved (MOVED): its pipes from the old source close, and `moving` says it is back elsewhere for a while. */
  moved(viewKey: string): void {
    this.movedLately.add(viewKey);
    setTimeout(() => this.movedLately.delete(viewKey), 10_000).unref();
    this.closePipesOf(viewKey);
  }

  /** Closes every pipe of the channel (one per router here); each leaves the map as its producer closes. */
  private closePipesOf(viewKey: string): void {
    for (const [key, pipe] of [...this.pipes]) {
      if (key.startsWith(`${viewKey}|`)) void pipe.then((p) => p.dataProducer.close()).catch(() => undefined);
    }
  }

  moving(viewKey: string): Promise<boolean> | undefined {
    return this.movedLately.has(viewKey) ? Promise.resolve(true) : undefined;
  }

  closeAll(): void {
    for (const pipe of this.pipes.values()) void pipe.then((p) => p.dataProducer.close()).catch(() => undefined);
    this.pipes.clear();
  }

  /** A PipeTransport with SCTP (in the clear, see PipeServer.openData) and a pipe data producer. */
  private async open(ownerUrl: string, sessionId: string, name: string, known: TrackView, router: types.Router, key: string): Promise<RemoteDataSource> {
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
      dataProducer.observer.once('close', () => {
        transport.close();
        this.pipes.delete(key);
      });
      if (this.unpublished.has(trackKey(sessionId, name))) {
        dataProducer.close();
        throw trackNotFound(sessionId, name);
      }
      // The view RemoteTracks follows (status and muted kept current from the track events).
      return { view: known as RemoteDataSource['view'], dataProducer };
    } catch (error) {
      transport.close();
      throw error;
    }
  }
}

export type { TrackRefusal };
