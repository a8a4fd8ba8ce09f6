import type { Redis } from 'ioredis';
import { InputError } from '../domain/errors';
import { replyArray, replyHash, replyNumber } from './lua-script';
import { CB_CLOSE, CB_FAILURE, CB_OPEN, CB_PROBE_FAILED, CB_SUCCESS, CB_TRY_PROBE } from './lua';

/**
 * A per-client circuit breaker whose state lives in one Redis hash, so every worker process sees the
 * same state and it survives restarts. Transitions are Lua scripts: when several processes report
 * the threshold-th failure at once the circuit opens once, and exactly one process wins a probe.
 *
 * The breaker never touches BullMQ: callers pause/resume the client's queue on the transitions it
 * returns (or reports through onTransition).
 */

export type CircuitReason = 'transient' | 'auth' | 'config' | 'blocked' | 'account' | 'contract' | 'manual';
export type CircuitStateName = 'closed' | 'open' | 'half-open';

export interface CircuitState {
  state: CircuitStateName;
  reason?: CircuitReason;
  detail?: string;
  /** ms since epoch (Redis clock) of the latest transition to open. */
  openedAt?: number;
  /** When the next probe is due; undefined for reasons that wait for a person. */
  probeAt?: number;
  consecutiveFailures: number;
  /** Consecutive opens. Reset on close. */
  opens: number;
  /** ms since epoch (Redis clock) of the first open of this outage. */
  outageSince?: number;
}

export interface CircuitOptions {
  /** Consecutive transient failures that open the circuit. Default 5. */
  failureThreshold: number;
  /** Probe interval after a transient open, for the whole fast-probe window. Default 5 s. */
  cooldownMs: number;
  /** Cap of the probe interval once it grows. Default 10 min. */
  maxCooldownMs: number;
  /**
   * How long into an outage probes keep coming every cooldownMs (default 10 min): most outages are
   * short, and a CRM that is back should get its leads within seconds. After that the interval
   * doubles each time the outage doubles in age, up to maxCooldownMs.
   */
  fastProbeWindowMs?: number;
  /** Cooldown for 'blocked' (the CRM blocked us). Default 1 h. */
  blockedCooldownMs?: number;
  /** A half-open probe not resolved after this long is presumed dead (its process crashed) and may be taken over. Default 2 min. */
  probeTimeoutMs?: number;
}

export type CircuitTransitionReason = CircuitReason | 'recovered' | 'probe' | 'config';

export interface CircuitTransition {
  from: CircuitStateName;
  to: CircuitStateName;
  reason: CircuitTransitionReason;
  detail?: string;
}

export interface CircuitHooks {
  /** Called by the process that made the transition, so each transition is reported exactly once. */
  onTransition?: (t: CircuitTransition) => void;
}

export const DEFAULT_CIRCUIT_OPTIONS: Required<CircuitOptions> = {
  failureThreshold: 5,
  cooldownMs: 5_000,
  maxCooldownMs: 10 * 60_000,
  fastProbeWindowMs: 10 * 60_000,
  blockedCooldownMs: 60 * 60_000,
  probeTimeoutMs: 2 * 60_000,
};

const REASONS: ReadonlySet<string> = new Set<CircuitReason>(['transient', 'auth', 'config', 'blocked', 'account', 'contract', 'manual']);
const STATES: ReadonlySet<string> = new Set<CircuitStateName>(['closed', 'open', 'half-open']);

export class CircuitBreaker {
  private opts: Required<CircuitOptions>;

  /** `key`: the client's circuit hash (Keys.flow(client).circuit). */
  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    opts: Partial<CircuitOptions> = {},
    private readonly hooks: CircuitHooks = {},
  ) {
    this.opts = resolveOptions(opts);
  }

  /** Applies to the next call; an open circuit keeps the probeAt it was given. */
  setOptions(opts: Partial<CircuitOptions>): void {
    this.opts = resolveOptions(opts);
  }

  async read(): Promise<CircuitState> {
    return parseState(await this.redis.hgetall(this.key));
  }

  /** A transient failure: counted; opens the circuit (opened = true, in exactly one caller) at the threshold. */
  async recordFailure(detail: string): Promise<{ opened: boolean; from: CircuitStateName; state: CircuitState }> {
    const o = this.opts;
    const reply = await CB_FAILURE.run(this.redis, [this.key], [o.failureThreshold, o.cooldownMs, o.maxCooldownMs, o.blockedCooldownMs, detail, o.fastProbeWindowMs]);
    const { flag, from, state } = parseTransitionReply(reply, 'cb_failure');
    if (flag) this.emit({ from, to: 'open', reason: state.reason ?? 'transient', detail });
    return { opened: flag, from, state };
  }

  /**
   * A success: resets the failure counter; closes a half-open circuit, or one open for 'transient'
   * (and resets `opens`). A circuit open for auth/blocked/account/contract/manual stays open.
   */
  async recordSuccess(): Promise<{ closed: boolean }> {
    const reply = replyArray(await CB_SUCCESS.run(this.redis, [this.key], []), 'cb_success');
    const closed = replyNumber(reply[0], 'cb_success') === 1;
    if (closed) this.emit({ from: parseStateName(reply[1]), to: 'closed', reason: 'recovered' });
    return { closed };
  }

  /**
   * Open at once. 'transient' and 'blocked' get a probeAt; the others wait for close(). Already open:
   * opened = false, but a more severe reason (transient < blocked < the rest) replaces the current one.
   */
  async open(reason: CircuitReason, detail: string): Promise<{ opened: boolean; state: CircuitState }> {
    const o = this.opts;
    const reply = await CB_OPEN.run(this.redis, [this.key], [reason, detail, o.cooldownMs, o.maxCooldownMs, o.blockedCooldownMs, o.fastProbeWindowMs]);
    const { flag, from, state } = parseTransitionReply(reply, 'cb_open');
    if (flag) this.emit({ from, to: 'open', reason, detail });
    return { opened: flag, state };
  }

  /** open → half-open once probeAt has passed; true for exactly one caller across processes. */
  async tryStartProbe(): Promise<boolean> {
    const reply = replyArray(await CB_TRY_PROBE.run(this.redis, [this.key], [this.opts.probeTimeoutMs]), 'cb_try_probe');
    const won = replyNumber(reply[0], 'cb_try_probe') === 1;
    const from = parseStateName(reply[1]);
    if (won && from === 'open') this.emit({ from, to: 'half-open', reason: 'probe' });
    return won;
  }

  /** The probe failed: back to open with the next (longer) cooldown. */
  async probeFailed(detail: string): Promise<void> {
    const o = this.opts;
    const reply = await CB_PROBE_FAILED.run(this.redis, [this.key], [detail, o.cooldownMs, o.maxCooldownMs, o.blockedCooldownMs, o.fastProbeWindowMs]);
    const { flag, from, state } = parseTransitionReply(reply, 'cb_probe_failed');
    if (flag) this.emit({ from, to: 'open', reason: state.reason ?? 'transient', detail });
  }

  /** Close unconditionally; also resets the counters. */
  async close(reason: 'recovered' | 'config' | 'manual'): Promise<{ closed: boolean }> {
    const reply = replyArray(await CB_CLOSE.run(this.redis, [this.key], []), 'cb_close');
    const closed = replyNumber(reply[0], 'cb_close') === 1;
    if (closed) this.emit({ from: parseStateName(reply[1]), to: 'closed', reason });
    return { closed };
  }

  private emit(t: CircuitTransition): void {
    try {
      this.hooks.onTransition?.(t);
    } catch {
      // A broken logging/metrics hook must not break delivery.
    }
  }
}

function resolveOptions(opts: Partial<CircuitOptions>): Required<CircuitOptions> {
  const o: Required<CircuitOptions> = { ...DEFAULT_CIRCUIT_OPTIONS };
  for (const [k, v] of Object.entries(opts) as [keyof CircuitOptions, number | undefined][]) if (v !== undefined) o[k] = v;
  const issues = [];
  if (!Number.isInteger(o.failureThreshold) || o.failureThreshold < 1) issues.push({ path: 'failureThreshold', message: 'must be an integer >= 1' });
  for (const k of ['cooldownMs', 'maxCooldownMs', 'blockedCooldownMs', 'probeTimeoutMs'] as const) {
    if (!Number.isFinite(o[k]) || o[k] < 1) issues.push({ path: k, message: 'must be a number of ms >= 1' });
  }
  if (!Number.isFinite(o.fastProbeWindowMs) || o.fastProbeWindowMs < 0) issues.push({ path: 'fastProbeWindowMs', message: 'must be a number of ms >= 0' });
  if (o.maxCooldownMs < o.cooldownMs) issues.push({ path: 'maxCooldownMs', message: 'must be >= cooldownMs' });
  if (issues.length) throw new InputError('config', 'invalid circuit breaker options', issues);
  for (const k of ['cooldownMs', 'maxCooldownMs', 'blockedCooldownMs', 'probeTimeoutMs', 'fastProbeWindowMs'] as const) o[k] = Math.round(o[k]);
  return o;
}

function parseStateName(v: unknown): CircuitStateName {
  const s = String(v);
  if (!STATES.has(s)) throw new TypeError(`circuit breaker: unknown state ${JSON.stringify(v)}`);
  return s as CircuitStateName;
}

function optionalNumber(v: string | undefined): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

export function parseState(h: Record<string, string>): CircuitState {
  const state = h.state === undefined ? 'closed' : parseStateName(h.state);
  const out: CircuitState = {
    state,
    consecutiveFailures: optionalNumber(h.failures) ?? 0,
    opens: optionalNumber(h.opens) ?? 0,
  };
  if (state !== 'closed') {
    // An unknown reason (written by a newer version) is treated as one that waits for a person.
    if (h.reason !== undefined) out.reason = REASONS.has(h.reason) ? (h.reason as CircuitReason) : 'manual';
    if (h.detail !== undefined) out.detail = h.detail;
    out.openedAt = optionalNumber(h.openedAt);
    out.probeAt = optionalNumber(h.probeAt);
    out.outageSince = optionalNumber(h.outageSince);
    if (out.outageSince === undefined) delete out.outageSince;
    if (out.openedAt === undefined) delete out.openedAt;
    if (out.probeAt === undefined) delete out.probeAt;
  }
  return out;
}

function parseTransitionReply(reply: unknown, script: string): { flag: boolean; from: CircuitStateName; state: CircuitState } {
  const r = replyArray(reply, script);
  return {
    flag: replyNumber(r[0], script) === 1,
    from: parseStateName(r[1]),
    state: parseState(replyHash(r[2], script)),
  };
}
