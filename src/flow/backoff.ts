/**
 * Retry timing for transient delivery failures. Pure functions; the random source is injectable so
 * tests are deterministic.
 */

export interface BackoffPolicy {
  initialDelayMs: number;
  maxDelayMs: number;
  /** 0 = exact exponential delays; 1 = "full jitter" (uniform in [0, delay]); in between, uniform in [delay·(1-jitter), delay]. */
  jitter: number;
}

/**
 * Delay before the next attempt after `attemptsMade` attempts (1 = the first one failed):
 * initial × 2^(attemptsMade-1), capped at max, then jittered downward so that many leads failing at
 * the same moment (a CRM outage) do not all come back at the same moment.
 */
export function nextRetryDelay(attemptsMade: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const initial = Math.max(0, finiteOr(policy.initialDelayMs, 0));
  const max = Math.max(initial, finiteOr(policy.maxDelayMs, initial));
  const jitter = Math.min(1, Math.max(0, finiteOr(policy.jitter, 0)));
  const attempt = Math.max(1, Math.floor(finiteOr(attemptsMade, 1)));
  // 2^n overflows to Infinity for huge n, which the cap turns back into max.
  const base = Math.min(max, initial * 2 ** (attempt - 1));
  const r = Math.min(1, Math.max(0, random()));
  return Math.round(base * (1 - jitter) + base * jitter * r);
}

/** Give up when the next attempt would start after the lead's maximum delivery age. */
export function shouldGiveUp(firstAttemptAt: number, now: number, maxDeliveryAgeMs: number, nextDelayMs: number): boolean {
  return now + nextDelayMs - firstAttemptAt > maxDeliveryAgeMs;
}

function finiteOr(n: number, fallback: number): number {
  return Number.isFinite(n) ? n : fallback;
}
