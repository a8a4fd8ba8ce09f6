import http from 'node:http';
import https from 'node:https';
import type { StatusChange } from './leads';
import type { WebhookAttempt } from './types';

export interface WebhookConfig {
  accountId: number;
  subdomain: string;
  batchMs: number;
  timeoutMs: number;
  retryScale: number;
  clock: () => number;
}

const MINUTE = 60_000;
/** Waits before attempts 2, 3, 4 and 5 (amoCRM webhooks-format page). */
const RETRY_DELAYS_MS = [5 * MINUTE, 15 * MINUTE, 15 * MINUTE, 60 * MINUTE];

/** Attempts 4 and 5 happen only after a 499 or a 5xx; other failures (no answer, ≥ 300) stop at 3. */
const maxAttempts = (status: number): number => (status === 499 || (status >= 500 && status <= 599) ? 5 : 3);

/**
 * amoCRM's status webhooks (`status_lead`): changes within `batchMs` go out as one form-encoded POST
 * per receiver, with PHP-style keys (`leads[status][0][id]`, …, `account[subdomain]`). A receiver has
 * `timeoutMs` to answer; only 100–299 counts; failures are retried on amoCRM's ladder, scaled.
 * A receiver must treat it as a trigger, never as data: amoCRM promises no order and no exactly-once.
 * Not modelled: the other event kinds, and auto-disabling after 100 failures in 2 h.
 */
export class WebhookEmitter {
  readonly attempts: WebhookAttempt[] = [];
  private readonly hooks = new Set<string>();
  private pending: StatusChange[] = [];
  private batchTimer: NodeJS.Timeout | undefined;
  /** Pending retries and the receiver each is for. */
  private readonly retryTimers = new Map<NodeJS.Timeout, string>();
  private readonly inFlight = new Set<http.ClientRequest>();
  /** Bumped by stop(), so an attempt cut short by it is neither recorded nor retried. */
  private generation = 0;

  constructor(private readonly cfg: WebhookConfig) {}

  add(url: string): void {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new Error(`fake amoCRM: addWebhook: not a URL: ${JSON.stringify(url)}`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`fake amoCRM: addWebhook: only http(s) URLs, got ${u.protocol}`);
    this.hooks.add(url);
  }

  remove(url: string): void {
    this.hooks.delete(url);
    for (const [t, u] of this.retryTimers) {
      if (u !== url) continue;
      clearTimeout(t);
      this.retryTimers.delete(t);
    }
  }

  /** Nothing pending, scheduled or in flight: no POST will follow until the next status change. */
  idle(): boolean {
    return this.batchTimer === undefined && this.retryTimers.size === 0 && this.inFlight.size === 0;
  }

  statusChanged(change: StatusChange): void {
    if (this.hooks.size === 0) return;
    // A snapshot: later moves of the same lead must not rewrite what this one reported.
    this.pending.push({ ...change, lead: structuredClone(change.lead) });
    this.batchTimer ??= setTimeout(() => this.flush(), this.cfg.batchMs);
  }

  /** Drops everything pending and in flight (down()/close()). */
  stop(): void {
    this.generation++;
    clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    this.pending = [];
    for (const t of this.retryTimers.keys()) clearTimeout(t);
    this.retryTimers.clear();
    for (const req of this.inFlight) req.destroy();
    this.inFlight.clear();
  }

  private flush(): void {
    this.batchTimer = undefined;
    const changes = this.pending;
    this.pending = [];
    if (changes.length === 0) return;
    const body = this.encode(changes);
    const leadIds = changes.map((c) => c.lead.id);
    for (const url of this.hooks) this.send(url, body, leadIds, 1);
  }

  private encode(changes: StatusChange[]): string {
    const form = new URLSearchParams();
    changes.forEach(({ lead, oldStatusId, oldPipelineId }, i) => {
      const item: Record<string, number> = {
        id: lead.id,
        status_id: lead.status_id,
        pipeline_id: lead.pipeline_id,
        old_status_id: oldStatusId,
        old_pipeline_id: oldPipelineId,
        responsible_user_id: lead.responsible_user_id,
        last_modified: lead.updated_at,
        modified_user_id: lead.updated_by,
        created_user_id: lead.created_by,
        date_create: lead.created_at,
        account_id: this.cfg.accountId,
      };
      for (const [k, v] of Object.entries(item)) form.append(`leads[status][${i}][${k}]`, String(v));
    });
    form.append('account[id]', String(this.cfg.accountId));
    form.append('account[subdomain]', this.cfg.subdomain);
    return form.toString();
  }

  private send(url: string, body: string, leadIds: number[], attempt: number): void {
    const at = this.cfg.clock();
    const started = performance.now();
    const generation = this.generation;
    let settled = false;
    const finish = (status: number, error?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (generation !== this.generation) return;
      const delivered = status >= 100 && status <= 299;
      this.attempts.push({ url, attempt, at, body, leadIds, status, delivered, error, durationMs: performance.now() - started });
      if (delivered || attempt >= maxAttempts(status) || !this.hooks.has(url)) return;
      const retry = setTimeout(() => {
        this.retryTimers.delete(retry);
        this.send(url, body, leadIds, attempt + 1);
      }, RETRY_DELAYS_MS[attempt - 1] * this.cfg.retryScale);
      this.retryTimers.set(retry, url);
    };
    const client = url.startsWith('https:') ? https : http;
    // A fresh connection per POST (no agent): nothing pooled outlives the fake.
    const req = client.request(url, {
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) },
    });
    const timer = setTimeout(() => {
      finish(0, 'timeout');
      req.destroy();
    }, this.cfg.timeoutMs);
    req.on('response', (res) => {
      res.resume();
      finish(res.statusCode ?? 0);
    });
    req.on('error', (err: NodeJS.ErrnoException) => finish(0, err.code ?? err.message));
    req.on('close', () => this.inFlight.delete(req));
    this.inFlight.add(req);
    req.end(body);
  }
}
