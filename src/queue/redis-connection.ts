import IORedis, { type Redis, type RedisOptions } from 'ioredis';

/**
 * Opens the Redis connection for a REDIS_URL. `redis://host:port` is a single Redis (or a primary
 * behind a proxy); `redis+cluster://host1:port,host2:port` (or `rediss+cluster://`) is a Redis
 * Cluster, reached through ioredis' Cluster client from its seed nodes.
 *
 * Why one `Redis` type for both: every command lead-export sends, scripts and pipelines included,
 * touches the keys of one client only, and those all carry the `{clientId}` hash tag (src/queue/keys.ts),
 * so the Cluster client behaves as a single Redis for our purposes — and BullMQ accepts either.
 */
export function connectRedis(url: string, opts: RedisOptions = {}): Redis {
  const m = /^(rediss?)\+cluster:\/\/(.+)$/.exec(url);
  if (!m) return new IORedis(url, opts);
  const seeds = m[2].split(',').map((hp) => {
    const u = new URL(`${m[1]}://${hp.trim()}`);
    return { host: u.hostname, port: Number(u.port || 6379) };
  });
  const first = new URL(`${m[1]}://${m[2].split(',')[0]}`);
  const cluster = new IORedis.Cluster(seeds, {
    enableOfflineQueue: opts.enableOfflineQueue ?? true,
    redisOptions: {
      ...opts,
      username: first.username || undefined,
      password: first.password ? decodeURIComponent(first.password) : undefined,
      tls: m[1] === 'rediss' ? {} : undefined,
    },
  });
  return cluster as unknown as Redis;
}

export function isClusterUrl(url: string): boolean {
  return /^rediss?\+cluster:\/\//.test(url);
}
