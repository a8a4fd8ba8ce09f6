import { connectRedis } from './redis-connection';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { LeadExportError, type FieldIssue } from '../domain/errors';
import { leadJobId, parseLead, type Clock, type LeadV1 } from '../domain/lead';
import { DELIVERY_JOB_NAME, deliveryJobOptions, type DeliveryJobData } from './delivery-job';
import { Keys } from './keys';

/**
 * LeadProducer: the one way leads enter lead-export, used by the HTTP intake, the CLI and — as a
 * library — by HRDrom core itself. Validation, idempotency and the job format live here, so the
 * three doors cannot drift apart.
 *
 * Idempotency has two layers:
 *  - the job id (client + lead id) makes a repeat a no-op while the job exists;
 *  - a `seen` key per lead (kept IDEMPOTENCY_TTL_DAYS) makes it a no-op after the job is gone,
 *    e.g. long after delivery, when completed jobs have been removed.
 */

/** `warnings`: what intake repaired or left out of the lead (see parseLead); empty when nothing. */
export type EnqueueResult =
  | { index: number; status: 'accepted'; clientId: string; leadId: string; jobId: string; warnings: FieldIssue[] }
  | { index: number; status: 'duplicate'; clientId: string; leadId: string; jobId: string; warnings: FieldIssue[] }
  | { index: number; status: 'invalid'; issues: FieldIssue[]; warnings: FieldIssue[] }
  | { index: number; status: 'unknown_client'; clientId: string; leadId?: string };

export interface LeadProducerOptions {
  /** A redis:// URL, or an ioredis connection to share (its offline queue should be off: fail fast). */
  connection: string | Redis;
  /** QUEUE_PREFIX of the service (default `le`). */
  prefix?: string;
  /** Whether a client id is configured. Default: the registry the service keeps in Redis. */
  isKnownClient?: (clientId: string) => boolean | Promise<boolean>;
  /** How long an accepted lead id is remembered (default 90 days). */
  idempotencyTtlDays?: number;
  /** Clock for the lead's date checks and `acceptedAt` (default Date.now); tests inject one. */
  now?: Clock;
}

/** Redis is unreachable: nothing was accepted. HTTP intake answers 503. */
export class IntakeUnavailableError extends LeadExportError {
  constructor(cause: unknown) {
    super('unavailable', `Redis is unreachable; nothing was accepted (${(cause as Error)?.message ?? cause})`, { cause });
    this.name = 'IntakeUnavailableError';
  }
}

export const MAX_BATCH = 1000;

type Item = { index: number; lead: LeadV1; warnings: FieldIssue[] };

export class LeadProducer {
  private readonly redis: Redis;
  private readonly ownsRedis: boolean;
  private readonly keys: Keys;
  private readonly queues = new Map<string, Queue<DeliveryJobData, unknown, string>>();
  private readonly ttlSeconds: number;
  private readonly knownCache = new Map<string, { known: boolean; at: number }>();
  private readonly now: Clock;

  constructor(private readonly opts: LeadProducerOptions) {
    this.keys = new Keys(opts.prefix ?? 'le');
    this.now = opts.now ?? Date.now;
    this.ttlSeconds = Math.round((opts.idempotencyTtlDays ?? 90) * 86_400);
    if (typeof opts.connection === 'string') {
      // Fail fast when Redis is down: no offline queue, one retry, short timeouts — never hang a caller.
      this.redis = connectRedis(opts.connection, {
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        connectTimeout: 2_000,
        commandTimeout: 3_000,
        retryStrategy: (times) => Math.min(times * 200, 2_000),
      });
      this.redis.on('error', () => {
        /* reported per call as IntakeUnavailableError */
      });
      this.ownsRedis = true;
    } else {
      this.redis = opts.connection;
      this.ownsRedis = false;
    }
  }

  /** Validates and enqueues one lead. Throws IntakeUnavailableError when Redis is down. */
  async enqueue(lead: unknown): Promise<EnqueueResult> {
    return (await this.enqueueMany([lead]))[0];
  }

  /**
   * Validates every lead, then enqueues the valid ones with known clients. A batch that mixes valid
   * and invalid leads is split: the valid leads ARE accepted, the invalid ones come back with their
   * field errors (idempotency makes sending the whole batch again safe).
   */
  async enqueueMany(leads: readonly unknown[]): Promise<EnqueueResult[]> {
    if (leads.length > MAX_BATCH) {
      throw new LeadExportError('validation', `at most ${MAX_BATCH} leads per call, got ${leads.length}`);
    }
    const results: EnqueueResult[] = new Array(leads.length);
    const valid: Item[] = [];
    leads.forEach((input, index) => {
      const parsed = parseLead(input, { now: this.now });
      if (parsed.ok) valid.push({ index, lead: parsed.lead, warnings: parsed.warnings });
      else results[index] = { index, status: 'invalid', issues: parsed.issues, warnings: parsed.warnings };
    });

    try {
      await this.connected();
      const byClient = new Map<string, Item[]>();
      for (const v of valid) {
        const list = byClient.get(v.lead.clientId) ?? [];
        list.push(v);
        byClient.set(v.lead.clientId, list);
      }
      for (const [clientId, items] of byClient) {
        if (!(await this.knownClient(clientId))) {
          for (const { index, lead } of items) results[index] = { index, status: 'unknown_client', clientId, leadId: lead.leadId };
          continue;
        }
        await this.enqueueForClient(clientId, items, results);
      }
    } catch (err) {
      if (err instanceof LeadExportError) throw err;
      throw new IntakeUnavailableError(err);
    }
    return results;
  }

  private async enqueueForClient(clientId: string, items: Item[], results: EnqueueResult[]): Promise<void> {
    const seenKeys = items.map(({ lead }) => this.keys.seen(clientId, lead.leadId));
    const seen = await this.redis.mget(...seenKeys);
    const fresh: Array<Item & { jobId: string }> = [];
    const inThisCall = new Set<string>();
    items.forEach(({ index, lead, warnings }, i) => {
      const jobId = leadJobId(clientId, lead.leadId);
      if (seen[i] !== null || inThisCall.has(lead.leadId)) {
        results[index] = { index, status: 'duplicate', clientId, leadId: lead.leadId, jobId, warnings };
      } else {
        inThisCall.add(lead.leadId);
        fresh.push({ index, lead, warnings, jobId });
      }
    });
    if (fresh.length === 0) return;

    // The job goes in first and the `seen` mark second: if Redis fails in between, the caller gets an
    // error and sends again, and the repeat is a no-op on the job id — nothing is lost, nothing doubled.
    const acceptedAt = this.now();
    await this.queue(clientId).addBulk(
      fresh.map(({ lead, jobId }) => ({ name: DELIVERY_JOB_NAME, data: { lead, acceptedAt }, opts: deliveryJobOptions(jobId) })),
    );
    const pipe = this.redis.pipeline();
    for (const { lead } of fresh) pipe.set(this.keys.seen(clientId, lead.leadId), String(acceptedAt), 'EX', this.ttlSeconds, 'NX');
    const marks = (await pipe.exec()) ?? [];
    fresh.forEach(({ index, lead, warnings, jobId }, i) => {
      const [err, ok] = marks[i] ?? [new Error('no reply'), null];
      if (err) throw err;
      // A concurrent call marked it first: that call reports it accepted, this one a duplicate.
      results[index] = { index, status: ok === 'OK' ? 'accepted' : 'duplicate', clientId, leadId: lead.leadId, jobId, warnings };
    });
  }

  /**
   * The offline queue is off (fail fast), so a call made while the connection is still being set up
   * would fail even with Redis healthy: wait for it briefly instead.
   */
  private async connected(): Promise<void> {
    if (this.redis.status === 'ready') return;
    if (this.redis.status === 'wait') void this.redis.connect().catch(() => undefined);
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error) => {
        clearTimeout(timer);
        this.redis.off('ready', onReady);
        if (err) reject(err);
        else resolve();
      };
      const onReady = () => done();
      const timer = setTimeout(() => done(new Error(`not connected (${this.redis.status})`)), 2_000);
      this.redis.once('ready', onReady);
    });
  }

  private async knownClient(clientId: string): Promise<boolean> {
    if (this.opts.isKnownClient) return this.opts.isKnownClient(clientId);
    const cached = this.knownCache.get(clientId);
    if (cached && Date.now() - cached.at < 5_000) return cached.known;
    const known = (await this.redis.hexists(this.keys.knownClients(), clientId)) === 1;
    this.knownCache.set(clientId, { known, at: Date.now() });
    return known;
  }

  private queue(clientId: string): Queue<DeliveryJobData, unknown, string> {
    let q = this.queues.get(clientId);
    if (!q) {
      q = new Queue<DeliveryJobData, unknown, string>(this.keys.deliveryQueue(clientId), { connection: this.redis, prefix: this.keys.prefix });
      q.on('error', () => {
        /* surfaced through the failing call */
      });
      this.queues.set(clientId, q);
    }
    return q;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.queues.values()].map((q) => q.close()));
    this.queues.clear();
    if (this.ownsRedis) this.redis.disconnect();
  }
}
