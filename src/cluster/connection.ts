/**
 * Where the cluster's Redis is, in the one form every front end takes: a URL (`redis://host:6379/0`,
 * `rediss://…` for TLS, `unix:///run/redis.sock`, or a socket path), turned into ioredis options.
 * Every connection retries quickly and forever: an agent must come back as soon as Redis does, and
 * BullMQ's blocking connection needs `maxRetriesPerRequest: null`.
 */
import type { RedisOptions } from 'ioredis';

/** The environment variable that names the cluster when `--cluster` is not given. */
export const CLUSTER_ENV = 'TASKWARDEN_CLUSTER';

/** Reconnect delays: 50 ms, 100 ms, … at most 500 ms, so an agent is back within half a second of Redis. */
const MAX_RETRY_DELAY_MS = 500;

export class ClusterUrlError extends Error {
  constructor(url: string, why: string) {
    super(
      `"${url}" is not a Redis address (${why}): give redis://HOST:PORT, rediss://HOST:PORT for TLS, or unix:///path/to/redis.sock`,
    );
    this.name = 'ClusterUrlError';
  }
}

export function redisOptions(url: string, connectionName?: string): RedisOptions {
  const common: RedisOptions = {
    maxRetriesPerRequest: null,
    retryStrategy: (times) => Math.min(times * 50, MAX_RETRY_DELAY_MS),
    ...(connectionName ? { connectionName } : {}),
  };
  if (url.startsWith('/')) return { ...common, path: url };
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ClusterUrlError(url, 'not a URL');
  }
  if (parsed.protocol === 'unix:') {
    if (!parsed.pathname || parsed.pathname === '/') throw new ClusterUrlError(url, 'no socket path');
    return { ...common, path: decodeURIComponent(parsed.pathname) };
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:')
    throw new ClusterUrlError(url, `unknown scheme ${parsed.protocol}`);
  if (!parsed.hostname) throw new ClusterUrlError(url, 'no host');
  const db = parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0)
    throw new ClusterUrlError(url, `database "${parsed.pathname.slice(1)}" is not a number`);
  return {
    ...common,
    host: parsed.hostname.replace(/^\[|\]$/g, ''),
    port: parsed.port ? Number(parsed.port) : 6379,
    db,
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

/** The URL without its password, for messages and logs. */
export function displayUrl(url: string): string {
  return url.replace(/(\/\/[^:/@]*:)[^@]*@/, '$1***@');
}
