import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { AdapterStore } from '../../adapters/types';
import { LeadExportError } from '../domain/errors';

/**
 * Per-client adapter storage in Redis. Values are encrypted with AES-256-GCM (tokens at rest must be
 * unreadable to whoever can read Redis or its AOF), and locks are shared by every process.
 */
export class RedisAdapterStore implements AdapterStore {
  private readonly key: Buffer | null;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    encryptionKey: string,
  ) {
    this.key = encryptionKey ? deriveKey(encryptionKey) : null;
  }

  async get(key: string): Promise<string | null> {
    const raw = await this.redis.get(`${this.prefix}:${key}`);
    return raw === null ? null : this.decrypt(raw);
  }

  async set(key: string, value: string, ttlMs?: number): Promise<void> {
    const enc = this.encrypt(value);
    if (ttlMs) await this.redis.set(`${this.prefix}:${key}`, enc, 'PX', ttlMs);
    else await this.redis.set(`${this.prefix}:${key}`, enc);
  }

  async del(key: string): Promise<void> {
    await this.redis.del(`${this.prefix}:${key}`);
  }

  async withLock<T>(name: string, ttlMs: number, fn: () => Promise<T>): Promise<T> {
    const lockKey = `${this.prefix}:lock:${name}`;
    const token = randomUUID();
    const deadline = Date.now() + Math.max(ttlMs * 3, 10_000);
    // Spin politely: locks here guard rare operations (a token refresh), held for one HTTP round trip.
    while ((await this.redis.set(lockKey, token, 'PX', ttlMs, 'NX')) !== 'OK') {
      if (Date.now() > deadline) throw new LeadExportError('transient', `timed out waiting for lock ${name}`);
      await new Promise((r) => setTimeout(r, 50 + Math.random() * 50));
    }
    try {
      return await fn();
    } finally {
      // Release only our own lock: if it expired and someone else took it, leave theirs alone.
      await this.redis.eval("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end", 1, lockKey, token);
    }
  }

  private encrypt(plain: string): string {
    if (!this.key) throw new LeadExportError('config', 'TOKEN_ENCRYPTION_KEY is not set: stored CRM tokens must be encrypted at rest');
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
    return `v1:${iv.toString('base64')}:${c.getAuthTag().toString('base64')}:${body.toString('base64')}`;
  }

  private decrypt(stored: string): string {
    if (!this.key) throw new LeadExportError('config', 'TOKEN_ENCRYPTION_KEY is not set: cannot read stored CRM tokens');
    const [v, iv, tag, body] = stored.split(':');
    if (v !== 'v1' || !iv || !tag || body === undefined) throw new LeadExportError('config', 'a stored value is not in the expected encrypted format');
    try {
      const d = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64'));
      d.setAuthTag(Buffer.from(tag, 'base64'));
      return Buffer.concat([d.update(Buffer.from(body, 'base64')), d.final()]).toString('utf8');
    } catch {
      throw new LeadExportError('config', 'cannot decrypt a stored value: TOKEN_ENCRYPTION_KEY differs from the key it was written with');
    }
  }
}

/** The key must be 32 random bytes, as 64 hex digits or base64 (checked at start by the service config). */
export function parseEncryptionKey(k: string): Buffer | null {
  if (/^[0-9a-fA-F]{64}$/.test(k)) return Buffer.from(k, 'hex');
  if (/^[A-Za-z0-9+/]{43}=?$/.test(k)) {
    const b = Buffer.from(k, 'base64');
    if (b.length === 32) return b;
  }
  return null;
}

function deriveKey(k: string): Buffer {
  const key = parseEncryptionKey(k);
  if (!key) throw new LeadExportError('config', 'TOKEN_ENCRYPTION_KEY must be 32 bytes as 64 hex digits or base64 (e.g. openssl rand -base64 32)');
  return key;
}
