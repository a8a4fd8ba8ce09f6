import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type {
  AmoContact,
  AmoEvent,
  AmoFault,
  AmoLead,
  FakeAmo,
  FakeAmoOptions,
  FakeAmoStats,
  FaultOptions,
  RateLimit,
  RecordedAmoRequest,
} from './types';
import { nginxPage, parseBody, parseQuery, problem, readBody, type Reply, type RequestContext } from './http';
import { Catalog, DEFAULT_CONTACT_FIELDS, DEFAULT_LEAD_FIELDS, DEFAULT_PIPELINES } from './catalog';
import { OAuthService, unauthorized } from './oauth';
import { RateLimiter, maxInAnyWindow } from './rate-limit';
import { FaultInjector, statusFaultReply, wrongShapeReply } from './faults';
import { ContactStore } from './contacts';
import { EventLog } from './events';
import { LeadStore } from './leads';
import { createRouter, notFound } from './router';

const clock = (): number => performance.timeOrigin + performance.now();
const isApi = (path: string): boolean => path === '/api/v4' || path.startsWith('/api/v4/');
const isApiRequest = (r: RecordedAmoRequest): boolean => isApi(r.path);

export class FakeAmoServer implements FakeAmo {
  readonly requests: RecordedAmoRequest[] = [];
  private server: http.Server | undefined;
  private boundPort: number;
  private readonly pending = new Map<NodeJS.Timeout, (fired: boolean) => void>();
  private readonly catalog: Catalog;
  private readonly oauth: OAuthService;
  private readonly limiter: RateLimiter;
  private readonly faults = new FaultInjector();
  private readonly eventLog: EventLog;
  private readonly contactStore: ContactStore;
  private readonly leadStore: LeadStore;
  private readonly route: (ctx: RequestContext) => Reply;
  private rateLimitBody: 'html' | 'json';
  private readonly retryAfterSeconds: number;
  private readonly latencyMs: number;
  private readonly customFieldFilter: boolean;

  constructor(opts: FakeAmoOptions = {}) {
    const accountId = opts.accountId ?? 29_000_001;
    const subdomain = opts.subdomain ?? 'testco';
    this.boundPort = opts.port ?? 0;
    this.catalog = new Catalog(
      accountId,
      subdomain,
      opts.pipelines ?? DEFAULT_PIPELINES,
      opts.leadCustomFields ?? DEFAULT_LEAD_FIELDS,
      opts.contactCustomFields ?? DEFAULT_CONTACT_FIELDS,
    );
    this.oauth = new OAuthService({
      clientId: opts.clientId ?? 'fake-client-id',
      clientSecret: opts.clientSecret ?? 'fake-client-secret',
      redirectUri: opts.redirectUri,
      accessTtlSeconds: opts.accessTtlSeconds ?? 86400,
      accountId,
      subdomain,
    });
    this.limiter = new RateLimiter(opts.rateLimit ?? { requests: 7, windowMs: 1000 }, {
      afterViolations: opts.blockAfterViolations ?? 20,
      windowMs: opts.blockWindowMs ?? 60_000,
      durationMs: opts.blockDurationMs ?? 600_000,
    });
    this.rateLimitBody = opts.rateLimitBody ?? 'html';
    this.retryAfterSeconds = opts.rateLimitRetryAfterSeconds ?? 1;
    this.latencyMs = opts.latencyMs ?? 0;
    this.customFieldFilter = opts.customFieldFilter ?? true;
    this.eventLog = new EventLog(accountId, this.catalog.entityBase, opts.eventsOrder ?? 'desc');
    this.contactStore = new ContactStore(accountId, this.catalog.entityBase);
    this.leadStore = new LeadStore(this.catalog, this.contactStore, this.eventLog, opts.duplicateControl ?? false);
    this.route = createRouter({
      catalog: this.catalog,
      leads: this.leadStore,
      contacts: this.contactStore,
      events: this.eventLog,
      customFieldFilter: () => this.customFieldFilter,
    });
  }

  get port(): number {
    return this.boundPort;
  }

  get url(): string {
    return `http://127.0.0.1:${this.boundPort}`;
  }

  // --- state ------------------------------------------------------------------------------------

  leads(): AmoLead[] {
    return structuredClone(this.leadStore.all());
  }
  contacts(): AmoContact[] {
    return structuredClone(this.contactStore.all());
  }
  events(): AmoEvent[] {
    return structuredClone(this.eventLog.all());
  }
  issueCode(): string {
    return this.oauth.issueCode(clock());
  }
  issueLongLivedToken(ttlSeconds: number): string {
    return this.oauth.issueLongLived(clock(), ttlSeconds);
  }
  expireAccessTokens(): void {
    this.oauth.expireAccess(clock());
  }
  revokeAllTokens(): void {
    this.oauth.revokeAll();
  }
  setLeadStatus(leadId: number, statusId: number, pipelineId?: number): void {
    this.leadStore.setStatus(leadId, statusId, pipelineId, clock());
  }
  injectFault(f: AmoFault, opts?: FaultOptions): void {
    this.faults.add(f, opts);
  }
  clearFaults(): void {
    this.faults.clear();
  }
  setRateLimitBody(kind: 'html' | 'json'): void {
    this.rateLimitBody = kind;
  }
  setRateLimit(rl: RateLimit): void {
    this.limiter.limit = { ...rl };
  }
  setDuplicateControl(on: boolean): void {
    this.leadStore.duplicateControl = on;
  }
  isBlocked(): boolean {
    return this.limiter.isBlocked(clock());
  }
  unblock(): void {
    this.limiter.unblock();
  }

  stats(): FakeAmoStats {
    return {
      refreshes: this.oauth.refreshes,
      codeExchanges: this.oauth.codeExchanges,
      rateLimited: this.limiter.rateLimited,
      blocked: this.limiter.blocked,
      leadsCreated: this.leadStore.created,
      merged: this.leadStore.merged,
      maxRequestsInWindow: this.maxRequestsInAnyWindow(this.limiter.limit.windowMs),
    };
  }

  maxRequestsInAnyWindow(windowMs: number, filter: (r: RecordedAmoRequest) => boolean = isApiRequest): number {
    return maxInAnyWindow(
      this.requests.filter(filter).map((r) => r.at),
      windowMs,
    );
  }

  // --- lifecycle ----------------------------------------------------------------------------------

  async up(): Promise<void> {
    if (this.server) return;
    const server = http.createServer((req, res) => {
      // A bug in the fake must show up as a loud 500 in the test that hit it, not as an unhandled rejection.
      this.handle(req, res).catch((err: unknown) => {
        if (res.headersSent || res.destroyed) return;
        res.writeHead(500, { 'content-type': 'application/problem+json' });
        res.end(JSON.stringify({ title: 'FakeAmoBug', status: 500, detail: err instanceof Error ? err.stack : String(err) }));
      });
    });
    // Longer than undici's keep-alive, so a pooled socket is never closed under a request in flight.
    server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.boundPort, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.boundPort = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async down(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const [timer, resolve] of this.pending) {
      clearTimeout(timer);
      resolve(false);
    }
    this.pending.clear();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      // Held (timeout fault) and keep-alive sockets would keep close() waiting forever.
      server.closeAllConnections();
    });
  }

  close(): Promise<void> {
    return this.down();
  }

  // --- request pipeline ---------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const at = clock();
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const method = (req.method ?? 'GET').toUpperCase();
    const rec: RecordedAmoRequest = { at, method, path, query: parseQuery(url.searchParams), headers: req.headers, body: undefined, status: 0, durationMs: 0 };
    this.requests.push(rec);
    res.on('finish', () => {
      rec.status = res.statusCode;
      rec.durationMs = clock() - at;
    });
    res.on('close', () => {
      if (!res.writableFinished) rec.durationMs = clock() - at;
    });
    // Block and rate decisions are taken on arrival, before any await, so they follow arrival order.
    const gated = this.gate(path, at);
    const parsed = parseBody(await readBody(req), req.headers['content-type']);
    rec.body = parsed.body;
    if (gated) return this.respond(res, gated);

    const fault = this.faults.take(method, path, parsed.body);
    if (fault) rec.fault = fault.type;
    if (fault?.type === 'reset') return void req.socket.destroy();
    if (fault?.type === 'timeout') return; // never answered; down()/close() drop the socket
    if (fault?.type === 'status') return this.respond(res, statusFaultReply(fault));
    if (fault?.type === '504-if-batch-over') return this.respond(res, nginxPage(504, 'Gateway Time-out'));

    const host = req.headers.host ?? `127.0.0.1:${this.boundPort}`;
    const ctx: RequestContext = { method, path, query: rec.query, headers: req.headers, body: parsed.body, bodyKind: parsed.kind, baseUrl: `http://${host}`, nowMs: at };
    let reply = this.dispatch(ctx);
    // The work is done either way; only the answer is spoiled or late.
    if (fault?.type === 'shape') reply = wrongShapeReply();
    if (fault?.type === 'create-then-delay' && !(await this.sleep(fault.ms))) return;
    return this.respond(res, reply);
  }

  private gate(path: string, at: number): Reply | undefined {
    if (this.limiter.isBlocked(at)) {
      this.limiter.countBlocked();
      return nginxPage(403, 'Forbidden');
    }
    if (!isApi(path) || this.limiter.admit(at)) return undefined;
    if (this.rateLimitBody === 'html') return nginxPage(429, 'Too Many Requests');
    return problem(429, 'Too Many Requests', 'You have sent too many requests in a given amount of time. Please try again later.', {
      retry_after: this.retryAfterSeconds,
    });
  }

  private dispatch(ctx: RequestContext): Reply {
    if (ctx.path === '/oauth2/access_token') {
      if (ctx.method !== 'POST') return { ...problem(405, 'Method Not Allowed', `Method ${ctx.method} is not allowed`), headers: { allow: 'POST' } };
      return this.oauth.handleToken(ctx.body, ctx.nowMs);
    }
    if (!isApi(ctx.path)) return notFound(ctx, this.catalog.subdomain);
    if (!this.oauth.authorize(ctx.headers.authorization, ctx.nowMs)) return unauthorized();
    return this.route(ctx);
  }

  private async respond(res: ServerResponse, reply: Reply): Promise<void> {
    if (this.latencyMs > 0 && !(await this.sleep(this.latencyMs))) return;
    if (res.destroyed) return;
    const headers: Record<string, string> = { 'x-request-id': randomBytes(8).toString('hex'), ...reply.headers };
    let payload: string | undefined;
    if (reply.status !== 204 && reply.body !== undefined) {
      payload = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
      // Exact media types, no charset: some clients compare the header as a whole string.
      headers['content-type'] = reply.contentType ?? 'application/json';
    }
    res.writeHead(reply.status, headers);
    res.end(payload);
  }

  /** Resolves true after ms, or false when the server goes down first (the answer is then never sent). */
  private sleep(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(timer);
        resolve(true);
      }, ms);
      this.pending.set(timer, resolve);
    });
  }
}

