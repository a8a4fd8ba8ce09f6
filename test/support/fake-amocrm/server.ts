import http from 'node:http';
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
  ForeignLeadOptions,
  RateLimit,
  RecordedAmoRequest,
  WebhookAttempt,
} from './types';
import { Catalog, DEFAULT_CONTACT_FIELDS, DEFAULT_LEAD_FIELDS, DEFAULT_PIPELINES } from './catalog';
import { ConnectionTracker } from './connections';
import { OAuthService } from './oauth';
import { RateLimiter, maxInAnyWindow } from './rate-limit';
import { FaultInjector } from './faults';
import { ContactStore } from './contacts';
import { EventLog } from './events';
import { LeadStore } from './leads';
import { createRouter } from './router';
import { resolveOptions } from './options';
import { Timers } from './respond';
import { handleRequest, isApi, type PipelineDeps } from './request-pipeline';
import { WebhookEmitter } from './webhooks';

const isApiRequest = (r: RecordedAmoRequest): boolean => isApi(r.path);

/** The fake's state and controls; the way of one request is in request-pipeline.ts. */
export class FakeAmoServer implements FakeAmo {
  readonly requests: RecordedAmoRequest[] = [];
  private server: http.Server | undefined;
  private boundPort: number;
  private readonly clock: () => number;
  private readonly timers = new Timers();
  private readonly catalog: Catalog;
  private readonly oauth: OAuthService;
  private readonly limiter: RateLimiter;
  private readonly faults = new FaultInjector();
  private readonly eventLog: EventLog;
  private readonly contactStore: ContactStore;
  private readonly leadStore: LeadStore;
  private readonly webhooks: WebhookEmitter;
  private readonly deps: PipelineDeps;
  private rateLimitBody: 'html' | 'json';

  constructor(options: FakeAmoOptions = {}) {
    const o = resolveOptions(options);
    this.clock = o.clock;
    this.boundPort = o.port;
    this.catalog = new Catalog(
      o.accountId,
      o.subdomain,
      o.pipelines ?? DEFAULT_PIPELINES,
      o.leadCustomFields ?? DEFAULT_LEAD_FIELDS,
      o.contactCustomFields ?? DEFAULT_CONTACT_FIELDS,
    );
    this.oauth = new OAuthService({
      clientId: o.clientId,
      clientSecret: o.clientSecret,
      redirectUri: o.redirectUri,
      accessTtlSeconds: o.accessTtlSeconds,
      refreshTtlSeconds: o.refreshTtlSeconds,
      accountId: o.accountId,
      subdomain: o.subdomain,
    });
    this.limiter = new RateLimiter(o.rateLimit, { afterViolations: o.blockAfterViolations, windowMs: o.blockWindowMs, durationMs: o.blockDurationMs });
    this.rateLimitBody = o.rateLimitBody;
    this.eventLog = new EventLog(o.accountId, this.catalog.entityBase, o.eventsOrder);
    this.contactStore = new ContactStore(o.accountId, this.catalog.entityBase);
    this.leadStore = new LeadStore(this.catalog, this.contactStore, this.eventLog, o.duplicateControl);
    this.webhooks = new WebhookEmitter({
      accountId: o.accountId,
      subdomain: o.subdomain,
      batchMs: o.webhookBatchMs,
      timeoutMs: o.webhookTimeoutMs,
      retryScale: o.webhookRetryScale,
      clock: o.clock,
    });
    this.leadStore.onStatusChanged = (change) => this.webhooks.statusChanged(change);
    const customFieldFilter = o.customFieldFilter;
    this.deps = {
      catalog: this.catalog,
      oauth: this.oauth,
      limiter: this.limiter,
      faults: this.faults,
      connections: new ConnectionTracker({ keepAliveTimeoutMs: o.keepAliveTimeoutMs, dropIdleAfterMs: o.dropIdleConnectionsAfterMs }),
      timers: this.timers,
      route: createRouter({ catalog: this.catalog, leads: this.leadStore, contacts: this.contactStore, events: this.eventLog, customFieldFilter: () => customFieldFilter }),
      requests: this.requests,
      clock: o.clock,
      latencyMs: o.latencyMs,
      retryAfterSeconds: o.rateLimitRetryAfterSeconds,
      rateLimitBody: () => this.rateLimitBody,
      port: () => this.boundPort,
      echo: o.echo,
    };
  }

  get port(): number {
    return this.boundPort;
  }

  get url(): string {
    return `http://127.0.0.1:${this.boundPort}`;
  }

  get webhookAttempts(): WebhookAttempt[] {
    return this.webhooks.attempts;
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
    return this.oauth.issueCode(this.clock());
  }
  issueLongLivedToken(ttlSeconds: number): string {
    return this.oauth.issueLongLived(this.clock(), ttlSeconds);
  }
  expireAccessTokens(): void {
    this.oauth.expireAccess(this.clock());
  }
  revokeAllTokens(): void {
    this.oauth.revokeAll();
  }
  setLeadStatus(leadId: number, statusId: number, pipelineId?: number): void {
    this.leadStore.setStatus(leadId, statusId, pipelineId, this.clock());
  }
  createForeignLead(opts: ForeignLeadOptions = {}): AmoLead {
    return structuredClone(this.leadStore.createForeign(opts, this.clock()));
  }
  addWebhook(url: string): void {
    this.webhooks.add(url);
  }
  removeWebhook(url: string): void {
    this.webhooks.remove(url);
  }
  webhooksIdle(): boolean {
    return this.webhooks.idle();
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
    return this.limiter.isBlocked(this.clock());
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
      handleRequest(this.deps, req, res).catch((err: unknown) => {
        if (res.headersSent || res.destroyed) return;
        res.writeHead(500, { 'content-type': 'application/problem+json' });
        res.end(JSON.stringify({ title: 'FakeAmoBug', status: 500, detail: err instanceof Error ? err.stack : String(err) }));
      });
    });
    server.on('connection', (socket) => this.deps.connections.accept(socket));
    // Idle connections are closed by the tracker (keepAliveTimeoutMs), as nginx closes them: a client
    // must expect a pooled socket to be gone, or to go away under its next request.
    server.keepAliveTimeout = 0;
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
    this.timers.cancelAll();
    this.webhooks.stop();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      // Held (timeout, endless-body, slow-body) and keep-alive sockets would keep close() waiting forever.
      server.closeAllConnections();
    });
  }

  close(): Promise<void> {
    // Also when already down: changes made meanwhile may have queued webhooks.
    this.webhooks.stop();
    return this.down();
  }
}
