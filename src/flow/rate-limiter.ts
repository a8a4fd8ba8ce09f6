import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { DeliveryError, InputError } from '../domain/errors';
import { abortable, sleep, throwIfAborted } from './abort';
import { replyArray, replyNumber } from './lua-script';
import { RL_ACQUIRE, RL_CONFIG, RL_HOLD, RL_PEEK, RL_RATE_LIMITED, RL_SENT, RL_SUCCESS } from './lua';
import type { FlowKeys } from '../queue/keys';

/**
 * A per-client request limit shared by every worker process, enforced in Redis.
 *
 * Why not BullMQ's limiter: it is a fixed window (2x bursts across a window edge), it counts job
 * starts rather than HTTP requests, and it cannot follow a CRM's 429s. See bullmq-notes.md §1.
 */

export interface RateLimit {
  requests: number;
  perSeconds: number;
}

export interface LimitChange {
  from: number;
  to: number;
  reason: 'rate_limited' | 'recovered' | 'config';
}

export interface AdaptiveOptions {
  /** Multiplier applied to the limit on a 429 (0 < f < 1). Default 0.75. */
  decreaseFactor?: number;
  /** A raise (+1) needs this long without a 429 and since the previous change. Default 30 s. */
  quietMs?: number;
  /** A level that got a 429 is not tried again for this long. Default 10 min. */
  memoryMs?: number;
  /** At most one decrease per this interval; 429s of requests already in flight are not new news. Default: the window. */
  decreaseGapMs?: number;
}

export interface RateLimiterOptions {
  /** acquire() rejects with DeliveryError('rate_limited', retryAfterMs) instead of waiting longer than this. Default: no limit. */
  maxWaitMs?: number;
  adaptive?: AdaptiveOptions;
  /** Reported by the process that made the change, so each change is reported exactly once. */
  onLimitChange?: (info: LimitChange) => void;
  /** Lifetime of the adaptive state after its last write. Default max(24 h, 2 × memoryMs). */
  stateTtlMs?: number;
  /** Upper bound of the random delay added to each wait so processes do not retry in lockstep. Default 20 ms. */
  maxJitterMs?: number;
  /**
   * Extra spacing, ms, added to the window when admitting (default 0: the exact window). We admit on
   * the Redis clock, the CRM counts arrivals; the two differ by a few ms per request (a new socket, a
   * busy event loop, a large body), and that difference varies. Without a guard, a request admitted
   * exactly one window after another can arrive *inside* the CRM's window of the earlier one, which
   * then answers 429. A number, or a function of the limit so a live config change recomputes it.
   * See arrivalGuardMs() for the value the delivery runtime uses.
   */
  guardMs?: number | ((limit: RateLimit) => number);
  random?: () => number;
}

export type TryAcquireResult =
  | { ok: true; /** admission time, ms since epoch on the Redis clock (µs precision) */ at: number; /** the log entry, for sent() */ entry: string }
  | { ok: false; waitMs: number; reason: 'limit' | 'hold' };

export interface Acquired {
  /** Admission time, ms since epoch on the Redis clock (µs precision). */
  at: number;
  /** How long acquire() waited, ms (local clock). */
  waitedMs: number;
  /** The log entry of this admission, for sent(). */
  entry: string;
}

/** The limiter's keys: the window log, the hold, the adaptive state, and the log of the shared-budget purpose (polls). */
export type RateLimiterKeys = Pick<FlowKeys, 'rateLog' | 'rateHold' | 'rateAdaptive' | 'pollLog'>;

/** How one acquire() is admitted. */
export interface AcquireOptions {
  signal?: AbortSignal;
  /**
   * This request belongs to a purpose that may use only a share of the budget (polls): it is also
   * counted in the share's own log, and admitted only while that log has room for `shareMax` per window.
   */
  shareMax?: number;
  /**
   * Skip this process's queue of waiters (it still competes for the next free slot). For requests
   * that must not wait behind a whole local backlog: a poll is due once per interval.
   */
  priority?: boolean;
  /** Admit under this ceiling instead of the configured/adaptive one (the capacity probe's step). */
  fixedCeiling?: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;

const DEFAULT_ADAPTIVE: Required<Omit<AdaptiveOptions, 'decreaseGapMs'>> = {
  decreaseFactor: 0.75,
  quietMs: 30_000,
  memoryMs: 10 * 60_000,
};

/**
 * The guard the delivery runtime uses: 8 % of the window, at least 20 ms and at most 250 ms. For 7/s
 * that is 80 ms, i.e. at most 7 requests per 1.08 s on our clock — about 7 % of throughput traded
 * for not drawing 429s from skew. Measured with three worker processes on a 2-vCPU box: the CRM's
 * arrival stamps of 8 consecutive requests came as close as 1025 ms when our log said 1050 (the
 * CRM's own event loop stamping a burst late), and once closer than 1000 with a 50 ms guard — one
 * 429, and the adaptive limit cost a third of the throughput for the rest of the run.
 */
export function arrivalGuardMs(limit: RateLimit): number {
  return Math.min(250, Math.max(20, Math.round(limit.perSeconds * 1000 * 0.08)));
}

export function validateRateLimit(limit: RateLimit): void {
  const issues = [];
  if (!Number.isInteger(limit.requests) || limit.requests < 1) issues.push({ path: 'requests', message: 'must be an integer >= 1' });
  if (!Number.isFinite(limit.perSeconds) || Math.round(limit.perSeconds * 1000) < 1) {
    issues.push({ path: 'perSeconds', message: 'must be a number of seconds >= 0.001' });
  }
  if (issues.length) throw new InputError('config', 'invalid rate limit', issues);
}

export class SharedRateLimiter {
  private limit: RateLimit;
  private readonly keys: { log: string; hold: string; adaptive: string; share: string };
  private readonly maxWaitMs: number;
  private readonly adaptive: Required<Omit<AdaptiveOptions, 'decreaseGapMs'>> & { decreaseGapMs?: number };
  private readonly stateTtlMs: number;
  private readonly maxJitterMs: number;
  private readonly guard: (limit: RateLimit) => number;
  private readonly random: () => number;
  private readonly onLimitChange?: (info: LimitChange) => void;

  private readonly tokenPrefix = `${process.pid}.${randomBytes(4).toString('hex')}`;
  private seq = 0;
  private waiting = 0;
  /** Local waiters go one at a time (FIFO), so a process sends one poll per freed slot, not one per waiter. */
  private line: Promise<void> = Promise.resolve();
  /** The config is pushed to Redis once per setLimit, before the next call that depends on it. */
  private configSync?: Promise<void>;
  /** Last effective limit seen in a reply; lets onSuccess() skip Redis while nothing can be raised. */
  private knownEffective?: number;
  private nextSuccessCheckAt = 0;

  constructor(
    private readonly redis: Redis,
    keys: RateLimiterKeys,
    limit: RateLimit,
    opts: RateLimiterOptions = {},
  ) {
    validateRateLimit(limit);
    this.limit = { ...limit };
    this.keys = { log: keys.rateLog, hold: keys.rateHold, adaptive: keys.rateAdaptive, share: keys.pollLog };
    this.maxWaitMs = opts.maxWaitMs ?? Number.POSITIVE_INFINITY;
    this.adaptive = { ...DEFAULT_ADAPTIVE, ...stripUndefined(opts.adaptive ?? {}) };
    if (!(this.adaptive.decreaseFactor > 0 && this.adaptive.decreaseFactor < 1)) {
      throw new InputError('config', 'invalid adaptive options', [{ path: 'decreaseFactor', message: 'must be between 0 and 1' }]);
    }
    this.stateTtlMs = opts.stateTtlMs ?? Math.max(DAY_MS, 2 * this.adaptive.memoryMs);
    this.maxJitterMs = opts.maxJitterMs ?? 20;
    const g = opts.guardMs ?? 0;
    this.guard = typeof g === 'function' ? g : () => g;
    this.random = opts.random ?? Math.random;
    this.onLimitChange = opts.onLimitChange;
  }

  /** Live config reload. The new ceiling (and a reset of the adaptive state) applies to the very next call. */
  setLimit(limit: RateLimit): void {
    validateRateLimit(limit);
    this.limit = { ...limit };
    this.configSync = undefined;
    this.knownEffective = undefined;
    this.nextSuccessCheckAt = 0;
  }

  /** The configured limit (the ceiling of the adaptive one). */
  configuredLimit(): RateLimit {
    return { ...this.limit };
  }

  /**
   * Waits until a request may be sent, then records it. No sliding window of perSeconds·1000 ms ever
   * holds more than the effective limit of recorded requests, across any number of processes.
   * Also waits out a hold. Rejects with AbortError if the signal aborts, and with
   * DeliveryError('rate_limited') if the wait would exceed maxWaitMs.
   */
  async acquire(opts: AcquireOptions = {}): Promise<Acquired> {
    const signal = opts.signal;
    throwIfAborted(signal, 'rate limiter acquire');
    const started = Date.now();
    const deadline = started + this.maxWaitMs;

    this.waiting += 1;
    const previous = opts.priority ? Promise.resolve() : this.line;
    let leave!: () => void;
    const mine = new Promise<void>((resolve) => (leave = resolve));
    // Leaving early (abort, timeout) resolves `mine`; whoever is behind us still waits for `previous`.
    if (!opts.priority) this.line = previous.then(() => mine);

    try {
      await this.waitTurn(previous, signal, deadline);
      for (;;) {
        const r = await abortable(this.attempt(opts), signal, 'rate limiter acquire');
        if (r.ok) return { at: r.at, waitedMs: Date.now() - started, entry: r.entry };
        const remaining = deadline - Date.now();
        if (r.waitMs > remaining) {
          throw new DeliveryError('rate_limited', `rate limit wait of ${r.waitMs} ms exceeds maxWaitMs`, {
            retryAfterMs: r.waitMs,
            details: { reason: r.reason, waitedMs: Date.now() - started },
          });
        }
        await sleep(r.waitMs + this.jitter(r.waitMs), signal, 'rate limiter acquire');
      }
    } finally {
      this.waiting -= 1;
      leave();
    }
  }

  /**
   * How long until a request could be admitted, in ms (0 = now), without recording anything. Counts
   * this process's own callers already waiting in acquire() as ahead of a new one. For deciding
   * whether a partly filled batch should go out now or keep filling; acquire() still decides.
   */
  async readyInMs(): Promise<number> {
    await this.ensureConfig();
    const reply = replyArray(
      await RL_PEEK.run(this.redis, [this.keys.log, this.keys.hold, this.keys.adaptive], [this.limit.requests, this.admissionWindowMs(), '']),
      'rl_peek',
    );
    const waitMs = replyNumber(reply[0], 'rl_peek');
    // A free slot that one of our own waiters is about to take is not free for a new batch.
    return this.waiting > 0 ? Math.max(waitMs, 1) : waitMs;
  }

  /**
   * The request admitted as `admission` (what acquire() returned) is leaving now: its window counts
   * from now, not from the admission (see RL_SENT). Safe to call without awaiting; a failure only
   * loses the refinement. Anything that is not an admission of this limiter is ignored.
   */
  async sent(admission: unknown): Promise<void> {
    const entry = (admission as Partial<Acquired> | undefined)?.entry;
    if (typeof entry !== 'string') return;
    await RL_SENT.run(this.redis, [this.keys.log], [entry, this.admissionWindowMs()]);
  }

  /** One attempt without waiting. */
  async tryAcquire(opts: Omit<AcquireOptions, 'signal' | 'priority'> = {}): Promise<TryAcquireResult> {
    return this.attempt(opts);
  }

  /** A 429 / Retry-After: nobody, in any process, sends to this client for `ms`. Extends, never shortens. */
  async holdFor(ms: number, reason: string): Promise<void> {
    if (!Number.isFinite(ms) || ms <= 0) return;
    const px = Math.min(Math.ceil(ms), DAY_MS);
    await RL_HOLD.run(this.redis, [this.keys.hold], [px, reason]);
  }

  async holdRemainingMs(): Promise<number> {
    const pttl = await this.redis.pttl(this.keys.hold);
    return pttl > 0 ? pttl : 0;
  }

  /** The limit enforced now: the configured ceiling, lowered by 429s. */
  async effectiveLimit(): Promise<RateLimit> {
    await this.ensureConfig();
    const stored = Number(await this.redis.hget(this.keys.adaptive, 'eff'));
    const requests = Number.isFinite(stored) && stored >= 1 ? Math.min(stored, this.limit.requests) : this.limit.requests;
    return { requests, perSeconds: this.limit.perSeconds };
  }

  /** Call on every 429: lowers the shared effective limit (at most once per decrease gap). */
  async onRateLimited(): Promise<LimitChange | undefined> {
    await this.ensureConfig();
    const windowMs = this.windowMs();
    const reply = await RL_RATE_LIMITED.run(
      this.redis,
      [this.keys.log, this.keys.adaptive],
      [this.limit.requests, windowMs, this.adaptive.decreaseFactor, this.adaptive.decreaseGapMs ?? windowMs, this.stateTtlMs, this.admissionWindowMs()],
    );
    this.nextSuccessCheckAt = Date.now() + this.adaptive.quietMs;
    return this.reportChange(reply, 'rl_rate_limited', 'rate_limited');
  }

  /** Call on every 2xx: after a quiet period, raises the effective limit by one toward the ceiling. */
  async onSuccess(): Promise<LimitChange | undefined> {
    // Most successes cannot change anything; skip the round trip when we know that locally.
    if (this.knownEffective !== undefined && this.knownEffective >= this.limit.requests) return undefined;
    if (Date.now() < this.nextSuccessCheckAt) return undefined;
    await this.ensureConfig();
    const reply = replyArray(
      await RL_SUCCESS.run(
        this.redis,
        [this.keys.adaptive],
        [this.limit.requests, this.adaptive.quietMs, this.adaptive.memoryMs, this.stateTtlMs],
      ),
      'rl_success',
    );
    this.nextSuccessCheckAt = Date.now() + replyNumber(reply[3], 'rl_success');
    return this.reportChange(reply, 'rl_success', 'recovered');
  }

  private async attempt(opts: Pick<AcquireOptions, 'shareMax' | 'fixedCeiling'>): Promise<TryAcquireResult> {
    await this.ensureConfig();
    const token = `${this.tokenPrefix}.${++this.seq}`;
    const fixed = opts.fixedCeiling !== undefined;
    const ceiling = fixed ? Math.max(1, Math.floor(opts.fixedCeiling!)) : this.limit.requests;
    const reply = replyArray(
      await RL_ACQUIRE.run(
        this.redis,
        [this.keys.log, this.keys.hold, this.keys.adaptive, this.keys.share],
        [ceiling, this.admissionWindowMs(), token, Math.max(0, Math.floor(opts.shareMax ?? 0)), fixed ? 1 : 0],
      ),
      'rl_acquire',
    );
    const code = replyNumber(reply[0], 'rl_acquire');
    if (!fixed) this.knownEffective = replyNumber(reply[2], 'rl_acquire');
    if (code === 1) {
      const atUs = replyNumber(reply[3], 'rl_acquire');
      return { ok: true, at: atUs / 1000, entry: `${atUs}:${token}` };
    }
    return { ok: false, waitMs: replyNumber(reply[1], 'rl_acquire'), reason: code === -1 ? 'hold' : 'limit' };
  }

  private ensureConfig(): Promise<void> {
    if (!this.configSync) {
      const limit = this.limit;
      const sync = RL_CONFIG.run(this.redis, [this.keys.adaptive], [limit.requests, this.windowMs(), this.stateTtlMs]).then((reply) => {
        this.reportChange(reply, 'rl_config', 'config');
      });
      this.configSync = sync;
      // A failed sync (Redis down) must be retried by the next call, not cached forever.
      sync.catch(() => {
        if (this.configSync === sync) this.configSync = undefined;
      });
    }
    return this.configSync;
  }

  private reportChange(reply: unknown, script: string, reason: LimitChange['reason']): LimitChange | undefined {
    const r = replyArray(reply, script);
    const from = replyNumber(r[1], script);
    const to = replyNumber(r[2], script);
    this.knownEffective = to;
    if (from === to) return undefined;
    const change: LimitChange = { from, to, reason };
    try {
      this.onLimitChange?.(change);
    } catch {
      // A broken logging/metrics callback must not break delivery.
    }
    return change;
  }

  private async waitTurn(previous: Promise<void>, signal: AbortSignal | undefined, deadline: number): Promise<void> {
    if (deadline === Number.POSITIVE_INFINITY) {
      await abortable(previous, signal, 'rate limiter acquire');
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new DeliveryError('rate_limited', 'rate limit wait exceeds maxWaitMs (still queued behind other requests of this process)', {
              details: { reason: 'limit' },
            }),
          ),
        Math.max(0, deadline - Date.now()),
      );
    });
    try {
      await abortable(Promise.race([previous, timeout]), signal, 'rate limiter acquire');
    } finally {
      clearTimeout(timer);
    }
  }

  private jitter(waitMs: number): number {
    const span = Math.min(this.maxJitterMs, Math.max(1, waitMs * 0.1));
    return Math.floor(this.random() * span);
  }

  private windowMs(): number {
    return Math.round(this.limit.perSeconds * 1000);
  }

  /** The window admissions are spaced by: the configured one plus the arrival guard. */
  private admissionWindowMs(): number {
    const g = this.guard(this.limit);
    return this.windowMs() + (Number.isFinite(g) && g > 0 ? Math.round(g) : 0);
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

