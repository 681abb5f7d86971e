/**
 * The track event log's floor (RedisTrackEventBus): with Redis replicated
 * asynchronously (Sentinel), a failover may promote a replica that missed the
 * old primary's last writes, so the log's counter and stream id go back. The
 * nodes remember the newest event they saw and push the log past it again.
 */
/**
 * KEYS[1] the stream, KEYS[2] the counter; ARGV[s] a seq and ARGV[i] its
 * stream id that this node saw. When the counter is below (the log lost its
 * newest entries), it and the stream's last id go past them: the next event
 * gets a later seq and id than any a subscriber or cursor holds. XSETID
 * fails on a stream whose top is already past the id, or that is gone
 * (then XADD makes ids from the clock): nothing to raise.
 */
export function floorLua(s: number, i: number): string {
  return `
if tonumber(redis.call('GET', KEYS[2]) or '0') < tonumber(ARGV[${s}]) then
  redis.call('SET', KEYS[2], ARGV[${s}])
  pcall(redis.call, 'XSETID', KEYS[1], ARGV[${i}])
end
`;
}

/** The floor alone, run when the connection is back (RedisTrackEventBus.checkEpoch). */
export const RAISE_FLOOR_SCRIPT = floorLua(1, 2);
