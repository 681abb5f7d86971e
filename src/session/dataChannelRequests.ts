import { badRequest, ErrorCode, SwitchyardError } from '../errors.js';
import type { DataChannelOptions } from '../tracks/PublishedTrack.js';
import type { TrackError } from './trackResults.js';
import type { SourceCheck } from './types.js';
import { checkTrackCount, validateTags, validateTrackName } from './limits.js';

/** A data channel to publish from a session. */
export interface LocalDataChannelRequest {
  name: string;
  tags?: readonly string[] | null;
  ordered?: boolean | null;
  maxRetransmits?: number | null;
  maxPacketLifeTime?: number | null;
}

/** A data channel of another session to subscribe to. */
export interface RemoteDataChannelRequest {
  sessionId: string;
  name: string;
  /** The caller's access rule for the source channel. */
  allow?: SourceCheck;
}

/** The outcome for one requested data channel, in request order. */
export interface DataChannelResult {
  /** The SCTP stream id: create the channel with { negotiated: true, id } and these options. */
  id: number | null;
  sessionId: string | null;
  name: string | null;
  options: DataChannelOptions | null;
  error: TrackError | null;
}

/** SCTP's limit for a partial-reliability parameter (a 16-bit field in DCEP and in usrsctp's API). */
const MAX_RELIABILITY_PARAMETER = 65535;
/** mediasoup stores 0 as "not set", which would make the channel reliable: 0 is refused rather than silently ignored. */
const MIN_RELIABILITY_PARAMETER = 1;

/**
 * How a channel delivers, from the request: reliable and ordered by default;
 * with maxRetransmits or maxPacketLifeTime (one of them), unordered unless
 * asked otherwise, which mediasoup does not support (an ordered channel that
 * drops messages would stall on every gap).
 */
export function dataChannelOptions(request: LocalDataChannelRequest): DataChannelOptions {
  validateTrackName(request.name);
  const limit = (value: number | null | undefined, field: string): number | null => {
    if (value == null) return null;
    if (!Number.isInteger(value) || value < MIN_RELIABILITY_PARAMETER || value > MAX_RELIABILITY_PARAMETER) {
      throw badRequest(
        `${field} of data channel ${request.name} must be an integer from ${MIN_RELIABILITY_PARAMETER} to ${MAX_RELIABILITY_PARAMETER} (mediasoup cannot express 0: it would be reliable)`,
      );
    }
    return value;
  };
  const maxRetransmits = limit(request.maxRetransmits, 'maxRetransmits');
  const maxPacketLifeTime = limit(request.maxPacketLifeTime, 'maxPacketLifeTime');
  if (maxRetransmits !== null && maxPacketLifeTime !== null) {
    throw badRequest(`data channel ${request.name}: give maxRetransmits or maxPacketLifeTime, not both`);
  }
  const partial = maxRetransmits !== null || maxPacketLifeTime !== null;
  if (partial && request.ordered === true) {
    throw badRequest(`data channel ${request.name}: a partially reliable channel (maxRetransmits or maxPacketLifeTime) must be unordered`);
  }
  return { ordered: request.ordered ?? !partial, maxRetransmits, maxPacketLifeTime };
}

/** Validates a whole publishDataChannels call before anything changes. */
export function checkLocalDataChannels(requests: readonly LocalDataChannelRequest[]): { request: LocalDataChannelRequest; options: DataChannelOptions; tags: string[] }[] {
  if (requests.length === 0) throw badRequest('publishDataChannels needs at least one data channel');
  checkTrackCount(requests.length);
  return requests.map((request) => ({ request, options: dataChannelOptions(request), tags: validateTags(request.tags ?? []) }));
}

/** Validates a whole subscribeDataChannels call. */
export function checkRemoteDataChannels(requests: readonly RemoteDataChannelRequest[]): void {
  if (requests.length === 0) throw badRequest('subscribeDataChannels needs at least one data channel');
  checkTrackCount(requests.length);
  for (const request of requests) validateTrackName(request.name);
}

/** A session may hold this many data channels (published and subscribed) at once. */
export function checkDataChannelRoom(held: number, adding: number, max: number): void {
  if (held + adding > max) {
    throw new SwitchyardError(
      ErrorCode.LIMIT_EXCEEDED,
      `a session may hold at most ${max} data channels (MAX_DATA_CHANNELS_PER_SESSION); it holds ${held}, this call adds ${adding}`,
    );
  }
}
