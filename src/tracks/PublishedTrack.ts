import type { types } from 'mediasoup';
import type { MediaKind } from '../sdp/types.js';

export type TrackStatus = 'ACTIVE' | 'INACTIVE' | 'WAITING';

/** What a session publishes: a media track, or a data channel (which shares the tracks' names, directory and events). */
export type TrackKind = MediaKind | 'data';

/** How a data channel delivers its messages (the SCTP stream parameters every subscriber's channel gets too). */
export interface DataChannelOptions {
  readonly ordered: boolean;
  /** Partial reliability: give up a message after this many retransmissions. */
  readonly maxRetransmits: number | null;
  /** Partial reliability: give up a message after this many milliseconds. */
  readonly maxPacketLifeTime: number | null;
}

/** What the API shows of a track; events carry it as it was at that moment. */
export interface TrackView {
  /** The app of the publishing session: nothing of one app is visible to another. */
  readonly appId: string;
  /** The client-token subject that owns the publishing session (null for an app backend's), for access rules on any node. */
  readonly owner: string | null;
  readonly sessionId: string;
  readonly name: string;
  readonly kind: TrackKind;
  readonly status: TrackStatus;
  readonly tags: readonly string[];
  readonly simulcastRids: readonly string[];
  readonly publishedAt: Date;
  /** The publisher said it sends nothing on purpose (setTrackMuted); the track stays published. */
  readonly muted: boolean;
  /** Data channels only: how messages are delivered; null for media tracks. */
  readonly dataChannel?: DataChannelOptions | null;
}

/** A track a session pushed: the unit other sessions pull, named (sessionId, name). */
export interface PublishedTrack extends TrackView {
  readonly kind: MediaKind;
  readonly producer: types.Producer;
  /** The router the producer lives on; pulls from other routers pipe from it. */
  readonly router: types.Router;
  status: TrackStatus;
  muted: boolean;
}

/** What an event says about a track: its state at that moment, not a live object. */
export function trackView(track: TrackView): TrackView {
  return {
    appId: track.appId,
    owner: track.owner,
    sessionId: track.sessionId,
    name: track.name,
    kind: track.kind,
    status: track.status,
    tags: [...track.tags],
    simulcastRids: [...track.simulcastRids],
    publishedAt: track.publishedAt,
    muted: track.muted,
    ...(track.dataChannel ? { dataChannel: { ...track.dataChannel } } : {}),
  };
}
