import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { AdapterStore } from '../../adapters/types';
import { DeliveryError } from '../domain/errors';
import { parseEncryptionKey } from '../config/encryption-key';
import type { StoreKeys } from '../queue/keys';

/**
 * Per-client adapter storage in Redis. Values are encrypted with AES-256-GCM (tokens at rest must be
 * unreadable to whoever can read Redis or its AOF), and locks are shared by every process.
 * A key that is missing or does not fit the stored values is a `config` problem: the client pauses
 * and the message says which variable to fix.
 */
export class RedisAdapterStore implements AdapterStore {
  private readonly key: Buffer | null;
  private readonly keyProblem?: string;

  constructor(
    private readonly redis: Redis,
    private readonly keys: StoreKeys,
    encryptionKey: string,
  ) {
    this.key = encryptionKey ? parseEncryptionKey(encryptionKey) : null;
    if (encryptionKey && !this.key) this.keyProblem = 'TOKEN_ENCRYPTION_KEY must be 32 bytes as 64 hex digits or base64 (e.g. openssl rand -base64 32)';
  }

  async get(name: string): Promise<string | null> {
    const raw = await this.redis.get(this.keys.value(name));
    return raw === null ? null : this.decrypt(raw);
  }

  async set(name: string, value: string, ttlMs?: number): Promise<void> {
    const enc = this.encrypt(value);
    if (ttlMs) await this.redis.set(this.keys.value(name), enc, 'PX', ttlMs);
    else await this.redis.set(this.keys.value(name), enc);
  }

  async del(name: string): Promise<void> {
    await this.redis.del(this.keys.value(name));
  }

  async withLock<T>(name: string, ttlMs: number, fn: () => Promise<T>): Promise<T> {
    const lockKey = this.keys.lock(name);
    const token = randomUUID();
    const deadline = Date.now() + Math.max(ttlMs * 3, 10_000);
    // Spin politely: locks here guard rare operations (a token refresh), held for one HTTP round trip.
    while ((await this.redis.set(lockKey, token, 'PX', ttlMs, 'NX')) !== 'OK') {
      if (Date.now() > deadline) throw new DeliveryError('transient', `timed out waiting for lock ${name}`);
      await new Promise((r) => setTimeout(r, 50 + Math.random() * 50));
    }
    try {
      return await fn();
    } finally {
      // Release only our own lock: if it expired and someone else took it, leave theirs alone.
      await this.redis.eval("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end", 1, lockKey, token);
    }
  }

  private requireKey(what: string): Buffer {
    if (this.key) return this.key;
    throw new DeliveryError('config', this.keyProblem ?? `TOKEN_ENCRYPTION_KEY is not set: ${what}`);
  }

  private encrypt(plain: string): string {
    const key = this.requireKey('stored CRM tokens must be encrypted at rest');
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', key, iv);
    const body = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
    return `v1:${iv.toString('base64')}:${c.getAuthTag().toString('base64')}:${body.toString('base64')}`;
  }

  private decrypt(stored: string): string {
    const key = this.requireKey('cannot read stored CRM tokens');
    const [v, iv, tag, body] = stored.split(':');
    if (v !== 'v1' || !iv || !tag || body === undefined) throw new DeliveryError('config', 'a stored value is not in the expected encrypted format');
    try {
      const d = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64'));
      d.setAuthTag(Buffer.from(tag, 'base64'));
      return Buffer.concat([d.update(Buffer.from(body, 'base64')), d.final()]).toString('utf8');
    } catch {
      throw new DeliveryError('config', 'cannot decrypt a stored value: TOKEN_ENCRYPTION_KEY differs from the key it was written with');
    }
  }
}
