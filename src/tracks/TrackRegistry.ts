import { EventEmitter } from 'node:events';
import type { PublishedTrack, TrackKind, TrackStatus, TrackView } from './PublishedTrack.js';

/** MOVED: a track published again under the same name by its session after the session moved (another PeerConnection, perhaps another node). */
export type TrackChange = 'PUBLISHED' | 'MOVED' | 'UNPUBLISHED' | 'ACTIVE' | 'INACTIVE' | 'MUTED' | 'UNMUTED';

export interface TrackFilter {
  sessionIds?: readonly string[] | null;
  /** A track matches when it carries every tag listed. */
  tags?: readonly string[] | null;
  kind?: TrackKind | null;
}

const key = (sessionId: string, name: string) => `${sessionId}\u0000${name}`;

/** A track matches when every condition the filter gives holds. */
export function matchesFilter(filter: TrackFilter, track: { sessionId: string; kind: TrackKind; tags: readonly string[] }): boolean {
  if (filter.sessionIds && !filter.sessionIds.includes(track.sessionId)) return false;
  if (filter.kind && track.kind !== filter.kind) return false;
  return (filter.tags ?? []).every((tag) => track.tags.includes(tag));
}

/** What a registry holds: a publication whose status and muting change in place. */
export type Publication = TrackView & { status: TrackStatus; muted: boolean };

/**
 * Every published track of this node (or every data channel: one registry
 * each), by (sessionId, trackName). Every change of the set or of a track's
 * status is emitted as `change`, in order.
 */
export class TrackRegistry<T extends Publication = PublishedTrack> extends EventEmitter<{ change: [type: TrackChange, track: T] }> {
  private readonly tracks = new Map<string, T>();

  get(sessionId: string, name: string): T | undefined {
    return this.tracks.get(key(sessionId, name));
  }

  /** `MOVED`: the session published this name before it moved; subscribers follow it rather than see it end. */
  publish(track: T, change: 'PUBLISHED' | 'MOVED' = 'PUBLISHED'): void {
    const k = key(track.sessionId, track.name);
    if (this.tracks.has(k)) throw new Error(`track ${track.name} of session ${track.sessionId} is already published`);
    this.tracks.set(k, track);
    this.emit('change', change, track);
  }

  /**
   * Takes a track out without UNPUBLISHED: its session is moving away (to
   * another PeerConnection or node), where it publishes the name again
   * (MOVED). Nothing is announced: for the cluster it stays published.
   */
  withdraw(track: T): boolean {
    const k = key(track.sessionId, track.name);
    if (this.tracks.get(k) !== track) return false;
    this.tracks.delete(k);
    return true;
  }

  /** WAITING, ACTIVE or INACTIVE, as media comes and goes; ACTIVE and INACTIVE are announced. */
  setStatus(track: T, status: TrackStatus): void {
    if (track.status === status) return;
    track.status = status;
    if (this.get(track.sessionId, track.name) === track && status !== 'WAITING') this.emit('change', status, track);
  }

  /** The publisher says it mutes or unmutes the track: announced at once, whatever media does. */
  setMuted(track: T, muted: boolean): void {
    if (track.muted === muted) return;
    track.muted = muted;
    if (this.get(track.sessionId, track.name) === track) this.emit('change', muted ? 'MUTED' : 'UNMUTED', track);
  }

  unpublish(track: T): boolean {
    const k = key(track.sessionId, track.name);
    if (this.tracks.get(k) !== track) return false;
    this.tracks.delete(k);
    track.status = 'INACTIVE';
    this.emit('change', 'UNPUBLISHED', track);
    return true;
  }

  /** Published tracks matching the filter, oldest first. */
  list(filter: TrackFilter = {}): T[] {
    return [...this.tracks.values()].filter((track) => matchesFilter(filter, track));
  }

  get size(): number {
    return this.tracks.size;
  }
}
