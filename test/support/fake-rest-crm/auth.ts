/**
 * Authentication of the fake CRM: the static modes (header, bearer, basic) and a login session
 * with rotating, single-use refresh tokens, which is where real adapters most often go wrong.
 */
import { randomBytes } from 'node:crypto';
import type { FakeRestCrmAuth } from './types';

const DEFAULT_ACCESS_TTL_MS = 3_600_000;
const DEFAULT_REFRESH_TTL_MS = 30 * 24 * 3_600_000;

/** Why an /api request was refused; the value is the `error` field of the 401 body. */
export type AuthFailure = 'unauthorized' | 'invalid_token' | 'token_expired';

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  expires_in: number;
  token_type: 'Bearer';
}

interface AccessToken {
  expiresAt: number;
  /** Set by expireTokens(): kept apart from expiresAt so the original lifetime stays visible. */
  forcedExpired: boolean;
  revoked: boolean;
  refreshToken: string;
}

interface RefreshToken {
  expiresAt: number;
  /** Spent by a refresh (rotation), revoked by logout or revokeRefreshTokens(). */
  spent: boolean;
  revoked: boolean;
}

function newToken(prefix: string): string {
  return `${prefix}_${randomBytes(24).toString('base64url')}`;
}

export function bearerToken(authorization: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  return m?.[1];
}

export class AuthState {
  private mode: FakeRestCrmAuth;
  private readonly access = new Map<string, AccessToken>();
  private readonly refresh = new Map<string, RefreshToken>();
  logins = 0;
  refreshes = 0;
  revokes = 0;

  constructor(mode: FakeRestCrmAuth) {
    // A copy, so setCredentials() never mutates the options object the caller still holds.
    this.mode = { ...mode };
  }

  get loginMode(): boolean {
    return this.mode.mode === 'login';
  }

  /** The WWW-Authenticate challenge a real server would send with a 401, if the mode has one. */
  challenge(): string | undefined {
    switch (this.mode.mode) {
      case 'basic':
        return 'Basic realm="fake-rest-crm"';
      case 'bearer':
      case 'login':
        return 'Bearer realm="fake-rest-crm"';
      default:
        return undefined;
    }
  }

  /** Checks the credentials of an /api request; undefined means accepted. */
  checkApi(headers: Record<string, string | string[] | undefined>, now: number): AuthFailure | undefined {
    const header = (name: string): string | undefined => {
      const v = headers[name.toLowerCase()];
      return Array.isArray(v) ? v.join(', ') : v;
    };
    const m = this.mode;
    switch (m.mode) {
      case 'none':
        return undefined;
      case 'header':
        return header(m.header) === m.value ? undefined : 'unauthorized';
      case 'bearer':
        return bearerToken(header('authorization')) === m.token ? undefined : 'unauthorized';
      case 'basic': {
        const match = /^Basic\s+(\S+)\s*$/i.exec(header('authorization') ?? '');
        if (!match?.[1]) return 'unauthorized';
        const decoded = Buffer.from(match[1], 'base64').toString('utf8');
        return decoded === `${m.username}:${m.password}` ? undefined : 'unauthorized';
      }
      case 'login': {
        const token = bearerToken(header('authorization'));
        if (!token) return 'unauthorized';
        const rec = this.access.get(token);
        if (!rec || rec.revoked) return 'invalid_token';
        if (rec.forcedExpired || now >= rec.expiresAt) return 'token_expired';
        return undefined;
      }
    }
  }

  /** POST /auth/login: a pair, or undefined for wrong credentials. */
  login(username: unknown, password: unknown, now: number): TokenPair | undefined {
    if (this.mode.mode !== 'login') return undefined;
    if (username !== this.mode.username || password !== this.mode.password) return undefined;
    this.logins++;
    return this.issue(now);
  }

  /** POST /auth/refresh: rotates the refresh token (the old one is spent even if the answer is lost). */
  refreshPair(refreshToken: unknown, now: number): TokenPair | undefined {
    if (typeof refreshToken !== 'string') return undefined;
    const rec = this.refresh.get(refreshToken);
    if (!rec || rec.spent || rec.revoked || now >= rec.expiresAt) return undefined;
    rec.spent = true;
    this.refreshes++;
    return this.issue(now);
  }

  /**
   * POST /auth/logout. An expired but genuine access token may still log out: a client shutting
   * down late must be able to release its refresh token.
   */
  logout(accessToken: string | undefined): AuthFailure | undefined {
    if (!accessToken) return 'unauthorized';
    const rec = this.access.get(accessToken);
    if (!rec || rec.revoked) return 'invalid_token';
    rec.revoked = true;
    const r = this.refresh.get(rec.refreshToken);
    if (r) r.revoked = true;
    this.revokes++;
    return undefined;
  }

  expireAll(): void {
    for (const rec of this.access.values()) rec.forcedExpired = true;
  }

  revokeAllRefresh(): void {
    for (const rec of this.refresh.values()) rec.revoked = true;
  }

  setCredentials(username: string, password: string): void {
    if (this.mode.mode !== 'login' && this.mode.mode !== 'basic') {
      // Failing loudly beats a silent no-op that would make a test pass for the wrong reason.
      throw new Error(`setCredentials() needs auth mode 'login' or 'basic', not '${this.mode.mode}'`);
    }
    this.mode = { ...this.mode, username, password };
  }

  private issue(now: number): TokenPair {
    const m = this.mode;
    const accessTtl = m.mode === 'login' ? (m.accessTtlMs ?? DEFAULT_ACCESS_TTL_MS) : DEFAULT_ACCESS_TTL_MS;
    const refreshTtl = m.mode === 'login' ? (m.refreshTtlMs ?? DEFAULT_REFRESH_TTL_MS) : DEFAULT_REFRESH_TTL_MS;
    const access = newToken('at');
    const refresh = newToken('rt');
    this.access.set(access, { expiresAt: now + accessTtl, forcedExpired: false, revoked: false, refreshToken: refresh });
    this.refresh.set(refresh, { expiresAt: now + refreshTtl, spent: false, revoked: false });
    return {
      access_token: access,
      refresh_token: refresh,
      // Rounded down so that a client trusting expires_in never uses a token the server thinks dead.
      expires_in: Math.floor(accessTtl / 1000),
      token_type: 'Bearer',
    };
  }
}
