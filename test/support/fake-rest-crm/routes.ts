/**
 * The fake CRM's endpoints, free of sockets and timers: the server hands each request over as a
 * Ctx once its body is in, and writes whatever Reply comes back (after latency and faults).
 *
 *   POST /auth/login | /auth/refresh | /auth/logout      (login mode only; 404 otherwise)  routes-auth.ts
 *   GET  /api/ping
 *   POST /api/candidates            GET /api/candidates?external_id=X          routes-candidates.ts
 *   POST /api/candidates/batch      GET /api/candidates/:id
 *   GET  /api/changes?since=<cursor>&limit=<n>                                   routes-feed.ts
 *   GET  /api/candidates/updated?updated_after=<time>  (path and names configurable)
 *
 * Every /api path is rate limited (429 + Retry-After) and authenticated (401) before its handler.
 */
import type { AuthState } from './auth';
import type { ResolvedOptions } from './options';
import { type Ctx, error, json, MAX_BODY_BYTES, type MethodRoutes, type Reply } from './reply';
import { authRoutes } from './routes-auth';
import { CandidateRoutes } from './routes-candidates';
import { listChanges, listUpdated } from './routes-feed';
import type { CandidateStore } from './store';

export class CrmRoutes {
  private readonly candidates: CandidateRoutes;

  constructor(
    private readonly auth: AuthState,
    private readonly store: CandidateStore,
    private readonly opts: ResolvedOptions,
    /** A function, because setRateLimit() may change it while the server runs. */
    private readonly retryAfterSeconds: () => number,
  ) {
    this.candidates = new CandidateRoutes(store, { ...opts, timeFormat: opts.updatedFeed.timeFormat });
  }

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
      return this.dispatch(authRoutes(this.auth, path), method, ctx);
    }
    if (path === '/api' || path.startsWith('/api/')) {
      if (ctx.limited) {
        return json(429, { error: 'rate_limited' }, { 'Retry-After': String(this.retryAfterSeconds()) });
      }
      if (ctx.authFailure) {
        const challenge = this.auth.challenge();
        return json(401, { error: ctx.authFailure }, challenge ? { 'WWW-Authenticate': challenge } : undefined);
      }
    }
    return this.dispatch(this.apiRoutes(path, ctx), method, ctx);
  }

  private dispatch(routes: MethodRoutes | undefined, method: string, ctx: Ctx): Reply {
    if (!routes) return error(404, 'not_found');
    const handler = routes[method];
    if (!handler) return json(405, { error: 'method_not_allowed' }, { Allow: Object.keys(routes).join(', ') });
    return handler(ctx);
  }

  private apiRoutes(path: string, ctx: Ctx): MethodRoutes | undefined {
    const c = this.candidates;
    // Before /api/candidates/:id, which the default feed path would otherwise match.
    if (path === this.opts.updatedFeed.path) return { GET: (x) => listUpdated(this.store, this.opts.updatedFeed, x) };
    if (path === '/api/ping') return { GET: () => json(200, { ok: true }) };
    if (path === '/api/candidates') return { GET: (x) => c.list(x), POST: (x) => c.createOne(x) };
    if (path === '/api/candidates/batch') return { POST: (x) => c.createBatch(x) };
    if (path === '/api/changes') return { GET: (x) => listChanges(this.store, x) };
    const m = /^\/api\/candidates\/([^/]+)$/.exec(path);
    if (m?.[1]) {
      try {
        ctx.id = decodeURIComponent(m[1]);
      } catch {
        return undefined;
      }
      return { GET: (x) => c.getOne(x) };
    }
    return undefined;
  }
}
