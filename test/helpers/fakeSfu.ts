import { vi } from 'vitest';
import { Switchyard } from '../../client/src/Switchyard.js';
import type { SubscriptionSink, Transport } from '../../client/src/transport.js';
import type { ConnectOptions } from '../../client/src/types.js';

/**
 * A scripted SFU and a PeerConnection that only keeps the offer/answer state,
 * for testing the SDK's own logic: what it sends, in which order, and what it
 * undoes when something fails. Real media with real browsers is in test/e2e.
 */

export class FakeTransceiver {
  mid: string | null = null;
  currentDirection: string | null = null;
  stopped = false;
  readonly sender: { track: unknown; replaceTrack: (track: unknown) => Promise<void> };
  readonly receiver: { track: { id: string } };
  constructor(track: unknown, readonly direction: string) {
    this.sender = { track, replaceTrack: vi.fn(async (t: unknown) => void (this.sender.track = t)) };
    this.receiver = { track: { id: `receiver-${Math.random().toString(36).slice(2)}` } };
  }
  stop() {
    this.stopped = true;
    this.currentDirection = 'stopped';
  }
}

/** An RTCDataChannel that only records how it was opened and whether it was closed. */
export class FakeDataChannel {
  readonly id: number | null;
  readyState = 'connecting';
  binaryType = 'blob';
  constructor(readonly label: string, readonly init: RTCDataChannelInit) {
    this.id = init.id ?? null;
  }
  close() {
    this.readyState = 'closed';
  }
}

/** Offer/answer state only: mids are numbered at setLocalDescription(offer), as browsers do. */
export class FakePeerConnection {
  signalingState = 'stable';
  connectionState = 'new';
  localDescription: { type: string; sdp: string } | null = null;
  readonly transceivers: FakeTransceiver[] = [];
  readonly log: string[] = [];
  /** The options of every createOffer call. */
  readonly offerOptions: unknown[] = [];
  /** The next SFU offer fails to apply with this error, as a browser refuses an offer it cannot handle. */
  refuseNextOffer: Error | undefined;
  dataChannel = false;
  closed = false;
  private nextMid = 0;
  private offered: FakeTransceiver[] = [];
  private readonly stateListeners: (() => void)[] = [];

  /** Every channel created after the bootstrap one, as the SDK opened it. */
  readonly channels: FakeDataChannel[] = [];
  /** The next createDataChannel throws this, as a browser refuses an id in use. */
  refuseNextChannel: Error | undefined;
  createDataChannel(label: string, init?: RTCDataChannelInit) {
    if (!this.dataChannel) {
      this.dataChannel = true;
      return {};
    }
    if (this.refuseNextChannel) {
      const error = this.refuseNextChannel;
      this.refuseNextChannel = undefined;
      throw error;
    }
    const channel = new FakeDataChannel(label, init ?? {});
    this.channels.push(channel);
    return channel;
  }
  addTransceiver(track: unknown, init: { direction: string }) {
    const transceiver = new FakeTransceiver(track, init.direction);
    this.transceivers.push(transceiver);
    return transceiver;
  }
  getTransceivers() {
    return this.transceivers;
  }
  async createOffer(options?: unknown) {
    this.offerOptions.push(options);
    return { type: 'offer', sdp: `offer(${this.dataChannel ? 'data,' : ''}${this.transceivers.length})` };
  }
  async createAnswer() {
    return { type: 'answer', sdp: 'answer' };
  }
  async setLocalDescription(description: { type: string; sdp?: string }) {
    this.log.push(`local ${description.type}`);
    if (description.type === 'rollback') {
      for (const t of this.offered) t.mid = null;
      this.offered = [];
      this.signalingState = 'stable';
      return;
    }
    if (description.type === 'offer') {
      if (this.nextMid === 0 && this.dataChannel) this.nextMid = 1;
      this.offered = this.transceivers.filter((t) => t.mid === null);
      for (const t of this.offered) t.mid = String(this.nextMid++);
      this.signalingState = 'have-local-offer';
    } else {
      this.signalingState = 'stable';
    }
    this.localDescription = { type: description.type, sdp: description.sdp ?? '' };
  }
  async setRemoteDescription(description: { type: string; sdp: string }) {
    this.log.push(`remote ${description.type}`);
    if (description.type === 'offer' && this.refuseNextOffer) {
      // A refused description changes nothing (JSEP): still stable, no new transceivers.
      const error = this.refuseNextOffer;
      this.refuseNextOffer = undefined;
      throw error;
    }
    if (description.type === 'offer') {
      // The SFU's offers name their new mids: "sfu-offer:3,4".
      for (const mid of description.sdp.split(':')[1]?.split(',') ?? []) {
        if (!this.transceivers.some((t) => t.mid === mid)) {
          const t = new FakeTransceiver(null, 'recvonly');
          t.mid = mid;
          this.transceivers.push(t);
        }
      }
      this.signalingState = 'have-remote-offer';
    } else {
      this.offered = [];
      this.signalingState = 'stable';
    }
  }
  /** What the SDK configured the PeerConnection with (constructor, then setConfiguration). */
  configuration: RTCConfiguration = {};
  getConfiguration() {
    return this.configuration;
  }
  setConfiguration(configuration: RTCConfiguration) {
    this.log.push('set configuration');
    this.configuration = configuration;
  }
  addEventListener(type: string, listener: () => void) {
    if (type === 'connectionstatechange') this.stateListeners.push(listener);
  }
  /** What the browser does when ICE/DTLS change state. */
  setConnectionState(state: string) {
    this.connectionState = state;
    for (const listener of this.stateListeners) listener();
  }
  close() {
    this.closed = true;
  }
}

export type Handler = (variables: Record<string, any>) => unknown;

/** A scripted SFU: answers each operation by name; records requests and keeps subscription sinks. */
export class FakeTransport implements Transport {
  readonly requests: { operation: string; variables: Record<string, any> }[] = [];
  readonly sinks = new Map<string, SubscriptionSink<any>>();
  disposed = false;
  delayMs = 0;
  constructor(readonly handlers: Record<string, Handler>) {}

  async request<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
    const operation = /(?:mutation|query) Switchyard(\w+)/.exec(query)?.[1] ?? 'unknown';
    this.requests.push({ operation, variables });
    if (this.delayMs) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    const handler = this.handlers[operation];
    if (!handler) throw new Error(`unexpected ${operation}`);
    return handler(variables) as T;
  }
  subscribe<T>(query: string, _variables: Record<string, unknown>, sink: SubscriptionSink<T>) {
    const name = /subscription Switchyard(\w+)/.exec(query)?.[1] ?? 'unknown';
    this.sinks.set(name, sink);
    return () => this.sinks.delete(name);
  }
  dispose() {
    this.disposed = true;
  }
  operations() {
    return this.requests.map((r) => r.operation);
  }
}

export const ok = (tracks: unknown[], description: unknown = { type: 'ANSWER', sdp: 'sfu-answer' }, renegotiate = false) => ({
  requiresImmediateRenegotiation: renegotiate,
  sessionDescription: description,
  tracks,
});

/** A FakeTransport that answers every SDK operation as the SFU does when all goes well; overrides replace handlers by operation name. */
export function sfu(overrides: Record<string, Handler> = {}) {
  return new FakeTransport({
    IceServers: () => ({ iceServers: { iceServers: [], expiresAt: null } }),
    CreateSession: () => ({ createSession: { session: { id: 'session-1' }, sessionDescription: { type: 'ANSWER', sdp: 'sfu-answer' } } }),
    PushTracks: (v) => ({ pushTracks: ok([{ mid: v.input.tracks[0].mid, sessionId: 'session-1', trackName: v.input.tracks[0].trackName, error: null }]) }),
    PullTracks: () => ({ pullTracks: ok([{ mid: '7', sessionId: 'other', trackName: 'camera', error: null }], { type: 'OFFER', sdp: 'sfu-offer:7' }, true) }),
    Renegotiate: () => ({ renegotiate: { sessionDescription: null } }),
    CloseTracks: (v) => ({ closeTracks: ok(v.input.mids.map((mid: string) => ({ mid, sessionId: 'session-1', trackName: null, error: null }))) }),
    CloseSession: () => ({ closeSession: { sessionId: 'session-1' } }),
    PendingOffer: () => ({ session: { id: 'session-1', pendingOffer: null } }),
    RollbackOffer: () => ({ rollbackOffer: { session: { id: 'session-1', connectionState: 'CONNECTED' }, withdrawnMids: ['7'] } }),
    SetTrackMuted: (v) => ({
      setTrackMuted: { track: { sessionId: 'session-1', name: v.input.trackName, kind: 'VIDEO', status: 'ACTIVE', muted: v.input.muted, tags: [], simulcastRids: [] } },
    }),
    ...overrides,
  });
}

/** Switchyard.connect() on a fresh FakePeerConnection. */
export async function connect(transport: FakeTransport, options: Partial<ConnectOptions> = {}) {
  const pc = new FakePeerConnection();
  // The deployment's TURN relays are their own test (client-sdk-turn): the others script the SFU without them.
  const client = await Switchyard.connect({
    turn: false,
    ...options,
    transport,
    createPeerConnection: (configuration) => {
      pc.configuration = configuration;
      return pc as unknown as RTCPeerConnection;
    },
  });
  return { client, pc };
}

export const fakeTrack = (id: string) => ({ id, kind: 'video' }) as unknown as MediaStreamTrack;
