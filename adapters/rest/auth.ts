import type { AdapterContext, CrmResponse } from '../types';
import { DeliveryError } from '../../src/domain/errors';
import { GrantRefused, TokenSession, type TokenGrant } from '../kit/token-session';
import { reasonOf } from './classify';
import { readResponsePath } from './mapping';
import type { LoginAuthSettings, RestAuthSettings } from './settings';

/**
 * Authentication for the REST adapter. `headers()` gives what to attach to a request (called after
 * the request passed the rate limiter); `recover()` is called once after a 401 with the headers that
 * were refused, and says whether a retry can help.
 */
export interface RestAuth {
  headers(): Promise<Record<string, string>>;
  recover(refused: Record<string, string>): Promise<boolean>;
  close(): Promise<void>;
}

/** A secret that cannot be read is the client's config, not its credentials: pause with `config`, naming the reference. */
async function secret(ctx: AdapterContext, ref: string): Promise<string> {
  try {
    return await ctx.secrets.resolve(ref);
  } catch (err) {
    throw new DeliveryError('config', `${(err as Error).message}`, { cause: err });
  }
}

export function createRestAuth(settings: RestAuthSettings, ctx: AdapterContext, requestTimeoutMs: number): RestAuth {
  const staticAuth = (headers: () => Promise<Record<string, string>>): RestAuth => ({ headers, recover: async () => false, close: async () => {} });
  switch (settings.type) {
    case 'none':
      return staticAuth(async () => ({}));
    case 'header':
      return staticAuth(async () => ({ [settings.header]: await secret(ctx, settings.value) }));
    case 'bearer':
      return staticAuth(async () => ({ Authorization: `Bearer ${await secret(ctx, settings.token)}` }));
    case 'basic':
      return staticAuth(async () => {
        const pass = await secret(ctx, settings.password);
        return { Authorization: `Basic ${Buffer.from(`${settings.username}:${pass}`).toString('base64')}` };
      });
    case 'login':
      return new LoginSession(settings, ctx, requestTimeoutMs);
  }
}

/**
 * A login session: POST credentials, get an access token (and maybe a refresh token) with an expiry.
 * One session per client for every process (adapters/kit/token-session.ts): renewed ahead of expiry
 * under a cross-process lock, refreshed when the CRM has a refresh endpoint (a refused refresh logs in
 * again; an unavailable CRM is an outage, not a credentials problem), and ended at the CRM by the last
 * process that stops using it.
 */
class LoginSession implements RestAuth {
  private readonly session: TokenSession;

  constructor(
    private readonly s: LoginAuthSettings,
    private readonly ctx: AdapterContext,
    requestTimeoutMs: number,
  ) {
    this.session = new TokenSession(ctx, {
      key: 'rest-login',
      lockName: 'rest-login',
      owner: s.username,
      requestTimeoutMs,
      refresh: s.refresh ? (rt) => this.refresh(rt) : undefined,
      obtain: () => this.login(),
      notConnected: () => new DeliveryError('auth', 'no login session could be opened'),
      revoke: s.revoke ? (session) => this.revoke(session.accessToken, session.refreshToken) : undefined,
    });
  }

  async headers(): Promise<Record<string, string>> {
    return this.header(await this.session.accessToken());
  }

  /** After a 401: the token was revoked or expired early. Renew once; the caller retries once. */
  async recover(refused: Record<string, string>): Promise<boolean> {
    const value = refused[this.s.tokenHeader] ?? '';
    const token = value.startsWith(this.s.tokenPrefix) ? value.slice(this.s.tokenPrefix.length) : value;
    return (await this.session.recover(token)) !== null;
  }

  close(): Promise<void> {
    return this.session.release();
  }

  private header(token: string): Record<string, string> {
    return { [this.s.tokenHeader]: `${this.s.tokenPrefix}${token}` };
  }

  private async refresh(refreshToken: string): Promise<TokenGrant> {
    const r = this.s.refresh!;
    const res = await this.ctx.http.request({ method: 'POST', path: r.path, body: { ...r.fields, [r.tokenField]: refreshToken }, purpose: 'auth' });
    if (res.status >= 200 && res.status < 300) return this.readTokens(res, 'refresh');
    // Only a refusal means the refresh token is spent; a 5xx/408 is the CRM being unavailable.
    if (res.status >= 500 || res.status === 408) {
      throw new DeliveryError('transient', `token refresh failed: HTTP ${res.status}`, { status: res.status, retryAfterMs: res.retryAfterMs, crmDetail: reasonOf(res) });
    }
    throw new GrantRefused('grant', `token refresh refused: HTTP ${res.status}`, res.status);
  }

  private async login(): Promise<TokenGrant> {
    const password = await secret(this.ctx, this.s.password);
    const l = this.s.login;
    const res = await this.ctx.http.request({
      method: 'POST',
      path: l.path,
      body: { ...l.fields, [l.usernameField]: this.s.username, [l.passwordField]: password },
      purpose: 'auth',
    });
    if (res.status >= 200 && res.status < 300) return this.readTokens(res, 'login');
    if (res.status >= 500 || res.status === 408) {
      throw new DeliveryError('transient', `login failed: HTTP ${res.status}`, { status: res.status, retryAfterMs: res.retryAfterMs });
    }
    // Never the body: a login answer may echo the username or worse.
    throw new DeliveryError('auth', `login refused by the CRM (HTTP ${res.status}): check the username and password`, { status: res.status });
  }

  private async revoke(access: string, refresh: string | undefined): Promise<void> {
    const r = this.s.revoke!;
    const body = { ...r.fields, ...(r.refreshTokenField && refresh ? { [r.refreshTokenField]: refresh } : {}) };
    const res = await this.ctx.http.request({
      method: 'POST',
      path: r.path,
      headers: this.header(access),
      body: Object.keys(body).length ? body : undefined,
      purpose: 'auth',
    });
    if (res.status >= 400) this.ctx.log.warn({ clientId: this.ctx.clientId, status: res.status }, 'the CRM did not end the session');
  }

  private readTokens(res: CrmResponse, what: string): TokenGrant {
    const access = readResponsePath(res.body, this.s.accessTokenPath);
    if (typeof access !== 'string' || access === '') {
      throw new DeliveryError('contract', `${what} response has no access token at '${this.s.accessTokenPath}'`, { status: res.status });
    }
    const refresh = this.s.refreshTokenPath ? readResponsePath(res.body, this.s.refreshTokenPath) : undefined;
    const raw = this.s.expiresInPath ? Number(readResponsePath(res.body, this.s.expiresInPath)) : NaN;
    const expiresInMs = Number.isFinite(raw) && raw > 0 ? (this.s.expiresInUnit === 'ms' ? raw : raw * 1000) : this.s.defaultTtl * 1000;
    return { accessToken: access, refreshToken: typeof refresh === 'string' && refresh ? refresh : undefined, expiresInMs };
  }
}
