import { ConfigError, type Env } from './parse.js';

/** A Redis primary found through Sentinel (REDIS_SENTINELS, REDIS_SENTINEL_MASTER): the other way into cluster mode than REDIS_URL. */
export interface RedisSentinelConfig {
  /** The Sentinels asked where the primary is, in the order given (ioredis adds the others they know of). */
  sentinels: { host: string; port: number }[];
  /** The name the Sentinels monitor the primary under (`sentinel monitor <name> …`). */
  masterName: string;
  /** The primary's and replicas' password (REDIS_PASSWORD); with REDIS_URL it goes in the URL instead. */
  password: string | undefined;
  /** The Sentinels' own password (REDIS_SENTINEL_PASSWORD), when they require one. */
  sentinelPassword: string | undefined;
}

/** Redis Sentinel's own port, taken when an entry names none. */
const SENTINEL_PORT = 26379;
/** What Sentinel accepts as a master name, and nothing that could hide a typo (spaces, quotes). */
const MASTER_NAME = /^[A-Za-z0-9._-]{1,64}$/;

/** `host:port`, `host` (port 26379), `[v6]:port` or `[v6]`. */
function sentinel(entry: string): { host: string; port: number } {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+))(?::(\d{1,5}))?$/.exec(entry);
  const port = match?.[3] === undefined ? SENTINEL_PORT : Number(match[3]);
  if (!match || port < 1 || port > 65535) {
    throw new ConfigError(`REDIS_SENTINELS must be comma-separated host:port entries such as 10.0.0.5:26379,10.0.0.6:26379, got "${entry}"`);
  }
  return { host: match[1] ?? match[2]!, port };
}

/**
 * The Sentinel way into cluster mode, or undefined. Exactly one way may be
 * set: REDIS_URL names one Redis; REDIS_SENTINELS with REDIS_SENTINEL_MASTER
 * names the Sentinels that say which server is the primary now. Half a
 * setting (one without the other) or both ways at once is refused at start
 * rather than quietly running alone or on the wrong Redis.
 */
export function redisSentinelConfig(env: Env): RedisSentinelConfig | undefined {
  const list = env.REDIS_SENTINELS?.trim() ?? '';
  const master = env.REDIS_SENTINEL_MASTER?.trim() ?? '';
  const password = env.REDIS_PASSWORD || undefined;
  const sentinelPassword = env.REDIS_SENTINEL_PASSWORD || undefined;
  if (env.REDIS_URL?.trim()) {
    if (list || master) throw new ConfigError('set either REDIS_URL or REDIS_SENTINELS with REDIS_SENTINEL_MASTER, not both');
    if (password || sentinelPassword) {
      throw new ConfigError('REDIS_PASSWORD and REDIS_SENTINEL_PASSWORD go with REDIS_SENTINELS; with REDIS_URL put the password in the URL (redis://:password@host:6379)');
    }
    return undefined;
  }
  if (!list && !master) {
    if (password || sentinelPassword) throw new ConfigError('REDIS_PASSWORD and REDIS_SENTINEL_PASSWORD need REDIS_SENTINELS and REDIS_SENTINEL_MASTER');
    return undefined;
  }
  if (!list) throw new ConfigError('REDIS_SENTINEL_MASTER needs REDIS_SENTINELS: the Sentinels to ask, such as 10.0.0.5:26379,10.0.0.6:26379');
  if (!master) throw new ConfigError('REDIS_SENTINELS needs REDIS_SENTINEL_MASTER: the name the Sentinels monitor the primary under');
  if (!MASTER_NAME.test(master)) throw new ConfigError(`REDIS_SENTINEL_MASTER must be 1 to 64 letters, digits, ., - or _, got "${master}"`);
  const sentinels = list.split(',').map((entry) => sentinel(entry.trim()));
  const seen = new Set(sentinels.map(({ host, port }) => `${host}:${port}`));
  if (seen.size !== sentinels.length) throw new ConfigError('REDIS_SENTINELS names a Sentinel twice');
  return { sentinels, masterName: master, password, sentinelPassword };
}
