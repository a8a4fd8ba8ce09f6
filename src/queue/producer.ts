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
 *
 * One exception: a lead whose job FAILED (the CRM refused it, or its retries ran out) and that is
 * sent again — typically corrected — replaces the failed job's lead and is queued again with a full
 * retry budget. Otherwise a corrected lead could never be delivered.
 */

/** `warnings`: what intake repaired or left out of the lead (see parseLead); empty when nothing. */
export type EnqueueResult =
  | { index: number; status: 'accepted'; clientId: string; leadId: string; jobId: string; warnings: FieldIssue[]; replaced?: true }
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
/** Longer than a replacement takes (three or four Redis calls), short enough not to matter if left behind. */
const REPLACE_LOCK_MS = 10_000;

type Item = { index: number; lead: LeadV1; warnings: FieldIssue[] };
type DeliveryQueue = Queue<DeliveryJobData, unknown, string>;

/** The replies of a pipeline; the first error is thrown (it becomes IntakeUnavailableError). */
function replies(res: Array<[Error | null, unknown]> | null): unknown[] {
  if (!res) throw new Error('the Redis pipeline was aborted');
  return res.map(([err, value]) => {
    if (err) throw err;
    return value;
  });
}

export class LeadProducer {
  private readonly redis: Redis;
  private readonly ownsRedis: boolean;
  private readonly keys: Keys;
  private readonly queues = new Map<string, DeliveryQueue>();
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
    const queue = this.queue(clientId);
    const answer = (it: Item, status: 'accepted' | 'duplicate', replaced = false): void => {
      const base = { index: it.index, clientId, leadId: it.lead.leadId, jobId: leadJobId(clientId, it.lead.leadId), warnings: it.warnings };
      results[it.index] = status === 'accepted' ? { ...base, status, ...(replaced ? { replaced: true as const } : {}) } : { ...base, status };
    };

    const unique: Item[] = [];
    const inThisCall = new Set<string>();
    for (const it of items) {
      if (inThisCall.has(it.lead.leadId)) answer(it, 'duplicate');
      else {
        inThisCall.add(it.lead.leadId);
        unique.push(it);
      }
    }
    // One round trip of five commands, whatever the batch size: has each lead been accepted,
    // delivered, has its job failed — and does any job exist that no mark accounts for?
    const ids = unique.map((it) => it.lead.leadId);
    const jobIds = ids.map((id) => leadJobId(clientId, id));
    const [seen, delivered, failedAt, anyJob] = replies(
      await this.redis
        .pipeline()
        .mget(...ids.map((id) => this.keys.seen(clientId, id)))
        .mget(...ids.map((id) => this.keys.delivered(clientId, id)))
        .zmscore(queue.toKey('failed'), ...jobIds)
        .exists(...jobIds.map((id) => queue.toKey(id)))
        .exec(),
    ) as [Array<string | null>, Array<string | null>, Array<string | null>, number];
    const unmarked = unique.filter((_, i) => seen[i] === null && delivered[i] === null && failedAt[i] === null);
    // A job without a seen mark (a send whose mark was lost) is rare: only then ask job by job.
    const exists = anyJob > 0 && unmarked.length > 0 ? await this.jobsExist(queue, clientId, unmarked) : new Set<string>();
    const fresh: Item[] = [];
    for (const [i, it] of unique.entries()) {
      if (delivered[i] !== null) answer(it, 'duplicate');
      else if (failedAt[i] !== null) {
        const replaced = await this.replaceIfFailed(queue, clientId, it);
        answer(it, replaced ? 'accepted' : 'duplicate', replaced);
      } else if (seen[i] !== null || exists.has(it.lead.leadId)) {
        // Pending, or done: a duplicate. A lead seen but with neither a job nor a delivery mark
        // (its failed job expired) stays a duplicate too; see docs/intake.md.
        answer(it, 'duplicate');
      } else fresh.push(it);
    }
    if (fresh.length === 0) return;

    // The job goes in first and the `seen` mark second: if Redis fails in between, the caller gets an
    // error and sends again, and the repeat is a no-op on the job id — nothing is lost, nothing doubled.
    const acceptedAt = this.now();
    await queue.addBulk(
      fresh.map(({ lead }) => ({ name: DELIVERY_JOB_NAME, data: { lead, acceptedAt }, opts: deliveryJobOptions(leadJobId(clientId, lead.leadId)) })),
    );
    // "Accepted" promises a job: check they are all really there before saying so.
    const found = await this.redis.exists(...fresh.map(({ lead }) => queue.toKey(leadJobId(clientId, lead.leadId))));
    if (found !== fresh.length) throw new IntakeUnavailableError(new Error(`${fresh.length - found} job(s) not found right after they were added`));

    const pipe = this.redis.pipeline();
    for (const { lead } of fresh) pipe.set(this.keys.seen(clientId, lead.leadId), String(acceptedAt), 'EX', this.ttlSeconds, 'NX');
    const marks = replies(await pipe.exec());
    // A concurrent call marked it first: that call reports it accepted, this one a duplicate.
    fresh.forEach((it, i) => answer(it, marks[i] === 'OK' ? 'accepted' : 'duplicate'));
  }

  /** Which of these leads have a job in the queue. */
  private async jobsExist(queue: DeliveryQueue, clientId: string, items: Item[]): Promise<Set<string>> {
    const pipe = this.redis.pipeline();
    for (const { lead } of items) pipe.exists(queue.toKey(leadJobId(clientId, lead.leadId)));
    const found = replies(await pipe.exec());
    return new Set(items.filter((_, i) => found[i] === 1).map((it) => it.lead.leadId));
  }

  /**
   * Replaces a FAILED job's lead with the one just sent and queues it again with a full retry
   * budget; true when it did. A job in any other state (waiting, delayed, active, completed) is left
   * alone. A short lock keeps two simultaneous re-sends from both replacing it.
   */
  private async replaceIfFailed(queue: DeliveryQueue, clientId: string, it: Item): Promise<boolean> {
    const lock = this.keys.replacing(clientId, it.lead.leadId);
    if ((await this.redis.set(lock, '1', 'PX', REPLACE_LOCK_MS, 'NX')) !== 'OK') return false;
    try {
      const job = await queue.getJob(leadJobId(clientId, it.lead.leadId));
      if (!job || (await job.getState()) !== 'failed') return false;
      const acceptedAt = this.now();
      // An earlier attempt may have reached the CRM without an answer: keep the flag, so the next
      // attempt looks the lead up before creating it.
      await job.updateData({ lead: it.lead, acceptedAt, ...(job.data.uncertain ? { uncertain: true } : {}) });
      try {
        await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
      } catch (err) {
        // Someone else (support's replay) moved it out of `failed` between our read and the retry:
        // it is queued again either way, now with the lead just sent.
        if ((await job.getState()) === 'failed') throw err;
        return false;
      }
      await this.redis.set(this.keys.seen(clientId, it.lead.leadId), String(acceptedAt), 'EX', this.ttlSeconds);
      return true;
    } finally {
      await this.redis.del(lock);
    }
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

  private queue(clientId: string): DeliveryQueue {
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

  /** Drops the connection without waiting for anything (a shutdown past its deadline). */
  abort(): void {
    for (const q of this.queues.values()) void q.close().catch(() => undefined);
    this.queues.clear();
    if (this.ownsRedis) this.redis.disconnect();
  }
}
