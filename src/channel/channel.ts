import { AsyncLocalStorage } from 'node:async_hooks';
import { isDeepStrictEqual } from 'node:util';
import type { Redis } from 'ioredis';
import type { AdapterContext, CrmAdapter, OnlineCheckReport, PushItem, PushOutcome, SecretResolver } from '../../adapters/types';
import { findAdapter } from '../../adapters/registry';
import type { ClientConfig } from '../config/client-schema';
import { DeliveryError, LeadExportError, isDeliveryError, type DeliveryErrorKind } from '../domain/errors';
import type { LeadV1 } from '../domain/lead';
import { CircuitBreaker, type CircuitReason, type CircuitState, type CircuitTransition } from '../flow/circuit-breaker';
import { SharedRateLimiter, arrivalGuardMs, type RateLimit } from '../flow/rate-limiter';
import { FlowControlledHttp, type RequestObservation } from '../http/crm-http';
import type { Logger } from '../logging/logger';
import { personalValues } from '../logging/personal-values';
import { clientSummary } from '../logging/scrub';
import { SecretMemory } from '../logging/secret-memory';
import type { Metrics } from '../observability/metrics';
import type { Keys } from '../queue/keys';
import { clientEffect } from './decide';
import { ChannelGate } from './gate';
import { RedisAdapterStore } from './redis-store';

/**
 * One client's channel to its CRM: the one object, per client and process, that owns everything
 * between lead-export and that CRM — the adapter and its context, the shared rate limiter, the
 * circuit breaker, the check before each request, and the failure policy (src/channel/decide.ts).
 *
 * Delivery, status polling, the capacity probe and every CLI command that talks to a CRM open a
 * channel (src/channel/open-channel.ts); nothing else builds an adapter context. So all of them share
 * one rate budget, one circuit and one set of credentials: a 401 met by a poll pauses deliveries too.
 * What the channel decides to pause it announces to its listeners, so delivery pauses its queue and
 * the poller stops polling at once in this process; other processes see the circuit in Redis.
 */

export interface ChannelDeps {
  /** Shared connection (maxRetriesPerRequest: null). */
  redis: Redis;
  keys: Keys;
  log: Logger;
  metrics?: Metrics;
  secrets: SecretResolver;
  tokenEncryptionKey: string;
}

export interface ChannelListener {
  /** The channel opened the client's circuit (in this process): stop sending. */
  onPause?(e: { reason: CircuitReason; detail: string }): void;
  /** The channel closed it (a probe or a delivery succeeded, a person resumed, the config changed). */
  onResume?(e: { reason: string }): void;
}

/** The result of one push through the channel: outcomes, or the whole request's failure. */
export type PushResult =
  | { ok: true; outcomes: PushOutcome[]; pushSent: true }
  | { ok: false; error: DeliveryError; /** a create request of this call left the process */ pushSent: boolean };

interface CallScope {
  pushSent: boolean;
  probeCeiling?: number;
  /**
   * Every request of this call is sent even while the circuit is open: a probe, or a person's
   * command (amoCRM connect) — including the token requests they make on the way.
   */
  bypassCircuit?: boolean;
  /** Requests of this call that left the process. */
  sent?: number;
}

/** How often credentials are kept alive (a cheap local check; a refresh only when due). */
const MAINTAIN_EVERY_MS = 1_000;
/** The share of a client's request budget polls may use (client file: progress.pollShare, coming). */
const DEFAULT_POLL_SHARE = 0.2;

export class CrmChannel {
  readonly clientId: string;
  readonly limiter: SharedRateLimiter;
  private readonly breaker: CircuitBreaker;
  private readonly scope = new AsyncLocalStorage<CallScope>();
  private readonly listeners = new Set<ChannelListener>();
  private readonly observers = new Set<(o: RequestObservation) => void>();
  private readonly log: Logger;
  /** Every credential this channel sent: the CRM's echo of them is removed from any text we keep. */
  private readonly sent = new SecretMemory();
  private config: ClientConfig;
  private adapter!: CrmAdapter;
  private context!: AdapterContext;
  private http!: FlowControlledHttp;
  private probing = false;
  private lastMaintain = 0;
  private closed = false;

  /** Use openChannel(). */
  constructor(
    config: ClientConfig,
    private readonly deps: ChannelDeps,
  ) {
    this.clientId = config.id;
    this.config = config;
    this.log = deps.log.child({ clientId: config.id });
    const flow = deps.keys.flow(config.id);
    const metrics = deps.metrics;
    this.limiter = new SharedRateLimiter(deps.redis, flow, config.rateLimit, {
      // The CRM counts arrivals, we count admissions: space them a little wider (see arrivalGuardMs).
      guardMs: arrivalGuardMs,
      onLimitChange: (c) => {
        metrics?.rateLimitChanges.inc({ client: this.clientId, reason: c.reason });
        metrics?.effectiveRateLimit.set({ client: this.clientId }, c.to);
        this.log.warn({ from: c.from, to: c.to, reason: c.reason }, 'effective rate limit changed');
      },
    });
    metrics?.effectiveRateLimit.set({ client: this.clientId }, config.rateLimit.requests);
    this.breaker = new CircuitBreaker(deps.redis, flow.circuit, circuitOptions(config), {
      onTransition: (t: CircuitTransition) => {
        metrics?.circuitTransitions.inc({ client: this.clientId, to: t.to, reason: t.reason });
        this.log.warn({ from: t.from, to: t.to, reason: t.reason, detail: t.detail === undefined ? undefined : this.summary(t.detail) }, `circuit ${t.to}`);
      },
    });
    this.build(config);
  }

  get currentConfig(): ClientConfig {
    return this.config;
  }

  get adapterKind(): string {
    return this.adapter.kind;
  }

  /** Leads per create request: the file's batch.size, capped at what the adapter can send. */
  get batchSize(): number {
    const max = this.adapter.capabilities.maxBatchSize;
    return Math.max(1, Math.min(this.config.batch.size ?? max, max));
  }

  /** Whether the adapter has a cheap read-only request to probe with (else the next delivery is the probe). */
  get canPing(): boolean {
    return this.adapter.ping !== undefined;
  }

  subscribe(l: ChannelListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  /** Sees every request of this channel after it is answered (the capacity probe measures with it). */
  observe(fn: (o: RequestObservation) => void): () => void {
    this.observers.add(fn);
    return () => this.observers.delete(fn);
  }

  // --- calls ------------------------------------------------------------------------------------

  /** One create request (or the adapter's split of it) for a batch; one outcome per lead, in order. */
  async push(items: PushItem[]): Promise<PushResult> {
    const scope: CallScope = { pushSent: false };
    try {
      const outcomes = await this.scope.run(scope, () => this.adapter.push(items));
      const byLead = new Map(outcomes.map((o) => [o.leadId, o]));
      const ordered = items.map(
        (it): PushOutcome => byLead.get(it.lead.leadId) ?? { leadId: it.lead.leadId, status: 'transient', reason: 'the adapter returned no outcome for this lead' },
      );
      if (ordered.some((o) => o.status !== 'transient')) await this.onSuccess();
      return { ok: true, outcomes: ordered, pushSent: true };
    } catch (caught) {
      const err = asDeliveryError(caught);
      await this.onFailure(err, items.flatMap((it) => personalValues(it.lead)));
      // Nothing of this call left: whatever the adapter said, nothing can be in the CRM because of it.
      return { ok: false, error: scope.pushSent ? err : err.withUncertain(false), pushSent: scope.pushSent };
    }
  }

  /** Looks a lead up by its HRDrom id (exact match only). */
  findExisting(lead: LeadV1): Promise<{ crmId: string } | null> {
    const fn = this.adapter.findExisting;
    if (!fn) return Promise.resolve(null);
    return this.call(() => fn.call(this.adapter, lead), {}, personalValues(lead));
  }

  /** The adapter's read-only ping, sent even while the circuit is open (it is how recovery is seen). */
  ping(): Promise<void> {
    const fn = this.adapter.ping;
    if (!fn) {
      return Promise.reject(
        new LeadExportError('config', `${this.clientId}: the ${this.config.adapter} adapter has no read-only ping for this client (REST: set settings.ping.path)`),
      );
    }
    return this.call(() => fn.call(this.adapter), { bypassCircuit: true });
  }

  /**
   * A ping of the capacity probe, admitted by the shared limiter under the probe's own step ceiling
   * (never above the limit the CRM enforces): workers' requests and the probe's share every window.
   */
  probePing(ceilingPerWindow: number): Promise<void> {
    const fn = this.adapter.ping;
    if (!fn) return this.ping();
    return this.scope.run({ pushSent: false, probeCeiling: ceilingPerWindow, bypassCircuit: true }, () => fn.call(this.adapter));
  }

  get hasOnlineCheck(): boolean {
    return this.adapter.checkOnline !== undefined;
  }

  /** `clients check --online`: compares the client file with the live CRM (read-only requests). */
  checkOnline(): Promise<OnlineCheckReport> {
    const fn = this.adapter.checkOnline;
    if (!fn) return Promise.reject(new LeadExportError('usage', `${this.clientId}: the ${this.config.adapter} adapter has no online check`));
    return this.call(() => fn.call(this.adapter), { bypassCircuit: true });
  }

  /** A person's command (connect, import): its requests go out even while the client is paused. */
  asAdmin<T>(fn: () => Promise<T>): Promise<T> {
    return this.scope.run({ pushSent: false, bypassCircuit: true }, fn);
  }

  /** Runs a request-making function under the failure policy (pause on auth, count transient, …). */
  async call<T>(fn: () => Promise<T>, scope: Omit<CallScope, 'pushSent'> = {}, personal: readonly string[] = []): Promise<T> {
    try {
      const run: CallScope = { pushSent: false, ...scope, sent: 0 };
      const v = await this.scope.run(run, fn);
      // Only an answer from the CRM is news of its health: credential upkeep that had nothing to do
      // (no request) must not close a circuit an outage opened.
      if ((run.sent ?? 0) > 0) await this.onSuccess();
      return v;
    } catch (caught) {
      const err = caught instanceof LeadExportError && !isDeliveryError(caught) && caught.kind !== 'config' ? caught : asDeliveryError(caught);
      if (isDeliveryError(err)) await this.onFailure(err, personal);
      throw err;
    }
  }

  /** For adapter commands (amoCRM connect): the adapter, its context and its settings. */
  adapterParts(): { adapter: CrmAdapter; ctx: AdapterContext; settings: unknown; mapping: unknown } {
    return { adapter: this.adapter, ctx: this.context, settings: this.config.settings, mapping: this.config.mapping };
  }

  // --- upkeep -----------------------------------------------------------------------------------

  /** Called every second or so by the process that runs the client: keeps credentials alive, probes when due. */
  async tick(): Promise<void> {
    if (this.closed) return;
    const now = Date.now();
    if (this.adapter.maintain && now - this.lastMaintain >= MAINTAIN_EVERY_MS) {
      this.lastMaintain = now;
      const maintain = this.adapter.maintain.bind(this.adapter);
      await this.call(maintain).catch((err: Error) => this.log.debug({ err: err.message }, 'credential upkeep failed'));
    }
    await this.probeIfDue();
  }

  private async probeIfDue(): Promise<void> {
    const c = await this.breaker.read();
    if (c.state !== 'open' || c.probeAt === undefined || c.probeAt > Date.now() || this.probing) return;
    if (!(await this.breaker.tryStartProbe())) return;
    this.probing = true;
    try {
      // Without a ping the circuit stays half-open and the queue runs: the next delivery is the probe.
      if (!this.adapter.ping) return;
      await this.scope.run({ pushSent: false, bypassCircuit: true }, () => this.adapter.ping!());
      const { closed } = await this.breaker.close('recovered');
      this.log.info({}, 'probe succeeded; client resumes');
      if (closed) this.emitResume('recovered');
    } catch (err) {
      const detail = this.summary((err as Error).message);
      await this.breaker.probeFailed(detail);
      this.log.warn({ err: detail, kind: (err as LeadExportError).kind, status: (err as LeadExportError).status }, 'probe failed; circuit stays open');
    } finally {
      this.probing = false;
    }
  }

  /** The circuit as people see it: its detail is re-scrubbed (it may have been written by an older version). */
  async circuit(): Promise<CircuitState> {
    const c = await this.breaker.read();
    return c.detail === undefined ? c : { ...c, detail: this.summary(c.detail) };
  }

  effectiveLimit(): Promise<RateLimit> {
    return this.limiter.effectiveLimit();
  }

  /** Support's pause: stays until resume(). */
  async pause(by: string): Promise<void> {
    const { opened } = await this.breaker.open('manual', `paused by ${by}`);
    if (opened) this.emitPause('manual', `paused by ${by}`);
  }

  async resume(reason: 'manual' | 'config' | 'recovered' = 'manual'): Promise<void> {
    const { closed } = await this.breaker.close(reason);
    if (closed) this.emitResume(reason);
  }

  /** Applies a changed client file without a restart. */
  async update(next: ClientConfig): Promise<void> {
    const prev = this.config;
    if (isDeepStrictEqual(prev, next)) return;
    this.config = next;
    this.limiter.setLimit(next.rateLimit);
    this.breaker.setOptions(circuitOptions(next));
    const adapterChanged =
      !isDeepStrictEqual(prev.settings, next.settings) || !isDeepStrictEqual(prev.mapping, next.mapping) || !isDeepStrictEqual(prev.timeouts, next.timeouts) || prev.batch.size !== next.batch.size;
    if (adapterChanged) {
      const old = { adapter: this.adapter, http: this.http };
      this.build(next);
      void old.adapter.close?.().catch(() => undefined).finally(() => old.http.close());
    }
    // A person fixed the config: credentials, a secret or a contract problem may be cured, so let
    // traffic try again. A block waits for its cooldown, and a person's pause for a person.
    const state = await this.breaker.read();
    if (state.state !== 'closed' && state.reason && state.reason !== 'manual' && state.reason !== 'blocked') await this.resume('config');
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    this.observers.clear();
    await this.adapter.close?.().catch(() => undefined);
    this.http.close();
  }

  // --- policy -----------------------------------------------------------------------------------

  private async onSuccess(): Promise<void> {
    const { closed } = await this.breaker.recordSuccess();
    if (closed) this.emitResume('recovered');
  }

  /**
   * Text kept for support on a lead's job (its attempt log, its failure reason): the CRM's own words
   * may stay — the candidate's name included — but never a credential this channel sent or anything
   * shaped like one.
   */
  redact(text: string): string {
    return this.sent.redact(text);
  }

  /** Client-level text (logs, circuit detail, status, alerts): our own words, short, scrubbed. */
  summary(text: string, personal: readonly string[] = []): string {
    return clientSummary(text, { redact: (t) => this.sent.redact(t), personal });
  }

  /** Applies what a failure means for the whole client (decide.ts): count it, or pause the client. */
  private async onFailure(err: DeliveryError, personal: readonly string[]): Promise<void> {
    const effect = clientEffect(err.kind);
    const detail = this.summary(err.message, personal);
    if (effect.type === 'pause') {
      const { opened } = await this.breaker.open(effect.reason, detail);
      if (opened) {
        // One alert line per opening, never one per lead; the CRM's own words stay on the jobs.
        this.log.error({ alert: true, reason: effect.reason, status: err.status, detail }, `client paused: ${effect.reason}`);
        this.emitPause(effect.reason, detail);
      }
    } else if (effect.type === 'count_failure') {
      // recordFailure is atomic across processes: it opens at the threshold, and a failure while
      // half-open (the delivery acting as the probe) reopens with the next cooldown.
      const { opened, from } = await this.breaker.recordFailure(detail);
      if (opened) {
        // A failed probe is not news; a fresh opening is.
        if (from === 'closed') this.log.error({ alert: true, reason: 'transient', status: err.status, detail }, 'circuit opened after consecutive failures');
        this.emitPause('transient', detail);
      }
    }
  }

  private emitPause(reason: CircuitReason, detail: string): void {
    for (const l of this.listeners) safely(() => l.onPause?.({ reason, detail }));
  }

  private emitResume(reason: string): void {
    for (const l of this.listeners) safely(() => l.onResume?.({ reason }));
  }

  /**
   * A request that waited in the limiter while the circuit opened (in any process) is not sent: it
   * would only add traffic to a CRM that is down or refusing our credentials. Probes and a person's
   * commands are the exception: they are how we learn that the CRM is back.
   */
  private async checkCircuit(purpose: string): Promise<void> {
    if (purpose === 'probe' || purpose === 'admin' || this.scope.getStore()?.bypassCircuit) return;
    const c = await this.breaker.read();
    if (c.state !== 'open') return;
    const waitMs = c.probeAt !== undefined ? Math.max(1_000, c.probeAt - Date.now()) : 5_000;
    throw new DeliveryError('circuit_open', `not sent: the client's circuit is open (${c.reason ?? 'unknown'})`, { retryAfterMs: waitMs });
  }

  private remembered(secret: string): string {
    this.sent.remember(secret);
    return secret;
  }

  /** The one place an adapter context is assembled. */
  private build(c: ClientConfig): void {
    const def = findAdapter(c.adapter);
    if (!def) throw new LeadExportError('config', `${c.id}: unknown adapter '${c.adapter}'`);
    const m = this.deps.metrics;
    const requestTimeoutMs = def.timeoutMs?.(c.settings) ?? c.timeouts.request;
    this.http = new FlowControlledHttp({
      clientId: c.id,
      baseUrl: def.baseUrl(c.settings),
      timeoutMs: requestTimeoutMs,
      log: this.log,
      gate: new ChannelGate(this.limiter, { pollShare: () => DEFAULT_POLL_SHARE, probeCeiling: () => this.scope.getStore()?.probeCeiling }),
      beforeSend: (req) => this.checkCircuit(req.purpose),
      onSend: (req) => {
        const s = this.scope.getStore();
        if (!s) return;
        s.sent = (s.sent ?? 0) + 1;
        if (req.purpose === 'push') s.pushSent = true;
      },
      secrets: this.sent,
      observe: (o) => {
        m?.crmRequests.inc({ client: o.clientId, purpose: o.purpose, status: String(o.status) });
        m?.crmLatency.observe({ client: o.clientId, purpose: o.purpose }, o.durationMs / 1000);
        for (const fn of this.observers) safely(() => fn(o));
      },
    });
    const max = def.capabilities(c.settings).maxBatchSize;
    this.context = {
      clientId: c.id,
      http: this.http,
      // Every secret an adapter reads is remembered, so the CRM's echo of it can be removed by value.
      secrets: { resolve: async (ref) => this.remembered(await this.deps.secrets.resolve(ref)) },
      store: new RedisAdapterStore(this.deps.redis, this.deps.keys.store(c.id), this.deps.tokenEncryptionKey),
      log: this.log,
      now: () => Date.now(),
    };
    this.adapter = def.create(
      { clientId: c.id, settings: c.settings, mapping: c.mapping, batchSize: Math.max(1, Math.min(c.batch.size ?? max, max)), requestTimeoutMs },
      this.context,
    );
  }
}

function circuitOptions(c: ClientConfig) {
  return { failureThreshold: c.circuit.failureThreshold, cooldownMs: c.circuit.cooldown, maxCooldownMs: c.circuit.maxCooldown, fastProbeWindowMs: c.circuit.fastProbeWindow };
}


/**
 * Anything a call throws becomes a DeliveryError. An input `config` error (a secret that cannot be
 * read, raised below an adapter) pauses the client with `config`; an error nobody classified is a bug
 * or a library failure, and retrying is the safe side.
 */
function asDeliveryError(err: unknown): DeliveryError {
  if (isDeliveryError(err)) return err;
  if (err instanceof LeadExportError) {
    const kind: DeliveryErrorKind = err.kind === 'config' ? 'config' : 'transient';
    return new DeliveryError(kind, err.message, { cause: err });
  }
  return new DeliveryError('transient', `unexpected error: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}

function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // A listener's bug must not break delivery.
  }
}
