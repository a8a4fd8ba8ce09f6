/**
 * The fake CRM's endpoints, free of sockets and timers: the server hands each request over as a
 * Ctx once its body is in, and writes whatever Reply comes back (after latency and faults).
 *
 *   POST /auth/login | /auth/refresh | /auth/logout      (login mode only; 404 otherwise)
 *   GET  /api/ping
 *   POST /api/candidates            GET /api/candidates?external_id=X
 *   POST /api/candidates/batch      GET /api/candidates/:id
 *   GET  /api/changes?since=<cursor>&limit=<n>
 */
import type { IncomingHttpHeaders } from 'node:http';
import { type AuthFailure, type AuthState, bearerToken } from './auth';
import { type CandidateStore, candidateView, externalOf, isPlainObject } from './store';

/** Big enough for any sane batch, small enough that a runaway client cannot exhaust test memory. */
export const MAX_BODY_BYTES = 5 * 1024 * 1024;
const CHANGES_DEFAULT_LIMIT = 100;
const CHANGES_MAX_LIMIT = 500;

export type Body = { kind: 'none' } | { kind: 'json'; value: unknown } | { kind: 'invalid'; text: string } | { kind: 'too_large' };

export interface Reply {
  status: number;
  /** undefined: no body. A string is sent as is (e.g. an HTML error page); anything else as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
}

export interface Ctx {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  body: Body;
  at: number;
  /** Decided on arrival by the server's rate limiter (API paths only). */
  limited: boolean;
  /** Decided on arrival by the auth check (API paths only). */
  authFailure: AuthFailure | undefined;
  /** Decoded `:id` of /api/candidates/:id. */
  id?: string;
}

type Handler = (ctx: Ctx) => Reply;

export const json = (status: number, body: unknown, headers?: Record<string, string>): Reply => ({ status, body, headers });
export const error = (status: number, code: string, extra: Record<string, unknown> = {}): Reply => json(status, { error: code, ...extra });

function firstHeader(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export class CrmRoutes {
  /** Original 201 replies by Idempotency-Key. */
  private readonly idempotent = new Map<string, Reply>();

  constructor(
    private readonly auth: AuthState,
    private readonly store: CandidateStore,
    private readonly batchMaxSize: number,
    /** A function, because setRateLimit() may change it while the server runs. */
    private readonly retryAfterSeconds: () => number,
  ) {}

  /** Never throws: a bug in a handler becomes a 500, as it would in a real CRM. */
  handle(ctx: Ctx): Reply {
    try {
      return this.route(ctx);
    } catch {
      // Deliberately no details: the exception message could quote the candidate.
      return error(500, 'internal_error');
    }
  }

  private route(ctx: Ctx): Reply {
    const { method, path } = ctx;
    if (ctx.body.kind === 'too_large') return error(413, 'payload_too_large', { max_bytes: MAX_BODY_BYTES });
    if (path.startsWith('/auth/')) {
      if (!this.auth.loginMode) return error(404, 'not_found');
      return this.dispatch(this.authRoutes(path), method, ctx);
    }
    if (path === '/api' || path.startsWith('/api/')) {
      if (ctx.limited) {
        return json(429, { error: 'rate_limited' }, { 'Retry-After': String(this.retryAfterSeconds()) });
      }
      if (ctx.authFailure) {
        const challenge = this.auth.challenge();
        return json(401, { error: ctx.authFailure }, challenge ? { 'WWW-Authenticate': challenge } : undefined);
      }
      return this.dispatch(this.apiRoutes(path, ctx), method, ctx);
    }
    return error(404, 'not_found');
  }

  private dispatch(routes: Record<string, Handler> | undefined, method: string, ctx: Ctx): Reply {
    if (!routes) return error(404, 'not_found');
    const handler = routes[method];
    if (!handler) return json(405, { error: 'method_not_allowed' }, { Allow: Object.keys(routes).join(', ') });
    return handler(ctx);
  }

  private authRoutes(path: string): Record<string, Handler> | undefined {
    switch (path) {
      case '/auth/login':
        return {
          POST: (ctx) => {
            const body = this.jsonObject(ctx);
            if ('reply' in body) return body.reply;
            const pair = this.auth.login(body.value.username, body.value.password, ctx.at);
            return pair ? json(200, pair, { 'Cache-Control': 'no-store' }) : error(401, 'invalid_credentials');
          },
        };
      case '/auth/refresh':
        return {
          POST: (ctx) => {
            const body = this.jsonObject(ctx);
            if ('reply' in body) return body.reply;
            const pair = this.auth.refreshPair(body.value.refresh_token, ctx.at);
            return pair ? json(200, pair, { 'Cache-Control': 'no-store' }) : error(401, 'invalid_refresh_token');
          },
        };
      case '/auth/logout':
        return {
          POST: (ctx) => {
            const failure = this.auth.logout(bearerToken(firstHeader(ctx.headers, 'authorization')));
            return failure ? error(401, failure) : { status: 204 };
          },
        };
      default:
        return undefined;
    }
  }

  private apiRoutes(path: string, ctx: Ctx): Record<string, Handler> | undefined {
    if (path === '/api/ping') return { GET: () => json(200, { ok: true }) };
    if (path === '/api/candidates') return { GET: (c) => this.listCandidates(c), POST: (c) => this.createOne(c) };
    if (path === '/api/candidates/batch') return { POST: (c) => this.createBatch(c) };
    if (path === '/api/changes') return { GET: (c) => this.listChanges(c) };
    const m = /^\/api\/candidates\/([^/]+)$/.exec(path);
    if (m?.[1]) {
      try {
        ctx.id = decodeURIComponent(m[1]);
      } catch {
        return undefined;
      }
      return { GET: (c) => this.getCandidate(c) };
    }
    return undefined;
  }

  /** The parsed object body, or the 400 reply to send instead. */
  private jsonObject(ctx: Ctx): { value: Record<string, unknown> } | { reply: Reply } {
    if (ctx.body.kind === 'invalid') return { reply: error(400, 'invalid_json') };
    if (ctx.body.kind !== 'json' || !isPlainObject(ctx.body.value)) return { reply: error(400, 'bad_request') };
    return { value: ctx.body.value };
  }

  private createOne(ctx: Ctx): Reply {
    const key = firstHeader(ctx.headers, 'idempotency-key');
    const previous = key ? this.idempotent.get(key) : undefined;
    if (previous) return { ...previous, headers: { ...previous.headers, 'Idempotent-Replayed': 'true' } };
    const body = this.jsonObject(ctx);
    if ('reply' in body) return body.reply;
    const result = this.store.create(body.value);
    switch (result.kind) {
      case 'invalid':
        return error(422, 'validation_failed', { errors: result.errors });
      case 'duplicate':
        return error(409, 'duplicate', { id: result.existing.id });
      case 'created': {
        const c = result.candidate;
        const reply = json(201, { id: c.id, external_id: externalOf(c), status: c.status }, { Location: `/api/candidates/${encodeURIComponent(c.id)}` });
        if (key) this.idempotent.set(key, reply);
        return reply;
      }
    }
  }

  private createBatch(ctx: Ctx): Reply {
    if (ctx.body.kind === 'invalid') return error(400, 'invalid_json');
    const body = ctx.body.kind === 'json' ? ctx.body.value : undefined;
    if (!isPlainObject(body) || !Array.isArray(body.items)) return error(400, 'bad_request');
    const items: unknown[] = body.items;
    if (items.length > this.batchMaxSize) return error(413, 'batch_too_large', { max: this.batchMaxSize });
    const results = items.map((item) => {
      if (!isPlainObject(item)) {
        return { external_id: null, status: 'error', errors: [{ field: 'item', message: 'must be an object' }] };
      }
      const r = this.store.create(item);
      switch (r.kind) {
        case 'created':
          return { external_id: externalOf(r.candidate), id: r.candidate.id, status: 'created' };
        case 'duplicate':
          return { external_id: externalOf(r.existing), id: r.existing.id, status: 'duplicate' };
        case 'invalid':
          return { external_id: item.external_id ?? null, status: 'error', errors: r.errors };
      }
    });
    return json(200, { results });
  }

  private listCandidates(ctx: Ctx): Reply {
    const ext = ctx.query.external_id;
    const found = ext === undefined ? this.store.all() : this.store.findByExternalId(ext);
    return json(200, { items: found.map(candidateView) });
  }

  private getCandidate(ctx: Ctx): Reply {
    const c = ctx.id === undefined ? undefined : this.store.get(ctx.id);
    return c ? json(200, candidateView(c)) : error(404, 'not_found');
  }

  private listChanges(ctx: Ctx): Reply {
    const since = ctx.query.since ?? '0';
    if (!/^\d{1,15}$/.test(since)) return error(400, 'invalid_cursor');
    const rawLimit = ctx.query.limit ?? String(CHANGES_DEFAULT_LIMIT);
    if (!/^\d{1,9}$/.test(rawLimit) || Number(rawLimit) < 1) return error(400, 'bad_request', { message: 'limit must be a positive integer' });
    const limit = Math.min(Number(rawLimit), CHANGES_MAX_LIMIT);
    const page = this.store.changesSince(Number(since), limit);
    // An empty page hands back the caller's own cursor untouched, not a normalised copy of it.
    const next = page.changes.length ? String(page.nextCursor) : since;
    return json(200, { changes: page.changes, next_cursor: next });
  }
}
