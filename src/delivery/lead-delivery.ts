import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { PushItem, PushOutcome } from '../../adapters/types';
import type { CrmChannel } from '../channel/channel';
import { decide, type AttemptFailure, type DeliveryPolicy } from '../channel/decide';
import type { ClientConfig } from '../config/client-schema';
import type { DeliveryError } from '../domain/errors';
import type { Logger } from '../logging/logger';
import type { Metrics } from '../observability/metrics';
import type { DeliveryJobData, DeliveryResult } from '../queue/delivery-job';
import type { Keys } from '../queue/keys';
import { Batcher } from './batcher';
import { carryOut } from './outcome-signals';

/**
 * Delivery of one lead, as BullMQ's processor: the delivered mark (idempotency), the in-flight mark
 * (a crash leaves the outcome unknown), the batcher (leads ready together share one request), and
 * the decision after a failure (src/channel/decide.ts), carried out by outcome-signals.ts.
 */

export interface LeadDeliveryDeps {
  redis: Redis;
  keys: Keys;
  log: Logger;
  metrics: Metrics;
  idempotencyTtlSeconds: number;
}

/** What one lead got from its batch's request. */
type ItemResult = { ok: true; outcome: PushOutcome } | { ok: false; error: DeliveryError; pushSent: boolean };

/** A create request may still be writing a lead this long after it left: one hour of in-flight mark. */
const INFLIGHT_TTL_SECONDS = 3_600;

export class LeadDelivery {
  private batcher: Batcher<PushItem, ItemResult>;
  private config: ClientConfig;

  constructor(
    private readonly channel: CrmChannel,
    private readonly deps: LeadDeliveryDeps,
  ) {
    this.config = channel.currentConfig;
    this.batcher = this.newBatcher();
  }

  /** Applies a changed config; leads already waiting in the old batcher go out now. */
  reconfigure(): void {
    this.config = this.channel.currentConfig;
    const old = this.batcher;
    this.batcher = this.newBatcher();
    old.close();
  }

  close(): void {
    this.batcher.close();
  }

  policy(): DeliveryPolicy {
    const r = this.config.retry;
    const timeout = this.config.timeouts.request;
    return {
      backoff: { initialDelayMs: r.initialDelay, maxDelayMs: r.maxDelay, jitter: r.jitter },
      maxDeliveryAgeMs: r.maxDeliveryAge,
      uncertainGraceMs: r.uncertainGrace ?? Math.max(30_000, 2 * timeout),
      notSentHoldMs: 1_000,
      pauseHoldMs: 5_000,
      defaultHoldMs: 2_000,
    };
  }

  /** The BullMQ processor: one lead. */
  async process(job: Job<DeliveryJobData, DeliveryResult, string>, token?: string): Promise<DeliveryResult> {
    const { keys, redis } = this.deps;
    const lead = job.data.lead;
    const clientId = this.channel.clientId;
    // Idempotency: a lead marked delivered (a repeat enqueue after delivery, a replay) is never sent again.
    const delivered = await redis.get(keys.delivered(clientId, lead.leadId));
    if (delivered) {
      await this.logAttempt(job, { outcome: 'skipped', crmId: delivered, note: 'already delivered' });
      return { crmId: delivered, existing: true, skipped: true };
    }
    // An in-flight mark left behind means a worker died while a create for this lead was on the wire.
    const inflight = await redis.get(keys.inflight(clientId, lead.leadId));
    const uncertainSince = job.data.uncertainSince ?? (inflight ? Number(inflight) || Date.now() : undefined);
    const uncertain = Boolean(job.data.uncertain) || inflight !== null;
    if (uncertain && !job.data.uncertain) await job.updateData({ ...job.data, uncertain: true, uncertainSince });
    const policy = this.policy();
    // A slow CRM may still be writing the lead: looking it up now would find nothing and create it twice.
    if (uncertain && uncertainSince !== undefined && Date.now() < uncertainSince + policy.uncertainGraceMs) {
      await this.logAttempt(job, { outcome: 'waiting', why: 'lookup grace', untilMs: uncertainSince + policy.uncertainGraceMs });
      return carryOut(job, token, { action: 'hold', delayMs: uncertainSince + policy.uncertainGraceMs - Date.now(), why: 'not_sent' }, 'waiting for the CRM to finish an earlier create before looking the lead up');
    }

    const started = Date.now();
    const r = await this.batcher.submit({ lead, idempotencyKey: job.id!, uncertain });
    const m = this.deps.metrics;
    if (r.ok && r.outcome.status === 'delivered') {
      const o = r.outcome;
      m.deliveries.inc({ client: clientId, outcome: 'delivered' });
      // One step: the delivered mark replaces the in-flight mark. Apart, a process stopped between
      // the two (Redis gone, a shutdown past its deadline) could leave neither, and the lead would
      // be created again; this way the next process finds one or the other.
      await redis.multi().set(keys.delivered(clientId, lead.leadId), o.crmId, 'EX', this.deps.idempotencyTtlSeconds).del(keys.inflight(clientId, lead.leadId)).exec();
      await this.logAttempt(job, { outcome: 'delivered', crmId: o.crmId, existing: Boolean(o.existing), durationMs: Date.now() - started });
      this.deps.log.info({ jobId: job.id, leadId: lead.leadId, crmId: o.crmId, existing: Boolean(o.existing), attempt: job.attemptsMade + 1 }, 'lead delivered');
      return { crmId: o.crmId, existing: Boolean(o.existing) };
    }
    let failure: AttemptFailure;
    let message: string;
    if (r.ok && r.outcome.status === 'rejected') {
      const o = r.outcome;
      failure = { kind: 'rejected', uncertain: false, pushSent: true };
      const where = [o.code, o.path].filter(Boolean).join(' at ');
      const reason = this.channel.redact(o.reason);
      message = `rejected by the CRM${where ? ` (${where})` : ''}: ${reason}`;
      await this.logAttempt(job, { outcome: 'rejected', reason, code: o.code, path: o.path, httpStatus: o.httpStatus, durationMs: Date.now() - started });
      this.deps.log.warn({ jobId: job.id, leadId: lead.leadId, code: o.code, path: o.path, httpStatus: o.httpStatus }, 'lead rejected by the CRM');
    } else if (r.ok) {
      // A per-lead transient outcome: its batch created other leads, this one's fate is unknown.
      const o = r.outcome as Extract<PushOutcome, { status: 'transient' }>;
      failure = { kind: 'transient', retryAfterMs: o.retryAfterMs, uncertain: true, pushSent: true };
      message = this.channel.redact(o.reason);
      await this.logAttempt(job, { outcome: 'transient', reason: message, httpStatus: o.httpStatus, durationMs: Date.now() - started });
    } else {
      const e = r.error;
      failure = { kind: e.kind, retryAfterMs: e.retryAfterMs, uncertain: e.uncertain, pushSent: r.pushSent };
      // The job is support's view of the lead: the CRM's words stay, credentials never.
      message = this.channel.redact(e.message);
      await this.logAttempt(job, {
        outcome: e.kind,
        reason: message,
        crm: e.crmDetail === undefined ? undefined : this.channel.redact(e.crmDetail),
        httpStatus: e.status,
        code: e.code,
        uncertain: e.uncertain,
        durationMs: Date.now() - started,
      });
    }
    m.deliveries.inc({ client: clientId, outcome: failure.kind });
    if (failure.uncertain && !job.data.uncertain) await job.updateData({ ...job.data, uncertain: true, uncertainSince: Date.now() });
    const d = decide(failure, { attemptsMade: job.attemptsMade, acceptedAt: job.data.acceptedAt ?? job.timestamp, uncertainSince: job.data.uncertainSince }, policy, Date.now(), Math.random);
    return carryOut(job, token, d, message);
  }

  /** One CRM request for a batch; marks its leads in flight while it is on the wire. */
  private async sendBatch(items: PushItem[]): Promise<ItemResult[]> {
    const { keys, redis } = this.deps;
    const clientId = this.channel.clientId;
    this.deps.metrics.batchSize.observe({ client: clientId }, items.length);
    const mark = redis.pipeline();
    const now = String(Date.now());
    for (const it of items) mark.set(keys.inflight(clientId, it.lead.leadId), now, 'EX', INFLIGHT_TTL_SECONDS);
    await mark.exec();
    const r = await this.channel.push(items);
    // A mark goes once the lead's fate is known and recorded: here for a lead that cannot be in the
    // CRM (rejected, or nothing of the call sent); with the delivered mark for a delivered one. An
    // uncertain one keeps it: the job records that too, but the mark also covers a crash before.
    const settled = r.ok ? r.outcomes.filter((o) => o.status === 'rejected').map((o) => o.leadId) : r.error.uncertain ? [] : items.map((it) => it.lead.leadId);
    if (settled.length > 0) {
      const p = redis.pipeline();
      for (const leadId of settled) p.del(keys.inflight(clientId, leadId));
      await p.exec();
    }
    if (r.ok) return r.outcomes.map((outcome) => ({ ok: true, outcome }));
    return items.map(() => ({ ok: false, error: r.error, pushSent: r.pushSent }));
  }

  private newBatcher(): Batcher<PushItem, ItemResult> {
    // A partly filled batch keeps filling while the shared limit has no room for it anyway.
    return new Batcher<PushItem, ItemResult>(this.channel.batchSize, this.config.batch.linger, (items) => this.sendBatch(items), {
      readyInMs: () => this.channel.limiter.readyInMs(),
    });
  }

  /** One JSON line per attempt on the job: the lead's story for support (the CRM's words, without credentials). */
  private async logAttempt(job: Job<DeliveryJobData, DeliveryResult, string>, fields: Record<string, unknown>): Promise<void> {
    await job.log(JSON.stringify({ at: new Date().toISOString(), attempt: job.attemptsMade + 1, ...fields }));
  }
}
