import type { RateLimit } from './types';

export interface BlockPolicy {
  afterViolations: number;
  windowMs: number;
  durationMs: number;
}

/**
 * A strict sliding window over admitted requests: at any instant, no window of `windowMs` holds more
 * than `requests` admitted ones. Rejected requests do not occupy slots (amoCRM counts served calls),
 * but each one is a violation, and enough violations escalate to a block, as on the real account.
 */
export class RateLimiter {
  private admitted: number[] = [];
  private violations: number[] = [];
  private blockedUntil = 0;
  rateLimited = 0;
  blocked = 0;

  constructor(
    public limit: RateLimit,
    private readonly block: BlockPolicy,
  ) {}

  isBlocked(nowMs: number): boolean {
    return nowMs < this.blockedUntil;
  }

  unblock(): void {
    this.blockedUntil = 0;
    this.violations = [];
  }

  countBlocked(): void {
    this.blocked++;
  }

  /** True when the request may proceed; false means 429 (and the violation is already counted). */
  admit(nowMs: number): boolean {
    while (this.admitted.length > 0 && nowMs - this.admitted[0] >= this.limit.windowMs) this.admitted.shift();
    if (this.admitted.length < this.limit.requests) {
      this.admitted.push(nowMs);
      return true;
    }
    this.rateLimited++;
    this.violations.push(nowMs);
    while (this.violations.length > 0 && nowMs - this.violations[0] >= this.block.windowMs) this.violations.shift();
    if (this.violations.length >= this.block.afterViolations) {
      this.blockedUntil = nowMs + this.block.durationMs;
      this.violations = [];
    }
    return false;
  }
}

/** The largest number of timestamps inside any half-open window [t, t + windowMs) — the limiter's own rule. */
export function maxInAnyWindow(times: number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  let start = 0;
  for (let end = 0; end < sorted.length; end++) {
    while (sorted[end] - sorted[start] >= windowMs) start++;
    best = Math.max(best, end - start + 1);
  }
  return best;
}
