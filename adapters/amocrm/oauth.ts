import { z } from 'zod';
import type { AdapterContext, AdapterStore, CrmResponse } from '../types';
import { DeliveryError, InputError } from '../../src/domain/errors';
import { GrantRefused, TokenSession, readSession, type StoredSession, type TokenGrant } from '../kit/token-session';
import { describe, failure, problemOf, zodIssue } from './classify';
import type { AmoAuthSettings, AmoOAuthSettings, AmoSettings } from './settings';

/**
 * amoCRM credentials: a private integration's OAuth pair, or a long-lived token.
 *
 * OAuth refresh tokens rotate and are single-use (reference §2.3), and die after 3 months unused.
 * The shared session (adapters/kit/token-session.ts) keeps one pair for every process: one refresh
 * at a time under a cross-process lock, re-read after the lock, persisted before use, a refused
 * refresh token marked dead once (the client pauses with `auth` until `amocrm connect`), and a
 * refresh on a schedule (`auth.refreshTokenTtl`) so an idle account keeps its access.
 */

/** The store key of the token pair, and the name of the lock that guards refreshes. */
export const TOKENS_KEY = 'amocrm-oauth';
export const REFRESH_LOCK = 'amocrm-oauth';
const TOKEN_PATH = '/oauth2/access_token';
const TOKEN_REQUEST_TIMEOUT_MS = 20_000;

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
  /** Keeps an idle account's refresh token alive (amoCRM's dies after 3 months unused). */
  maintain(): Promise<void>;
}

export function createAmoAuth(settings: AmoSettings, ctx: AdapterContext, requestTimeoutMs?: number): AmoAuth {
  const auth = settings.auth;
  if (auth.type === 'long-lived') return new LongLivedToken(auth.token, ctx);
  return new OAuthTokens(auth, ctx, requestTimeoutMs);
}

/** Runs a secret lookup; a secret that cannot be read pauses the client with `config`, naming the reference. */
async function resolveSecret(ctx: Pick<AdapterContext, 'secrets'>, ref: string, what: string): Promise<string> {
  try {
    return await ctx.secrets.resolve(ref);
  } catch (err) {
    throw new DeliveryError('config', `${what} cannot be read: ${(err as Error).message}`, { cause: err });
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

  async maintain(): Promise<void> {}
}

function reconnectHint(clientId: string): string {
  return `run lead-export amocrm connect ${clientId} --code <authorization code>`;
}

class OAuthTokens implements AmoAuth {
  private readonly session: TokenSession;

  constructor(auth: AmoOAuthSettings, ctx: AdapterContext, requestTimeoutMs?: number) {
    this.session = new TokenSession(ctx, {
      key: TOKENS_KEY,
      lockName: REFRESH_LOCK,
      owner: auth.clientId,
      refreshTokenTtlMs: auth.refreshTokenTtl,
      requestTimeoutMs,
      refresh: async (refreshToken) => {
        const secret = await resolveSecret(ctx, auth.clientSecret, `the amoCRM client secret (${auth.clientSecret})`);
        return toGrant(await tokenRequest(ctx, auth, secret, { grant_type: 'refresh_token', refresh_token: refreshToken }));
      },
      notConnected: (why, detail) => {
        if (why === 'missing') return new DeliveryError('auth', `no amoCRM tokens are stored for ${ctx.clientId}: ${reconnectHint(ctx.clientId)}`);
        if (why === 'owner') {
          return new DeliveryError('auth', `the stored amoCRM tokens belong to integration ${detail}, but the client file names ${auth.clientId}: ${reconnectHint(ctx.clientId)}`);
        }
        return new DeliveryError('auth', `the amoCRM refresh token was refused: ${reconnectHint(ctx.clientId)}`, { crmDetail: detail });
      },
    });
  }

  accessToken(): Promise<string> {
    return this.session.accessToken();
  }

  recover(rejected: string): Promise<string | null> {
    return this.session.recover(rejected);
  }

  maintain(): Promise<void> {
    return this.session.maintain();
  }
}

function toGrant(res: TokenResponse): TokenGrant {
  return { accessToken: res.access_token, refreshToken: res.refresh_token, expiresInMs: res.expires_in * 1000 };
}

/** Reads the stored pair (for `connect`'s report and tests). */
export async function readTokens(store: AdapterStore, clientId: string): Promise<StoredSession | null> {
  return readSession(store, TOKENS_KEY, clientId);
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
  if (res.status === 400 || res.status === 401) throw new GrantRefused(refusedPart(res), `${what} refused: HTTP ${res.status}`, res.status, describe(res));
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
export async function exchangeCode(settings: AmoSettings, code: string, ctx: AdapterContext): Promise<StoredSession> {
  const auth = oauthOf(settings.auth, ctx.clientId);
  if (!code.trim()) throw new InputError('usage', 'the authorization code is empty');
  const secret = await resolveSecret(ctx, auth.clientSecret, `the amoCRM client secret (${auth.clientSecret})`);
  const session = sessionFor(auth, ctx);
  const res = await tokenRequest(ctx, auth, secret, { grant_type: 'authorization_code', code: code.trim() });
  return session.save(toGrant(res));
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
export async function importTokens(settings: AmoSettings, tokens: ImportedTokens, ctx: AdapterContext): Promise<StoredSession> {
  const auth = oauthOf(settings.auth, ctx.clientId);
  return sessionFor(auth, ctx).save({
    accessToken: tokens.accessToken,
    refreshToken: tokens.refreshToken,
    expiresInMs: Math.max(0, tokens.expiresInSeconds ?? 0) * 1000,
  });
}

/** A session for saving a pair a person obtained: it never refreshes by itself. */
function sessionFor(auth: AmoOAuthSettings, ctx: AdapterContext): TokenSession {
  return new TokenSession(ctx, {
    key: TOKENS_KEY,
    lockName: REFRESH_LOCK,
    owner: auth.clientId,
    notConnected: () => new DeliveryError('auth', reconnectHint(ctx.clientId)),
  });
}

function oauthOf(auth: AmoAuthSettings, clientId: string): AmoOAuthSettings {
  if (auth.type !== 'oauth') {
    throw new InputError('usage', `${clientId} uses a long-lived token (auth.type: long-lived): there is nothing to connect; put the token in its secret`);
  }
  return auth;
}
