import { Queue, Worker, type Job } from 'bullmq';
import type { CircuitTransition } from '../flow/circuit-breaker';
import type { Redis } from 'ioredis';
import type { CrmAdapter, PushItem, PushOutcome, SecretResolver } from '../../adapters/types';
import { findAdapter } from '../../adapters/registry';
import type { ClientConfig } from '../config/client-schema';
import { DeliveryError, LeadExportError, PAUSING_KINDS, isDeliveryError, type DeliveryErrorKind } from '../domain/errors';
import { scrubPersonalData } from '../logging/scrub';
import { CircuitBreaker, type CircuitState } from '../flow/circuit-breaker';
import { nextRetryDelay, shouldGiveUp } from '../flow/backoff';
import { SharedRateLimiter, arrivalGuardMs } from '../flow/rate-limiter';
import { FlowControlledHttp } from '../http/crm-http';
import type { Logger } from '../logging/logger';
import type { Metrics } from '../observability/metrics';
import { BACKOFF_TYPE, type DeliveryJobData, type DeliveryResult } from '../queue/delivery-job';
import type { Keys } from '../queue/keys';
import { Batcher } from './batcher';
import { delayJob, rejectedError, signalFailure } from './outcome-signals';
import { RedisAdapterStore } from './redis-store';

export interface RuntimeDeps {
  /** Shared connection (maxRetriesPerRequest: null) for queues, workers and flow state. */
  redis: Redis;
  keys: Keys;
  log: Logger;
  metrics: Metrics;
  secrets: SecretResolver;
  tokenEncryptionKey: string;
  idempotencyTtlSeconds: number;
  /** A worker with nothing to do for this long is closed, so idle clients cost no connections. */
  idleWorkerMs?: number;
  /**
   * How long a job's lock lives without renewal (BullMQ lockDuration). A worker that dies (kill -9)
   * leaves its active jobs locked this long; the stalled check, run at the same interval, then hands
   * them to a live worker. Default 60 s.
   */
  workerLockMs?: number;
}

export interface ClientStatus {
  clientId: string;
  enabled: boolean;
  configPaused: boolean;
  queuePaused: boolean;
  circuit: CircuitState;
  workerOpen: boolean;
  effectiveRateLimit: { requests: number; perSeconds: number };
  counts: Record<string, number>;
}

/**
 * Everything one client needs in one process: its queue, a worker (opened only while there is work),
 * the adapter, the batcher and the client's share of flow control. All state that matters across
 * processes (limiter, breaker, pause) lives in Redis; this object only reconciles with it.
 */
export class ClientRuntime {
  readonly clientId: string;
  readonly queue: Queue<DeliveryJobData, DeliveryResult, string>;
  private config: ClientConfig;
  private adapter!: CrmAdapter;
  private batcher!: Batcher<PushItem, PushOutcome>;
  private readonly limiter: SharedRateLimiter;
  private readonly breaker: CircuitBreaker;
  private worker: Worker<DeliveryJobData, DeliveryResult, string> | null = null;
  private lastActivity = Date.now();
  private probing = false;
  private circuitReasonLabel?: string;
  private lastSeenCircuit?: string;
  private closed = false;
  private readonly log: Logger;

  constructor(
    config: ClientConfig,
    private readonly deps: RuntimeDeps,
  ) {
    this.clientId = config.id;
    this.config = config;
    this.log = deps.log.child({ clientId: config.id });
    this.queue = new Queue(deps.keys.deliveryQueue(config.id), { connection: deps.redis, prefix: deps.keys.prefix });
    this.queue.on('error', (err) => this.log.warn({ err: err.message }, 'queue error'));
    const flowKey = deps.keys.flow(config.id);
    this.limiter = new SharedRateLimiter(deps.redis, flowKey, config.rateLimit, {
      // The CRM counts arrivals, we count admissions: space them a little wider (see arrivalGuardMs).
      guardMs: arrivalGuardMs,
      onLimitChange: (c) => {
        deps.metrics.rateLimitChanges.inc({ client: this.clientId, reason: c.reason });
        deps.metrics.effectiveRateLimit.set({ client: this.clientId }, c.to);
        this.log.warn({ from: c.from, to: c.to, reason: c.reason }, 'effective rate limit changed');
      },
    });
    deps.metrics.effectiveRateLimit.set({ client: this.clientId }, config.rateLimit.requests);
    this.breaker = new CircuitBreaker(deps.redis, flowKey, this.circuitOptions(config), {
      onTransition: (t: CircuitTransition) => {
        deps.metrics.circuitTransitions.inc({ client: this.clientId, to: t.to, reason: t.reason });
        this.log.warn({ from: t.from, to: t.to, reason: t.reason, detail: t.detail === undefined ? undefined : scrubPersonalData(t.detail) }, `circuit ${t.to}`);
      },
    });
    this.buildAdapter(config);
  }

  get currentConfig(): ClientConfig {
    return this.config;
  }

  private circuitOptions(c: ClientConfig) {
    return { failureThreshold: c.circuit.failureThreshold, cooldownMs: c.circuit.cooldown, maxCooldownMs: c.circuit.maxCooldown };
  }

  private batchSize(c: ClientConfig): number {
    const max = findAdapter(c.adapter)!.capabilities(c.settings).maxBatchSize;
    return Math.max(1, Math.min(c.batch.size ?? max, max));
  }

  private buildAdapter(c: ClientConfig): void {
    const def = findAdapter(c.adapter);
    if (!def) throw new DeliveryError('contract', `unknown adapter ${c.adapter}`);
    const m = this.deps.metrics;
    const http = new FlowControlledHttp({
      clientId: c.id,
      baseUrl: def.baseUrl(c.settings),
      timeoutMs: def.timeoutMs?.(c.settings) ?? c.timeouts.request,
      log: this.log,
      gate: this.limiter,
      beforeSend: (req) => this.checkCircuitBeforeSend(req),
      observe: (o) => {
        m.crmRequests.inc({ client: o.clientId, purpose: o.purpose, status: String(o.status) });
        m.crmLatency.observe({ client: o.clientId, purpose: o.purpose }, o.durationMs / 1000);
      },
    });
    const batchSize = this.batchSize(c);
    this.adapter = def.create(
      { clientId: c.id, settings: c.settings, mapping: c.mapping, batchSize },
      {
        clientId: c.id,
        http,
        secrets: this.deps.secrets,
        store: new RedisAdapterStore(this.deps.redis, this.deps.keys.store(c.id), this.deps.tokenEncryptionKey),
        log: this.log,
        now: () => Date.now(),
      },
    );
    // A partly filled batch keeps filling while the shared limit has no room for it anyway.
    this.batcher = new Batcher<PushItem, PushOutcome>(batchSize, c.batch.linger, (items) => this.sendBatch(items), {
      readyInMs: () => this.limiter.readyInMs(),
    });
  }

  /**
   * A request that waited in the limiter while the circuit opened (in any process) is not sent: it
   * would only add traffic to a CRM that is down or refusing our credentials. It waits like a
   * rate-limited one, without using up an attempt. Probes are the exception: they are how we learn
   * that the CRM is back.
   */
  private async checkCircuitBeforeSend(req: { purpose: string }): Promise<void> {
    if (req.purpose === 'probe') return;
    const c = await this.breaker.read();
    if (c.state !== 'open') return;
    const waitMs = c.probeAt !== undefined ? Math.max(1_000, c.probeAt - Date.now()) : 5_000;
    throw new DeliveryError('rate_limited', `not sent: the client's circuit is open (${c.reason ?? 'unknown'})`, {
      retryAfterMs: waitMs,
      details: { reason: 'circuit_open' },
    });
  }

  /** Applies a changed client file without a restart. */
  async update(next: ClientConfig): Promise<void> {
    const prev = this.config;
    this.config = next;
    this.limiter.setLimit(next.rateLimit);
    this.breaker.setOptions(this.circuitOptions(next));
    const old = { adapter: this.adapter, batcher: this.batcher };
    this.buildAdapter(next);
    old.batcher.close();
    void old.adapter.close?.().catch(() => undefined);
    if (this.worker) this.worker.concurrency = this.batchSize(next) * 2;
    // A person fixed the config: credentials or a contract problem may be cured, so let traffic try again.
    const state = await this.breaker.read();
    if (state.state !== 'closed' && state.reason && state.reason !== 'manual' && state.reason !== 'blocked' && JSON.stringify(prev) !== JSON.stringify(next)) {
      await this.breaker.close('config');
    }
    this.log.info({ rateLimit: next.rateLimit, paused: next.paused, enabled: next.enabled }, 'client config applied');
    await this.reconcile();
  }

  /** Called periodically by the supervisor: pause/resume, probes, opening and closing the worker. */
  async reconcile(): Promise<void> {
    if (this.closed) return;
    const state = await this.breaker.read();
    // Pauses and resumes made elsewhere (the CLI, another process) show up in this process's log too.
    const seenKey = `${state.state}:${state.reason ?? ''}`;
    if (this.lastSeenCircuit !== undefined && seenKey !== this.lastSeenCircuit) {
      this.log.info({ state: state.state, reason: state.reason, detail: state.detail === undefined ? undefined : scrubPersonalData(state.detail) }, 'client circuit state changed');
    }
    this.lastSeenCircuit = seenKey;
    const reasonLabel = state.reason ?? 'none';
    // One series per client: a reason that no longer applies must not stay at 1 forever.
    if (this.circuitReasonLabel !== undefined && this.circuitReasonLabel !== reasonLabel) {
      this.deps.metrics.circuitOpen.remove({ client: this.clientId, reason: this.circuitReasonLabel });
    }
    this.circuitReasonLabel = reasonLabel;
    this.deps.metrics.circuitOpen.set({ client: this.clientId, reason: reasonLabel }, state.state === 'closed' ? 0 : 1);
    // The adaptive limit is shared: another process may have lowered or raised it. Keep every
    // process's gauge true, not only the one that made the change.
    this.deps.metrics.effectiveRateLimit.set({ client: this.clientId }, (await this.limiter.effectiveLimit()).requests);
    if (state.state === 'open' && state.probeAt !== undefined && state.probeAt <= Date.now() && !this.probing) {
      await this.probe();
    }
    const fresh = await this.breaker.read();
    // Half-open with a ping: one process is probing with that ping; the others keep the queue paused
    // until it reports, or an outage would get a burst of real deliveries with every probe.
    // Without a ping the next delivery is the probe, so the queue must run.
    const probingWithPing = fresh.state === 'half-open' && this.adapter.ping !== undefined;
    const shouldPause = !this.config.enabled || this.config.paused || fresh.state === 'open' || probingWithPing;
    const paused = await this.queue.isPaused();
    if (shouldPause && !paused) {
      await this.queue.pause();
      this.log.warn({ reason: this.config.paused ? 'config' : !this.config.enabled ? 'disabled' : fresh.reason, detail: fresh.detail === undefined ? undefined : scrubPersonalData(fresh.detail) }, 'client paused');
    } else if (!shouldPause && paused) {
      await this.queue.resume();
      this.log.info({}, 'client resumed');
    }
    await this.ensureWorker(shouldPause);
  }

  private async probe(): Promise<void> {
    if (!(await this.breaker.tryStartProbe())) return;
    this.probing = true;
    try {
      if (this.adapter.ping) {
        await this.adapter.ping();
        await this.breaker.close('recovered');
        this.log.info({}, 'probe succeeded; client resumes');
      }
      // Without a ping the circuit stays half-open and the queue resumes: the next delivery is the probe.
    } catch (err) {
      await this.breaker.probeFailed((err as Error).message);
      this.log.warn({ err: (err as Error).message }, 'probe failed; circuit stays open');
    } finally {
      this.probing = false;
    }
  }

  private async ensureWorker(paused: boolean): Promise<void> {
    if (this.worker) {
      const idleFor = Date.now() - this.lastActivity;
      if (idleFor > (this.deps.idleWorkerMs ?? 60_000)) {
        const counts = await this.queue.getJobCounts('wait', 'active', 'delayed', 'prioritized');
        if (Object.values(counts).every((n) => n === 0)) await this.closeWorker('idle');
      }
      return;
    }
    if (paused) return;
    const counts = await this.queue.getJobCounts('wait', 'prioritized', 'delayed');
    if (Object.values(counts).some((n) => n > 0)) this.openWorker();
  }

  private openWorker(): void {
    // close() may have run while this reconcile awaited Redis: a worker opened now would leak.
    if (this.closed) return;
    this.lastActivity = Date.now();
    const worker = new Worker<DeliveryJobData, DeliveryResult, string>(
      this.queue.name,
      (job, token) => this.process(job, token),
      {
        connection: this.deps.redis,
        prefix: this.deps.keys.prefix,
        // Enough active jobs to fill one batch while the previous one waits for the limiter.
        concurrency: this.batchSize(this.config) * 2,
        settings: { backoffStrategy: (attemptsMade, type, _err, job) => this.backoff(attemptsMade, type, job) },
        // A delivery waits for the shared limiter; keep the lock comfortably longer than a request.
        lockDuration: this.deps.workerLockMs ?? 60_000,
        stalledInterval: Math.min(30_000, this.deps.workerLockMs ?? 30_000),
        // A lead whose worker died mid-request is retried (and looked up first, through its in-flight
        // mark), not failed: a few crashes must not cost a lead.
        maxStalledCount: 5,
      },
    );
    worker.on('error', (err) => this.log.warn({ err: err.message }, 'worker error'));
    worker.on('failed', (job, err) => {
      if (!job) return;
      // 'failed' fires for every failed attempt; only a job that landed in the failed set is final.
      void job.isFailed().then((final) => {
        // The CRM's words may echo the candidate: they stay on the job (failedReason, attempt log) for
        // support, and only the kind of failure is logged.
        const fields = { jobId: job.id, leadId: job.data.lead.leadId, attempts: job.attemptsMade, kind: failureKindOf(err.message) };
        if (final) this.log.warn(fields, 'delivery failed for good');
        else this.log.info(fields, 'delivery attempt failed; will retry');
      }, () => undefined);
    });
    this.worker = worker;
    this.log.info({ concurrency: worker.concurrency }, 'worker opened');
  }

  private async closeWorker(why: string): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (!w) return;
    await w.close();
    this.log.info({ why }, 'worker closed');
  }

  private backoff(attemptsMade: number, type: string | undefined, job: { data: unknown; timestamp: number } | undefined): number {
    if (type !== BACKOFF_TYPE || !job) return 5_000;
    const r = this.config.retry;
    const delay = nextRetryDelay(attemptsMade, { initialDelayMs: r.initialDelay, maxDelayMs: r.maxDelay, jitter: r.jitter });
    const data = job.data as DeliveryJobData;
    if (shouldGiveUp(data.acceptedAt ?? job.timestamp, Date.now(), r.maxDeliveryAge, delay)) return -1;
    return delay;
  }

  /** The BullMQ processor: one lead. */
  private async process(job: Job<DeliveryJobData, DeliveryResult, string>, token?: string): Promise<DeliveryResult> {
    this.lastActivity = Date.now();
    const { lead } = job.data;
    const keys = this.deps.keys;
    const [[, delivered], [, inflight]] = (await this.deps.redis
      .pipeline()
      .get(keys.delivered(this.clientId, lead.leadId))
      .exists(keys.inflight(this.clientId, lead.leadId))
      .exec()) as [[Error | null, string | null], [Error | null, number]];
    if (delivered) {
      // Already in the CRM (a repeat enqueued after the job was removed, or a replay): never create twice.
      return { crmId: delivered, existing: true, skipped: true };
    }
    const circuit = await this.breaker.read();
    if (circuit.state === 'open') {
      const wait = circuit.probeAt ? Math.max(1_000, circuit.probeAt - Date.now()) : 5_000;
      await delayJob(job, token, wait, `client paused (${circuit.reason})`);
    }
    let outcome: PushOutcome;
    try {
      outcome = await this.batcher.submit({ lead, idempotencyKey: job.id!, uncertain: Boolean(job.data.uncertain) || inflight === 1 });
    } catch (err) {
      const holdMs = isDeliveryError(err) && err.kind === 'rate_limited' ? (err.retryAfterMs ?? 1_000) + Math.random() * 250 : 5_000;
      this.deps.metrics.deliveries.inc({ client: this.clientId, outcome: isDeliveryError(err) ? err.kind : 'error' });
      await job.log(JSON.stringify({ at: new Date().toISOString(), outcome: isDeliveryError(err) ? err.kind : 'error', reason: (err as Error).message }));
      return signalFailure(job, token, err, holdMs);
    }
    this.lastActivity = Date.now();
    this.deps.metrics.deliveries.inc({ client: this.clientId, outcome: outcome.status });
    switch (outcome.status) {
      case 'delivered': {
        await this.deps.redis.set(keys.delivered(this.clientId, lead.leadId), outcome.crmId, 'EX', this.deps.idempotencyTtlSeconds);
        await job.log(JSON.stringify({ at: new Date().toISOString(), outcome: 'delivered', crmId: outcome.crmId, existing: Boolean(outcome.existing) }));
        this.log.info({ jobId: job.id, leadId: lead.leadId, crmId: outcome.crmId, existing: Boolean(outcome.existing), attempt: job.attemptsMade + 1 }, 'lead delivered');
        return { crmId: outcome.crmId, existing: Boolean(outcome.existing) };
      }
      case 'rejected':
        await job.log(JSON.stringify({ at: new Date().toISOString(), outcome: 'rejected', reason: outcome.reason, code: outcome.code, path: outcome.path, httpStatus: outcome.httpStatus }));
        this.log.warn({ jobId: job.id, leadId: lead.leadId, code: outcome.code, path: outcome.path, httpStatus: outcome.httpStatus }, 'lead rejected by the CRM');
        throw rejectedError(outcome.reason, outcome.code, outcome.path);
      case 'transient':
        await job.log(JSON.stringify({ at: new Date().toISOString(), outcome: 'transient', reason: outcome.reason, httpStatus: outcome.httpStatus }));
        return signalFailure(job, token, new DeliveryError('transient', outcome.reason, { retryAfterMs: outcome.retryAfterMs, details: { uncertain: true } }), 0);
    }
  }

  /** One CRM request for a batch; the breaker counts requests, not leads. */
  private async sendBatch(items: PushItem[]): Promise<PushOutcome[]> {
    const keys = this.deps.keys;
    this.deps.metrics.batchSize.observe({ client: this.clientId }, items.length);
    const mark = this.deps.redis.pipeline();
    for (const it of items) mark.set(keys.inflight(this.clientId, it.lead.leadId), '1', 'EX', 3_600);
    await mark.exec();
    const clearInflight = async () => {
      const p = this.deps.redis.pipeline();
      for (const it of items) p.del(keys.inflight(this.clientId, it.lead.leadId));
      await p.exec();
    };
    let outcomes: PushOutcome[];
    try {
      outcomes = await this.adapter.push(items);
    } catch (caught) {
      // A secret that cannot be read (env var unset, file missing) is a credentials problem: pause the
      // client with reason auth and alert, rather than retry every lead until it expires.
      const err = caught instanceof LeadExportError && caught.kind === 'config' ? new DeliveryError('auth', caught.message) : caught;
      if (!(isDeliveryError(err) && err.details?.uncertain)) await clearInflight();
      await this.onRequestFailure(err);
      throw err;
    }
    const byLead = new Map(outcomes.map((o) => [o.leadId, o]));
    const ordered = items.map(
      (it): PushOutcome =>
        byLead.get(it.lead.leadId) ?? { leadId: it.lead.leadId, status: 'transient', reason: 'the adapter returned no outcome for this lead' },
    );
    await clearInflight();
    if (ordered.some((o) => o.status !== 'transient')) {
      const { closed } = await this.breaker.recordSuccess();
      if (closed) await this.reconcile();
    }
    return ordered;
  }

  private async onRequestFailure(err: unknown): Promise<void> {
    if (!isDeliveryError(err)) return;
    const kind: DeliveryErrorKind = err.kind;
    if (PAUSING_KINDS.has(kind)) {
      const { opened } = await this.breaker.open(kind as 'auth' | 'blocked' | 'account' | 'contract', err.message);
      if (opened) {
        // One alert line per opening, never one per lead.
        this.log.error({ alert: true, reason: kind, detail: scrubPersonalData(err.message) }, `client paused: ${kind}`);
        await this.queue.pause();
      }
    } else if (kind === 'transient') {
      // recordFailure is atomic across processes: it opens at the threshold, and a failure while
      // half-open (the delivery acting as the probe) reopens with the next, longer cooldown.
      const { opened, from } = await this.breaker.recordFailure(err.message);
      if (opened) {
        // A failed probe is not news; a fresh opening is.
        if (from === 'closed') this.log.error({ alert: true, reason: 'transient', detail: scrubPersonalData(err.message) }, 'circuit opened after consecutive failures');
        await this.queue.pause();
      }
    }
  }

  async status(): Promise<ClientStatus> {
    return {
      clientId: this.clientId,
      enabled: this.config.enabled,
      configPaused: this.config.paused,
      queuePaused: await this.queue.isPaused(),
      circuit: await this.breaker.read(),
      workerOpen: this.worker !== null,
      effectiveRateLimit: await this.limiter.effectiveLimit(),
      counts: await this.queue.getJobCounts('wait', 'active', 'delayed', 'failed', 'completed', 'prioritized'),
    };
  }

  /** Support's pause: stays until resume(). */
  async pause(by: string): Promise<void> {
    await this.breaker.open('manual', `paused by ${by}`);
    await this.reconcile();
  }

  async resume(): Promise<void> {
    await this.breaker.close('manual');
    await this.reconcile();
  }

  async close(timeoutMs = 20_000): Promise<void> {
    this.closed = true;
    this.batcher.close();
    const w = this.worker;
    this.worker = null;
    if (w) {
      // worker.close() waits for active jobs with no deadline of its own; enforce ours, then force.
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        w.close().then(() => false),
        new Promise<boolean>((r) => {
          timer = setTimeout(() => r(true), timeoutMs);
        }),
      ]);
      if (timer) clearTimeout(timer);
      if (timedOut) await w.close(true);
    }
    await this.adapter.close?.().catch(() => undefined);
    await this.queue.close();
  }
}

/** The leading word of a failure message set by outcome-signals (`rejected: …`, `transient: …`). */
function failureKindOf(message: string): string {
  const m = /^(rejected|transient|waiting|stalled)\b/i.exec(message);
  return m ? m[1].toLowerCase() : /stalled more than/i.test(message) ? 'stalled' : 'error';
}
