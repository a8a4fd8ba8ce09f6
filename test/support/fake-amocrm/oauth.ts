import { randomBytes, randomUUID } from 'node:crypto';
import { problem, type Reply } from './http';

const OAUTH_TYPE = 'https://developers.amocrm.ru/v3/errors/OAuthProblemJson';
const CODE_TTL_MS = 20 * 60 * 1000;

export interface OAuthConfig {
  clientId: string;
  clientSecret: string;
  redirectUri?: string;
  accessTtlSeconds: number;
  refreshTtlSeconds: number;
  accountId: number;
  subdomain: string;
}

interface Grant {
  expiresAt: number;
  state: 'active' | 'used' | 'revoked';
}

function oauthError(status: number, title: string, detail: string, hint?: string): Reply {
  const body: Record<string, unknown> = {};
  // amoCRM puts the hint first (league/oauth2-server underneath).
  if (hint) body.hint = hint;
  Object.assign(body, { title, type: OAUTH_TYPE, status, detail });
  return { status, contentType: 'application/problem+json', body };
}

const badRequest = (hint: string, status = 400): Reply =>
  oauthError(status, 'Некорректный запрос', 'В запросе отсутствует ряд параметров или параметры невалидны', hint);

export const unauthorized = (): Reply => problem(401, 'Unauthorized', 'Invalid user name or password');

const b64url = (v: object | Buffer): string => (Buffer.isBuffer(v) ? v : Buffer.from(JSON.stringify(v))).toString('base64url');

/** Codes, access and refresh tokens of the one integration the fake knows. */
export class OAuthService {
  private codes = new Map<string, Grant>();
  private access = new Map<string, Grant>();
  private refresh = new Map<string, Grant>();
  refreshes = 0;
  codeExchanges = 0;

  constructor(private readonly cfg: OAuthConfig) {}

  issueCode(nowMs: number): string {
    const code = `def50200${randomBytes(48).toString('hex')}`;
    this.codes.set(code, { expiresAt: nowMs + CODE_TTL_MS, state: 'active' });
    return code;
  }

  issueLongLived(nowMs: number, ttlSeconds: number): string {
    return this.mintAccess(nowMs, ttlSeconds);
  }

  expireAccess(nowMs: number): void {
    for (const g of this.access.values()) g.expiresAt = Math.min(g.expiresAt, nowMs - 1);
  }

  revokeAll(): void {
    for (const g of this.access.values()) g.state = 'revoked';
    for (const g of this.refresh.values()) g.state = 'revoked';
  }

  authorize(header: string | undefined, nowMs: number): boolean {
    const m = /^Bearer\s+(\S+)$/i.exec(header ?? '');
    const g = m ? this.access.get(m[1]) : undefined;
    return !!g && g.state === 'active' && nowMs < g.expiresAt;
  }

  handleToken(body: unknown, nowMs: number): Reply {
    const p = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
    const str = (k: string): string | undefined => (typeof p[k] === 'string' ? (p[k] as string) : undefined);
    const grant = str('grant_type');
    if (grant === 'refresh_token') this.refreshes++;
    if (grant === 'authorization_code') this.codeExchanges++;
    if (!grant) return badRequest('Check the `grant_type` parameter');
    if (grant !== 'refresh_token' && grant !== 'authorization_code') return badRequest('Unsupported grant type', 400);
    if (str('client_id') !== this.cfg.clientId || str('client_secret') !== this.cfg.clientSecret) {
      return oauthError(401, 'Некорректный клиент', 'Авторизация клиента не прошла');
    }
    const redirect = str('redirect_uri');
    if (this.cfg.redirectUri && redirect !== undefined && redirect !== this.cfg.redirectUri) {
      return badRequest('Check the `redirect_uri` parameter');
    }
    return grant === 'authorization_code' ? this.exchangeCode(str('code'), nowMs) : this.rotate(str('refresh_token'), nowMs);
  }

  private exchangeCode(code: string | undefined, nowMs: number): Reply {
    if (!code) return badRequest('Check the `code` parameter');
    const g = this.codes.get(code);
    if (!g) return badRequest('Cannot decrypt the authorization code');
    if (g.state !== 'active') return badRequest('Authorization code has been revoked');
    if (nowMs >= g.expiresAt) return badRequest('Authorization code has expired');
    g.state = 'used';
    return this.tokenPair(nowMs);
  }

  private rotate(token: string | undefined, nowMs: number): Reply {
    if (!token) return badRequest('Check the `refresh_token` parameter');
    const g = this.refresh.get(token);
    if (!g) return badRequest('Cannot decrypt the refresh token', 401);
    // league/oauth2-server (whose hints amoCRM sends verbatim) checks expiry before revocation.
    if (nowMs >= g.expiresAt) return badRequest('Token has expired', 401);
    if (g.state !== 'active') return badRequest('Token has been revoked', 401);
    // Single use: whoever comes second with the same token loses (the refresh race of §2.3).
    g.state = 'used';
    return this.tokenPair(nowMs);
  }

  private tokenPair(nowMs: number): Reply {
    const access = this.mintAccess(nowMs, this.cfg.accessTtlSeconds);
    const refresh = `def50200${randomBytes(96).toString('hex')}`;
    // Every rotation starts a full lifetime: the 3 months run from the last refresh, not the first.
    this.refresh.set(refresh, { expiresAt: nowMs + this.cfg.refreshTtlSeconds * 1000, state: 'active' });
    return {
      status: 200,
      contentType: 'application/json',
      body: {
        token_type: 'Bearer',
        expires_in: this.cfg.accessTtlSeconds,
        access_token: access,
        refresh_token: refresh,
        server_time: Math.floor(nowMs / 1000),
      },
    };
  }

  private mintAccess(nowMs: number, ttlSeconds: number): string {
    const jti = randomBytes(20).toString('hex');
    const iat = Math.floor(nowMs / 1000);
    const token = [
      b64url({ typ: 'JWT', alg: 'RS256', jti }),
      b64url({
        aud: this.cfg.clientId,
        jti,
        iat,
        nbf: iat,
        exp: iat + Math.ceil(ttlSeconds),
        sub: '1',
        account_id: this.cfg.accountId,
        base_domain: 'amocrm.ru',
        api_domain: `${this.cfg.subdomain}.amocrm.ru`,
        version: 2,
        scopes: ['crm', 'notifications'],
        hash_uuid: randomUUID(),
      }),
      b64url(randomBytes(64)),
    ].join('.');
    // Expiry is tracked in ms so sub-second TTLs in tests behave.
    this.access.set(token, { expiresAt: nowMs + ttlSeconds * 1000, state: 'active' });
    return token;
  }
}
