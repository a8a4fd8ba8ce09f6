import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Prometheus metrics. One registry per service instance (not prom-client's global one), so several
 * instances in one process — tests, the demo — never collide.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly deliveries = new Counter({
    name: 'lead_export_deliveries_total',
    help: 'Delivery outcomes per lead',
    labelNames: ['client', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly crmRequests = new Counter({
    name: 'lead_export_crm_requests_total',
    help: 'Requests sent to client CRMs',
    labelNames: ['client', 'purpose', 'status'] as const,
    registers: [this.registry],
  });
  readonly crmLatency = new Histogram({
    name: 'lead_export_crm_request_duration_seconds',
    help: 'CRM request latency',
    labelNames: ['client', 'purpose'] as const,
    buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly batchSize = new Histogram({
    name: 'lead_export_batch_size',
    help: 'Leads per create request',
    labelNames: ['client'] as const,
    buckets: [1, 2, 5, 10, 20, 50, 100, 250],
    registers: [this.registry],
  });
  readonly circuitTransitions = new Counter({
    name: 'lead_export_circuit_transitions_total',
    help: 'Circuit breaker transitions',
    labelNames: ['client', 'to', 'reason'] as const,
    registers: [this.registry],
  });
  readonly circuitOpen = new Gauge({
    name: 'lead_export_circuit_open',
    help: '1 while the client circuit is open or half-open (the queue is paused)',
    labelNames: ['client', 'reason'] as const,
    registers: [this.registry],
  });
  readonly effectiveRateLimit = new Gauge({
    name: 'lead_export_effective_rate_limit',
    help: 'Requests per window currently enforced for the client (adaptive; the config is the ceiling)',
    labelNames: ['client'] as const,
    registers: [this.registry],
  });
  readonly rateLimitChanges = new Counter({
    name: 'lead_export_rate_limit_changes_total',
    help: 'Adaptive rate-limit changes',
    labelNames: ['client', 'reason'] as const,
    registers: [this.registry],
  });
  readonly intake = new Counter({
    name: 'lead_export_intake_leads_total',
    help: 'Leads received at intake, by result',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  /** Set by the service: reads the queue counts of this process's clients at scrape time. */
  private queueSource: (() => Promise<Array<{ client: string; counts: Record<string, number> }>>) | null = null;
  readonly queueJobs = new Gauge({
    name: 'lead_export_queue_jobs',
    help: 'Jobs per client queue and state, read from Redis at scrape time',
    labelNames: ['client', 'state'] as const,
    registers: [this.registry],
    // Counted when scraped rather than on every tick: the numbers are always fresh and cost nothing between scrapes.
    collect: async () => {
      if (!this.queueSource) return;
      this.queueJobs.reset();
      for (const { client, counts } of await this.queueSource()) {
        for (const [state, n] of Object.entries(counts)) this.queueJobs.set({ client, state }, n);
      }
    },
  });

  observeQueues(source: () => Promise<Array<{ client: string; counts: Record<string, number> }>>): void {
    this.queueSource = source;
  }

  /** Set by the service: whether Redis answers, read at scrape time. */
  private redisSource: (() => boolean) | null = null;
  readonly redisUp = new Gauge({
    name: 'lead_export_redis_up',
    help: '1 while Redis answers; 0 while it is unreachable (the queue series are then absent: they are read from Redis)',
    registers: [this.registry],
    collect: () => {
      if (this.redisSource) this.redisUp.set(this.redisSource() ? 1 : 0);
    },
  });

  observeRedis(source: () => boolean): void {
    this.redisSource = source;
  }

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics) collectDefaultMetrics({ register: this.registry });
  }
}
