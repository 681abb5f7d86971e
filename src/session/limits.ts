import { badRequest, ErrorCode, SwitchyardError } from '../errors.js';
import type { PushRequest } from './offerPlan.js';
import type { TrackKind } from '../tracks/PublishedTrack.js';

/** Tracks in one push/pull/update/close call (as in Cloudflare Calls). */
export const MAX_TRACKS_PER_CALL = 64;
export const MAX_TRACK_NAME_LENGTH = 64;
export const MAX_TAGS = 16;
export const MAX_TAG_LENGTH = 128;

/** A call that names more tracks than one call may carry fails whole, with LIMIT_EXCEEDED. */
export function checkTrackCount(count: number): void {
  if (count > MAX_TRACKS_PER_CALL) {
    throw new SwitchyardError(ErrorCode.LIMIT_EXCEEDED, `at most ${MAX_TRACKS_PER_CALL} tracks per call`);
  }
}

/** The tracks a pullTracks or updateTracks call names: at least one, at most the limit, valid names. */
export function checkRemoteTracks(operation: string, tracks: readonly { trackName: string }[]): void {
  if (tracks.length === 0) throw badRequest(`${operation} needs at least one track`);
  checkTrackCount(tracks.length);
  for (const track of tracks) validateTrackName(track.trackName);
}

/** Printable, no whitespace: names travel in URLs, logs and SDP (a=msid). */
const NAME = /^[\x21-\x7e]+$/;

export function isValidTrackName(name: string): boolean {
  return typeof name === 'string' && name.length > 0 && name.length <= MAX_TRACK_NAME_LENGTH && NAME.test(name);
}

export function validateTrackName(name: string): string {
  if (!isValidTrackName(name)) {
    throw badRequest(
      `trackName must be 1 to ${MAX_TRACK_NAME_LENGTH} printable ASCII characters without spaces`,
    );
  }
  return name;
}

export function validateTags(tags: readonly string[]): string[] {
  if (tags.length > MAX_TAGS) throw badRequest(`at most ${MAX_TAGS} tags per track`);
  for (const tag of tags) {
    if (tag.length === 0 || tag.length > MAX_TAG_LENGTH || !NAME.test(tag)) {
      throw badRequest(`a tag must be 1 to ${MAX_TAG_LENGTH} printable ASCII characters without spaces`);
    }
  }
  return [...new Set(tags)];
}

/** The tracks a pushTracks call names, validated: at most the limit, valid names and tags. */
export function toPushRequests(
  tracks: readonly { mid?: string | null; trackName: string; kind?: TrackKind | null; tags?: readonly string[] | null }[],
): PushRequest[] {
  checkTrackCount(tracks.length);
  return tracks.map((t) => {
    validateTrackName(t.trackName);
    if (t.kind === 'data') throw badRequest(`track ${t.trackName}: DATA is not a media kind; publish data channels with publishDataChannels`);
    const request: PushRequest = { trackName: t.trackName, tags: validateTags(t.tags ?? []) };
    if (t.mid != null) request.mid = t.mid;
    return request;
  });
}
