import {
  CLOSE_SESSION,
  CLOSE_TRACKS,
  CREATE_SESSION,
  PENDING_OFFER,
  PULL_TRACKS,
  PUSH_TRACKS,
  RENEGOTIATE,
  SESSION_EVENTS,
  SESSION_TRACKS,
  UPDATE_TRACKS,
} from './documents.js';
import { Emitter } from './Emitter.js';
import { SwitchyardError, type ErrorCode } from './errors.js';
import { OperationQueue } from './OperationQueue.js';
import { TrackWatch, type TrackWatchListener } from './TrackWatch.js';
import { httpTransport, type HttpTransportOptions, type Transport } from './transport.js';
import type { SessionDescriptionData, SimulcastPreference, TrackFilter, TrackResultData, TracksPayload } from './types.js';

export interface ConnectOptions extends Partial<HttpTransportOptions> {
  /** Instead of url/token: any GraphQL client wrapped as a Transport. */
  transport?: Transport;
  rtcConfiguration?: RTCConfiguration;
  /** Makes the PeerConnection (tests, or runtimes without a global RTCPeerConnection). */
  createPeerConnection?: (configuration: RTCConfiguration) => RTCPeerConnection;
  /** Stored on the session (for example the application's user id). */
  correlationId?: string;
}

export interface PushOptions {
  /** The track's name within this session: others pull it as (sessionId, name). */
  name: string;
  /** Labels others filter on, for example `room:lobby`. */
  tags?: string[];
  /** Simulcast layers (RIDs and limits), as for RTCPeerConnection.addTransceiver. */
  sendEncodings?: RTCRtpEncodingParameters[];
}

export interface PullOptions {
  simulcast?: SimulcastPreference;
}

/** A track this session publishes. */
export interface LocalTrack {
  readonly sessionId: string;
  readonly name: string;
  readonly mid: string;
  readonly track: MediaStreamTrack;
  readonly transceiver: RTCRtpTransceiver;
}

export interface SwitchyardEvents extends Record<string, unknown> {
  /** The PeerConnection's state (new, connecting, connected, disconnected, failed, closed). */
  connectionstatechange: RTCPeerConnectionState;
  /** A pulled track's source went away (its publisher closed it or left). */
  trackended: { mid: string; track: MediaStreamTrack | undefined };
  /** The session is over: leave() was called, or Switchyard closed it. */
  closed: { byServer: boolean };
  /** Something failed in the background (for example answering an offer the SFU made by itself). */
  error: SwitchyardError;
}

const EVENTS_RETRY_MS = 1000;
/** The most tracks Switchyard takes in one pullTracks call. */
const MAX_TRACKS_PER_CALL = 64;

interface WaitingPull {
  request: { sessionId: string; trackName: string; simulcast?: SimulcastPreference };
  resolve(track: MediaStreamTrack): void;
  reject(error: SwitchyardError): void;
}

type SessionEvent = { type: 'CONNECTION_STATE_CHANGED' | 'TRACK_ENDED' | 'RENEGOTIATION_NEEDED' | 'CLOSED'; mid: string | null };

/** Anything thrown by the browser or the network, as a SwitchyardError. */
function asSwitchyardError(error: unknown, code: ErrorCode = 'INTERNAL'): SwitchyardError {
  if (error instanceof SwitchyardError) return error;
  return new SwitchyardError(code, error instanceof Error ? error.message : String(error), { cause: error });
}

/**
 * Applies a description this client created and returns its SDP. The SFU is
 * ICE-lite and needs no candidates from the client, so the created SDP is
 * what it gets; reading pc.localDescription instead can crash libwebrtc in
 * Node (@roamhq/wrtc serializes it while ICE gathering changes it).
 */
async function setLocal(pc: RTCPeerConnection, description: RTCSessionDescriptionInit): Promise<string> {
  await pc.setLocalDescription(description);
  return description.sdp ?? '';
}

function trackError(result: TrackResultData | undefined, what: string): SwitchyardError | undefined {
  if (!result) return new SwitchyardError('INTERNAL', `Switchyard returned no result for ${what}`);
  if (!result.error) return undefined;
  return new SwitchyardError(result.error.code as ErrorCode, result.error.message);
}

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
  private readonly local = new Map<string, LocalTrack>();
  private readonly waitingPulls: WaitingPull[] = [];
  private stopEvents: (() => void) | undefined;
  private closed = false;

  private constructor(
    readonly sessionId: string,
    readonly pc: RTCPeerConnection,
    readonly transport: Transport,
    private readonly ownsTransport: boolean,
  ) {
    super();
  }

  /**
   * Opens the session: a PeerConnection whose first m-section is a data
   * channel (it carries the BUNDLE transport, so media sections can come and
   * go without a new DTLS handshake), and the subscription to its events.
   */
  static async connect(options: ConnectOptions): Promise<Switchyard> {
    if (!options.transport && !options.url) throw new SwitchyardError('BAD_REQUEST', 'connect needs a url or a transport');
    const transport = options.transport ?? httpTransport({ url: options.url as string, ...(options.token ? { token: options.token } : {}) });
    const configuration = options.rtcConfiguration ?? {};
    const pc = options.createPeerConnection ? options.createPeerConnection(configuration) : new RTCPeerConnection(configuration);
    try {
      pc.createDataChannel('switchyard');
      const offer = await setLocal(pc, await pc.createOffer());
      const { createSession } = await transport.request<{
        createSession: { session: { id: string }; sessionDescription: SessionDescriptionData };
      }>(CREATE_SESSION, {
        input: {
          sessionDescription: { type: 'OFFER', sdp: offer },
          ...(options.correlationId ? { correlationId: options.correlationId } : {}),
        },
      });
      await pc.setRemoteDescription({ type: 'answer', sdp: createSession.sessionDescription.sdp });
      const client = new Switchyard(createSession.session.id, pc, transport, !options.transport);
      client.listen();
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
        const offer = await setLocal(this.pc, await this.pc.createOffer());
        ({ pushTracks: payload } = await this.transport.request<{ pushTracks: TracksPayload }>(PUSH_TRACKS, {
          input: {
            sessionId: this.sessionId,
            sessionDescription: { type: 'OFFER', sdp: offer },
            tracks: [{ mid: transceiver.mid, trackName: options.name, tags: options.tags ?? [] }],
          },
        }));
      } catch (error) {
        // Nothing changed at the SFU: take the offer back and forget the transceiver.
        await this.rollback();
        transceiver.stop();
        throw error;
      }
      await this.applyAnswer(payload.sessionDescription);
      const failure = trackError(payload.tracks[0], options.name);
      if (failure) {
        // The SFU answered the section without publishing it: stop sending on it.
        await transceiver.sender.replaceTrack(null);
        throw failure;
      }
      const mid = transceiver.mid as string;
      const local: LocalTrack = { sessionId: this.sessionId, name: options.name, mid, track, transceiver };
      this.local.set(mid, local);
      return local;
    });
  }

  /** Pulls another session's track; resolves to the MediaStreamTrack that plays it. */
  /**
   * Pulls another session's track; resolves to the MediaStreamTrack that plays it.
   * Pulls asked for while other operations run are sent together: one
   * pullTracks and one renegotiation for all of them (joining a room of ten
   * costs one offer, not twenty).
   */
  pull(sessionId: string, trackName: string, options: PullOptions = {}): Promise<MediaStreamTrack> {
    if (this.closed) return Promise.reject(new SwitchyardError('SESSION_NOT_FOUND', 'this session was closed'));
    return new Promise((resolve, reject) => {
      const request = { sessionId, trackName, ...(options.simulcast ? { simulcast: options.simulcast } : {}) };
      this.waitingPulls.push({ request, resolve, reject });
      // One queued batch at a time collects every pull asked for until it runs.
      if (this.waitingPulls.length === 1) this.schedulePulls();
    });
  }

  /** Queues a batch for the waiting pulls; if the session closed meanwhile, they fail with its error. */
  private schedulePulls(): void {
    this.operation(() => this.pullWaiting()).catch((error: SwitchyardError) => {
      for (const waiting of this.waitingPulls.splice(0)) waiting.reject(error);
    });
  }

  /** Sends the waiting pulls (at most the SFU's 64 per call; the rest form the next batch). */
  private async pullWaiting(): Promise<void> {
    const batch = this.waitingPulls.splice(0, MAX_TRACKS_PER_CALL);
    if (this.waitingPulls.length > 0) this.schedulePulls();
    try {
      const { pullTracks: payload } = await this.transport.request<{ pullTracks: TracksPayload }>(PULL_TRACKS, {
        input: { sessionId: this.sessionId, tracks: batch.map((waiting) => waiting.request) },
      });
      if (payload.requiresImmediateRenegotiation && payload.sessionDescription) await this.answerOffer(payload.sessionDescription.sdp);
      batch.forEach((waiting, i) => {
        const result = payload.tracks[i];
        const failure = trackError(result, `${waiting.request.sessionId}/${waiting.request.trackName}`);
        const transceiver = failure ? undefined : this.pc.getTransceivers().find((t) => t.mid === result?.mid);
        if (transceiver) waiting.resolve(transceiver.receiver.track);
        else waiting.reject(failure ?? new SwitchyardError('INTERNAL', `no transceiver for mid ${result?.mid} after the SFU's offer`));
      });
    } catch (error) {
      for (const waiting of batch) waiting.reject(asSwitchyardError(error));
    }
  }

  /** Changes the simulcast layer Switchyard sends for a pulled track. */
  setSimulcast(track: MediaStreamTrack, preference: SimulcastPreference): Promise<void> {
    return this.operation(async () => {
      const transceiver = this.transceiverOf(track);
      const source = await this.sourceOf(transceiver);
      const { updateTracks: payload } = await this.transport.request<{ updateTracks: TracksPayload }>(UPDATE_TRACKS, {
        input: { sessionId: this.sessionId, tracks: [{ ...source, mid: transceiver.mid, simulcast: preference }] },
      });
      if (payload.requiresImmediateRenegotiation && payload.sessionDescription) await this.answerOffer(payload.sessionDescription.sdp);
      const failure = trackError(payload.tracks[0], 'the simulcast preference');
      if (failure) throw failure;
    });
  }

  /** Stops local or pulled tracks (given as tracks, LocalTracks or mids), with one renegotiation. */
  close(...items: (MediaStreamTrack | LocalTrack | string)[]): Promise<void> {
    return this.operation(async () => {
      const transceivers = items.map((item) => this.transceiverOf(item));
      const mids = transceivers.map((t) => t.mid as string);
      for (const transceiver of transceivers) transceiver.stop();
      let payload: TracksPayload;
      try {
        const offer = await setLocal(this.pc, await this.pc.createOffer());
        ({ closeTracks: payload } = await this.transport.request<{ closeTracks: TracksPayload }>(CLOSE_TRACKS, {
          input: { sessionId: this.sessionId, mids, sessionDescription: { type: 'OFFER', sdp: offer } },
        }));
      } catch (error) {
        // The transceivers are stopped here already; make sure the SFU stops them too.
        await this.rollback();
        await this.transport
          .request(CLOSE_TRACKS, { input: { sessionId: this.sessionId, mids, force: true } })
          .catch(() => undefined);
        throw error;
      } finally {
        for (const mid of mids) this.local.delete(mid);
      }
      await this.applyAnswer(payload.sessionDescription);
    });
  }

  /** Closes the session at Switchyard and the PeerConnection here; other sessions see its tracks unpublished. */
  async leave(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopEvents?.();
    await this.queue.idle();
    try {
      await this.transport.request(CLOSE_SESSION, { input: { sessionId: this.sessionId } });
    } catch (error) {
      if (!(error instanceof SwitchyardError && error.code === 'SESSION_NOT_FOUND')) throw error;
    } finally {
      this.shutDown(false);
    }
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

  private listen(): void {
    this.pc.addEventListener('connectionstatechange', () => this.emit('connectionstatechange', this.pc.connectionState));
    this.followEvents();
  }

  /** Subscribes to the session's events, and again after the subscription failed (lost connection, expired token). */
  private followEvents(): void {
    const stop = this.transport.subscribe<{ sessionEvents: SessionEvent }>(
      SESSION_EVENTS,
      { id: this.sessionId },
      {
        next: ({ sessionEvents: event }) => this.onSessionEvent(event),
        error: (error) => {
          if (this.closed) return;
          this.emit('error', error);
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

  private onSessionEvent(event: SessionEvent): void {
    switch (event.type) {
      case 'RENEGOTIATION_NEEDED':
        // Usually the offer of this client's own pull, answered by then; otherwise one the SFU made by itself.
        void this.operation(() => this.answerPendingOffer()).catch((error: SwitchyardError) => this.emit('error', error));
        break;
      case 'TRACK_ENDED': {
        const mid = event.mid as string;
        const track = this.pc.getTransceivers().find((t) => t.mid === mid)?.receiver.track;
        this.emit('trackended', { mid, track });
        break;
      }
      case 'CLOSED':
        if (!this.closed) {
          this.closed = true;
          this.stopEvents?.();
          this.shutDown(true);
        }
        break;
      case 'CONNECTION_STATE_CHANGED':
        break; // The PeerConnection reports its own state (connectionstatechange).
    }
  }

  private async answerPendingOffer(): Promise<void> {
    const { session } = await this.transport.request<{ session: { pendingOffer: string | null } | null }>(PENDING_OFFER, { id: this.sessionId });
    if (session?.pendingOffer) await this.answerOffer(session.pendingOffer);
  }

  /** Applies the SFU's offer and sends this client's answer. */
  private async answerOffer(sdp: string): Promise<void> {
    await this.pc.setRemoteDescription({ type: 'offer', sdp });
    const answer = await setLocal(this.pc, await this.pc.createAnswer());
    await this.transport.request(RENEGOTIATE, {
      input: { sessionId: this.sessionId, sessionDescription: { type: 'ANSWER', sdp: answer } },
    });
  }

  private async applyAnswer(description: SessionDescriptionData | null): Promise<void> {
    if (!description || description.type !== 'ANSWER') throw new SwitchyardError('INTERNAL', 'Switchyard did not answer the offer');
    await this.pc.setRemoteDescription({ type: 'answer', sdp: description.sdp });
  }

  private async rollback(): Promise<void> {
    if (this.pc.signalingState === 'have-local-offer') {
      await this.pc.setLocalDescription({ type: 'rollback' }).catch(() => undefined);
    }
  }

  private transceiverOf(item: MediaStreamTrack | LocalTrack | string): RTCRtpTransceiver {
    const mid = typeof item === 'string' ? item : 'transceiver' in item ? item.mid : undefined;
    const transceiver = this.pc
      .getTransceivers()
      .find((t) => (mid !== undefined ? t.mid === mid : t.sender.track === item || t.receiver.track === item));
    if (!transceiver?.mid || transceiver.currentDirection === 'stopped') {
      throw new SwitchyardError('BAD_REQUEST', 'this track is not pushed or pulled by this session');
    }
    return transceiver;
  }

  /** Which (sessionId, trackName) a pulled transceiver carries: Switchyard's description of this session says. */
  private async sourceOf(transceiver: RTCRtpTransceiver): Promise<{ sessionId: string; trackName: string }> {
    const { session } = await this.transport.request<{
      session: { tracks: { mid: string | null; location: string; track: { sessionId: string; name: string } }[] } | null;
    }>(SESSION_TRACKS, { id: this.sessionId });
    const entry = session?.tracks.find((t) => t.mid === transceiver.mid && t.location === 'REMOTE');
    if (!entry) throw new SwitchyardError('BAD_REQUEST', `mid ${transceiver.mid} does not carry a pulled track`);
    return { sessionId: entry.track.sessionId, trackName: entry.track.name };
  }

  private shutDown(byServer: boolean): void {
    this.pc.close();
    if (this.ownsTransport) this.transport.dispose();
    this.emit('closed', { byServer });
  }
}
