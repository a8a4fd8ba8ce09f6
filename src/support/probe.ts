import { AsyncLocalStorage } from 'node:async_hooks';
import { Queue } from 'bullmq';
import { findAdapter } from '../../adapters/registry';
import type { ChannelDeps } from '../channel/channel';
import { openChannel } from '../channel/open-channel';
import type { ClientConfig } from '../config/client-schema';
import { LeadExportError, isDeliveryError } from '../domain/errors';
import { sleep } from '../flow/abort';
import type { RateLimit } from '../flow/rate-limiter';
import { rateLimitHeaders } from '../http/crm-http';

/**
 * The capacity probe: how fast may we call this client's CRM? Nobody knows up front (the table in
 * ARCHITECTURE.md), so we measure — with the adapter's read-only ping() only, never a write.
 *
 * Phase 1 (always): ~20 pings at a gentle pace → latency p50/p90/p99 and whatever rate-limit headers
 * the CRM sends (X-RateLimit-*, RateLimit-*, Retry-After).
 * Phase 2 (only where the client file says `probe.ramp: true`): raise the rate ×1.5 per step, each
 * step two windows long, and stop at the first 429 or the first sign of strain (p50 above twice the
 * baseline), never past the cap; then bisect between the last good and the first bad rate.
 *
 * The cap is the lowest of `probe.maxRate`, a limit the adapter knows (amoCRM: 7/s), a limit the CRM
 * announces in its headers, and `--max-rate`. The probe fires on its own schedule (an open loop), but
 * every ping still passes the client's shared rate limiter, admitted under the step's rate (never
 * above the cap), and goes through the client's channel: a probe during a delivery burst shares each
 * window with the workers, so no window at the CRM sees more than the cap. It waits out a Retry-After
 * hold like every process, a 429 it draws holds the workers too (the CRM said so), and it never
 * touches the adaptive limit.
 */

export interface ProbeSample {
  ok: boolean;
  /** Latency of the ping request itself (auth requests excluded), ms; only for answered requests. */
  latencyMs?: number;
  rateLimited: boolean;
  /** Rate-limit headers of the response (successful or 429). */
  headers: Record<string, string>;
  /** For a failure: the error's kind and message (never a body with personal data: pings carry none). */
  error?: { kind: string; message: string };
}

/** One read-only request against the CRM, plus the shared hold. Implemented by openProbeTarget(). */
export interface ProbeTarget {
  /** One ping, at the step's rate (requests per second): the shared limiter admits it under that rate. */
  ping(rate: number): Promise<ProbeSample>;
  holdRemainingMs(): Promise<number>;
}

export type StepVerdict = 'ok' | 'rate_limited' | 'slow' | 'errors';

export interface ProbeStep {
  phase: 'baseline' | 'ramp' | 'bisect';
  /** Requests per second the step was paced at. */
  rate: number;
  sent: number;
  ok: number;
  rateLimited: number;
  errors: number;
  p50?: number;
  p90?: number;
  p99?: number;
  durationMs: number;
  verdict: StepVerdict;
  /** The first error of the step, for the report. */
  firstError?: string;
}

export interface ProbeReport {
  clientId: string;
  adapter: string;
  configured: RateLimit;
  /** The highest rate the probe allowed itself, and which limit set it. */
  cap: { rate: number; source: 'probe.maxRate' | 'adapter' | 'announced' | '--max-rate' };
  baseline: ProbeStep;
  /** Rate-limit headers seen (last value of each). */
  rateLimitHeaders: Record<string, string>;
  /** A limit the CRM states in its headers, when it does. */
  announced?: RateLimit;
  ramp: { ran: boolean; skipped?: string; lastGoodRate?: number; firstBadRate?: number; stoppedBy?: StepVerdict | 'cap' };
  steps: ProbeStep[];
  recommended: RateLimit & { basis: string };
  notes: string[];
}

export interface ProbePlan {
  /** Pings in phase 1. Default 20. */
  samples?: number;
  /** Run phase 2 (the caller has checked `probe.ramp`). */
  ramp: boolean;
  /** The rate the probe may never exceed (already the lowest of every cap). */
  cap: number;
  /** Window of the limit being measured, ms: step length and the unit of the recommendation. */
  windowMs: number;
  /** Multiplier between ramp steps. Default 1.5. */
  stepFactor?: number;
  /** Pace of phase 1, req/s. Default gentleRate(cap). */
  gentleRate?: number;
  /** Bisection steps after the first bad rate. Default 3. */
  bisectSteps?: number;
  signal?: AbortSignal;
  /** Called after each step (the CLI prints progress). */
  onStep?: (s: ProbeStep) => void;
}

export interface ProbeMeasurement {
  baseline: ProbeStep;
  steps: ProbeStep[];
  headers: Record<string, string>;
  ramp: ProbeReport['ramp'];
}

/**
 * "Rising latency" needs both: p50 above twice the baseline, and at least this much above it — a
 * 2 ms baseline doubling to 4 ms is timer noise on a loaded machine, not a CRM under strain.
 */
const SLOW_MIN_DELTA_MS = 20;
const MIN_REQUESTS_PER_STEP = 4;

/**
 * The measuring engine: phase 1 (unless `measured` already holds it), then, if planned, the ramp and
 * the bisection. The ramp starts from phase 1's pace.
 */
export async function measure(target: ProbeTarget, plan: ProbePlan, measured?: Pick<ProbeMeasurement, 'baseline' | 'headers'>): Promise<ProbeMeasurement> {
  const headers: Record<string, string> = { ...(measured?.headers ?? {}) };
  const pace: Pace = { lastFiredAt: undefined };
  const samples = plan.samples ?? 20;
  let baseline = measured?.baseline;
  if (!baseline) {
    baseline = await runStep(target, pace, 'baseline', Math.min(plan.cap, plan.gentleRate ?? gentleRate(plan.cap)), samples, plan, headers, undefined);
    plan.onStep?.(baseline);
  }
  const gentle = baseline.rate;
  const steps: ProbeStep[] = [baseline];
  const ramp: ProbeReport['ramp'] = { ran: false };
  if (!plan.ramp) return { baseline, steps, headers, ramp: { ran: false, skipped: 'probe.ramp is not enabled for this client' } };
  if (baseline.verdict !== 'ok') {
    return { baseline, steps, headers, ramp: { ran: false, skipped: `the gentle phase already saw trouble (${baseline.verdict})` } };
  }
  ramp.ran = true;
  const factor = plan.stepFactor ?? 1.5;
  const perStep = (rate: number) => Math.max(MIN_REQUESTS_PER_STEP, Math.round((rate * 2 * plan.windowMs) / 1000));
  let good = gentle;
  let bad: number | undefined;
  for (;;) {
    const next = Math.min(plan.cap, good * factor);
    if (next <= good * 1.001) {
      ramp.stoppedBy = 'cap';
      break;
    }
    const s = await runStep(target, pace, 'ramp', next, perStep(next), plan, headers, baseline.p50);
    steps.push(s);
    plan.onStep?.(s);
    if (s.verdict === 'ok') {
      good = next;
      continue;
    }
    bad = next;
    ramp.stoppedBy = s.verdict;
    break;
  }
  if (bad !== undefined) {
    await coolDown(target, plan);
    let hi: number = bad;
    for (let i = 0; i < (plan.bisectSteps ?? 3) && (hi - good) / good > 0.05; i++) {
      const mid: number = (good + hi) / 2;
      const s = await runStep(target, pace, 'bisect', mid, perStep(mid), plan, headers, baseline.p50);
      steps.push(s);
      plan.onStep?.(s);
      if (s.verdict === 'ok') good = mid;
      else {
        hi = mid;
        await coolDown(target, plan);
      }
    }
    bad = hi;
  }
  ramp.lastGoodRate = round2(good);
  if (bad !== undefined) ramp.firstBadRate = round2(bad);
  return { baseline, steps, headers, ramp };
}

/**
 * Phase 1's pace: a quarter of the cap and half the configured rate (the best guess of the real
 * limit before we know anything), between 0.5 and 5 requests per second.
 */
export function gentleRate(cap: number, configuredRate = Number.POSITIVE_INFINITY): number {
  return Math.max(Math.min(0.5, cap), Math.min(5, cap / 4, configuredRate / 2));
}

/** After a bad step: let the CRM's hold and window pass, so the next step starts from a clean slate. */
async function coolDown(target: ProbeTarget, plan: ProbePlan): Promise<void> {
  await waitOutHold(target, plan.signal);
  await sleep(plan.windowMs, plan.signal, 'probe');
}

async function waitOutHold(target: ProbeTarget, signal: AbortSignal | undefined): Promise<number> {
  let waited = 0;
  for (let ms = await target.holdRemainingMs(); ms > 0; ms = await target.holdRemainingMs()) {
    await sleep(ms + 10, signal, 'probe');
    waited += ms + 10;
  }
  return waited;
}

/**
 * Sends `count` pings on a fixed schedule at `rate` per second, without waiting for answers (an
 * open loop: a slow answer must not slow the pace, or we would measure our own politeness). Stops
 * firing at the first 429. A hold that appears meanwhile (a worker's 429) is waited out and the
 * schedule shifted by it.
 */
interface Pace {
  /** When the previous step fired its last request: the next step keeps its own spacing from it. */
  lastFiredAt: number | undefined;
}

async function runStep(
  target: ProbeTarget,
  pace: Pace,
  phase: ProbeStep['phase'],
  rate: number,
  count: number,
  plan: ProbePlan,
  headers: Record<string, string>,
  baselineP50: number | undefined,
): Promise<ProbeStep> {
  const began = Date.now();
  const interval = 1000 / rate;
  // Starting at once after the previous step would squeeze its last request and our first into one
  // gap and could draw a 429 the new rate does not deserve.
  let start = Math.max(Date.now(), (pace.lastFiredAt ?? 0) + interval);
  const inflight: Array<Promise<ProbeSample>> = [];
  let limited = false;
  for (let i = 0; i < count && !limited; i++) {
    const held = await waitOutHold(target, plan.signal);
    if (held > 0) start += held;
    const due = start + i * interval;
    const wait = due - Date.now();
    if (wait > 0) await sleep(wait, plan.signal, 'probe');
    pace.lastFiredAt = Date.now();
    const p = target.ping(rate).then((s) => {
      if (s.rateLimited) limited = true;
      Object.assign(headers, s.headers);
      return s;
    });
    inflight.push(p);
  }
  const results = await Promise.all(inflight);
  const durationMs = Date.now() - began;
  const lat = results.filter((r) => r.ok && r.latencyMs !== undefined).map((r) => r.latencyMs!);
  const step: ProbeStep = {
    phase,
    rate: round2(rate),
    sent: results.length,
    ok: results.filter((r) => r.ok).length,
    rateLimited: results.filter((r) => r.rateLimited).length,
    errors: results.filter((r) => !r.ok && !r.rateLimited).length,
    p50: percentile(lat, 50),
    p90: percentile(lat, 90),
    p99: percentile(lat, 99),
    durationMs,
    verdict: 'ok',
  };
  const firstError = results.find((r) => r.error)?.error;
  if (firstError) step.firstError = `${firstError.kind}: ${firstError.message}`;
  if (step.rateLimited > 0) step.verdict = 'rate_limited';
  else if (step.errors > 0) step.verdict = 'errors';
  else if (baselineP50 !== undefined && step.p50 !== undefined && step.p50 > 2 * baselineP50 && step.p50 - baselineP50 >= SLOW_MIN_DELTA_MS) {
    step.verdict = 'slow';
  }
  return step;
}

export function percentile(xs: number[], p: number): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  // Nearest rank: with 20 samples p99 is the slowest one, which is what a reader expects.
  const rank = Math.min(s.length, Math.max(1, Math.ceil((p / 100) * s.length)));
  return Math.round(s[rank - 1] * 10) / 10;
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

/**
 * A limit stated in headers: `RateLimit-Policy: 10;w=1` (IETF draft), else `X-RateLimit-Limit` /
 * `RateLimit-Limit` over the window we assume. Undefined when nothing parses.
 */
export function announcedLimit(headers: Record<string, string>, assumedWindowMs: number): RateLimit | undefined {
  const policy = headers['ratelimit-policy'] ?? headers['x-ratelimit-policy'];
  const m = policy ? /^\s*(\d+)\s*;\s*w\s*=\s*(\d+(?:\.\d+)?)/.exec(policy) : null;
  if (m) return { requests: Number(m[1]), perSeconds: Number(m[2]) };
  const raw = headers['x-ratelimit-limit'] ?? headers['ratelimit-limit'];
  const n = raw ? Number(raw.split(/[,;]/)[0].trim()) : NaN;
  if (Number.isInteger(n) && n > 0) return { requests: n, perSeconds: assumedWindowMs / 1000 };
  return undefined;
}

/** Turns what was measured into the rateLimit to put in the client file. */
export function recommend(
  m: ProbeMeasurement,
  ctx: { configured: RateLimit; windowMs: number; known?: RateLimit; announced?: RateLimit; cap: number },
): ProbeReport['recommended'] {
  const perSeconds = ctx.windowMs / 1000;
  const ceilings: Array<{ rate: number; why: string }> = [];
  if (ctx.known) ceilings.push({ rate: ctx.known.requests / ctx.known.perSeconds, why: 'the limit the adapter knows' });
  if (ctx.announced) ceilings.push({ rate: ctx.announced.requests / ctx.announced.perSeconds, why: 'the limit the CRM announces' });
  const atMost = (rate: number, basis: string): ProbeReport['recommended'] => {
    let r = rate;
    let why = basis;
    for (const c of ceilings) {
      if (c.rate < r) {
        r = c.rate;
        why = `${basis}; capped at ${c.why}`;
      }
    }
    return { requests: Math.max(1, Math.floor(r * perSeconds + 1e-9)), perSeconds, basis: why };
  };
  const b = m.baseline;
  if (b.rateLimited > 0) {
    return atMost(b.rate / 2, `the CRM answered 429 even at ${b.rate}/s: half that, and look at who else uses this API key`);
  }
  if (m.ramp.ran && m.ramp.firstBadRate !== undefined) {
    return atMost(m.ramp.lastGoodRate!, `fine at ${m.ramp.lastGoodRate}/s, ${m.ramp.stoppedBy === 'slow' ? 'latency rose' : m.ramp.stoppedBy === 'errors' ? 'errors' : '429'} at ${m.ramp.firstBadRate}/s`);
  }
  if (m.ramp.ran) return atMost(ctx.cap, `no limit found up to the cap of ${round2(ctx.cap)}/s`);
  if (ctx.announced) return atMost(ctx.announced.requests / ctx.announced.perSeconds, 'the limit the CRM announces (no ramp)');
  if (ctx.known) return atMost(ctx.known.requests / ctx.known.perSeconds, 'the limit the adapter knows (no ramp)');
  return atMost(ctx.configured.requests / ctx.configured.perSeconds, 'the configured limit: no ramp, nothing announced — enable probe.ramp to measure');
}

// ---------------------------------------------------------------------------------------------
// Wiring: a client config → a ProbeTarget through the client's own channel.

export type ProbeDeps = ChannelDeps;

export interface ProbeOptions {
  samples?: number;
  /** false: skip phase 2 even if the client allows it. */
  ramp?: boolean;
  /** Lowers the cap for this run; cannot raise it above `probe.maxRate`. */
  maxRate?: number;
  signal?: AbortSignal;
  onStep?: (s: ProbeStep) => void;
}

/**
 * Opens the client's channel and exposes its ping() as a ProbeTarget. Every ping passes the client's
 * shared rate limiter, admitted under the step's own rate (never above the cap): a probe run during a
 * delivery burst shares each window with the workers instead of adding to it.
 */
export function openProbeTarget(config: ClientConfig, deps: ProbeDeps, capPerSecond: () => number): { target: ProbeTarget; knownLimit?: RateLimit; close(): Promise<void> } {
  const def = findAdapter(config.adapter);
  if (!def) throw new LeadExportError('config', `${config.id}: unknown adapter '${config.adapter}'`);
  const channel = openChannel(config, deps);
  if (!channel.canPing) {
    void channel.close();
    throw new LeadExportError('config', `${config.id}: the ${config.adapter} adapter has no read-only ping for this client, so it cannot be probed (REST: set settings.ping.path)`);
  }
  const windowSeconds = config.rateLimit.perSeconds;
  const recorder = new ResponseRecorder();
  channel.observe((o) => recorder.record(o));
  return {
    knownLimit: def.capabilities(config.settings).knownRateLimit,
    target: {
      holdRemainingMs: () => channel.limiter.holdRemainingMs(),
      ping: (rate: number) =>
        recorder.run(async (slot): Promise<ProbeSample> => {
          const cap = Math.max(1, Math.floor(capPerSecond() * windowSeconds + 1e-9));
          const ceiling = Math.min(cap, Math.max(1, Math.ceil(rate * windowSeconds)));
          try {
            await channel.probePing(ceiling);
            return { ok: true, rateLimited: false, latencyMs: slot.durationMs, headers: slot.headers ?? {} };
          } catch (err) {
            const kind = err instanceof LeadExportError ? err.kind : 'error';
            // Credentials that do not work make every further number meaningless: stop the probe.
            if (kind === 'auth' || kind === 'config') throw err;
            const headers = slot.headers ?? (isDeliveryError(err) && typeof err.details?.rateLimitHeaders === 'object' ? (err.details.rateLimitHeaders as Record<string, string>) : {});
            return { ok: false, rateLimited: kind === 'rate_limited', latencyMs: slot.durationMs, headers, error: { kind, message: (err as Error).message } };
          }
        }),
    },
    close: () => channel.close(),
  };
}

/** Keeps the ping's own response (not an auth request made on the way) for the sample in progress. */
class ResponseRecorder {
  private readonly current = new AsyncLocalStorage<{ durationMs?: number; headers?: Record<string, string> }>();

  record(o: { purpose: string; durationMs: number; headers?: Record<string, string> }): void {
    const slot = this.current.getStore();
    if (!slot || o.purpose !== 'probe') return;
    slot.durationMs = o.durationMs;
    if (o.headers) slot.headers = rateLimitHeaders(o.headers);
  }

  run<T>(fn: (slot: { durationMs?: number; headers?: Record<string, string> }) => Promise<T>): Promise<T> {
    const slot = {};
    return this.current.run(slot, () => fn(slot));
  }
}

/** Probes one client: the whole run, from its config to the report. */
export async function probeClient(config: ClientConfig, deps: ProbeDeps, opts: ProbeOptions = {}): Promise<ProbeReport> {
  const samples = opts.samples ?? 20;
  if (!Number.isInteger(samples) || samples < 3 || samples > 500) throw new LeadExportError('usage', `samples must be a whole number from 3 to 500, got ${samples}`);
  const configMax = config.probe.maxRate;
  if (opts.maxRate !== undefined && !(opts.maxRate > 0)) throw new LeadExportError('usage', `--max-rate must be a positive number, got ${opts.maxRate}`);
  if (opts.maxRate !== undefined && opts.maxRate > configMax) {
    throw new LeadExportError('usage', `--max-rate ${opts.maxRate} is above probe.maxRate (${configMax}) in ${config.id}.yaml: it can only lower the cap`);
  }
  const notes: string[] = [];
  let capRate = configMax;
  const { target, knownLimit, close } = openProbeTarget(config, deps, () => capRate);
  try {
    const live = await liveTraffic(deps, config.id);
    if (live) notes.push(`${live} lead(s) are waiting or in flight for this client: its workers share the CRM's budget with the probe, so the result may understate the capacity (pause the client to probe cleanly)`);
    const windowMs = Math.round((knownLimit?.perSeconds ?? config.rateLimit.perSeconds) * 1000);
    let cap: ProbeReport['cap'] = { rate: configMax, source: 'probe.maxRate' };
    if (knownLimit && knownLimit.requests / knownLimit.perSeconds < cap.rate) cap = { rate: knownLimit.requests / knownLimit.perSeconds, source: 'adapter' };
    if (opts.maxRate !== undefined && opts.maxRate < cap.rate) cap = { rate: opts.maxRate, source: '--max-rate' };
    capRate = cap.rate;

    const ramp = config.probe.ramp && opts.ramp !== false;
    // Phase 1 first, on its own: an announced limit caps the ramp before the ramp starts.
    const gentle = gentleRate(cap.rate, config.rateLimit.requests / config.rateLimit.perSeconds);
    const first = await measure(target, { samples, ramp: false, cap: cap.rate, gentleRate: gentle, windowMs, signal: opts.signal, onStep: opts.onStep });
    const announced = announcedLimit(first.headers, windowMs);
    if (announced && announced.requests / announced.perSeconds < cap.rate) cap = { rate: announced.requests / announced.perSeconds, source: 'announced' };
    capRate = cap.rate;
    let m: ProbeMeasurement = first;
    if (ramp && first.baseline.verdict === 'ok') {
      m = await measure(target, { ramp: true, cap: cap.rate, windowMs, signal: opts.signal, onStep: opts.onStep }, first);
    } else if (!ramp) {
      m = { ...first, ramp: { ran: false, skipped: config.probe.ramp ? 'skipped (--no-ramp)' : `probe.ramp is false in ${config.id}.yaml` } };
    } else {
      m = { ...first, ramp: { ran: false, skipped: `the gentle phase already saw trouble (${first.baseline.verdict})` } };
    }
    const recommended = recommend(m, { configured: config.rateLimit, windowMs, known: knownLimit, announced, cap: cap.rate });
    return {
      clientId: config.id,
      adapter: config.adapter,
      configured: { ...config.rateLimit },
      cap: { rate: round2(cap.rate), source: cap.source },
      baseline: m.baseline,
      rateLimitHeaders: m.headers,
      announced,
      ramp: m.ramp,
      steps: m.steps,
      recommended,
      notes,
    };
  } finally {
    await close();
  }
}

async function liveTraffic(deps: Pick<ProbeDeps, 'redis' | 'keys'>, clientId: string): Promise<number> {
  const q = new Queue(deps.keys.deliveryQueue(clientId), { connection: deps.redis, prefix: deps.keys.prefix });
  q.on('error', () => undefined);
  try {
    if (await q.isPaused()) return 0;
    const c = await q.getJobCounts('wait', 'active', 'prioritized');
    return (c.wait ?? 0) + (c.active ?? 0) + (c.prioritized ?? 0);
  } finally {
    await q.close();
  }
}
