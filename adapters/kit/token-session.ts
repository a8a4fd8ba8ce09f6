import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { AdapterContext } from '../types';
import { DeliveryError, isDeliveryError } from '../../src/domain/errors';

/**
 * One OAuth2-style token session per client, shared by every process: what amoCRM's rotating tokens
 * need, and what any CRM with login + refresh tokens needs (the REST adapter's login mode).
 *
 * Rotating refresh tokens are single-use: two processes refreshing with the same one leave one of
 * them — and, if its result is lost, everyone — with a revoked token. So:
 *  - the pair lives in the adapter store (Redis, encrypted at rest), under one key, for all processes;
 *  - a renewal happens under a lock shared by all processes, and the pair is RE-READ after taking it:
 *    whoever waited for the lock usually finds a fresh pair and does not renew at all;
 *  - the new pair is persisted BEFORE it is used, so a crash right after a refresh loses nothing;
 *  - a refresh the CRM refuses (the grant, not a 503) marks the stored pair dead, once, and raises
 *    `auth`: no process tries the dead token again, nothing loops — unless the session can log in
 *    again by itself (`obtain`), which it then does;
 *  - a refresh token that lives a limited time is renewed on a schedule, whatever the traffic, so an
 *    idle client does not lose access (`maintain`).
 */

/** What the CRM's token endpoint gave. */
export interface TokenGrant {
  accessToken: string;
  refreshToken?: string;
  /** Lifetime of the access token, ms. */
  expiresInMs: number;
}

export const StoredSessionSchema = z.object({
  v: z.literal(1),
  /** Who issued the pair (amoCRM integration id, a login's username): another owner needs a new connect. */
  owner: z.string(),
  accessToken: z.string().min(1),
  refreshToken: z.string().min(1).optional(),
  /** ms since epoch. */
  expiresAt: z.number(),
  obtainedAt: z.number(),
  /** When the current refresh token was issued (it rotates with each refresh). */
  refreshIssuedAt: z.number().optional(),
  /** Set when the CRM refused the refresh token: nobody may try it again. */
  dead: z.object({ at: z.number(), reason: z.string() }).optional(),
});
export type StoredSession = z.infer<typeof StoredSessionSchema>;

/** The CRM refused a grant: `grant` = the refresh token/code (spent, revoked, expired), `client` = our credentials. */
export class GrantRefused extends DeliveryError {
  constructor(
    readonly part: 'grant' | 'client',
    message: string,
    status?: number,
    crmDetail?: string,
  ) {
    super('auth', message, { status, crmDetail, details: { refused: part } });
    this.name = 'GrantRefused';
  }
}

export interface TokenSessionOptions {
  /** Store key of the pair. */
  key: string;
  /** Name of the cross-process lock that guards renewals. */
  lockName: string;
  owner: string;
  /**
   * Exchanges a refresh token. Throws GrantRefused when the CRM refuses it, a transient error when it
   * is down. Absent: the CRM cannot refresh, and an expiring session is obtained anew.
   */
  refresh?(refreshToken: string): Promise<TokenGrant>;
  /** Gets a new pair without a refresh token (a password login). Absent: only a person can (amoCRM connect). */
  obtain?(): Promise<TokenGrant>;
  /** The error when there is no usable pair and nothing can obtain one. */
  notConnected(why: 'missing' | 'owner' | 'dead', detail?: string): DeliveryError;
  /** How long a refresh token lives; it is renewed after a third of that, whatever the traffic. */
  refreshTokenTtlMs?: number;
  /** The client's request timeout: a token must stay valid at least this long after it is handed out. */
  requestTimeoutMs?: number;
  /** Ends a session at the CRM (logout), when the last process using it closes. Best effort. */
  revoke?(session: StoredSession): Promise<void>;
  /** Long enough for one token request even behind the rate limiter and a slow CRM. Default 90 s. */
  lockTtlMs?: number;
}

const RECHECK_MS = 1_000;
const HOLDER_TTL_MS = 120_000;
const HOLDER_REFRESH_MS = 30_000;

export class TokenSession {
  private cached: StoredSession | null = null;
  /** One renewal per stale token per process; concurrent requests wait for the same one. */
  private readonly inflight = new Map<string, Promise<StoredSession>>();
  private readonly holderId = randomBytes(6).toString('hex');
  private registeredAt = 0;

  constructor(
    private readonly ctx: Pick<AdapterContext, 'store' | 'now' | 'log' | 'clientId'>,
    private readonly opts: TokenSessionOptions,
  ) {}

  /** A token to send now, valid for at least the margin (renewed ahead of expiry when needed). */
  async accessToken(): Promise<string> {
    const t = this.cached ?? (await this.load());
    void this.registerHolder();
    if (this.fresh(t)) return t.accessToken;
    return (await this.renew(t.accessToken, 'expiring')).accessToken;
  }

  /** After the CRM answered 401 to `rejected`: a different token to retry with once, or null. */
  async recover(rejected: string): Promise<string | null> {
    this.ctx.log.info({ clientId: this.ctx.clientId }, 'the CRM answered 401: renewing the access token once');
    const t = await this.renew(rejected, 'rejected');
    return t.accessToken !== rejected ? t.accessToken : null;
  }

  /** Renews a refresh token that has lived a third of its life, whatever the traffic. Cheap otherwise. */
  async maintain(): Promise<void> {
    const ttl = this.opts.refreshTokenTtlMs;
    if (!ttl) return;
    let t = this.cached;
    if (!t) {
      t = await readSession(this.ctx.store, this.opts.key, this.ctx.clientId).catch(() => null);
      if (!t) return;
      this.cached = t.dead || t.owner !== this.opts.owner ? null : t;
    }
    if (!this.refreshDue(t)) return;
    await this.renew(t.accessToken, 'keep-alive');
  }

  /** Stores a pair obtained by a person (connect, import), under the lock so no renewal overwrites it. */
  async save(grant: TokenGrant): Promise<StoredSession> {
    return this.ctx.store.withLock(this.opts.lockName, this.opts.lockTtlMs ?? 90_000, async () => {
      const next = this.toStored(grant);
      await this.ctx.store.set(this.opts.key, JSON.stringify(next));
      this.cached = next;
      return next;
    });
  }

  async read(): Promise<StoredSession | null> {
    return readSession(this.ctx.store, this.opts.key, this.ctx.clientId);
  }

  /** This process stops using the session; the last one to stop ends it at the CRM (if it can). */
  async release(): Promise<void> {
    if (!this.opts.revoke || this.registeredAt === 0) return;
    await this.ctx.store.withLock(this.opts.lockName, this.opts.lockTtlMs ?? 90_000, async () => {
      const holders = await this.readHolders();
      delete holders[this.holderId];
      const now = this.ctx.now();
      const others = Object.values(holders).filter((until) => until > now);
      if (others.length > 0) return void (await this.writeHolders(holders));
      await this.ctx.store.del(this.holdersKey());
      const cur = await readSession(this.ctx.store, this.opts.key, this.ctx.clientId).catch(() => null);
      if (!cur || cur.dead) return;
      await this.ctx.store.del(this.opts.key);
      this.cached = null;
      try {
        await this.opts.revoke!(cur);
      } catch (err) {
        // Revocation is a courtesy: the session expires anyway.
        this.ctx.log.warn({ clientId: this.ctx.clientId, err: (err as Error).message }, 'session revoke failed');
      }
    });
  }

  private marginMs(t: Pick<StoredSession, 'expiresAt' | 'obtainedAt'>): number {
    const life = Math.max(0, t.expiresAt - t.obtainedAt);
    const wanted = Math.max(Math.min(5 * 60_000, life * 0.1), this.opts.requestTimeoutMs ?? 0);
    return Math.min(life * 0.5, wanted);
  }

  private fresh(t: StoredSession): boolean {
    return this.ctx.now() < t.expiresAt - this.marginMs(t);
  }

  private refreshDue(t: StoredSession): boolean {
    const ttl = this.opts.refreshTokenTtlMs;
    if (!ttl || !t.refreshToken) return false;
    return this.ctx.now() - (t.refreshIssuedAt ?? t.obtainedAt) >= ttl / 3;
  }

  private async load(): Promise<StoredSession> {
    const t = await readSession(this.ctx.store, this.opts.key, this.ctx.clientId);
    if (!t) {
      if (this.opts.obtain) return this.renew('', 'missing');
      throw this.opts.notConnected('missing');
    }
    if (t.owner !== this.opts.owner) {
      if (this.opts.obtain) return this.renew(t.accessToken, 'owner');
      throw this.opts.notConnected('owner', t.owner);
    }
    if (t.dead) {
      this.cached = null;
      if (this.opts.obtain) return this.renew(t.accessToken, 'dead');
      throw this.opts.notConnected('dead', t.dead.reason);
    }
    this.cached = t;
    return t;
  }

  private renew(stale: string, why: 'expiring' | 'rejected' | 'keep-alive' | 'missing' | 'owner' | 'dead'): Promise<StoredSession> {
    const key = `${why}:${stale}`;
    let p = this.inflight.get(key);
    if (!p) {
      p = this.ctx.store.withLock(this.opts.lockName, this.opts.lockTtlMs ?? 90_000, () => this.renewLocked(stale, why)).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  /** Holds the cross-process lock. */
  private async renewLocked(stale: string, why: string): Promise<StoredSession> {
    // Re-read: while we waited for the lock another process (or a person's connect) may have stored a new pair.
    const cur = await readSession(this.ctx.store, this.opts.key, this.ctx.clientId);
    const usable = cur && !cur.dead && cur.owner === this.opts.owner ? cur : null;
    if (usable && this.fresh(usable)) {
      const needed = why === 'keep-alive' ? this.refreshDue(usable) : usable.accessToken === stale && why === 'rejected';
      if (!needed) {
        this.cached = usable;
        return usable;
      }
    }
    let grant: TokenGrant;
    let via: 'refresh' | 'obtain';
    if (usable?.refreshToken && this.opts.refresh) {
      try {
        grant = await this.opts.refresh(usable.refreshToken);
        via = 'refresh';
      } catch (err) {
        if (!(err instanceof GrantRefused && err.part === 'grant')) throw err; // a 503 is an outage, not a dead token
        const winner = await this.concurrentWinner(usable);
        if (winner) return winner;
        if (!this.opts.obtain) {
          await this.ctx.store.set(this.opts.key, JSON.stringify({ ...usable, dead: { at: this.ctx.now(), reason: (err.crmDetail ?? err.message).slice(0, 300) } }));
          this.cached = null;
          this.ctx.log.error({ clientId: this.ctx.clientId, status: err.status }, 'the CRM refused the refresh token; the client must be reconnected');
          throw err;
        }
        this.ctx.log.info({ clientId: this.ctx.clientId, status: err.status }, 'refresh refused; logging in again');
        grant = await this.opts.obtain();
        via = 'obtain';
      }
    } else if (this.opts.obtain) {
      grant = await this.opts.obtain();
      via = 'obtain';
    } else if (!cur) {
      throw this.opts.notConnected('missing');
    } else if (cur.owner !== this.opts.owner) {
      throw this.opts.notConnected('owner', cur.owner);
    } else if (cur.dead) {
      throw this.opts.notConnected('dead', cur.dead.reason);
    } else {
      // An access token without a refresh token (imported): nothing can renew it.
      throw this.opts.notConnected('dead', 'the stored access token expired and there is no refresh token');
    }
    const next = this.toStored(grant, via === 'refresh' ? usable ?? undefined : undefined);
    // Persist before use: if this process dies now, the next one reads the new pair, not the spent one.
    await this.ctx.store.set(this.opts.key, JSON.stringify(next));
    this.cached = next;
    this.ctx.log.info({ clientId: this.ctx.clientId, via, why, expiresInS: Math.round(grant.expiresInMs / 1000) }, 'tokens renewed');
    return next;
  }

  /**
   * Our lock may have expired while the refresh waited (a long 429 hold) and another process rotated
   * the same token meanwhile: theirs stands. Its new pair may still be on its way to Redis, so look twice.
   */
  private async concurrentWinner(cur: StoredSession): Promise<StoredSession | null> {
    for (let look = 0; look < 2; look++) {
      const again = await readSession(this.ctx.store, this.opts.key, this.ctx.clientId).catch(() => null);
      if (again && !again.dead && again.refreshToken !== cur.refreshToken) {
        this.cached = again;
        return again;
      }
      if (look === 0) await new Promise((r) => setTimeout(r, RECHECK_MS));
    }
    return null;
  }

  private toStored(grant: TokenGrant, previous?: StoredSession): StoredSession {
    const now = this.ctx.now();
    const rotated = grant.refreshToken !== undefined && grant.refreshToken !== previous?.refreshToken;
    return {
      v: 1,
      owner: this.opts.owner,
      accessToken: grant.accessToken,
      // A refresh answer without a new refresh token keeps the old one (not every CRM rotates).
      refreshToken: grant.refreshToken ?? previous?.refreshToken,
      expiresAt: now + grant.expiresInMs,
      obtainedAt: now,
      refreshIssuedAt: rotated || !previous ? now : previous.refreshIssuedAt ?? previous.obtainedAt,
    };
  }

  private holdersKey(): string {
    return `${this.opts.key}:holders`;
  }

  private async readHolders(): Promise<Record<string, number>> {
    const raw = await this.ctx.store.get(this.holdersKey()).catch(() => null);
    if (!raw) return Object.create(null) as Record<string, number>;
    try {
      const parsed = z.record(z.string(), z.number()).safeParse(JSON.parse(raw));
      return parsed.success ? Object.assign(Object.create(null) as Record<string, number>, parsed.data) : (Object.create(null) as Record<string, number>);
    } catch {
      return Object.create(null) as Record<string, number>;
    }
  }

  private async writeHolders(h: Record<string, number>): Promise<void> {
    await this.ctx.store.set(this.holdersKey(), JSON.stringify(h), HOLDER_TTL_MS * 2);
  }

  /** Sessions that can be ended (logout) remember which processes use them, so the last one ends it. */
  private async registerHolder(): Promise<void> {
    if (!this.opts.revoke) return;
    const now = this.ctx.now();
    if (now - this.registeredAt < HOLDER_REFRESH_MS) return;
    this.registeredAt = now;
    try {
      await this.ctx.store.withLock(this.opts.lockName, this.opts.lockTtlMs ?? 90_000, async () => {
        const holders = await this.readHolders();
        for (const [id, until] of Object.entries(holders)) if (until <= now) delete holders[id];
        holders[this.holderId] = now + HOLDER_TTL_MS;
        await this.writeHolders(holders);
      });
    } catch {
      // Only the courtesy logout at shutdown depends on it; the next use tries again.
      this.registeredAt = 0;
    }
  }
}

/** Reads the pair; unreadable data (wrong TOKEN_ENCRYPTION_KEY, a foreign value) is a `config` problem a person must fix. */
export async function readSession(store: AdapterContext['store'], key: string, clientId: string): Promise<StoredSession | null> {
  let raw: string | null;
  try {
    raw = await store.get(key);
  } catch (err) {
    if (isDeliveryError(err)) throw err;
    throw new DeliveryError('config', `the stored tokens of ${clientId} cannot be read: ${(err as Error).message}`, { cause: err });
  }
  if (raw === null) return null;
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new DeliveryError('config', `the stored tokens of ${clientId} are not valid JSON: reconnect the client`);
  }
  // Pairs stored before sessions were shared by every adapter named their owner `clientId`.
  if (json && typeof json === 'object' && !('owner' in json) && 'clientId' in json) {
    const { clientId: owner, ...rest } = json as Record<string, unknown>;
    json = { ...rest, owner };
  }
  const parsed = StoredSessionSchema.safeParse(json);
  if (!parsed.success) throw new DeliveryError('config', `the stored tokens of ${clientId} are malformed: reconnect the client`);
  return parsed.data;
}
