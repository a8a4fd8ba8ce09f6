import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import { DeliveryError, isDeliveryError } from '../domain/errors';
import type { DeliveryJobData } from '../queue/delivery-job';

/**
 * The only place that turns a delivery decision into BullMQ mechanics:
 *  - rejected                 → UnrecoverableError: fails at once, the CRM's reason kept as failedReason;
 *  - rate_limited / paused    → moveToDelayed + DelayedError: waits without using up an attempt;
 *  - transient (and unknown)  → rethrow: BullMQ retries with our age-bounded backoff.
 */
export async function signalFailure(job: Job<DeliveryJobData>, token: string | undefined, err: unknown, holdMs: number): Promise<never> {
  if (!isDeliveryError(err)) {
    // An error we did not classify is a bug or an unexpected library failure: retrying is the safe side.
    throw err instanceof Error ? err : new Error(String(err));
  }
  // The CRM may hold the lead whatever the kind (a 2xx of a changed shape is a contract pause): remember
  // it on the job itself, which outlives the one-hour in-flight mark however long the pause lasts.
  if (err.details?.uncertain && !job.data.uncertain) await job.updateData({ ...job.data, uncertain: true });
  switch (err.kind) {
    case 'rejected':
      throw new UnrecoverableError(`rejected: ${err.message}`);
    case 'rate_limited':
    case 'auth':
    case 'blocked':
    case 'account':
    case 'contract':
      await job.moveToDelayed(Date.now() + holdMs, token);
      throw new DelayedError(`waiting (${err.kind}): ${err.message}`);
    case 'transient':
      throw new Error(`transient: ${err.message}`);
  }
}

/** Waits out an open circuit without using up an attempt. */
export async function delayJob(job: Job<DeliveryJobData>, token: string | undefined, ms: number, why: string): Promise<never> {
  await job.moveToDelayed(Date.now() + ms, token);
  throw new DelayedError(why);
}

export function rejectedError(reason: string, code?: string, path?: string): UnrecoverableError {
  const where = [code, path].filter(Boolean).join(' at ');
  return new UnrecoverableError(`rejected by the CRM${where ? ` (${where})` : ''}: ${reason}`);
}

export { DeliveryError };
