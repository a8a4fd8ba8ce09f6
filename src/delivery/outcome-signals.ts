import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type { LeadDecision } from '../channel/decide';
import type { DeliveryJobData, DeliveryResult, FailureReason } from '../queue/delivery-job';

/**
 * The only place that turns a delivery decision (src/channel/decide.ts) into BullMQ mechanics:
 *  - retry → throw RetryLater: BullMQ's backoff strategy returns the decided delay (an attempt is used);
 *  - hold  → moveToDelayed + DelayedError: waits without using up an attempt;
 *  - fail  → the reason is written on the job, then UnrecoverableError (LeadFailed): failed at once.
 */

/** A retry after `delayMs`; read back by the worker's backoff strategy (backoffDelayOf). */
export class RetryLater extends Error {
  constructor(
    readonly delayMs: number,
    message: string,
  ) {
    super(message);
    this.name = 'RetryLater';
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

/** A delivery that failed for good, with the reason support filters on. */
export class LeadFailed extends UnrecoverableError {
  constructor(
    readonly reason: FailureReason,
    message: string,
  ) {
    super(message);
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

type DeliveryJob = Job<DeliveryJobData, DeliveryResult, string>;

export async function carryOut(job: DeliveryJob, token: string | undefined, d: LeadDecision, message: string): Promise<never> {
  switch (d.action) {
    case 'retry':
      throw new RetryLater(d.delayMs, `transient: ${message}`);
    case 'hold':
      await job.moveToDelayed(Date.now() + d.delayMs, token);
      throw new DelayedError(`waiting (${d.why}): ${message}`);
    case 'fail':
      await job.updateData({ ...job.data, failure: { reason: d.reason, message, at: Date.now() } });
      // "rejected by the CRM (…)" says it already; the other reasons name themselves first.
      throw new LeadFailed(d.reason, d.reason === 'rejected' ? message : `${d.reason}: ${message}`);
  }
}

/** The delay a RetryLater carries; anything else we did not decide on is retried after a default. */
export function backoffDelayOf(err: Error | undefined): number {
  return err instanceof RetryLater ? err.delayMs : 5_000;
}

/** What a failed attempt was, for a log line: never parsed from text. */
export function attemptKindOf(err: Error): string {
  if (err instanceof LeadFailed) return err.reason;
  if (err instanceof RetryLater) return 'transient';
  if (err instanceof DelayedError) return 'waiting';
  if (/stalled more than/i.test(err.message)) return 'stalled'; // BullMQ's own failure; it has no type of its own
  return 'error';
}
