import type { AdapterContext, CrmResponse } from '../types';
import { DeliveryError } from '../../src/domain/errors';
import { readResponsePath } from './mapping';
import type { LoginAuthSettings, RestAuthSettings } from './settings';

/**
 * Authentication for the REST adapter. `headers()` gives what to attach to a request;
 * `recover()` is called once after a 401 and says whether a retry can help.
 */
export interface RestAuth {
  headers(): Promise<Record<string, string>>;
  recover(): Promise<boolean>;
  close(): Promise<void>;
}

export function createRestAuth(settings: RestAuthSettings, ctx: AdapterContext): RestAuth {
  switch (settings.type) {
    case 'none':
      return { headers: async () => ({}), recover: async () => false, close: async () => {} };
    case 'header':
      return {
        headers: async () => ({ [settings.header]: await ctx.secrets.resolve(settings.value) }),
        recover: async () => false,
        close: async () => {},
      };
    case 'bearer':
      return {
        headers: async () => ({ Authorization: `Bearer ${await ctx.secrets.resolve(settings.token)}` }),
        recover: async () => false,
        close: async () => {},
      };
    case 'basic':
      return {
        headers: async () => {
          const pass = await ctx.secrets.resolve(settings.password);
          return { Authorization: `Basic ${Buffer.from(`${settings.username}:${pass}`).toString('base64')}` };
        },
        recover: async () => false,
        close: async () => {},
      };
    case 'login':
      return new LoginSession(settings, ctx);
  }
}

interface Tokens {
  access: string;
  refresh?: string;
  expiresAt: number;
}

/**
 * A login session: POST credentials, get an access token (and maybe a refresh token) with an expiry.
 * Tokens are refreshed ahead of expiry; a 401 triggers one refresh-or-login; shutdown revokes.
 * One session per process, with single-flight renewal so concurrent batches never log in twice.
 */
class LoginSession implements RestAuth {
  private tokens: Tokens | null = null;
  private inflight: Promise<Tokens> | null = null;

  constructor(
    private readonly s: LoginAuthSettings,
    private readonly ctx: AdapterContext,
  ) {}

  async headers(): Promise<Record<string, string>> {
    const t = await this.valid();
    return { [this.s.tokenHeader]: `${this.s.tokenPrefix}${t.access}` };
  }

  /** After a 401: the token was revoked or expired early. Renew once; the caller retries once. */
  async recover(): Promise<boolean> {
    const stale = this.tokens;
    this.tokens = null;
    await this.renew(stale);
    return true;
  }

  async close(): Promise<void> {
    const t = this.tokens;
    this.tokens = null;
    if (!t || !this.s.revoke) return;
    try {
      await this.ctx.http.request({
        method: 'POST',
        path: this.s.revoke.path,
        headers: { [this.s.tokenHeader]: `${this.s.tokenPrefix}${t.access}` },
        purpose: 'auth',
      });
    } catch (err) {
      // Revocation is a courtesy at shutdown; the token expires anyway.
      this.ctx.log.warn({ clientId: this.ctx.clientId, err: (err as Error).message }, 'token revoke failed');
    }
  }

  private async valid(): Promise<Tokens> {
    const t = this.tokens;
    // expiresAt already sits ahead of the real expiry (10 % of the lifetime, at most a minute), so no
    // request goes out with a token about to die.
    if (t && t.expiresAt > this.ctx.now()) return t;
    return this.renew(t);
  }

  private renew(stale: Tokens | null): Promise<Tokens> {
    if (!this.inflight) {
      this.inflight = (async () => {
        try {
          let next: Tokens | null = null;
          if (stale?.refresh && this.s.refresh) next = await this.tryRefresh(stale.refresh);
          if (!next) next = await this.login();
          this.tokens = next;
          return next;
        } finally {
          this.inflight = null;
        }
      })();
    }
    return this.inflight;
  }

  private async tryRefresh(refreshToken: string): Promise<Tokens | null> {
    const refresh = this.s.refresh!;
    const res = await this.ctx.http.request({ method: 'POST', path: refresh.path, body: { [refresh.tokenField]: refreshToken }, purpose: 'auth' });
    if (res.status >= 200 && res.status < 300) return this.readTokens(res, 'refresh');
    this.ctx.log.info({ clientId: this.ctx.clientId, status: res.status }, 'token refresh refused; logging in again');
    return null;
  }

  private async login(): Promise<Tokens> {
    const password = await this.ctx.secrets.resolve(this.s.password);
    const res = await this.ctx.http.request({
      method: 'POST',
      path: this.s.login.path,
      body: { [this.s.login.usernameField]: this.s.username, [this.s.login.passwordField]: password },
      purpose: 'auth',
    });
    if (res.status === 401 || res.status === 403) {
      throw new DeliveryError('auth', `login refused by the CRM (HTTP ${res.status}): check the username and password`, { status: res.status });
    }
    if (res.status >= 500) throw new DeliveryError('transient', `login failed with HTTP ${res.status}`, { status: res.status });
    if (res.status < 200 || res.status >= 300) {
      throw new DeliveryError('auth', `login failed with HTTP ${res.status}`, { status: res.status });
    }
    return this.readTokens(res, 'login');
  }

  private readTokens(res: CrmResponse, what: string): Tokens {
    const access = readResponsePath(res.body, this.s.accessTokenPath);
    if (typeof access !== 'string' || access === '') {
      throw new DeliveryError('contract', `${what} response has no access token at '${this.s.accessTokenPath}'`, { status: res.status });
    }
    const refresh = this.s.refreshTokenPath ? readResponsePath(res.body, this.s.refreshTokenPath) : undefined;
    const expiresIn = this.s.expiresInPath ? Number(readResponsePath(res.body, this.s.expiresInPath)) : NaN;
    const ttlMs = (Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : this.s.defaultTtl) * 1000;
    const skew = Math.min(60_000, ttlMs * 0.1);
    return {
      access,
      refresh: typeof refresh === 'string' && refresh ? refresh : undefined,
      expiresAt: this.ctx.now() + ttlMs - skew,
    };
  }
}
