import type { JobsOptions } from 'bullmq';
import type { LeadV1 } from '../domain/lead';

/** Why a delivery failed for good: the reason support filters on (see src/channel/decide.ts). */
export type FailureReason = 'rejected' | 'expired' | 'auth' | 'config' | 'blocked' | 'account' | 'contract';

/** The payload of a delivery job: one lead. The job id is leadJobId(clientId, leadId). */
export interface DeliveryJobData {
  lead: LeadV1;
  /** When intake accepted the lead (ms); the delivery age is counted from here. */
  acceptedAt: number;
  /** Set when an attempt ended without a known outcome: the next attempt looks the lead up first. */
  uncertain?: boolean;
  /** Since when the outcome is unknown (ms): the lookup waits for the CRM to finish writing. */
  uncertainSince?: number;
  /** Set when the delivery failed for good. */
  failure?: { reason: FailureReason; message: string; at: number };
}

export interface DeliveryResult {
  crmId: string;
  existing: boolean;
  /** True when the lead was already marked delivered and no request was made. */
  skipped?: boolean;
}

export const DELIVERY_JOB_NAME = 'deliver';

/** Retention is a personal-data decision as much as an operational one; see docs/runbook.md. */
export const COMPLETED_RETENTION = { age: 5 * 60, count: 1000 }; // seconds: gone within minutes
export const FAILED_RETENTION = { age: 30 * 24 * 3600 }; // 30 days for support to see and replay

/**
 * Retries are bounded by age (client config `retry.maxDeliveryAge`), not by a small count: the
 * decision (src/channel/decide.ts) fails the lead as `expired` once the next try would land past the
 * age. The count is only a backstop.
 */
export const MAX_ATTEMPTS = 100_000;
export const BACKOFF_TYPE = 'lead-export';

export function deliveryJobOptions(jobId: string): JobsOptions {
  return {
    jobId,
    attempts: MAX_ATTEMPTS,
    backoff: { type: BACKOFF_TYPE },
    removeOnComplete: COMPLETED_RETENTION,
    removeOnFail: FAILED_RETENTION,
  };
}
