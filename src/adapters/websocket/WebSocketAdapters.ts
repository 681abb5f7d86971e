import { EventEmitter } from 'node:events';
import type { AccessPolicy } from '../../auth/access.js';
import { ErrorCode, SwitchyardError, badRequest, trackNotFound } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { PlainRtpPublisher } from '../../media/plainPublisher.js';
import type { WorkerPool } from '../../media/workerPool.js';
import { RtpTap } from '../../mediaout/RtpTap.js';
import type { PublishedTrack } from '../../tracks/PublishedTrack.js';
import type { TrackRegistry } from '../../tracks/TrackRegistry.js';
import type { AdapterConfig } from '../config.js';
import { JpegEgress } from './JpegEgress.js';
import { MAX_PACKET_BYTES } from './packet.js';
import { PcmEgress } from './PcmEgress.js';
import { PcmIngest } from './PcmIngest.js';
import type { AdapterRequest, EgressRequest, IngestRequest } from './requests.js';
import { AdapterConnectError, connectService } from './serviceSocket.js';
import { WebSocketAdapter } from './WebSocketAdapter.js';

export interface WebSocketAdaptersOptions {
  config: AdapterConfig;
  pool: WorkerPool;
  /** The node's published tracks: egress taps them, ingest publishes into them. */
  tracks: TrackRegistry;
  /** New ids (adapters, ingest sessions) that name this node in a cluster, so calls about them reach it. */
  newId: () => string;
  logger: Logger;
}

/** Closed adapters are remembered this long, so that closing one again answers as Cloudflare's idempotent close does. */
const CLOSED_KEPT_MS = 60 * 60 * 1000;
const CLOSED_KEPT_MAX = 10_000;

/** A refusal of the service's connection, as an API error that carries Cloudflare's code (extensions.adapterErrorCode). */
function connectError(error: AdapterConnectError): SwitchyardError {
  const code = error.errorCode === 'invalid_params' ? ErrorCode.BAD_REQUEST : error.errorCode === 'websocket_localhost_not_allowed' ? ErrorCode.FORBIDDEN : ErrorCode.UNAVAILABLE;
  return new SwitchyardError(code, error.message, { extensions: { adapterErrorCode: error.errorCode } });
}

/**
 * The node's WebSocket adapters (Cloudflare's media transport adapters):
 * creates them against a caller's access rules and limits, holds them, and
 * closes them. Each runs on this node: an egress one taps its track where it
 * is published here (the API routes a request to the publishing session's
 * node), an ingest one publishes a track under a new session id of this
 * node. `state` events announce every change for the API's subscriptions.
 */
export class WebSocketAdapters extends EventEmitter<{ state: [adapter: WebSocketAdapter] }> {
  private readonly adapters = new Map<string, WebSocketAdapter>();
  private readonly closed = new Map<string, WebSocketAdapter>();
  /** Creates under way, by app and by source session: they count against the limits too. */
  private readonly creating = { apps: new Map<string, number>(), sessions: new Map<string, number>() };

  constructor(private readonly options: WebSocketAdaptersOptions) {
    super();
  }

  /** Creates one adapter, connected to its service; throws with a stable code and leaves nothing open when it cannot. */
  async create(access: AccessPolicy, request: AdapterRequest): Promise<WebSocketAdapter> {
    this.checkGrant(access);
    // The slot is taken before the first await: concurrent creates count each other (MAX_ADAPTERS_*).
    const release = this.reserve(access.appId, request.location === 'remote' ? request.sessionId : undefined);
    let adapter: WebSocketAdapter;
    try {
      adapter = request.location === 'local' ? await this.createIngest(access, request) : await this.createEgress(access, request);
    } finally {
      release();
    }
    this.adapters.set(adapter.id, adapter);
    adapter.on('state', () => {
      if (!adapter.open) this.forget(adapter);
      this.emit('state', adapter);
    });
    this.options.logger.info({ adapter: adapter.id, location: adapter.location, session: adapter.sessionId, track: adapter.trackName, codec: adapter.codec }, 'WebSocket adapter connected');
    this.emit('state', adapter);
    return adapter;
  }

  /** An adapter of this node the caller may see (open, or closed within the last hour). */
  get(access: AccessPolicy, id: string): WebSocketAdapter | undefined {
    const adapter = this.adapters.get(id) ?? this.closed.get(id);
    return adapter && this.visible(access, adapter) ? adapter : undefined;
  }

  /** Open adapters the caller may see, of one session (its track's or the one it created) when given. */
  list(access: AccessPolicy, sessionId?: string | null): WebSocketAdapter[] {
    return [...this.adapters.values()].filter((a) => this.visible(access, a) && (sessionId == null || a.sessionId === sessionId));
  }

  /** Closes an adapter (idempotent: a closed one is answered as it is); undefined when the caller knows no such adapter. */
  close(access: AccessPolicy, id: string): WebSocketAdapter | undefined {
    this.checkGrant(access);
    const adapter = this.get(access, id);
    if (adapter?.open) adapter.link?.close('closed by the API');
    return adapter;
  }

  /** The node stops: every adapter closes. */
  closeAll(): void {
    for (const adapter of [...this.adapters.values()]) adapter.link?.close('the node stopped');
  }

  /** Every open adapter of this node, whoever's (metrics). */
  get open(): readonly WebSocketAdapter[] {
    return [...this.adapters.values()];
  }

  /** Takes a slot of the app's and the source session's limits, or throws LIMIT_EXCEEDED; answers how to give it back. */
  private reserve(appId: string, sessionId: string | undefined): () => void {
    const { config } = this.options;
    const open = [...this.adapters.values()];
    const inApp = open.filter((a) => a.appId === appId).length + (this.creating.apps.get(appId) ?? 0);
    if (inApp >= config.maxPerApp) throw new SwitchyardError(ErrorCode.LIMIT_EXCEEDED, `the app holds ${config.maxPerApp} adapters on this node already (MAX_ADAPTERS_PER_APP)`);
    if (sessionId !== undefined) {
      const ofSession = open.filter((a) => a.location === 'remote' && a.sessionId === sessionId).length + (this.creating.sessions.get(sessionId) ?? 0);
      if (ofSession >= config.maxPerSession) throw new SwitchyardError(ErrorCode.LIMIT_EXCEEDED, `session ${sessionId} has ${config.maxPerSession} adapters already (MAX_ADAPTERS_PER_SESSION)`);
    }
    const count = (map: Map<string, number>, key: string, by: number) => {
      const value = (map.get(key) ?? 0) + by;
      if (value > 0) map.set(key, value);
      else map.delete(key);
    };
    count(this.creating.apps, appId, 1);
    if (sessionId !== undefined) count(this.creating.sessions, sessionId, 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      count(this.creating.apps, appId, -1);
      if (sessionId !== undefined) count(this.creating.sessions, sessionId, -1);
    };
  }

  private visible(access: AccessPolicy, adapter: WebSocketAdapter): boolean {
    if (adapter.appId !== access.appId) return false;
    return access.principal.kind === 'app' || adapter.owner === access.owner;
  }

  private checkGrant(access: AccessPolicy): void {
    const p = access.principal;
    if (p.kind === 'client' && !p.grant.adapters) throw new SwitchyardError(ErrorCode.FORBIDDEN, 'this token may not create or close WebSocket adapters (grant.adapters)');
  }

  private connection(request: AdapterRequest, maxPayload?: number) {
    const { config } = this.options;
    return { policy: config.endpoints, handshakeTimeoutMs: config.handshakeTimeoutMs, headers: request.headers, subprotocols: request.subprotocols, maxPayload };
  }

  private async createEgress(access: AccessPolicy, request: EgressRequest): Promise<WebSocketAdapter> {
    const track = this.options.tracks.get(request.sessionId, request.trackName);
    if (!track || access.track(track) === 'hidden') throw trackNotFound(request.sessionId, request.trackName);
    if (access.track(track) === 'forbidden') throw new SwitchyardError(ErrorCode.FORBIDDEN, `this token may not pull ${request.trackName}`);
    if (request.codec === 'pcm' && !track.producer.rtpParameters.codecs[0]?.mimeType.toLowerCase().endsWith('/opus')) throw badRequest(`outputCodec pcm needs an Opus audio track; ${request.trackName} is ${track.kind}`);
    if (request.codec === 'jpeg' && track.kind !== 'video') throw badRequest(`outputCodec jpeg needs a video track; ${request.trackName} is ${track.kind}`);
    if (request.codec === 'jpeg' && request.jpeg.frameRate > this.options.config.maxJpegFrameRate) throw badRequest(`frameRate may be at most ${this.options.config.maxJpegFrameRate} on this server (ADAPTER_MAX_JPEG_FRAME_RATE)`);
    const tap = await RtpTap.open(track.router, track.producer.id);
    const { config } = this.options;
    const options = { ...this.connection(request), endpoint: request.endpoint, reconnectWindowMs: config.reconnectWindowMs };
    let link: PcmEgress | JpegEgress;
    try {
      link = request.codec === 'pcm' ? await PcmEgress.start(tap, { ...options, backlogMessages: config.egressBacklogPackets, format: request.format }) : await JpegEgress.start(tap, { ...options, jpeg: request.jpeg });
    } catch (error) {
      tap.close();
      throw error instanceof AdapterConnectError ? connectError(error) : error;
    }
    const adapter = new WebSocketAdapter(this.options.newId(), access.appId, access.owner, 'remote', request.sessionId, request.trackName, request.endpoint, request.codec, request.codec === 'pcm' ? request.format : null, request.codec === 'jpeg' ? request.jpeg : null);
    adapter.link = link;
    link.socket.on('state', (state) => adapter.setState(state));
    link.socket.once('closed', (reason, failed) => adapter.ended(reason, failed));
    // The track ended while the service was connecting (the tap's close came before anything listened): nothing is left.
    if (tap.closed) {
      link.close('the track ended');
      throw trackNotFound(request.sessionId, request.trackName);
    }
    return adapter;
  }

  private async createIngest(access: AccessPolicy, request: IngestRequest): Promise<WebSocketAdapter> {
    const refusal = access.publishRefusal(request.trackName, request.tags);
    if (refusal) throw new SwitchyardError(ErrorCode.FORBIDDEN, refusal);
    // The publisher first: once the service's socket is open, its first messages must find the ingest listening.
    const worker = this.options.pool.pick();
    const publisher = await PlainRtpPublisher.open(worker.router);
    let socket;
    try {
      socket = await connectService(request.endpoint, this.connection(request, MAX_PACKET_BYTES));
    } catch (error) {
      publisher.close();
      throw error instanceof AdapterConnectError ? connectError(error) : error;
    }
    const sessionId = this.options.newId();
    const track: PublishedTrack = {
      appId: access.appId,
      owner: access.owner,
      sessionId,
      name: request.trackName,
      kind: 'audio',
      tags: [...request.tags],
      simulcastRids: [],
      publishedAt: new Date(),
      producer: publisher.producer,
      router: worker.router,
      status: 'WAITING',
      muted: false,
    };
    const ingest = new PcmIngest(socket, publisher, { format: request.format, bufferMs: this.options.config.ingestBufferMs });
    const adapter = new WebSocketAdapter(this.options.newId(), access.appId, access.owner, 'local', sessionId, request.trackName, request.endpoint, 'pcm', request.format, null);
    adapter.link = ingest;
    this.options.tracks.publish(track);
    ingest.once('closed', (reason, failed) => {
      this.options.tracks.unpublish(track);
      adapter.ended(reason, failed);
    });
    return adapter;
  }

  private forget(adapter: WebSocketAdapter): void {
    this.adapters.delete(adapter.id);
    this.closed.set(adapter.id, adapter);
    setTimeout(() => this.closed.delete(adapter.id), CLOSED_KEPT_MS).unref();
    if (this.closed.size > CLOSED_KEPT_MAX) this.closed.delete(this.closed.keys().next().value!);
    this.options.logger.info({ adapter: adapter.id, state: adapter.state, reason: adapter.reason, bytes: adapter.bytesProcessed }, 'WebSocket adapter closed');
  }
}
