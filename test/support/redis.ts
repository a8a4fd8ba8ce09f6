import { randomUUID } from 'node:crypto';
import IORedis, { type Redis } from 'ioredis';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A fresh key/queue prefix per test, so suites sharing one Redis never see each other's keys. */
export function testPrefix(label = 't'): string {
  return `test-${label}-${randomUUID().slice(0, 8)}`;
}

export function redisClient(): Redis {
  return new IORedis(REDIS_URL, { maxRetriesPerRequest: null });
}

/** Deletes every key under the prefix (SCAN, never KEYS, so it is safe on a shared Redis). */
export async function cleanupPrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    if (keys.length) await redis.del(...keys);
  } while (cursor !== '0');
}
