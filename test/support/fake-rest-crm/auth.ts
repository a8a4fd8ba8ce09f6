/**
 * Authentication of the fake CRM: the static modes (header, bearer, basic) and a login session
 * with rotating, single-use refresh tokens, which is where real adapters most often go wrong.
 *
 * A session starts with a login and lives on through refreshes (each one spends the refresh token
 * and issues a new pair) until logout, or until both its newest access token and its newest refresh
 * token are dead. openSessions() lists the live ones, so a test can check a client logged out.
 */
import { randomBytes } from 'node:crypto';
import type { FakeRestCrmAuth, OpenSession } from './types';

const DEFAULT_ACCESS_TTL_MS = 3_600_000;
const DEFAULT_REFRESH_TTL_MS = 30 * 24 * 3_600_000;

/** Why an /api request was refused; the value is the `error` field of the 401 body. */
export type AuthFailure = 'unauthorized' | 'invalid_token' | 'token_expired';

/** Why a logout was refused: a 401 for the bearer token, a 400 for the body. */
export type LogoutFailure = { status: 401; error: AuthFailure } | { status: 400; error: 'missing_parameter' | 'invalid_refresh_token' };

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  expires_in: number;
  token_type: 'Bearer';
}

interface Session {
  id: string;
  openedAt: number;
  refreshes: number;
  loggedOut: boolean;
  /** The newest pair; older access tokens still work until they expire, older refresh tokens never. */
  accessToken: string;
  refreshToken: string;
}

interface AccessToken {
  expiresAt: number;
  /** Set by expireTokens(): kept apart from expiresAt so the original lifetime stays visible. */
  forcedExpired: boolean;
  session: string;
}

interface RefreshToken {
  expiresAt: number;
  /** Spent by a refresh (rotation), revoked by logout or revokeRefreshTokens(). */
  spent: boolean;
  revoked: boolean;
  session: string;
}

function newToken(prefix: string): string {
  return `${prefix}_${randomBytes(24).toString('base64url')}`;
}

export function bearerToken(authorization: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  return m?.[1];
}

const accessLive = (a: AccessToken, now: number): boolean => !a.forcedExpired && now < a.expiresAt;
const refreshLive = (r: RefreshToken, now: number): boolean => !r.spent && !r.revoked && now < r.expiresAt;

export class AuthState {
  private mode: FakeRestCrmAuth;
  private readonly access = new Map<string, AccessToken>();
  private readonly refresh = new Map<string, RefreshToken>();
  private readonly sessions = new Map<string, Session>();
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

  get logoutRequiresRefreshToken(): boolean {
    return this.mode.mode === 'login' && this.mode.logoutRequiresRefreshToken === true;
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
        if (!rec || this.session(rec).loggedOut) return 'invalid_token';
        return accessLive(rec, now) ? undefined : 'token_expired';
      }
    }
  }

  /** POST /auth/login: a pair, or undefined for wrong credentials. */
  login(username: unknown, password: unknown, now: number): TokenPair | undefined {
    if (this.mode.mode !== 'login') return undefined;
    if (username !== this.mode.username || password !== this.mode.password) return undefined;
    this.logins++;
    return this.issue(undefined, now);
  }

  /** POST /auth/refresh: rotates the refresh token (the old one is spent even if the answer is lost). */
  refreshPair(refreshToken: unknown, now: number): TokenPair | undefined {
    if (typeof refreshToken !== 'string') return undefined;
    const rec = this.refresh.get(refreshToken);
    if (!rec || !refreshLive(rec, now)) return undefined;
    rec.spent = true;
    this.refreshes++;
    const session = this.session(rec);
    session.refreshes++;
    return this.issue(session, now);
  }

  /**
   * POST /auth/logout ends the whole session. An expired but genuine access token may still log
   * out: a client shutting down late must be able to release its session. When the mode demands
   * it, the body must name the session's current refresh token, as OAuth-style servers do.
   */
  logout(accessToken: string | undefined, body: unknown): LogoutFailure | undefined {
    if (!accessToken) return { status: 401, error: 'unauthorized' };
    const rec = this.access.get(accessToken);
    const session = rec && this.session(rec);
    if (!session || session.loggedOut) return { status: 401, error: 'invalid_token' };
    if (this.logoutRequiresRefreshToken) {
      const given = typeof body === 'object' && body !== null ? (body as Record<string, unknown>).refresh_token : undefined;
      if (typeof given !== 'string' || given === '') return { status: 400, error: 'missing_parameter' };
      if (given !== session.refreshToken) return { status: 400, error: 'invalid_refresh_token' };
    }
    session.loggedOut = true;
    this.refresh.get(session.refreshToken)!.revoked = true;
    this.revokes++;
    return undefined;
  }

  openSessions(now: number): OpenSession[] {
    return [...this.sessions.values()]
      .filter((s) => !s.loggedOut && (accessLive(this.access.get(s.accessToken)!, now) || refreshLive(this.refresh.get(s.refreshToken)!, now)))
      .map((s) => ({ id: s.id, openedAt: s.openedAt, refreshes: s.refreshes }));
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

  private session(token: AccessToken | RefreshToken): Session {
    return this.sessions.get(token.session)!;
  }

  /** A new pair: for a new session (login) or the next one of an existing session (refresh). */
  private issue(existing: Session | undefined, now: number): TokenPair {
    const m = this.mode;
    const login = m.mode === 'login' ? m : undefined;
    const accessTtl = login?.accessTtlMs ?? DEFAULT_ACCESS_TTL_MS;
    const refreshTtl = login?.refreshTtlMs ?? DEFAULT_REFRESH_TTL_MS;
    const accessToken = newToken('at');
    const refreshToken = newToken('rt');
    const session = existing ?? { id: `s-${this.sessions.size + 1}`, openedAt: now, refreshes: 0, loggedOut: false, accessToken, refreshToken };
    session.accessToken = accessToken;
    session.refreshToken = refreshToken;
    this.sessions.set(session.id, session);
    this.access.set(accessToken, { expiresAt: now + accessTtl, forcedExpired: false, session: session.id });
    this.refresh.set(refreshToken, { expiresAt: now + refreshTtl, spent: false, revoked: false, session: session.id });
    return {
      access_token: accessToken,
      refresh_token: refreshToken,
      // In seconds, rounded down so that a client trusting expires_in never uses a token the server
      // thinks dead; some servers send milliseconds, which a client must be configured to expect.
      expires_in: login?.expiresInUnit === 'ms' ? accessTtl : Math.floor(accessTtl / 1000),
      token_type: 'Bearer',
    };
  }
}
