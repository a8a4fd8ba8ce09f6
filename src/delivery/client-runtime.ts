import { Queue, Worker } from 'bullmq';
import type { ChannelDeps, CrmChannel } from '../channel/channel';
import { openChannel } from '../channel/open-channel';
import type { ClientConfig } from '../config/client-schema';
import type { CircuitState } from '../flow/circuit-breaker';
import type { Logger } from '../logging/logger';
import type { Metrics } from '../observability/metrics';
import { BACKOFF_TYPE, type DeliveryJobData, type DeliveryResult } from '../queue/delivery-job';
import { isConnectionError } from '../queue/redis-health';
import { LeadDelivery } from './lead-delivery';
import { attemptKindOf, backoffDelayOf } from './outcome-signals';

export interface RuntimeDeps extends ChannelDeps {
  log: Logger;
  metrics: Metrics;
  idempotencyTtlSeconds: number;
  /** A worker with nothing to do for this long is closed, so idle clients cost no connections. */
  idleWorkerMs?: number;
  /**
   * How long a job's lock lives without renewal (BullMQ lockDuration). A worker that dies (kill -9)
   * leaves its active jobs locked this long; a stalled check every half of it then hands them to a
   * live worker: within about twice this after the crash. Default 60 s.
   */
  workerLockMs?: number;
}

export interface ClientStatus {
  clientId: string;
  adapter: string;
  enabled: boolean;
  configPaused: boolean;
  queuePaused: boolean;
  circuit: CircuitState;
  workerOpen: boolean;
  effectiveRateLimit: { requests: number; perSeconds: number };
  counts: Record<string, number>;
  /** Age of the oldest active delivery, ms; above about twice WORKER_LOCK_MS it is stuck (see the runbook). */
  oldestActiveMs?: number;
}

/**
 * One client's delivery in one process: its queue, a worker (opened only while there is work, or
 * jobs a dead worker left active), and the client's channel. The queue is paused whenever the
 * channel's circuit is open, in every process: all that state lives in Redis, and this object only
 * reconciles with it every tick — and at once when its own channel pauses.
 */
export class ClientRuntime {
  readonly clientId: string;
  readonly queue: Queue<DeliveryJobData, DeliveryResult, string>;
  readonly channel: CrmChannel;
  private readonly delivery: LeadDelivery;
  private worker: Worker<DeliveryJobData, DeliveryResult, string> | null = null;
  private lastActivity = Date.now();
  private circuitReasonLabel?: string;
  private lastSeenCircuit?: string;
  private closed = false;
  private readonly log: Logger;

  constructor(
    config: ClientConfig,
    private readonly deps: RuntimeDeps,
  ) {
    this.clientId = config.id;
    this.log = deps.log.child({ clientId: config.id });
    this.queue = new Queue(deps.keys.deliveryQueue(config.id), { connection: deps.redis, prefix: deps.keys.prefix });
    this.queue.on('error', (err) => this.logRedisError(err, 'queue error'));
    this.channel = openChannel(config, deps, {
      // Stop taking leads at once in this process; reconcile() makes it agree with Redis.
      onPause: () => void this.queue.pause().catch(() => undefined),
      onResume: () => void this.reconcile().catch(() => undefined),
    });
    this.delivery = new LeadDelivery(this.channel, deps);
  }

  get currentConfig(): ClientConfig {
    return this.channel.currentConfig;
  }

  /** Applies a changed client file without a restart. */
  async update(next: ClientConfig): Promise<void> {
    await this.channel.update(next);
    this.delivery.reconfigure();
    if (this.worker) this.worker.concurrency = this.concurrency();
    this.log.info({ rateLimit: next.rateLimit, paused: next.paused, enabled: next.enabled }, 'client config applied');
    await this.reconcile();
  }

  /** Called every tick by the supervisor: credentials upkeep and probes, pause/resume, the worker. */
  async reconcile(): Promise<void> {
    if (this.closed) return;
    await this.channel.tick();
    const state = await this.channel.circuit();
    // Pauses and resumes made elsewhere (the CLI, another process) show up in this process's log too.
    const seenKey = `${state.state}:${state.reason ?? ''}`;
    if (this.lastSeenCircuit !== undefined && seenKey !== this.lastSeenCircuit) {
      this.log.info({ state: state.state, reason: state.reason, detail: state.detail }, 'client circuit state changed');
    }
    this.lastSeenCircuit = seenKey;
    const m = this.deps.metrics;
    const reasonLabel = state.reason ?? 'none';
    // One series per client: a reason that no longer applies must not stay at 1 forever.
    if (this.circuitReasonLabel !== undefined && this.circuitReasonLabel !== reasonLabel) m.circuitOpen.remove({ client: this.clientId, reason: this.circuitReasonLabel });
    this.circuitReasonLabel = reasonLabel;
    m.circuitOpen.set({ client: this.clientId, reason: reasonLabel }, state.state === 'closed' ? 0 : 1);
    // The adaptive limit is shared: keep every process's gauge true, not only the one that changed it.
    m.effectiveRateLimit.set({ client: this.clientId }, (await this.channel.effectiveLimit()).requests);
    // Half-open with a ping: one process is probing with that ping; the others keep the queue paused
    // until it reports, or an outage would get a burst of real deliveries with every probe.
    // Without a ping the next delivery is the probe, so the queue must run.
    const config = this.channel.currentConfig;
    const probingWithPing = state.state === 'half-open' && this.channel.canPing;
    const shouldPause = !config.enabled || config.paused || state.state === 'open' || probingWithPing;
    const paused = await this.queue.isPaused();
    if (shouldPause && !paused) {
      await this.queue.pause();
      this.log.warn({ reason: config.paused ? 'config' : !config.enabled ? 'disabled' : state.reason, detail: state.detail }, 'client paused');
    } else if (!shouldPause && paused) {
      await this.queue.resume();
      this.log.info({}, 'client resumed');
    }
    await this.ensureWorker(shouldPause);
  }

  /** Redis being away is reported once by the service (RedisHealth); every reconnect attempt is not news. */
  private logRedisError(err: Error, msg: string): void {
    if (isConnectionError(err)) this.log.debug({ err: err.message }, msg);
    else this.log.warn({ err: err.message }, msg);
  }

  private concurrency(): number {
    // Enough active jobs to fill one batch while the previous one waits for the limiter.
    return this.channel.batchSize * 2;
  }

  private async ensureWorker(paused: boolean): Promise<void> {
    const counts = await this.queue.getJobCounts('wait', 'prioritized', 'delayed', 'active');
    if (this.worker) {
      if (Date.now() - this.lastActivity > (this.deps.idleWorkerMs ?? 60_000) && Object.values(counts).every((n) => n === 0)) await this.closeWorker('idle');
      return;
    }
    // Jobs left active by a dead worker move on only through a worker's stalled check, which runs even
    // while the queue is paused: open one whatever new work there is (or is not).
    if ((counts.active ?? 0) > 0 || (!paused && (counts.wait ?? 0) + (counts.prioritized ?? 0) + (counts.delayed ?? 0) > 0)) this.openWorker();
  }

  private openWorker(): void {
    // close() may have run while this reconcile awaited Redis: a worker opened now would leak.
    if (this.closed) return;
    this.lastActivity = Date.now();
    const lockMs = this.deps.workerLockMs ?? 60_000;
    const worker = new Worker<DeliveryJobData, DeliveryResult, string>(
      this.queue.name,
      async (job, token) => {
        this.lastActivity = Date.now();
        return this.delivery.process(job, token);
      },
      {
        connection: this.deps.redis,
        prefix: this.deps.keys.prefix,
        concurrency: this.concurrency(),
        settings: { backoffStrategy: (_attemptsMade, type, err) => (type === BACKOFF_TYPE ? backoffDelayOf(err) : 5_000) },
        // A delivery waits for the shared limiter; keep the lock comfortably longer than a request.
        lockDuration: lockMs,
        // Two checks find a dead worker's job (the first marks, the second moves): ~2 × lock after a crash.
        stalledInterval: Math.max(1_000, Math.floor(lockMs / 2)),
        // A lead whose worker died mid-request is retried (and looked up first, through its in-flight
        // mark), not failed: a few crashes must not cost a lead.
        maxStalledCount: 5,
      },
    );
    worker.on('error', (err) => this.logRedisError(err, 'worker error'));
    worker.on('failed', (job, err) => {
      if (!job) return;
      // 'failed' fires for every failed attempt; only a job that landed in the failed set is final.
      void job.isFailed().then((final) => {
        // The CRM's words may echo the candidate: they stay on the job, and only the kind is logged.
        const fields = { jobId: job.id, leadId: job.data.lead.leadId, attempts: job.attemptsMade, kind: attemptKindOf(err) };
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

  async status(): Promise<ClientStatus> {
    const config = this.channel.currentConfig;
    const counts = await this.queue.getJobCounts('wait', 'active', 'delayed', 'failed', 'completed', 'prioritized');
    let oldestActiveMs: number | undefined;
    if ((counts.active ?? 0) > 0) {
      const active = await this.queue.getActive(0, 99);
      const started = active.map((j) => j.processedOn ?? j.timestamp).filter((t): t is number => typeof t === 'number');
      if (started.length) oldestActiveMs = Date.now() - Math.min(...started);
    }
    return {
      clientId: this.clientId,
      adapter: config.adapter,
      enabled: config.enabled,
      configPaused: config.paused,
      queuePaused: await this.queue.isPaused(),
      circuit: await this.channel.circuit(),
      workerOpen: this.worker !== null,
      effectiveRateLimit: await this.channel.effectiveLimit(),
      counts,
      ...(oldestActiveMs !== undefined ? { oldestActiveMs } : {}),
    };
  }

  /** Support's pause: stays until resume(). */
  async pause(by: string): Promise<void> {
    await this.channel.pause(by);
    await this.reconcile();
  }

  async resume(): Promise<void> {
    await this.channel.resume('manual');
    await this.reconcile();
  }

  /** Stops at once, waiting for nothing (the shutdown deadline passed): see Supervisor.abort(). */
  abort(): void {
    this.closed = true;
    this.delivery.close();
    const w = this.worker;
    this.worker = null;
    void w?.close(true).catch(() => undefined);
    void this.channel.close().catch(() => undefined);
    void this.queue.close().catch(() => undefined);
  }

  async close(timeoutMs = 20_000): Promise<void> {
    this.closed = true;
    this.delivery.close();
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
    await this.channel.close();
    await this.queue.close();
  }
}
