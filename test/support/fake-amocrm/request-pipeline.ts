import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Catalog } from './catalog';
import type { ConnectionTracker } from './connections';
import { FaultInjector, faultReply, statusFaultReply, wrongShapeReply } from './faults';
import { nginxPage, parseBody, parseQuery, problem, readBody, type Reply, type RequestContext } from './http';
import { unauthorized, type OAuthService } from './oauth';
import type { RateLimiter } from './rate-limit';
import { sendReply, type Delivery, type Timers } from './respond';
import { withEcho } from './echo';
import { notFound } from './router';
import type { RecordedAmoRequest } from './types';

export const isApi = (path: string): boolean => path === '/api/v4' || path.startsWith('/api/v4/');

export interface PipelineDeps {
  catalog: Catalog;
  oauth: OAuthService;
  limiter: RateLimiter;
  faults: FaultInjector;
  connections: ConnectionTracker;
  timers: Timers;
  route: (ctx: RequestContext) => Reply;
  requests: RecordedAmoRequest[];
  clock: () => number;
  latencyMs: number;
  retryAfterSeconds: number;
  rateLimitBody: () => 'html' | 'json';
  port: () => number;
  /** The `echo` option: every answer repeats the request back (echo.ts). */
  echo: boolean;
}

/** The query string exactly as sent: PHP-style parsing needs the raw pairs. */
function rawQuery(url: string | undefined): string {
  const q = (url ?? '').indexOf('?');
  return q >= 0 ? (url ?? '').slice(q + 1) : '';
}

/**
 * One request's way through the fake: record, the forgotten-connection reset, block and rate limit
 * (on arrival), body, injected faults, OAuth/bearer, the handler, and the answer's delivery.
 */
export async function handleRequest(d: PipelineDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const at = d.clock();
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const path = url.pathname.replace(/\/+$/, '') || '/';
  const method = (req.method ?? 'GET').toUpperCase();
  const { connection, stale } = d.connections.onRequest(req.socket);
  const rec: RecordedAmoRequest = { at, method, path, query: parseQuery(rawQuery(req.url)), headers: req.headers, body: undefined, status: 0, durationMs: 0, connection };
  d.requests.push(rec);
  if (stale) {
    // The peer no longer knows this connection: whatever arrives on it meets a reset.
    rec.fault = 'stale-reset';
    req.socket.resetAndDestroy();
    return;
  }
  res.on('finish', () => {
    rec.status = res.statusCode;
    rec.durationMs = d.clock() - at;
    d.connections.responseFinished(req.socket);
  });
  res.on('close', () => {
    if (!res.writableFinished) rec.durationMs = d.clock() - at;
  });
  const respond = async (reply: Reply, delivery: Delivery = { kind: 'whole' }): Promise<void> => {
    if (d.latencyMs > 0 && !(await d.timers.sleep(d.latencyMs))) return;
    const answer = d.echo ? withEcho(reply, { method, path, query: rec.query, headers: req.headers, body: rec.body }) : reply;
    await sendReply(res, answer, delivery, d.timers, (status) => {
      rec.status = status;
    });
  };

  // Block and rate decisions are taken on arrival, before any await, so they follow arrival order.
  const gated = gate(d, path, at);
  const parsed = parseBody(await readBody(req), req.headers['content-type']);
  rec.body = parsed.body;
  if (gated) return respond(gated);

  const fault = d.faults.take(method, path, parsed.body);
  if (fault) rec.fault = fault.type;
  if (fault?.type === 'reset') return void req.socket.destroy();
  if (fault?.type === 'timeout') return; // never answered; down()/close() drop the socket
  if (fault?.type === 'status') return respond(statusFaultReply(fault));
  if (fault?.type === '504-if-batch-over') return respond(nginxPage(504, 'Gateway Time-out'));
  if (fault?.type === 'slow-headers') {
    const waited = await d.timers.sleep(fault.ms);
    if (!waited || res.destroyed || req.socket.destroyed) return;
  }

  const host = req.headers.host ?? `127.0.0.1:${d.port()}`;
  const ctx: RequestContext = { method, path, query: rec.query, headers: req.headers, body: parsed.body, bodyKind: parsed.kind, baseUrl: `http://${host}`, nowMs: d.clock() };
  const reply = dispatch(d, ctx);
  // From here on the work is done either way; only the answer is spoiled, late or cut.
  switch (fault?.type) {
    case 'shape':
      return respond(wrongShapeReply());
    case 'create-then-delay':
      if (!(await d.timers.sleep(fault.ms))) return;
      return respond(reply);
    case 'create-then-status':
      return respond(faultReply(fault.status, fault.body ?? 'html', fault.headers));
    case 'slow-body':
      return respond(reply, { kind: 'trickle', ms: fault.ms });
    case 'endless-body':
      return respond(reply, { kind: 'endless' });
    default:
      return respond(reply);
  }
}

function gate(d: PipelineDeps, path: string, at: number): Reply | undefined {
  if (d.limiter.isBlocked(at)) {
    d.limiter.countBlocked();
    return nginxPage(403, 'Forbidden');
  }
  if (!isApi(path) || d.limiter.admit(at)) return undefined;
  if (d.rateLimitBody() === 'html') return nginxPage(429, 'Too Many Requests');
  return problem(429, 'Too Many Requests', 'You have sent too many requests in a given amount of time. Please try again later.', {
    retry_after: d.retryAfterSeconds,
  });
}

function dispatch(d: PipelineDeps, ctx: RequestContext): Reply {
  if (ctx.path === '/oauth2/access_token') {
    if (ctx.method !== 'POST') return { ...problem(405, 'Method Not Allowed', `Method ${ctx.method} is not allowed`), headers: { allow: 'POST' } };
    return d.oauth.handleToken(ctx.body, ctx.nowMs);
  }
  if (!isApi(ctx.path)) return notFound(ctx, d.catalog.subdomain);
  if (!d.oauth.authorize(ctx.headers.authorization, ctx.nowMs)) return unauthorized();
  return d.route(ctx);
}
