import { isPauseReason, type DeliveryErrorKind, type PauseReason } from '../domain/errors';
import { nextRetryDelay, type BackoffPolicy } from '../flow/backoff';

/**
 * The failure policy of a client's channel, as pure functions: what a request's result means for the
 * client (count it toward the circuit, pause the client) and for the lead it carried (retry, hold,
 * fail). No Redis, no clock of its own, no randomness of its own: every input is an argument, so the
 * whole policy is tested table by table (decide.test.ts). The channel and the delivery worker only
 * carry the decisions out.
 */

/** What one failed attempt for a lead looked like. */
export interface AttemptFailure {
  kind: DeliveryErrorKind;
  /** A wait the CRM asked for (Retry-After), ms. */
  retryAfterMs?: number;
  /** The CRM may hold the lead (a create timed out or got a 5xx): look it up before creating it again. */
  uncertain: boolean;
  /** A create request carrying this lead left this process during the attempt. */
  pushSent: boolean;
}

export interface LeadState {
  attemptsMade: number;
  /** When intake accepted the lead (ms). The delivery age counts from here. */
  acceptedAt: number;
  /** Since when the lead's outcome is unknown (ms): its lookup waits for the CRM to finish. */
  uncertainSince?: number;
}

export interface DeliveryPolicy {
  backoff: BackoffPolicy;
  maxDeliveryAgeMs: number;
  /**
   * An uncertain lead is not looked up before this long after its create left: a slow CRM may still
   * be writing it, and a lookup that comes too early finds nothing and creates it twice.
   */
  uncertainGraceMs: number;
  /** How long leads wait when nothing of theirs was sent (an auth refresh or lookup failed first). */
  notSentHoldMs: number;
  /** How long a lead waits while its client is paused (the queue is paused too; this only spaces re-checks). */
  pauseHoldMs: number;
  /** Wait when a rate limit or open circuit names no time. */
  defaultHoldMs: number;
}

export type FailureReason = 'rejected' | 'expired' | PauseReason;

export type LeadDecision =
  /** Try again after delayMs; uses up an attempt (BullMQ backoff). */
  | { action: 'retry'; delayMs: number }
  /** Wait delayMs without using up an attempt (moveToDelayed). */
  | { action: 'hold'; delayMs: number; why: 'rate_limited' | 'circuit_open' | 'not_sent' | PauseReason }
  /** Fail for good, with a reason support can filter on. */
  | { action: 'fail'; reason: FailureReason };

/**
 * The lead's next step after a failed attempt.
 *
 *  - rejected: fails at once (the CRM's reason is kept on the job).
 *  - rate_limited / circuit_open: held for the wait the CRM or the circuit names.
 *  - auth / config / blocked / account / contract: held while the client is paused; fails with that
 *    reason only if the lead is already past its maximum delivery age.
 *  - transient, nothing of the lead sent: held briefly, all leads alike, so they go out again as the
 *    same full batch (per-lead backoff jitter would break it into pieces).
 *  - transient otherwise: retried with exponential backoff and jitter, no sooner than the CRM asked
 *    and (if uncertain) than the lookup grace; fails as `expired` when that lands past the maximum age.
 */
export function decide(f: AttemptFailure, lead: LeadState, policy: DeliveryPolicy, now: number, random: () => number): LeadDecision {
  const age = now - lead.acceptedAt;
  switch (f.kind) {
    case 'rejected':
      return { action: 'fail', reason: 'rejected' };
    case 'rate_limited':
    case 'circuit_open':
      return { action: 'hold', delayMs: Math.max(1, f.retryAfterMs ?? policy.defaultHoldMs) + Math.floor(random() * 250), why: f.kind };
    case 'auth':
    case 'config':
    case 'blocked':
    case 'account':
    case 'contract':
      if (age > policy.maxDeliveryAgeMs) return { action: 'fail', reason: f.kind };
      return { action: 'hold', delayMs: policy.pauseHoldMs, why: f.kind };
    case 'transient': {
      if (!f.pushSent && !f.uncertain && !lead.uncertainSince) {
        const delayMs = Math.max(policy.notSentHoldMs, f.retryAfterMs ?? 0);
        if (age + delayMs > policy.maxDeliveryAgeMs) return { action: 'fail', reason: 'expired' };
        return { action: 'hold', delayMs, why: 'not_sent' };
      }
      let delayMs = Math.max(nextRetryDelay(lead.attemptsMade + 1, policy.backoff, random), f.retryAfterMs ?? 0);
      const since = lead.uncertainSince ?? (f.uncertain ? now : undefined);
      if (since !== undefined) delayMs = Math.max(delayMs, since + policy.uncertainGraceMs - now);
      if (age + delayMs > policy.maxDeliveryAgeMs) return { action: 'fail', reason: 'expired' };
      return { action: 'retry', delayMs };
    }
  }
}

/** What a request's failure means for the whole client. */
export type ClientEffect = { type: 'none' } | { type: 'count_failure' } | { type: 'pause'; reason: PauseReason };

/**
 * Transient failures count toward the circuit (it opens at the threshold); credentials, config, a
 * block, an unusable account or a broken contract pause the client at once; a rate limit, an open
 * circuit or a rejected lead say nothing about the client's health.
 */
export function clientEffect(kind: DeliveryErrorKind): ClientEffect {
  if (kind === 'transient') return { type: 'count_failure' };
  if (isPauseReason(kind)) return { type: 'pause', reason: kind };
  return { type: 'none' };
}
