import type { Job, Queue } from 'bullmq';
import { redactSecrets } from '../logging/scrub';
import type { DeliveryJobData, DeliveryResult } from '../queue/delivery-job';

/**
 * Support's view of failed deliveries and their replay. Works on the queue alone, so the CLI can use
 * it without a running service. What it returns is support's view of a lead: the CRM's own words
 * (which may name the candidate) are kept, credentials never — they are removed when written
 * (the channel knows what it sent) and again here, by shape, for jobs written by older versions.
 */
export interface FailedDelivery {
  jobId: string;
  leadId: string;
  failedAt: string | null;
  attempts: number;
  reason: string;
  /** Per-attempt log lines (JSON written by the worker: outcome, CRM reason, status). */
  log: string[];
}

type DeliveryQueue = Queue<DeliveryJobData, DeliveryResult, string>;

export async function listFailed(queue: DeliveryQueue, opts: { start?: number; limit?: number; withLogs?: boolean } = {}): Promise<FailedDelivery[]> {
  const start = opts.start ?? 0;
  const jobs = await queue.getFailed(start, start + (opts.limit ?? 50) - 1);
  return Promise.all(jobs.filter(Boolean).map((j) => describe(queue, j, opts.withLogs ?? true)));
}

async function describe(queue: DeliveryQueue, j: Job<DeliveryJobData, DeliveryResult, string>, withLogs: boolean): Promise<FailedDelivery> {
  const logs = withLogs ? (await queue.getJobLogs(j.id!, 0, 49)).logs : [];
  return {
    jobId: j.id!,
    leadId: j.data.lead.leadId,
    failedAt: j.finishedOn ? new Date(j.finishedOn).toISOString() : null,
    attempts: j.attemptsMade,
    reason: redactSecrets(j.failedReason ?? ''),
    log: logs.map(redactSecrets),
  };
}

export interface ReplayFilter {
  /** Only these lead ids. */
  leadIds?: string[];
  /** Only failures whose reason contains this text. */
  reasonContains?: string;
  /** Only failures at or after this time (ms). */
  since?: number;
}

export interface ReplayReport {
  scanned: number;
  replayed: number;
  skipped: number;
}

/**
 * Moves matching failed jobs back to the queue with a fresh retry budget and a fresh delivery age.
 * Duplicates are impossible: a lead already marked delivered is skipped by the worker, and an uncertain
 * one is looked up in the CRM before it is created again.
 */
export async function replayFailed(queue: DeliveryQueue, filter: ReplayFilter = {}, onProgress?: (r: ReplayReport) => void): Promise<ReplayReport> {
  const report: ReplayReport = { scanned: 0, replayed: 0, skipped: 0 };
  const wanted = filter.leadIds ? new Set(filter.leadIds) : null;
  const page = 500;
  // Replayed jobs leave the failed set, so re-reading from the start walks the rest; `skippedHere`
  // counts the non-matching ones that stay in front of us.
  let offset = 0;
  for (;;) {
    const jobs = (await queue.getFailed(offset, offset + page - 1)).filter(Boolean);
    if (jobs.length === 0) break;
    let skippedHere = 0;
    for (const job of jobs) {
      report.scanned += 1;
      const matches =
        (!wanted || wanted.has(job.data.lead.leadId)) &&
        (!filter.reasonContains || (job.failedReason ?? '').includes(filter.reasonContains)) &&
        (!filter.since || (job.finishedOn ?? 0) >= filter.since);
      if (!matches) {
        report.skipped += 1;
        skippedHere += 1;
        continue;
      }
      await job.updateData({ ...job.data, acceptedAt: Date.now() });
      await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
      report.replayed += 1;
    }
    onProgress?.(report);
    offset += skippedHere;
    if (wanted && report.replayed >= wanted.size) break;
  }
  return report;
}
