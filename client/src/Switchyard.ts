import {
  CLOSE_SESSION,
  CLOSE_TRACKS,
  CREATE_SESSION,
  PUSH_TRACKS,
  SESSION_EVENTS,
  SET_TRACK_MUTED,
  UPDATE_TRACKS,
} from './documents.js';
import { readLayers, readQuality, readStats } from './sessionReads.js';
import { DataChannels } from './DataChannels.js';
import { Emitter } from './Emitter.js';
import { SwitchyardError } from './errors.js';
import { IceRestart } from './IceRestart.js';
import { PulledTracks } from './PulledTracks.js';
import { SessionMover, type MoverHost, type PushedTrack } from './SessionMover.js';
import { relayConfiguration } from './iceServers.js';
import { asSwitchyardError, Negotiation, setLocal, trackError } from './negotiation.js';
import { OperationQueue } from './OperationQueue.js';
import { PullBatcher } from './PullBatcher.js';
import { SenderLayers } from './SenderLayers.js';
import { TrackWatch, type TrackWatchListener } from './TrackWatch.js';
import { sourceOf, transceiverOf } from './transceivers.js';
import { httpTransport, type Transport } from './transport.js';
import type {
  ConnectionQuality,
  ConnectOptions,
  LocalTrack,
  PublishDataOptions,
  PullOptions,
  PushOptions,
  SessionDescriptionData,
  SessionEventData,
  SessionStats,
  SimulcastPreference,
  SwitchyardEvents,
  TrackFilter,
  TrackLayers,
  TracksPayload,
} from './types.js';

export type { ConnectOptions, LocalTrack, PublishDataOptions, PullOptions, PushOptions, SwitchyardEvents, TrackLayers } from './types.js';


const EVENTS_RETRY_MS = 1000;

/**
 * One Switchyard session: one RTCPeerConnection with the SFU, over which
 * this client pushes its tracks and pulls others'. Every operation runs the
 * SDP offer/answer itself, one at a time; the application sees tracks.
 *
 * ```ts
 * const sfu = await Switchyard.connect({ url: 'https://sfu.example.com', token });
 * await sfu.push(camera, { name: 'camera', tags: ['room:lobby'] });
 * video.srcObject = new MediaStream([await sfu.pull(otherSessionId, 'camera')]);
 * ```
 */
export class Switchyard extends Emitter<SwitchyardEvents> {
  private readonly queue = new OperationQueue();
  /** setMuted calls, in order; apart from `queue` so that a mute never waits for a negotiation. */
  private readonly mutes = new OperationQueue();
  private readonly local = new Map<string, PushedTrack>();
  private readonly pulled = new PulledTracks();
  private pulls!: PullBatcher;
  private negotiation!: Negotiation;
  private iceRestart!: IceRestart;
  private data!: DataChannels;
  private currentPc: RTCPeerConnection;
  private currentTransport: Transport;
  /** Moves the session to a new PeerConnection when its node drains or is lost; undefined without a resume secret. */
  private mover: SessionMover | undefined;
  /** Turns unwatched simulcast encodings off; undefined with adaptiveSimulcast: false. */
  private senderLayers: SenderLayers | undefined;
  private stopEvents: (() => void) | undefined;
  /** Fetches fresh TURN credentials into the PeerConnection's configuration; undefined without server relays. */
  private renewRelays: (() => Promise<void>) | undefined;
  private closed = false;

  private constructor(
    readonly sessionId: string,
    pc: RTCPeerConnection,
    transport: Transport,
    private ownsTransport: boolean,
  ) {
    super();
    this.currentPc = pc;
    this.currentTransport = transport;
    this.attach(pc, transport);
  }

  /** The session's PeerConnection now (a move replaces it). */
  get pc(): RTCPeerConnection {
    return this.currentPc;
  }

  /** The GraphQL transport to the session's node now (a move to another node replaces it). */
  get transport(): Transport {
    return this.currentTransport;
  }

  /** Builds what drives one PeerConnection: at connect, and again after a move. */
  private attach(pc: RTCPeerConnection, transport: Transport): void {
    const { sessionId } = this;
    this.negotiation = new Negotiation(pc, transport, sessionId);
    this.pulls = new PullBatcher({ sessionId, transport, pc, negotiation: this.negotiation, operation: (work) => this.operation(work) });
    this.data = new DataChannels({ sessionId, transport, pc, isClosed: () => this.closed, ended: (event) => this.emit('datachannelended', event) });
    this.iceRestart = new IceRestart({
      connectionState: () => this.pc.connectionState,
      // Through the queue: a restart offer never overlaps a push's, a pull's or an answer to the SFU.
      restart: () =>
        this.operation(async () => {
          // Best effort: the credentials in use may still be valid, and if the
          // network is what failed, the restart's own request says so.
          await this.renewRelays?.().catch(() => undefined);
          await this.negotiation.restartIce();
        }),
      attempting: (attempt) => this.emit('icerestart', { attempt }),
      failed: (error) => this.emit('error', error),
    });
    pc.addEventListener('connectionstatechange', () => {
      if (pc !== this.currentPc) return;
      const state = pc.connectionState;
      this.emit('connectionstatechange', state);
      this.iceRestart.onStateChange(state);
      if (state === 'disconnected' || state === 'failed') void this.mover?.checkNode();
    });
  }

  /**
   * Opens the session: a PeerConnection whose first m-section is a data
   * channel (it carries the BUNDLE transport, so media sections can come and
   * go without a new DTLS handshake), and the subscription to its events.
   */
  static async connect(options: ConnectOptions): Promise<Switchyard> {
    if (!options.transport && !options.url) throw new SwitchyardError('BAD_REQUEST', 'connect needs a url or a transport');
    const transport = options.transport ?? httpTransport({ url: options.url as string, ...(options.token ? { token: options.token } : {}) });
    let relays: Awaited<ReturnType<typeof relayConfiguration>>;
    try {
      relays = await relayConfiguration(transport, options);
    } catch (error) {
      if (!options.transport) transport.dispose();
      throw asSwitchyardError(error);
    }
    const { configuration, renew } = relays;
    const pc = options.createPeerConnection ? options.createPeerConnection(configuration) : new RTCPeerConnection(configuration);
    try {
      pc.createDataChannel('switchyard');
      const offer = await setLocal(pc, await pc.createOffer());
      const { createSession } = await transport.request<{
        createSession: { session: { id: string }; sessionDescription: SessionDescriptionData; resumeSecret: string | null };
      }>(CREATE_SESSION, {
        input: {
          sessionDescription: { type: 'OFFER', sdp: offer },
          ...(options.correlationId ? { correlationId: options.correlationId } : {}),
        },
      });
      await pc.setRemoteDescription({ type: 'answer', sdp: createSession.sessionDescription.sdp });
      const client = new Switchyard(createSession.session.id, pc, transport, !options.transport);
      // TURN credentials expire: an ICE restart (a new network, perhaps a new relay) gets fresh ones first.
      if (renew) client.renewRelays = () => renew(client.pc);
      if (options.adaptiveSimulcast !== false) client.senderLayers = new SenderLayers(pc, (error) => client.emit('error', asSwitchyardError(error)));
      if (createSession.resumeSecret) {
        client.mover = new SessionMover(client.moverHost(), {
          resumeSecret: createSession.resumeSecret,
          configuration,
          createPeerConnection: options.createPeerConnection ?? ((c) => new RTCPeerConnection(c)),
          url: options.url ?? null,
          fallbackUrls: options.fallbackUrls ?? [],
          // A node named by MOVE_REQUESTED or a fallback is reached with the same credentials; a transport of the application's stays the one used.
          transportFor: (url) => (options.transport || !url ? null : httpTransport({ url, ...(options.token ? { token: options.token } : {}), ...(options.webSocketImpl ? { webSocketImpl: options.webSocketImpl } : {}) })),
        });
      }
      client.followEvents();
      return client;
    } catch (error) {
      pc.close();
      if (!options.transport) transport.dispose();
      throw asSwitchyardError(error);
    }
  }

  get connectionState(): RTCPeerConnectionState {
    return this.pc.connectionState;
  }

  /** Operations waiting or running. */
  get pendingOperations(): number {
    return this.queue.size;
  }

  /** The tracks this session publishes, by mid. */
  get localTracks(): LocalTrack[] {
    return [...this.local.values()];
  }

  /** Publishes a local track under a name; others pull it as (sessionId, name). */
  push(track: MediaStreamTrack, options: PushOptions): Promise<LocalTrack> {
    return this.operation(async () => {
      const transceiver = this.pc.addTransceiver(track, {
        direction: 'sendonly',
        ...(options.sendEncodings ? { sendEncodings: options.sendEncodings } : {}),
      });
      let payload: TracksPayload;
      try {
        const offer = await this.negotiation.offer();
        ({ pushTracks: payload } = await this.transport.request<{ pushTracks: TracksPayload }>(PUSH_TRACKS, {
          input: {
            sessionId: this.sessionId,
            sessionDescription: { type: 'OFFER', sdp: offer },
            tracks: [{ mid: transceiver.mid, trackName: options.name, tags: options.tags ?? [] }],
          },
        }));
      } catch (error) {
        // Nothing changed at the SFU: take the offer back and forget the transceiver.
        await this.negotiation.rollback();
        transceiver.stop();
        throw error;
      }
      await this.negotiation.applyAnswer(payload.sessionDescription);
      const failure = trackError(payload.tracks[0], options.name);
      if (failure) {
        // The SFU answered the section without publishing it: stop sending on it.
        await transceiver.sender.replaceTrack(null);
        throw failure;
      }
      const mid = transceiver.mid as string;
      const local: PushedTrack = { sessionId: this.sessionId, name: options.name, mid, track, transceiver, muted: false, options };
      this.local.set(mid, local);
      return local;
    });
  }

  /**
   * Pulls another session's track; resolves to the MediaStreamTrack that plays it.
   * Pulls asked for while other operations run are sent together: one
   * pullTracks and one renegotiation for all of them (joining a room of ten
   * costs one offer, not twenty).
   */
  async pull(sessionId: string, trackName: string, options: PullOptions = {}): Promise<MediaStreamTrack> {
    if (this.closed) throw new SwitchyardError('SESSION_NOT_FOUND', 'this session was closed');
    const request = { sessionId, trackName, ...(options.simulcast ? { simulcast: options.simulcast } : {}) };
    const track = await this.pulls.pull(request);
    this.pulled.add({ ...request, track });
    return track;
  }

  /**
   * Pulls a track into a MediaStream to play (video.srcObject = stream). The
   * stream keeps playing when the session moves to another node (drain,
   * crash): the SDK puts the new PeerConnection's track in it.
   */
  async pullStream(sessionId: string, trackName: string, options: PullOptions = {}): Promise<MediaStream> {
    const request = { sessionId, trackName, ...(options.simulcast ? { simulcast: options.simulcast } : {}) };
    const track = await this.pulls.pull(request);
    const stream = new MediaStream([track]);
    this.pulled.add({ ...request, track, stream });
    return stream;
  }

  /** Changes the simulcast layer Switchyard sends for a pulled track. */
  setSimulcast(track: MediaStreamTrack, preference: SimulcastPreference): Promise<void> {
    return this.operation(async () => {
      const transceiver = transceiverOf(this.pc, this.local.values(), track);
      const source = await sourceOf(this.transport, this.sessionId, transceiver);
      const { updateTracks: payload } = await this.transport.request<{ updateTracks: TracksPayload }>(UPDATE_TRACKS, {
        input: { sessionId: this.sessionId, tracks: [{ ...source, mid: transceiver.mid, simulcast: preference }] },
      });
      // A new source on the mid comes with an SFU offer; if the browser refuses it, the SFU withdraws it.
      if (payload.requiresImmediateRenegotiation && payload.sessionDescription) await this.negotiation.answerOffer(payload.sessionDescription.sdp);
      const failure = trackError(payload.tracks[0], 'the simulcast preference');
      if (failure) throw failure;
    });
  }

  /** Stops local or pulled tracks (given as tracks, LocalTracks or mids), with one renegotiation. */
  close(...items: (MediaStreamTrack | LocalTrack | string)[]): Promise<void> {
    return this.operation(async () => {
      const transceivers = items.map((item) => transceiverOf(this.pc, this.local.values(), item));
      const mids = transceivers.map((t) => t.mid as string);
      for (const transceiver of transceivers) {
        this.pulled.forget(transceiver.receiver.track);
        transceiver.stop();
      }
      let payload: TracksPayload;
      try {
        const offer = await this.negotiation.offer();
        ({ closeTracks: payload } = await this.transport.request<{ closeTracks: TracksPayload }>(CLOSE_TRACKS, {
          input: { sessionId: this.sessionId, mids, sessionDescription: { type: 'OFFER', sdp: offer } },
        }));
      } catch (error) {
        // The transceivers are stopped here already; make sure the SFU stops them too.
        await this.negotiation.rollback();
        await this.transport
          .request(CLOSE_TRACKS, { input: { sessionId: this.sessionId, mids, force: true } })
          .catch(() => undefined);
        throw error;
      } finally {
        for (const mid of mids) this.local.delete(mid);
      }
      await this.negotiation.applyAnswer(payload.sessionDescription);
    });
  }

  /**
   * Mutes or unmutes a pushed track (a LocalTrack or its name). Muting takes
   * the track off its sender (replaceTrack(null): nothing is sent, nothing is
   * renegotiated) and tells Switchyard, which reports it MUTED to watchers at
   * once; it stays published and pulled. Unmuting puts the track back.
   */
  setMuted(item: LocalTrack | string, muted: boolean): Promise<void> {
    if (this.closed) return Promise.reject(new SwitchyardError('SESSION_NOT_FOUND', 'this session was closed'));
    return this.mutes.run(async () => {
      const local = typeof item === 'string' ? [...this.local.values()].find((t) => t.name === item) : this.local.get(item.mid);
      if (!local) throw new SwitchyardError('BAD_REQUEST', `this session does not push ${typeof item === 'string' ? item : item.name}`);
      try {
        // The sender first: the media stops when the user asks, whatever the network does next.
        await local.transceiver.sender.replaceTrack(muted ? null : local.track);
      } catch (error) {
        throw asSwitchyardError(error);
      }
      local.muted = muted;
      await this.transport.request(SET_TRACK_MUTED, { input: { sessionId: this.sessionId, trackName: local.name, muted } });
    });
  }

  /** Publishes a data channel (see DataChannels.ts); resolves to the RTCDataChannel to send on. */
  publishData(name: string, options: PublishDataOptions = {}): Promise<RTCDataChannel> {
    return this.data.publish(name, options);
  }

  /** Subscribes to another session's data channel; resolves to the RTCDataChannel its messages arrive on. */
  subscribeData(sessionId: string, name: string): Promise<RTCDataChannel> {
    return this.data.subscribe(sessionId, name);
  }

  /** Unpublishes a published data channel or ends a subscription, and closes the channel. */
  closeData(channel: RTCDataChannel): Promise<void> {
    return this.data.close(channel);
  }

  /** Closes the session at Switchyard and the PeerConnection here; other sessions see its tracks unpublished. */
  async leave(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopEvents?.();
    this.iceRestart.stop();
    await this.queue.idle();
    try {
      await this.transport.request(CLOSE_SESSION, { input: { sessionId: this.sessionId } });
    } catch (error) {
      if (!(error instanceof SwitchyardError && error.code === 'SESSION_NOT_FOUND')) throw error;
    } finally {
      this.shutDown(false);
    }
  }

  /** The simulcast layers of this session's tracks as Switchyard sees them: what is watched of each pushed track, what each pulled one receives. */
  layers(): Promise<TrackLayers[]> {
    return readLayers(this.transport, this.sessionId);
  }

  /** This session's connection quality now; `qualitychange` tells of changes after the first level. */
  quality(): Promise<ConnectionQuality> {
    return readQuality(this.transport, this.sessionId);
  }

  /** What the SFU measures of this session now: bitrates, loss, jitter, round trip and score of each stream. */
  stats(): Promise<SessionStats> {
    return readStats(this.transport, this.sessionId);
  }

  /** Keeps a set of published tracks current (see TrackWatch); the usual way to build a room. */
  async watchTracks(filter: TrackFilter, listener: TrackWatchListener): Promise<TrackWatch> {
    const watch = new TrackWatch(this.transport, filter, listener, (error) => this.emit('error', error));
    await watch.start();
    return watch;
  }

  // ---------------------------------------------------------------------------

  /** Every operation runs alone, after the ones before it; failures are SwitchyardErrors. */
  private operation<T>(work: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new SwitchyardError('SESSION_NOT_FOUND', 'this session was closed'));
    return this.queue.run(async () => {
      try {
        return await work();
      } catch (error) {
        throw asSwitchyardError(error);
      }
    });
  }

  /** Subscribes to the session's events, and again after the subscription failed (lost connection, expired token). */
  private followEvents(): void {
    const stop = this.transport.subscribe<{ sessionEvents: SessionEventData }>(
      SESSION_EVENTS,
      { id: this.sessionId },
      {
        next: ({ sessionEvents: event }) => this.onSessionEvent(event),
        error: (error) => {
          if (this.closed) return;
          this.emit('error', error);
          // A node that died takes its event stream with it, sooner than the PeerConnection notices.
          if (error.code === 'UNAVAILABLE') void this.mover?.checkNode();
          if (error.code === 'SESSION_NOT_FOUND') return;
          const retry = setTimeout(() => {
            if (!this.closed) this.followEvents();
          }, EVENTS_RETRY_MS);
          this.stopEvents = () => clearTimeout(retry);
        },
      },
    );
    this.stopEvents = stop;
  }

  private onSessionEvent(event: SessionEventData): void {
    switch (event.type) {
      case 'RENEGOTIATION_NEEDED':
        // Usually the offer of this client's own pull, answered by then; otherwise one the SFU made by itself.
        void this.operation(() => this.negotiation.answerPendingOffer()).catch((error: SwitchyardError) => this.emit('error', error));
        break;
      case 'TRACK_ENDED': {
        const mid = event.mid as string;
        const track = this.pc.getTransceivers().find((t) => t.mid === mid)?.receiver.track;
        if (track) this.pulled.forget(track);
        this.emit('trackended', { mid, track });
        break;
      }
      case 'LAYERS_IN_DEMAND': {
        const mid = event.mid as string;
        const rids = event.layersInDemand ?? [];
        void this.senderLayers?.apply(mid, rids);
        this.emit('layersindemand', { mid, rids });
        break;
      }
      case 'DATA_CHANNEL_ENDED':
        if (event.dataChannelId != null) this.data.ended(event.dataChannelId, event.dataChannelEndReason ?? 'SOURCE_ENDED');
        break;
      case 'MOVE_REQUESTED':
        // The node drains: the session goes where it says.
        this.mover?.requested(event.moveTo ?? null);
        break;
      case 'MOVED':
        // Resumed on another PeerConnection that is not this one's move (another tab with the secret): this one is over.
        if (!this.mover?.inProgress && !this.closed) {
          this.closed = true;
          this.stopEvents?.();
          this.shutDown(true);
        }
        break;
      case 'CLOSED':
        if (!this.closed) {
          this.closed = true;
          this.stopEvents?.();
          this.shutDown(true);
        }
        break;
      case 'DOMINANT_SPEAKER_CHANGED':
        if (event.speaker && event.mid) {
          const track = this.pc.getTransceivers().find((t) => t.mid === event.mid)?.receiver.track;
          this.emit('dominantspeaker', { mid: event.mid, sessionId: event.speaker.sessionId, trackName: event.speaker.name, track });
        }
        break;
      case 'QUALITY_CHANGED':
        if (event.quality) this.emit('qualitychange', { quality: event.quality });
        break;
      case 'CONNECTION_STATE_CHANGED':
        break; // The PeerConnection reports its own state (connectionstatechange).
    }
  }

  /** What the mover works on: this session's connection and tracks. */
  private moverHost(): MoverHost {
    const session = this;
    return {
      sessionId: this.sessionId,
      get closed() {
        return session.closed;
      },
      get pc() {
        return session.currentPc;
      },
      get transport() {
        return session.currentTransport;
      },
      get negotiation() {
        return session.negotiation;
      },
      get pulls() {
        return session.pulls;
      },
      local: this.local,
      pulled: this.pulled,
      exclusive: (work) => this.queue.run(work),
      operation: (work) => this.operation(work),
      adopt: (pc, transport) => this.adopt(pc, transport),
      detach: () => {
        this.stopEvents?.();
        this.iceRestart.stop();
      },
      followEvents: () => this.followEvents(),
      emit: (event, payload) => this.emit(event, payload),
    };
  }

  /** A move's new PeerConnection (and transport, for another node) becomes the session's; the old one closes. */
  private adopt(pc: RTCPeerConnection, transport: Transport): void {
    const old = this.currentPc;
    if (transport !== this.currentTransport && this.ownsTransport) this.currentTransport.dispose();
    this.ownsTransport ||= transport !== this.currentTransport;
    this.currentPc = pc;
    this.currentTransport = transport;
    this.attach(pc, transport);
    if (this.senderLayers) this.senderLayers = new SenderLayers(pc, (error) => this.emit('error', asSwitchyardError(error)));
    old.close();
  }

  private shutDown(byServer: boolean): void {
    this.iceRestart.stop();
    this.pc.close();
    if (this.ownsTransport) this.transport.dispose();
    this.emit('closed', { byServer });
  }
}
