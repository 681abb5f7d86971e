import type { MediaKind } from '../sdp/types.js';
import type { PublishedTrack } from './PublishedTrack.js';

export interface TrackFilter {
  sessionIds?: readonly string[] | null;
  /** A track matches when it carries every tag listed. */
  tags?: readonly string[] | null;
  kind?: MediaKind | null;
}

const key = (sessionId: string, name: string) => `${sessionId}\u0000${name}`;

/** Every published track of this node, by (sessionId, trackName). */
export class TrackRegistry {
  private readonly tracks = new Map<string, PublishedTrack>();

  get(sessionId: string, name: string): PublishedTrack | undefined {
    return this.tracks.get(key(sessionId, name));
  }

  publish(track: PublishedTrack): void {
    const k = key(track.sessionId, track.name);
    if (this.tracks.has(k)) throw new Error(`track ${track.name} of session ${track.sessionId} is already published`);
    this.tracks.set(k, track);
  }

  unpublish(track: PublishedTrack): boolean {
    const k = key(track.sessionId, track.name);
    if (this.tracks.get(k) !== track) return false;
    this.tracks.delete(k);
    return true;
  }

  /** Published tracks matching the filter, oldest first. */
  list(filter: TrackFilter = {}): PublishedTrack[] {
    const sessionIds = filter.sessionIds ? new Set(filter.sessionIds) : undefined;
    const tags = filter.tags ?? [];
    const result: PublishedTrack[] = [];
    for (const track of this.tracks.values()) {
      if (sessionIds && !sessionIds.has(track.sessionId)) continue;
      if (filter.kind && track.kind !== filter.kind) continue;
      if (!tags.every((tag) => track.tags.includes(tag))) continue;
      result.push(track);
    }
    return result;
  }

  get size(): number {
    return this.tracks.size;
  }
}
