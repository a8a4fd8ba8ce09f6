import { z } from 'zod';
import type { AdapterContext, AdapterStore, CrmResponse } from '../types';
import { DeliveryError, InputError, LeadExportError, isDeliveryError } from '../../src/domain/errors';
import { describe, failure, problemOf, zodIssue } from './classify';
import type { AmoAuthSettings, AmoOAuthSettings, AmoSettings } from './settings';

/**
 * amoCRM credentials.
 *
 * OAuth refresh tokens rotate and are single-use (reference §2.3): two processes refreshing with the
 * same token leave one of them — and, if its result is lost, everyone — with "Token has been
 * revoked", and only a person can re-authorize. So:
 *  - the pair lives in the adapter store (Redis, encrypted), under one key, shared by all processes;
 *  - a refresh happens under a lock shared by all processes, and the tokens are RE-READ after taking
 *    it: whoever waited for the lock usually finds a fresh pair and does not refresh at all;
 *  - the new pair is persisted BEFORE it is used, so a crash right after a refresh loses nothing;
 *  - a refresh the token endpoint refuses marks the stored pair dead and raises `auth` (the client is
 *    paused): no process tries the dead token again, nothing loops. `amocrm connect` replaces it.
 */

/** The store key of the token pair, and the name of the lock that guards refreshes. */
export const TOKENS_KEY = 'amocrm-oauth';
export const REFRESH_LOCK = 'amocrm-oauth';
const TOKEN_PATH = '/oauth2/access_token';
/**
 * Long enough for one token request even behind the rate limiter and a slow CRM (a crashed holder
 * frees it after this). If it still expires under a waiting request, the re-check below saves us.
 */
const LOCK_TTL_MS = 90_000;
/** How long a refused refresh waits for a concurrent winner's pair to reach Redis. */
const RECHECK_MS = 1_000;
const TOKEN_REQUEST_TIMEOUT_MS = 20_000;
/** Refresh this long before expiry: 5 minutes, or 10 % of the lifetime for short-lived tokens. */
const AHEAD_MAX_MS = 5 * 60_000;

export const StoredTokensSchema = z.object({
  v: z.literal(1),
  /** The integration that issued the pair: a client file switched to another integration needs a new connect. */
  clientId: z.string(),
  accessToken: z.string().min(1),
  refreshToken: z.string().min(1),
  /** ms since epoch. */
  expiresAt: z.number(),
  obtainedAt: z.number(),
  /** Set when the token endpoint refused the refresh token: nobody may try it again. */
  dead: z.object({ at: z.number(), reason: z.string() }).optional(),
});
export type StoredTokens = z.infer<typeof StoredTokensSchema>;

/** A token endpoint answer (reference §2.1); unknown keys (server_time, …) are ignored. */
export const TokenResponseSchema = z.object({
  token_type: z.string().optional(),
  expires_in: z.number().positive(),
  access_token: z.string().min(1),
  refresh_token: z.string().min(1),
});
export type TokenResponse = z.infer<typeof TokenResponseSchema>;

export interface AmoAuth {
  /** A token to send now (refreshed ahead of expiry when needed). */
  accessToken(): Promise<string>;
  /**
   * After amoCRM answered 401 to `rejected`: a different token to retry with once, or null when
   * nothing can help (the caller then raises `auth`).
   */
  recover(rejected: string): Promise<string | null>;
}

export function createAmoAuth(settings: AmoSettings, ctx: AdapterContext): AmoAuth {
  const auth = settings.auth;
  if (auth.type === 'long-lived') return new LongLivedToken(auth.token, ctx);
  return new OAuthTokens(auth, ctx);
}

/** Runs a secret lookup; a missing secret pauses the client with a message that names it. */
async function resolveSecret(ctx: Pick<AdapterContext, 'secrets'>, ref: string, what: string): Promise<string> {
  try {
    return await ctx.secrets.resolve(ref);
  } catch (err) {
    throw new DeliveryError('auth', `${what} cannot be read: ${(err as Error).message}`, { cause: err });
  }
}

class LongLivedToken implements AmoAuth {
  constructor(
    private readonly ref: string,
    private readonly ctx: AdapterContext,
  ) {}

  accessToken(): Promise<string> {
    return resolveSecret(this.ctx, this.ref, `the long-lived token (${this.ref})`);
  }

  async recover(rejected: string): Promise<string | null> {
    // Re-read the secret: ops may have rotated the file/env already; otherwise there is no refresh.
    const now = await this.accessToken();
    return now !== rejected ? now : null;
  }
}

function aheadMs(t: Pick<StoredTokens, 'expiresAt' | 'obtainedAt'>): number {
  return Math.min(AHEAD_MAX_MS, Math.max(0, (t.expiresAt - t.obtainedAt) * 0.1));
}

class OAuthTokens implements AmoAuth {
  private cached: StoredTokens | null = null;
  /** One renewal per stale token per process; concurrent batches wait for the same one. */
  private readonly inflight = new Map<string, Promise<StoredTokens>>();

  constructor(
    private readonly auth: AmoOAuthSettings,
    private readonly ctx: AdapterContext,
  ) {}

  async accessToken(): Promise<string> {
    const t = this.cached ?? (await this.load());
    if (this.ctx.now() < t.expiresAt - aheadMs(t)) return t.accessToken;
    return (await this.renew(t.accessToken)).accessToken;
  }

  async recover(rejected: string): Promise<string | null> {
    this.ctx.log.info({ clientId: this.ctx.clientId }, 'amoCRM answered 401: renewing the access token once');
    const t = await this.renew(rejected, true);
    return t.accessToken !== rejected ? t.accessToken : null;
  }

  private async load(): Promise<StoredTokens> {
    const t = await readTokens(this.ctx.store, this.ctx.clientId);
    if (!t) throw notConnected(this.ctx.clientId);
    if (t.clientId !== this.auth.clientId) {
      throw new DeliveryError(
        'auth',
        `the stored amoCRM tokens belong to integration ${t.clientId}, but the client file names ${this.auth.clientId}: run lead-export amocrm connect ${this.ctx.clientId} --code <code>`,
      );
    }
    if (t.dead) {
      this.cached = null;
      throw new DeliveryError('auth', `the amoCRM refresh token was refused (${t.dead.reason}): run lead-export amocrm connect ${this.ctx.clientId} --code <code>`);
    }
    this.cached = t;
    return t;
  }

  private renew(stale: string, rejected = false): Promise<StoredTokens> {
    const key = `${rejected ? 'r' : 'e'}:${stale}`;
    let p = this.inflight.get(key);
    if (!p) {
      p = this.ctx.store.withLock(REFRESH_LOCK, LOCK_TTL_MS, () => this.renewLocked(stale, rejected)).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  /** Holds the cross-process lock. */
  private async renewLocked(stale: string, rejected: boolean): Promise<StoredTokens> {
    // Re-read: while we waited for the lock another process (or `amocrm connect`) may have stored a new pair.
    const cur = await this.load();
    const fresh = this.ctx.now() < cur.expiresAt - aheadMs(cur);
    if (cur.accessToken !== stale && fresh) return cur;
    if (cur.accessToken === stale && fresh && !rejected) return cur;

    const secret = await resolveSecret(this.ctx, this.auth.clientSecret, `the amoCRM client secret (${this.auth.clientSecret})`);
    let res: TokenResponse;
    try {
      res = await tokenRequest(this.ctx, this.auth, secret, { grant_type: 'refresh_token', refresh_token: cur.refreshToken });
    } catch (err) {
      // Only a refused GRANT kills the pair; a refused client (wrong secret) is cured by fixing the secret.
      if (isDeliveryError(err) && err.kind === 'auth' && err.details?.refused === 'grant') {
        // Our lock may have expired while the request waited (a long 429 hold) and another process
        // rotated the same token meanwhile: theirs stands. Its new pair may still be on its way to
        // Redis, so look twice before declaring the pair dead.
        for (let look = 0; look < 2; look++) {
          const again = await readTokens(this.ctx.store, this.ctx.clientId);
          if (again && !again.dead && again.refreshToken !== cur.refreshToken) {
            this.cached = again;
            return again;
          }
          if (look === 0) await new Promise((r) => setTimeout(r, RECHECK_MS));
        }
        await this.ctx.store.set(TOKENS_KEY, JSON.stringify({ ...cur, dead: { at: this.ctx.now(), reason: err.message.slice(0, 300) } }));
        this.cached = null;
        this.ctx.log.error({ clientId: this.ctx.clientId, status: err.status }, 'amoCRM refused the refresh token; the account must be reconnected');
      }
      throw err;
    }
    const next = toStored(res, this.auth.clientId, this.ctx.now());
    // Persist before use: if this process dies now, the next one reads the new pair, not the spent one.
    await this.ctx.store.set(TOKENS_KEY, JSON.stringify(next));
    this.cached = next;
    this.ctx.log.info({ clientId: this.ctx.clientId, expiresInS: res.expires_in, why: rejected ? '401' : 'expiring' }, 'amoCRM tokens refreshed');
    return next;
  }
}

function notConnected(clientId: string): DeliveryError {
  return new DeliveryError('auth', `no amoCRM tokens are stored for ${clientId}: run lead-export amocrm connect ${clientId} --code <authorization code>`);
}

/** Reads the pair; unreadable data (wrong TOKEN_ENCRYPTION_KEY, a foreign value) is an `auth` problem a person must fix. */
export async function readTokens(store: AdapterStore, clientId: string): Promise<StoredTokens | null> {
  let raw: string | null;
  try {
    raw = await store.get(TOKENS_KEY);
  } catch (err) {
    if (err instanceof LeadExportError && err.kind === 'config') {
      throw new DeliveryError('auth', `the stored amoCRM tokens of ${clientId} cannot be read: ${err.message}`, { cause: err });
    }
    throw err;
  }
  if (raw === null) return null;
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new DeliveryError('auth', `the stored amoCRM tokens of ${clientId} are not valid JSON: reconnect the account`);
  }
  const parsed = StoredTokensSchema.safeParse(json);
  if (!parsed.success) throw new DeliveryError('auth', `the stored amoCRM tokens of ${clientId} are malformed (${zodIssue(parsed.error)}): reconnect the account`);
  return parsed.data;
}

function toStored(res: TokenResponse, clientId: string, now: number): StoredTokens {
  return { v: 1, clientId, accessToken: res.access_token, refreshToken: res.refresh_token, expiresAt: now + res.expires_in * 1000, obtainedAt: now };
}

type Grant = { grant_type: 'refresh_token'; refresh_token: string } | { grant_type: 'authorization_code'; code: string };

/** POST /oauth2/access_token; every refusal becomes `auth` (a person must act), outages `transient`. */
async function tokenRequest(ctx: Pick<AdapterContext, 'http'>, auth: AmoOAuthSettings, secret: string, grant: Grant): Promise<TokenResponse> {
  const what = grant.grant_type === 'refresh_token' ? 'amoCRM token refresh' : 'amoCRM authorization code exchange';
  const res: CrmResponse = await ctx.http.request({
    method: 'POST',
    path: TOKEN_PATH,
    body: { client_id: auth.clientId, client_secret: secret, redirect_uri: auth.redirectUri, ...grant },
    timeoutMs: TOKEN_REQUEST_TIMEOUT_MS,
    purpose: 'auth',
  });
  if (res.status >= 200 && res.status < 300) {
    const parsed = TokenResponseSchema.safeParse(res.body);
    if (!parsed.success) {
      throw new DeliveryError('contract', `${what} answered HTTP ${res.status} without a token pair (${zodIssue(parsed.error)})`, { status: res.status });
    }
    return parsed.data;
  }
  // 400 (bad/expired code, wrong redirect_uri) and 401 ("Token has been revoked", wrong client) need a person.
  if (res.status === 400 || res.status === 401) {
    throw new DeliveryError('auth', `${what} refused: ${describe(res)}`, { status: res.status, details: { refused: refusedPart(res) } });
  }
  throw failure(res, what, { uncertain: false });
}

/**
 * What the token endpoint refused: the integration itself ('client': wrong id/secret/redirect_uri —
 * the stored refresh token is still good) or the code / refresh token ('grant': spent, revoked, expired).
 */
function refusedPart(res: CrmResponse): 'client' | 'grant' {
  const p = problemOf(res);
  const text = `${p?.title ?? ''} ${p?.detail ?? ''} ${p?.hint ?? ''}`;
  if (/Некорректный клиент|Авторизация клиента не прошла|invalid.?client|client authentication|redirect_uri/i.test(text)) return 'client';
  return 'grant';
}

/** `amocrm connect`: exchanges an authorization code and stores the pair (replacing a dead one). */
export async function exchangeCode(
  settings: AmoSettings,
  code: string,
  ctx: Pick<AdapterContext, 'http' | 'secrets' | 'store' | 'now' | 'clientId'>,
): Promise<StoredTokens> {
  const auth = oauthOf(settings.auth, ctx.clientId);
  if (!code.trim()) throw new InputError('usage', 'the authorization code is empty');
  const secret = await resolveSecret(ctx, auth.clientSecret, `the amoCRM client secret (${auth.clientSecret})`);
  // Under the refresh lock, so a refresh running right now cannot overwrite the new pair with an old one.
  return ctx.store.withLock(REFRESH_LOCK, LOCK_TTL_MS, async () => {
    const res = await tokenRequest(ctx, auth, secret, { grant_type: 'authorization_code', code: code.trim() });
    const next = toStored(res, auth.clientId, ctx.now());
    await ctx.store.set(TOKENS_KEY, JSON.stringify(next));
    return next;
  });
}

export interface ImportedTokens {
  accessToken: string;
  refreshToken: string;
  /** Seconds the access token has left (0 or unknown: it is refreshed on first use). */
  expiresInSeconds?: number;
}

/**
 * Takes over a token pair obtained elsewhere (e.g. another system migrating to lead-export). The
 * other system must stop using the pair: the refresh token is single-use.
 */
export async function importTokens(
  settings: AmoSettings,
  tokens: ImportedTokens,
  ctx: Pick<AdapterContext, 'store' | 'now' | 'clientId'>,
): Promise<StoredTokens> {
  const auth = oauthOf(settings.auth, ctx.clientId);
  const now = ctx.now();
  const next = StoredTokensSchema.parse({
    v: 1,
    clientId: auth.clientId,
    accessToken: tokens.accessToken,
    refreshToken: tokens.refreshToken,
    expiresAt: now + Math.max(0, tokens.expiresInSeconds ?? 0) * 1000,
    obtainedAt: now,
  });
  await ctx.store.withLock(REFRESH_LOCK, LOCK_TTL_MS, () => ctx.store.set(TOKENS_KEY, JSON.stringify(next)));
  return next;
}

function oauthOf(auth: AmoAuthSettings, clientId: string): AmoOAuthSettings {
  if (auth.type !== 'oauth') {
    throw new InputError('usage', `${clientId} uses a long-lived token (auth.type: long-lived): there is nothing to connect; put the token in its secret`);
  }
  return auth;
}
