import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { cleanupPrefix, redisClient, testPrefix } from '../../test/support/redis';
import { LuaScript, replyHash } from './lua-script';

let redis: Redis;
let prefix: string;

beforeEach(() => {
  redis = redisClient();
  prefix = testPrefix('lua');
});

afterEach(async () => {
  await cleanupPrefix(redis, prefix);
  await redis.quit();
});

describe('LuaScript', () => {
  it('falls back to EVAL when Redis does not know the script (NOSCRIPT), which also caches it', async () => {
    // A body Redis has never seen, without flushing the shared script cache other suites rely on.
    const script = new LuaScript('probe', `-- ${randomUUID()}\nredis.call('SET', KEYS[1], ARGV[1])\nreturn {KEYS[1], ARGV[1]}`);
    expect(await redis.script('EXISTS', script.sha1)).toEqual([0]);
    const key = `${prefix}:k`;
    expect(await script.run(redis, [key], [42])).toEqual([key, '42']);
    expect(await redis.script('EXISTS', script.sha1)).toEqual([1]);
    expect(await script.run(redis, [key], ['x'])).toEqual([key, 'x']);
  });

  it('turns a flat HGETALL reply into a record', () => {
    expect(replyHash(['a', '1', 'b', 'two'], 't')).toEqual({ a: '1', b: 'two' });
  });
});
