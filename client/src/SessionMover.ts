import { PUSH_TRACKS, SET_TRACK_MUTED } from './documents.js';
import { SwitchyardError } from './errors.js';
import type { Negotiation } from './negotiation.js';
import { asSwitchyardError, trackError } from './negotiation.js';
import type { PullBatcher } from './PullBatcher.js';
import type { PulledTracks, PullRecord } from './PulledTracks.js';
import { nodeHolds, resumeOn } from './SessionMove.js';
import type { Transport } from './transport.js';
import type { LocalTrack, PushOptions, SwitchyardEvents, TracksPayload } from './types.js';

/** A pull made again after a move whose source is still moving: tries, and the wait between them. */
const PULL_AGAIN_ATTEMPTS = 8;
const PULL_AGAIN_DELAY_MS = 500;

/** The SDK's own view of a LocalTrack: it changes `muted`, and keeps how it was pushed (a move pushes it again). */
export interface PushedTrack extends LocalTrack {
  muted: boolean;
  options: PushOptions;
}

/** What a session needs to move. */
export interface MoveSettings {
  resumeSecret: string;
  configuration: RTCConfiguration;
  createPeerConnection: (configuration: RTCConfiguration) => RTCPeerConnection;
  /** The URL of the session's node (or load balancer) now; null with an application's transport. */
  url: string | null;
  fallbackUrls: string[];
  /** A transport to `url` (null: keep the current one). */
  transportFor: (url: string | null) => Transport | null;
}

/** The parts of a Switchyard session a move works on. */
export interface MoverHost {
  readonly sessionId: string;
  readonly closed: boolean;
  readonly pc: RTCPeerConnection;
  readonly transport: Transport;
  readonly negotiation: Negotiation;
  readonly pulls: PullBatcher;
  readonly local: Map<string, PushedTrack>;
  readonly pulled: PulledTracks;
  /** Runs `work` alone, after the operations before it (the session's queue, without its closed check). */
  exclusive<T>(work: () => Promise<T>): Promise<T>;
  /** Runs `work` as an operation of the session. */
  operation<T>(work: () => Promise<T>): Promise<T>;
  /** Makes `pc` over `transport` the session's connection; the old PeerConnection is closed. */
  adopt(pc: RTCPeerConnection, transport: Transport): void;
  /** Stops the session's events and ICE restarts (the old connection is going). */
  detach(): void;
  /** Follows the session's events again, through the current transport. */
  followEvents(): void;
  emit<K extends keyof SwitchyardEvents>(event: K, payload: SwitchyardEvents[K]): void;
}

/**
 * Moves a session to a new PeerConnection (docs/lifecycle.md): when its node
 * asks (MOVE_REQUESTED, a drain) and when its node is lost (the
 * PeerConnection disconnects, or the event stream breaks, and the node does
 * not answer for the session). resumeSession, then every pushed track
 * pushed again in one offer, every pull made again; streams of pullStream()
 * get the new tracks. One move at a time.
 */
export class SessionMover {
  private moving: Promise<void> | undefined;

  constructor(
    private readonly host: MoverHost,
    private readonly settings: MoveSettings,
  ) {}

  get inProgress(): boolean {
    return this.moving !== undefined;
  }

  /** MOVE_REQUESTED: the node it names first, then the URL in use (a load balancer, or the draining node, which places it), then the fallbacks. */
  requested(moveTo: string | null): void {
    const urls = [...new Set([moveTo ?? this.settings.url, this.settings.url, ...this.settings.fallbackUrls])];
    void this.move(urls, 'DRAINING').catch((error: unknown) => this.host.emit('error', asSwitchyardError(error)));
  }

  /** The connection to the node looks lost: if the node no longer answers for the session, it moves to a fallback. */
  async checkNode(): Promise<void> {
    const { settings, host } = this;
    if (this.moving || host.closed || settings.fallbackUrls.length === 0) return;
    if (await nodeHolds(host.transport, host.sessionId)) return;
    if (this.moving || host.closed) return;
    const urls = [...new Set([...settings.fallbackUrls.filter((url) => url !== settings.url), settings.url])];
    await this.move(urls, 'NODE_LOST').catch((error: unknown) => host.emit('error', asSwitchyardError(error)));
  }

  private move(urls: (string | null)[], reason: 'DRAINING' | 'NODE_LOST'): Promise<void> {
    return (this.moving ??= this.run(urls, reason).finally(() => (this.moving = undefined)));
  }

  private async run(urls: (string | null)[], reason: 'DRAINING' | 'NODE_LOST'): Promise<void> {
    const { host, settings } = this;
    const started = Date.now();
    host.detach();
    let landed: string | null = null;
    await host.exclusive(async () => {
      let failure: unknown = new SwitchyardError('UNAVAILABLE', 'no node to resume the session on');
      for (const url of urls) {
        const transport = settings.transportFor(url) ?? host.transport;
        try {
          const { pc, nodeUrl } = await resumeOn({ sessionId: host.sessionId, ...settings }, transport);
          // The node that took the session (perhaps placed by the one asked) is where its calls go from now on, when it says where.
          const direct = nodeUrl && nodeUrl !== url ? settings.transportFor(nodeUrl) : null;
          if (direct && transport !== host.transport) transport.dispose();
          host.adopt(pc, direct ?? transport);
          landed = (direct ? nodeUrl : url) ?? null;
          if (landed) settings.url = landed;
          failure = undefined;
          break;
        } catch (error) {
          if (transport !== host.transport) transport.dispose();
          failure = error;
        }
      }
      if (failure) throw asSwitchyardError(failure);
      await this.pushAgain();
    });
    host.followEvents();
    const moved = new Map<MediaStreamTrack, MediaStreamTrack>();
    await Promise.all(
      host.pulled.takeAll().map(async (record) => {
        const track = await this.pullAgain(record);
        if (track) moved.set(record.track, track);
        else host.emit('trackended', { mid: '', track: record.track });
      }),
    );
    // An SFU offer made while the event subscription was being set up again (a source that moved meanwhile) was not heard of.
    await host.operation(() => host.negotiation.answerPendingOffer()).catch((error: unknown) => host.emit('error', asSwitchyardError(error)));
    host.emit('moved', { url: landed, reason, ms: Date.now() - started, moved });
  }

  /** On the queue: every pushed track on the new PeerConnection, in one offer, under its name (and muted again if it was). */
  private async pushAgain(): Promise<void> {
    const { host } = this;
    const pushed = [...host.local.values()];
    host.local.clear();
    if (pushed.length === 0) return;
    const transceivers = pushed.map((t) => host.pc.addTransceiver(t.track, { direction: 'sendonly', ...(t.options.sendEncodings ? { sendEncodings: t.options.sendEncodings } : {}) }));
    const offer = await host.negotiation.offer();
    const { pushTracks: payload } = await host.transport.request<{ pushTracks: TracksPayload }>(PUSH_TRACKS, {
      input: {
        sessionId: host.sessionId,
        sessionDescription: { type: 'OFFER', sdp: offer },
        tracks: pushed.map((t, i) => ({ mid: transceivers[i]!.mid, trackName: t.name, tags: t.options.tags ?? [] })),
      },
    });
    await host.negotiation.applyAnswer(payload.sessionDescription);
    for (const [i, t] of pushed.entries()) {
      const transceiver = transceivers[i]!;
      if (trackError(payload.tracks[i], t.name)) continue;
      host.local.set(transceiver.mid as string, { ...t, mid: transceiver.mid as string, transceiver });
      if (t.muted) {
        await transceiver.sender.replaceTrack(null);
        await host.transport.request(SET_TRACK_MUTED, { input: { sessionId: host.sessionId, trackName: t.name, muted: true } });
      }
    }
  }

  /**
   * A pull made again after a move. Its source may be moving too (two
   * sessions of a draining node pulling each other): between its release
   * and its new publication it is not found, so a refused pull is tried
   * again for a few seconds before it counts as ended.
   */
  private async pullAgain(record: PullRecord): Promise<MediaStreamTrack | undefined> {
    const { host } = this;
    for (let attempt = 0; attempt < PULL_AGAIN_ATTEMPTS && !host.closed; attempt += 1) {
      try {
        const track = await host.pulls.pull({ sessionId: record.sessionId, trackName: record.trackName, ...(record.simulcast ? { simulcast: record.simulcast } : {}) });
        host.pulled.replaced(record, track);
        return track;
      } catch (error) {
        const code = asSwitchyardError(error).code;
        if (code !== 'TRACK_NOT_FOUND' && code !== 'UNAVAILABLE') return undefined;
        await new Promise((resolve) => setTimeout(resolve, PULL_AGAIN_DELAY_MS));
      }
    }
    return undefined;
  }
}
