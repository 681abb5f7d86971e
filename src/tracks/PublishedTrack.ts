import type { types } from 'mediasoup';
import type { MediaKind } from '../sdp/types.js';

export type TrackStatus = 'ACTIVE' | 'INACTIVE' | 'WAITING';

/** A track a session pushed: the unit other sessions pull, named (sessionId, name). */
export interface PublishedTrack {
  readonly sessionId: string;
  readonly name: string;
  readonly kind: MediaKind;
  readonly tags: readonly string[];
  readonly simulcastRids: readonly string[];
  readonly publishedAt: Date;
  readonly producer: types.Producer;
  /** The router the producer lives on; pulls from other routers pipe from it. */
  readonly router: types.Router;
  status: TrackStatus;
}
