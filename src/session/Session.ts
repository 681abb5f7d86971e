import type { types } from 'mediasoup';
import type { SimulcastPolicy } from '../media/simulcastPolicy.js';
import type { MediaWorker } from '../media/workerPool.js';
import type { DtlsFingerprint, DtlsSetup } from '../sdp/types.js';
import { writeDescription, type LocalSection } from '../sdp/write.js';
import type { PublishedTrack, TrackStatus, TrackView } from '../tracks/PublishedTrack.js';
import type { NegotiationState } from './negotiation.js';
import { SerialQueue } from './SerialQueue.js';
import { silentLogger, type Logger } from '../logger.js';

export type PeerConnectionState = 'NEW' | 'CONNECTING' | 'CONNECTED' | 'DISCONNECTED' | 'FAILED' | 'CLOSED';

/** The track a transceiver pulls, as this node knows it: a track of its own, or one of another node (kept current from events). */
export type PulledSource = TrackView & { readonly status: TrackStatus };

/** A pulled track on one transceiver: the source and the consumer that forwards it. */
export interface PulledTrack {
  readonly source: PulledSource;
  readonly consumer: types.Consumer;
  /** For a simulcast source: which layer this subscriber gets. */
  readonly simulcast?: SimulcastPolicy;
  /** The source went away (unpublished, closed); the transceiver stays, inactive. */
  ended: boolean;
}

/** One m-section of the session's PeerConnection, with what it carries. */
export interface Transceiver {
  section: LocalSection;
  /** LOCAL: a track this session pushes. */
  pushed?: PublishedTrack;
  /** REMOTE: a track this session pulls (on the same m-section as `pushed` after a pull with mid "#name"). */
  pulled?: PulledTrack;
  /** Offered by the SFU and not answered yet. */
  pending?: boolean;
  /** The SFU offered this m-section for the client to publish on (pushTracks without an offer). */
  pendingPush?: { trackName: string; tags: string[] };
  /**
   * The SFU's pending offer added this m-section: the client has never
   * applied a description with it, so withdrawing the offer removes it.
   */
  addedByPendingOffer?: boolean;
}


/** One data channel of the session: one SCTP stream id, the same in both directions. */
export interface SessionDataChannel {
  /** The SCTP stream id (the client's channel is negotiated with this id). */
  readonly id: number;
  readonly location: 'LOCAL' | 'REMOTE';
  /** LOCAL: the channel this session publishes. REMOTE: the source channel it subscribes to. */
  readonly source: PulledSource;
  /** LOCAL: the DataProducer the client's messages arrive on. */
  readonly dataProducer?: types.DataProducer;
  /** LOCAL: what keeps mediasoup from giving this stream id to a channel the SFU sends on (SctpStreamIds). */
  readonly reservation?: types.DataConsumer;
  /** REMOTE: the DataConsumer that sends the source's messages. */
  readonly consumer?: types.DataConsumer;
  /** Closed on request (closeDataChannels): no DATA_CHANNEL_ENDED for it. */
  closing?: boolean;
  /** REMOTE, reliable: closed because the subscriber could not keep up (DATA_CHANNEL_ENDED, reason OVERFLOW). */
  overflowed?: boolean;
}

/** Our DTLS role once the transport is connected (mediasoup's terms). */
export type DtlsRole = 'client' | 'server';

/**
 * One client's PeerConnection as the SFU sees it: one WebRtcTransport on one
 * worker, the m-sections in order, and where the offer/answer exchange stands.
 * The session engine (SessionService) changes it; nothing else does.
 */
/**
 * Sessions belong to one app. `owner` is the client-token subject that
 * created it (null when the app's backend did): that subject may act on it.
 */
export interface SessionOwnership {
  readonly appId: string;
  readonly owner: string | null;
}

export class Session {
  readonly createdAt = new Date();
  readonly queue = new SerialQueue();
  transceivers: Transceiver[] = [];
  /** Data channels published and subscribed over the session's SCTP association. */
  dataChannels: SessionDataChannel[] = [];
  /**
   * Stream ids 0 and 1, held from mediasoup's allocator once the session uses
   * data channels: a client's first non-negotiated channel (the bootstrap
   * that brings up SCTP) takes one of them.
   */
  bootstrapStreams: types.DataConsumer[] | undefined;
  private negotiationState: NegotiationState = 'stable';
  /** The client's DTLS fingerprint, fixed by its first description. */
  remoteFingerprint: DtlsFingerprint | undefined;
  /** The client's ICE credentials as last described: new ones in an offer are an ICE restart. */
  remoteIce: { ufrag: string; pwd: string } | undefined;
  localDtlsRole: DtlsRole | undefined;
  /** What the client can receive, from its own SDP; undefined until it described media. */
  clientCapabilities: types.RtpCapabilities | undefined;
  closed = false;
  /** Why the session ended, for its last log line (set by whoever closes it). */
  closeReason: string | undefined;
  /**
   * The session's logger: every line carries its app, id and correlation id
   * (pino child bindings). Replaced by the engine when it creates the session.
   */
  log: Logger = silentLogger;
  /**
   * Work waiting for the SFU's pending offer to be answered or withdrawn
   * (a pull following its moved source): a second offer made meanwhile
   * could be taken for answered by the client's answer to the first.
   */
  readonly whenStable: (() => void)[] = [];

  /** Where the offer/answer exchange stands. */
  get negotiation(): NegotiationState {
    return this.negotiationState;
  }

  /** Back to stable (a pending offer answered or withdrawn, a client offer answered): what waited for it runs (each queues its own work). */
  set negotiation(state: NegotiationState) {
    this.negotiationState = state;
    if (state === 'stable') for (const waiter of this.whenStable.splice(0)) waiter();
  }

  /** SHA-256 of the session's resume secret (src/moves/resumeSecret.ts): resumeSession needs the secret. */
  resumeSecretHash = '';
  /**
   * Names this session published before it moved (resumeSession) and has not
   * published again yet, with their last views: publishing one again is a
   * MOVED, not a PUBLISHED; one left here past the resume grace is unpublished.
   */
  readonly movedNames = new Map<string, TrackView>();
  /** false: the client sends no ICE consent checks, so liveness follows its media (SessionLiveness). */
  iceConsentChecks = true;
  private iceState: types.IceState = 'new';
  private dtlsState: types.DtlsState = 'new';
  private descriptionVersion = 0;

  constructor(
    readonly id: string,
    readonly correlationId: string | null,
    readonly worker: MediaWorker,
    readonly transport: types.WebRtcTransport,
    /** The app the session belongs to, and who in it may act on it. */
    readonly ownership: SessionOwnership,
  ) {
    transport.on('icestatechange', (state) => {
      this.iceState = state;
      this.notifyConnected();
    });
    transport.on('dtlsstatechange', (state) => {
      this.dtlsState = state;
      this.notifyConnected();
    });
  }

  private readonly connectedWaiters = new Set<() => void>();

  /** Resolves true once the PeerConnection is CONNECTED, false after `timeoutMs` or when the session closes. */
  whenConnected(timeoutMs: number): Promise<boolean> {
    if (this.connectionState === 'CONNECTED') return Promise.resolve(true);
    if (this.closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (connected: boolean) => {
        clearTimeout(timer);
        this.connectedWaiters.delete(onChange);
        resolve(connected);
      };
      const onChange = () => {
        if (this.connectionState === 'CONNECTED') done(true);
        else if (this.closed || this.transport.closed) done(false);
      };
      const timer = setTimeout(() => done(false), timeoutMs);
      this.connectedWaiters.add(onChange);
    });
  }

  private notifyConnected(): void {
    for (const waiter of [...this.connectedWaiters]) waiter();
    const state = this.connectionState;
    if (state !== this.lastReportedState) {
      this.lastReportedState = state;
      this.onConnectionStateChange?.(state);
    }
  }

  private lastReportedState: PeerConnectionState = 'NEW';
  /** Called when the connection state changes (set by the session engine). */
  onConnectionStateChange: ((state: PeerConnectionState) => void) | undefined;
  /** The SFU's offer while it waits for the client's answer. */
  pendingOffer: string | undefined;

  get router(): types.Router {
    return this.worker.router;
  }

  /** The client ended DTLS (its close alert, sent by pc.close()) or DTLS failed: the PeerConnection is gone for good. */
  get dtlsGone(): boolean {
    return this.dtlsState === 'closed' || this.dtlsState === 'failed';
  }

  get connectionState(): PeerConnectionState {
    if (this.closed || this.transport.closed) return 'CLOSED';
    if (this.dtlsState === 'failed' || this.dtlsState === 'closed') return 'FAILED';
    if (this.iceState === 'disconnected') return 'DISCONNECTED';
    const iceUp = this.iceState === 'connected' || this.iceState === 'completed';
    if (iceUp && this.dtlsState === 'connected') return 'CONNECTED';
    if (iceUp || this.dtlsState === 'connecting') return 'CONNECTING';
    return 'NEW';
  }

  /**
   * The a=setup the SFU writes: in offers actpass until DTLS is set up; in
   * answers active unless the client already took active; afterwards the
   * role DTLS was set up with.
   */
  localSetup(forAnswer: boolean, remoteSetup?: DtlsSetup): DtlsSetup {
    if (this.localDtlsRole) return this.localDtlsRole === 'server' ? 'passive' : 'active';
    if (!forAnswer) return 'actpass';
    return remoteSetup === 'active' ? 'passive' : 'active';
  }

  /** Writes the SFU's description of the given sections (the current ones by default). */
  describe(setup: DtlsSetup, sections: LocalSection[] = this.transceivers.map((t) => t.section)): string {
    this.descriptionVersion += 1;
    return writeDescription({
      originId: this.originId,
      version: this.descriptionVersion,
      transport: {
        iceParameters: this.transport.iceParameters,
        iceCandidates: this.transport.iceCandidates,
        fingerprints: this.transport.dtlsParameters.fingerprints,
        setup,
      },
      sections,
    });
  }

  /** The session's data channel m-section (SCTP over the bundled DTLS transport). */
  dataSection(mid: string): LocalSection {
    return {
      mid,
      kind: 'application',
      direction: 'sendrecv',
      rejected: false,
      codecs: [],
      headerExtensions: [],
      sctp: {
        port: this.transport.sctpParameters?.port ?? 5000,
        maxMessageSize: this.transport.sctpParameters?.maxMessageSize ?? 262144,
      },
    };
  }

  /** Status of a transceiver's track as the session sees it: the pulled one (REMOTE) or the pushed one (LOCAL), which one transceiver may both carry. */
  transceiverStatus(transceiver: Transceiver, side: 'LOCAL' | 'REMOTE' = transceiver.pulled ? 'REMOTE' : 'LOCAL'): TrackStatus {
    if (transceiver.section.rejected || transceiver.section.direction === 'inactive') return 'INACTIVE';
    if (side === 'LOCAL' && transceiver.pushed) return this.connectionState !== 'CONNECTED' ? 'WAITING' : transceiver.pushed.status;
    if (transceiver.pending || this.connectionState !== 'CONNECTED') return 'WAITING';
    if (transceiver.pulled) return transceiver.pulled.ended ? 'INACTIVE' : transceiver.pulled.source.status;
    return transceiver.pushed?.status ?? 'WAITING';
  }

  /** How publishing `name` is announced: MOVED for a name this session published before it moved, else PUBLISHED. */
  claimName(name: string): 'PUBLISHED' | 'MOVED' {
    return this.movedNames.delete(name) ? 'MOVED' : 'PUBLISHED';
  }

  /** Names this session publishes now or has asked to publish: its tracks' and its data channels' (one name space). */
  publishedNames(): Set<string> {
    return new Set([
      ...this.transceivers.flatMap((t) => (t.pushed ? [t.pushed.name] : t.pendingPush ? [t.pendingPush.trackName] : [])),
      ...this.dataChannels.filter((c) => c.location === 'LOCAL').map((c) => c.source.name),
    ]);
  }

  /** A mid that no m-section of this session has used. */
  nextMid(taken: Iterable<string> = []): string {
    const used = new Set([...this.transceivers.map((t) => t.section.mid), ...taken]);
    let n = this.transceivers.length;
    while (used.has(String(n))) n += 1;
    return String(n);
  }

  /** The o= session id: numeric, derived from the session id so it stays stable. */
  private get originId(): string {
    return BigInt(`0x${this.id.replace(/-/g, '').slice(0, 15)}`).toString();
  }
}
