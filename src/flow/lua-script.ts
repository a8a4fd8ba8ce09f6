import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * A Lua script run by EVALSHA, falling back to EVAL on NOSCRIPT (which also caches it on the server).
 * We do not use `redis.defineCommand` because the connection is the caller's and may be shared:
 * defining commands mutates it and is untyped.
 */
export class LuaScript {
  readonly sha1: string;

  constructor(
    readonly name: string,
    readonly source: string,
  ) {
    this.sha1 = createHash('sha1').update(source).digest('hex');
  }

  async run(redis: Redis, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    const argv = [...keys, ...args.map(String)];
    try {
      return await redis.evalsha(this.sha1, keys.length, ...argv);
    } catch (err) {
      // A restarted or flushed Redis forgets its script cache; EVAL re-sends the body once.
      if (err instanceof Error && err.message.startsWith('NOSCRIPT')) {
        return redis.eval(this.source, keys.length, ...argv);
      }
      throw err;
    }
  }
}

/** Script replies come back as nested arrays of integers and strings; these keep the parsing honest. */
export function replyArray(reply: unknown, script: string): unknown[] {
  if (!Array.isArray(reply)) throw new TypeError(`${script}: expected an array reply, got ${typeof reply}`);
  return reply;
}

export function replyNumber(value: unknown, script: string): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : NaN;
  if (!Number.isFinite(n)) throw new TypeError(`${script}: expected a number, got ${JSON.stringify(value)}`);
  return n;
}

/** HGETALL-style flat [field, value, ...] list → record. */
export function replyHash(value: unknown, script: string): Record<string, string> {
  const flat = replyArray(value, script);
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = String(flat[i + 1]);
  return out;
}
