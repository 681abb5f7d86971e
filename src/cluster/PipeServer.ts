import { isIP } from 'node:net';
import type { types } from 'mediasoup';
import { badRequest, ErrorCode, SwitchyardError, trackNotFound } from '../errors.js';
import type { Logger } from '../logger.js';
import type { LayerDemand } from '../media/layerDemand.js';
import { trackView, type TrackView } from '../tracks/PublishedTrack.js';
import type { TrackRegistry } from '../tracks/TrackRegistry.js';
import type { PublishedDataChannel } from '../tracks/PublishedDataChannel.js';
import type { NodeInfo } from './NodeRegistry.js';
import type { Carrier } from '../relay/RelaySelector.js';
import { callNode } from './internalCalls.js';
import type { Cluster } from './Cluster.js';

/** Where a node's pipe transports listen, and the address other nodes send to. */
export interface PipeAddress {
  ip: string;
  announcedAddress?: string | undefined;
}

/** Both ends of a pipe listen the same way: UDP on the node's media address, announced as other nodes reach it. */
export function pipeListenInfo(address: PipeAddress): types.TransportListenInfo {
  return { protocol: 'udp', ip: address.ip, ...(address.announcedAddress ? { announcedAddress: address.announcedAddress } : {}) };
}

/** What the pulling node sends: the track, and its own end of the pipe. */
export interface PipeRequest {
  sessionId: string;
  trackName: string;
  fromNode: string;
  ip: string;
  port: number;
  srtpParameters?: types.SrtpParameters | undefined;
  /** The asking node's region entry: fetch the track first if this node does not carry it. */
  attach?: boolean | undefined;
  /** The last resort: feed the asking node even past RELAY_FANOUT. */
  force?: boolean | undefined;
}

/** What the owner answers: its end of the pipe and what the pulling node's pipe producer must be. */
export interface PipeAnswer {
  ip: string;
  port: number;
  srtpParameters?: types.SrtpParameters | undefined;
  producerId: string;
  kind: types.MediaKind;
  rtpParameters: types.RtpParameters;
  paused: boolean;
  view: TrackView;
  /** Where the answering node sits in the track's tree (the asking node sits one below). */
  carrier?: Carrier | undefined;
}

/** A track this node carries for another node (RemoteTracks): its inbound producer, router and place in the tree. */
export interface CarriedTrack {
  readonly producer: types.Producer;
  readonly router: types.Router;
  readonly carrier: Carrier;
  readonly view: TrackView;
}

/** How this node relays tracks it does not own (RemoteTracks), and how many nodes it feeds with one. */
export interface RelaySettings {
  /** `fromNode`: who asks (a node this one fed before a move waits for it; others are sent elsewhere at once). */
  carrying(sessionId: string, trackName: string, attach: boolean, fromNode: string): Promise<CarriedTrack | undefined>;
  /** A fed node stopped taking a producer: the inbound pipe may now be idle. */
  fedNodeLeft(producerId: string): void;
  /** Whether this node is taking the track from another carrier right now. */
  moving(sessionId: string, trackName: string): boolean;
  cluster: Cluster;
  fanout: number;
}

/** A pipe request from another node names the track, the node and its own end of the pipe. */
function checkPipeRequest(request: PipeRequest): void {
  const named = [request.sessionId, request.trackName, request.fromNode, request.ip].every((value) => typeof value === 'string');
  if (!named || !Number.isInteger(request.port)) throw badRequest('a pipe request needs sessionId, trackName, fromNode, ip and port');
}

/** The live members of the cluster, as the node registry knows them. */
export interface PipeMembers {
  /** A live node (its heartbeat has not expired), or null. */
  node(id: string): Promise<NodeInfo | null>;
}

/** One spelling per address ("[::1]", "0:0::1" and "::1" alike), so that addresses compare as strings. */
function canonicalIp(ip: string): string {
  const bare = ip.trim().replace(/^\[(.*)\]$/, '$1');
  return isIP(bare) === 6 ? new URL(`http://[${bare}]`).hostname.slice(1, -1) : bare;
}

/**
 * Where a member's pipes are reached: the pipe addresses it announced, or
 * (a node of an older version that announced none) the host of its
 * advertise URL when that is an IP address.
 */
function pipeAddressesOf(node: NodeInfo): string[] {
  if (node.pipeIps && node.pipeIps.length > 0) return node.pipeIps.map(canonicalIp);
  const host = canonicalIp(new URL(node.url).hostname);
  return isIP(host) ? [host] : [];
}

/** What the owner answers for a data channel: its end of the pipe and what the pulling node's pipe data producer must be. */
export interface DataPipeAnswer {
  ip: string;
  port: number;
  dataProducerId: string;
  sctpStreamParameters: types.SctpStreamParameters;
  label: string;
  protocol: string;
  view: TrackView;
}

/**
 * The owning side of media between nodes: for another node that pulls one of
 * this node's tracks, a PipeTransport on the track's router (SRTP, RTX) whose
 * pipe consumer sends the producer's media to that node. This is what
 * mediasoup's pipeToRouter does inside one process, split across two
 * (shared/notes/cluster.md). The pipe closes with the track.
 */
export class PipeServer {
  /** Pipe transports by the node they send to, so that a dead node's can be closed. */
  private readonly towards = new Map<string, Set<types.PipeTransport>>();
  /** Pipe consumers by producer id and node (one per router of that node): where its layer demand is counted. */
  private readonly consumers = new Map<string, Set<types.Consumer>>();
  /** The layer each node last said its subscribers of a track want, for the pipes it opens after saying so. */
  private readonly reported = new Map<string, number>();
  /** Nodes fed per producer id (one pipe each): what RELAY_FANOUT bounds. */
  private readonly fed = new Map<string, Set<string>>();
  /** How this node relays tracks of other nodes; unset: it serves only its own. */
  relay: RelaySettings | undefined;

  constructor(
    private readonly tracks: TrackRegistry,
    private readonly dataChannels: TrackRegistry<PublishedDataChannel>,
    private readonly demand: LayerDemand,
    private readonly address: PipeAddress,
    private readonly logger: Logger,
    private readonly members: PipeMembers,
  ) {}

  /**
   * A pipe sends media only to the pipe address the live member that asks
   * for it announced: the cluster secret alone must not let its holder aim
   * this node's media (UDP, at a rate the caller does not pay for) at any
   * host. The refusal names no address (it can reach a client through the
   * asking node); the log does.
   */
  private async checkDestination(request: PipeRequest): Promise<NodeInfo> {
    const node = await this.members.node(request.fromNode);
    if (node && pipeAddressesOf(node).includes(canonicalIp(request.ip))) return node;
    this.logger.warn(
      { fromNode: request.fromNode, ip: request.ip, port: request.port, member: node !== null, session: request.sessionId, track: request.trackName },
      'refused a pipe towards an address that no live cluster member announced',
    );
    throw new SwitchyardError(ErrorCode.FORBIDDEN, 'a pipe goes only to the pipe address that the live cluster member asking for it announced');
  }

  /**
   * The addresses this node's own pipes are reached at (what it announces in
   * the node registry): the announced address, else the listening one.
   */
  get announcedIps(): string[] {
    return [canonicalIp(this.address.announcedAddress ?? this.address.ip)];
  }

  async open(request: PipeRequest): Promise<PipeAnswer> {
    checkPipeRequest(request);
    // Media between nodes is always encrypted: a request without SRTP keys gets no pipe.
    if (!request.srtpParameters) throw badRequest('a pipe needs SRTP parameters');
    const asking = await this.checkDestination(request);
    const source = await this.sourceOf(request);
    const producerId = source.producer.id;
    // The fan-out is checked and the place taken before any await: concurrent requests see each other.
    const fed = this.fed.get(producerId) ?? new Set<string>();
    this.fed.set(producerId, fed);
    const fanout = this.relay?.fanout ?? Number.POSITIVE_INFINITY;
    const already = fed.has(request.fromNode);
    if (!already && fed.size >= fanout && request.force !== true) {
      throw new SwitchyardError(ErrorCode.LIMIT_EXCEEDED, `this node feeds ${fanout} nodes with ${request.trackName} already (RELAY_FANOUT)`);
    }
    fed.add(request.fromNode);
    const key = `${producerId}|${request.fromNode}`;
    const giveBack = () => {
      if (already || this.consumers.has(key)) return;
      fed.delete(request.fromNode);
      if (fed.size === 0 && this.fed.get(producerId) === fed) this.fed.delete(producerId);
    };
    let transport: types.PipeTransport;
    try {
      transport = await source.router.createPipeTransport({ listenInfo: pipeListenInfo(this.address), enableSrtp: true, enableRtx: true });
    } catch (error) {
      giveBack();
      throw error;
    }
    const opening = transport;
    try {
      await transport.connect({ ip: request.ip, port: request.port, srtpParameters: request.srtpParameters });
      const consumer = await transport.consume({ producerId });
      const layers = source.view.simulcastRids.length;
      // Every layer counts as wanted until the other node says what its subscribers prefer (setDemand()).
      if (layers > 1) this.demand.want(producerId, consumer.id, this.reported.get(key) ?? layers - 1);
      const ofNode = this.consumers.get(key) ?? new Set();
      this.consumers.set(key, ofNode);
      ofNode.add(consumer);
      // A relay's inbound pipe was replaced (its own parent died): the node below must take the track again.
      if (source.relayed) consumer.once('producerclose', () => this.tellUpstreamLost(request, asking.url));
      consumer.observer.once('close', () => {
        this.demand.release(producerId, consumer.id);
        ofNode.delete(consumer);
        if (ofNode.size === 0 && this.consumers.get(key) === ofNode) {
          this.consumers.delete(key);
          this.reported.delete(key);
          fed.delete(request.fromNode);
          if (fed.size === 0 && this.fed.get(producerId) === fed) this.fed.delete(producerId);
          this.relay?.fedNodeLeft(producerId);
        }
        transport.close();
      });
      this.remember(request.fromNode, transport);
      const local = transport.tuple;
      this.logger.info({ session: request.sessionId, track: request.trackName, toNode: request.fromNode, relayed: source.relayed }, 'piping a track to another node');
      return {
        ip: local.localAddress,
        port: local.localPort,
        ...(transport.srtpParameters ? { srtpParameters: transport.srtpParameters } : {}),
        producerId,
        kind: consumer.kind,
        rtpParameters: consumer.rtpParameters,
        paused: consumer.producerPaused,
        view: source.view,
        carrier: source.carrier,
      };
    } catch (error) {
      opening.close();
      giveBack();
      throw error;
    }
  }

  /** The producer a pipe request is served from: this node's own track, or one it carries for others (a relay). */
  private async sourceOf(request: PipeRequest): Promise<{ producer: types.Producer; router: types.Router; view: TrackView; carrier: Carrier; relayed: boolean }> {
    const track = this.tracks.get(request.sessionId, request.trackName);
    const self = this.relay?.cluster.nodeId ?? '';
    if (track) return { producer: track.producer, router: track.router, view: trackView(track), carrier: { nodeId: self, region: this.relay?.cluster.topology.region ?? 'default', depth: 0, path: [] }, relayed: false };
    const carried = await this.relay?.carrying(request.sessionId, request.trackName, request.attach === true, request.fromNode);
    if (!carried || carried.producer.closed) throw trackNotFound(request.sessionId, request.trackName);
    if (carried.carrier.path.includes(request.fromNode)) {
      // The asking node is above this one in the tree: feeding it would make a loop.
      throw new SwitchyardError(ErrorCode.LIMIT_EXCEEDED, `this node takes ${request.trackName} from below the asking node`);
    }
    return { producer: carried.producer, router: carried.router, view: carried.view, carrier: carried.carrier, relayed: true };
  }

  /**
   * Tells a fed node that this relay's inbound pipe of the track was replaced
   * (its own parent died), so that it takes the track again: only while the
   * relay is re-attaching (a track that ended is told by the event log), at
   * the URL the node had when it asked (Redis may be away now), three tries.
   */
  private tellUpstreamLost(request: PipeRequest, url: string): void {
    const relay = this.relay;
    if (!relay?.moving(request.sessionId, request.trackName)) return;
    void (async () => {
      for (let attempt = 0; attempt < 3; attempt += 1) {
        try {
          await callNode(relay.cluster, url, 'upstreamLost', { sessionId: request.sessionId, trackName: request.trackName, fromNode: relay.cluster.nodeId });
          return;
        } catch (error) {
          this.logger.debug({ err: error, toNode: request.fromNode, attempt }, 'could not tell a fed node that this node lost a track');
          await new Promise((resolve) => setTimeout(resolve, 200 * (attempt + 1)));
        }
      }
    })();
  }

  /**
   * The view of one of this node's tracks or data channels, for a node that
   * wants to pull it before the cluster's directory has it (its publication
   * reaches Redis after pushTracks returns, so that push costs no round trip).
   */
  view(request: { sessionId?: unknown; trackName?: unknown }): TrackView {
    if (typeof request.sessionId !== 'string' || typeof request.trackName !== 'string') throw badRequest('a track view request needs sessionId and trackName');
    const published = this.tracks.get(request.sessionId, request.trackName) ?? this.dataChannels.get(request.sessionId, request.trackName);
    if (!published) throw trackNotFound(request.sessionId, request.trackName);
    return trackView(published);
  }

  /** Nodes this node feeds with a producer now. */
  feeds(producerId: string): number {
    return this.fed.get(producerId)?.size ?? 0;
  }

  /** The pipes this node sends, one per (producer, node), for the link table and metrics. */
  links(): { producerId: string; toNode: string }[] {
    return [...this.fed].flatMap(([producerId, nodes]) => [...nodes].map((toNode) => ({ producerId, toNode })));
  }

  /**
   * A data channel for another node's subscribers: a PipeTransport with SCTP
   * on the channel's router and a DataConsumer of it. mediasoup's pipes carry
   * SCTP in the clear (no DTLS, unlike the SRTP of media pipes), which
   * docs/cluster.md says: nodes belong on a private network.
   */
  async openData(request: PipeRequest): Promise<DataPipeAnswer> {
    checkPipeRequest(request);
    await this.checkDestination(request);
    const channel = this.dataChannels.get(request.sessionId, request.trackName);
    if (!channel) throw trackNotFound(request.sessionId, request.trackName);
    const transport = await channel.router.createPipeTransport({ listenInfo: pipeListenInfo(this.address), enableSctp: true });
    try {
      await transport.connect({ ip: request.ip, port: request.port });
      const consumer = await transport.consumeData({ dataProducerId: channel.dataProducer.id });
      if (!consumer.sctpStreamParameters) throw new Error('a piped data consumer has no SCTP stream');
      consumer.observer.once('close', () => transport.close());
      this.remember(request.fromNode, transport);
      this.logger.info({ session: request.sessionId, dataChannel: request.trackName, toNode: request.fromNode }, 'piping a data channel to another node');
      return {
        ip: transport.tuple.localAddress,
        port: transport.tuple.localPort,
        dataProducerId: channel.dataProducer.id,
        sctpStreamParameters: consumer.sctpStreamParameters,
        label: consumer.label,
        protocol: consumer.protocol,
        view: trackView(channel),
      };
    } catch (error) {
      transport.close();
      throw error;
    }
  }

  /**
   * Another node's subscribers of a track want layers up to `layer`: that
   * node's pipe counts as one consumer preferring it, so the publisher here
   * keeps sending what subscribers anywhere watch, and no more.
   */
  setDemand(request: { producerId: string; fromNode: string; layer: number }): { counted: boolean } {
    if (typeof request.producerId !== 'string' || typeof request.fromNode !== 'string' || !Number.isInteger(request.layer)) {
      throw badRequest('a demand needs producerId, fromNode and layer');
    }
    const key = `${request.producerId}|${request.fromNode}`;
    const ofNode = this.consumers.get(key);
    if (!ofNode) return { counted: false };
    this.reported.set(key, request.layer);
    for (const consumer of ofNode) this.demand.want(request.producerId, consumer.id, request.layer);
    return { counted: true };
  }

  /**
   * A node closed its end of a pipe this node sends (its last subscriber of
   * the track left): this end closes too, so a relay whose last fed node
   * left can close its own inbound pipe in turn. The pipe is named by this
   * end's port: a new pipe to the same node for the same track stays.
   */
  unpipe(request: { fromNode?: unknown; port?: unknown }): { closed: boolean } {
    if (typeof request.fromNode !== 'string' || !Number.isInteger(request.port)) throw badRequest('unpipe needs fromNode and port');
    for (const transport of this.towards.get(request.fromNode) ?? []) {
      if (transport.tuple.localPort !== request.port) continue;
      transport.close();
      return { closed: true };
    }
    return { closed: false };
  }

  /** Closes every pipe towards a node that is gone. */
  closeTowards(nodeId: string): void {
    for (const transport of this.towards.get(nodeId) ?? []) transport.close();
    this.towards.delete(nodeId);
  }

  /** Pipes open now, for tests and metrics. */
  get size(): number {
    let count = 0;
    for (const set of this.towards.values()) count += set.size;
    return count;
  }

  private remember(nodeId: string, transport: types.PipeTransport): void {
    const set = this.towards.get(nodeId) ?? new Set();
    this.towards.set(nodeId, set);
    set.add(transport);
    transport.observer.once('close', () => {
      set.delete(transport);
      if (set.size === 0 && this.towards.get(nodeId) === set) this.towards.delete(nodeId);
    });
  }
}
