import { z } from 'zod';
import type { FieldIssue } from './errors';
import { CLIENT_ID_PATTERN, LEAD_ID_PATTERN } from './lead';
import { formatPath, toFieldIssues } from './zod-issues';

/**
 * The progress write-back contract: how lead-export tells HRDrom core where a lead stands in the
 * client's funnel (`POST /v1/lead-progress`, see docs/progress-contract.md). HRDrom implements the
 * receiving side; lead-export and the fake HRDrom in test/support/fake-hrdrom validate with these
 * very schemas, and src/api/progress-openapi.ts publishes them, so the three cannot drift apart.
 */

/** HRDrom funnel stages, in funnel order. Client files map CRM statuses onto these (`statusMap`). */
export const FUNNEL_STAGES = ['new', 'in_progress', 'contacted', 'not_reached', 'interview', 'offer', 'hired', 'rejected'] as const;
export type FunnelStage = (typeof FUNNEL_STAGES)[number];

/** What each stage means, in the recruiters' words; published in the OpenAPI document and the docs. */
export const FUNNEL_STAGE_DESCRIPTIONS: Readonly<Record<FunnelStage, string>> = {
  new: 'the lead is in the client CRM and nobody has worked on it yet',
  in_progress: 'a recruiter has taken the lead into work but has not called the candidate yet',
  contacted: 'the recruiter reached the candidate and talked to them',
  not_reached: 'the recruiter tried to call and could not reach the candidate',
  interview: 'the candidate is invited to an interview with the employer, or has had one',
  offer: 'the employer has made the candidate a job offer',
  hired: 'the candidate has accepted the offer and is hired',
  rejected: 'the process ended without a hire: the employer or the candidate said no',
};

/** Most events in one request; a larger request gets 413 and nothing of it is recorded. */
export const MAX_PROGRESS_EVENTS = 500;
export const MAX_EVENT_ID_LENGTH = 300;

/** A custom message would otherwise replace "Required" for a missing field too. */
const orRequired = (message: string) => (issue: { input?: unknown }) => (issue.input === undefined ? 'Required' : message);

/** The format allows any number of fractional digits; the cap keeps a batch's size bounded. */
const isoDate = z.iso
  .datetime({
    offset: true,
    error: orRequired('must be an ISO-8601 date-time with seconds and a time zone, e.g. 2026-11-30T10:00:00Z or 2026-11-30T13:00:00+03:00'),
  })
  .max(40, 'must be at most 40 characters');

const text = (max: number) => z.string().min(1, 'must not be empty').max(max, `must be at most ${max} characters`);

export const FunnelStageSchema = z.enum(FUNNEL_STAGES, { error: orRequired(`must be one of ${FUNNEL_STAGES.join(', ')}`) }).meta({
  description: `HRDrom funnel stage:\n${FUNNEL_STAGES.map((s) => `- ${s}: ${FUNNEL_STAGE_DESCRIPTIONS[s]}`).join('\n')}`,
  'x-enumDescriptions': FUNNEL_STAGE_DESCRIPTIONS,
});

export const ProgressEventSchema = z
  .object({
    eventId: text(MAX_EVENT_ID_LENGTH).meta({
      description: 'Opaque id of this change, the same on every resend: HRDrom deduplicates by it.',
      examples: ['acme.lead-1.interview.1764496800000'],
    }),
    clientId: z.string().regex(CLIENT_ID_PATTERN, 'must be 1-63 characters of a-z 0-9 - starting with a letter or digit').meta({
      description: 'HRDrom client id, as in the lead.',
    }),
    leadId: z.string().regex(LEAD_ID_PATTERN, 'must be 1-128 characters of A-Z a-z 0-9 _ . - starting with a letter or digit').meta({
      description: 'HRDrom lead id, as in the lead.',
    }),
    crmLeadId: text(256).meta({ description: "The lead's id in the client CRM.", examples: ['9774766'] }),
    stage: FunnelStageSchema,
    crmStatus: text(500).meta({ description: "The CRM's own status, free text, for people reading it.", examples: ['pipeline 3383152 / status 142'] }),
    changedAt: isoDate.meta({ description: 'When the status changed in the CRM (the CRM clock).' }),
    observedAt: isoDate.meta({ description: 'When lead-export read the change from the CRM.' }),
  })
  .strict()
  .meta({ description: 'One funnel-stage change of one lead.' });

export const ProgressBatchSchema = z
  .object({
    events: z
      .array(ProgressEventSchema)
      .min(1, 'must hold at least one event')
      .max(MAX_PROGRESS_EVENTS, `must hold at most ${MAX_PROGRESS_EVENTS} events`)
      .meta({ description: 'Per lead, in changedAt order.' }),
  })
  .strict();

const resultEventId = z.string().min(1).max(MAX_EVENT_ID_LENGTH);

/** The answers are not strict: HRDrom may add fields later without breaking lead-export. */
export const ProgressResultSchema = z
  .discriminatedUnion('status', [
    z.object({ eventId: resultEventId, status: z.literal('accepted').meta({ description: 'recorded now' }) }),
    z.object({ eventId: resultEventId, status: z.literal('duplicate').meta({ description: 'this eventId was accepted before; nothing changed' }) }),
    z.object({
      eventId: resultEventId,
      status: z.literal('rejected').meta({ description: 'refused for good; sending it again will not help' }),
      reason: z.string().min(1).meta({ examples: ['unknown lead'] }),
    }),
  ])
  .meta({ description: 'The outcome of one event.' });

export const ProgressAnswerSchema = z
  .object({
    results: z.array(ProgressResultSchema).meta({ description: 'Exactly one per event, in request order.' }),
  })
  .meta({ description: 'HRDrom took the request; each event has its own outcome.' });

export const PROGRESS_ERROR_CODES = ['unauthorized', 'invalid_body', 'too_many_events', 'payload_too_large', 'unsupported_media_type'] as const;

export const ProgressErrorSchema = z
  .object({
    error: z.enum(PROGRESS_ERROR_CODES),
    details: z
      .array(z.object({ path: z.string().meta({ examples: ['events[0].stage'] }), message: z.string() }))
      .optional()
      .meta({ description: 'invalid_body only: every problem, with the field it is in.' }),
    max: z.number().int().optional().meta({ description: 'too_many_events / payload_too_large: the limit.' }),
  })
  .meta({ description: 'The whole request was refused; nothing of it was recorded.' });

export type ProgressEvent = z.infer<typeof ProgressEventSchema>;
export type ProgressBatch = z.infer<typeof ProgressBatchSchema>;
export type ProgressResult = z.infer<typeof ProgressResultSchema>;
export type ProgressResultStatus = ProgressResult['status'];
export type ProgressAnswer = z.infer<typeof ProgressAnswerSchema>;
export type ProgressErrorBody = z.infer<typeof ProgressErrorSchema>;
export type ProgressErrorCode = (typeof PROGRESS_ERROR_CODES)[number];

export type ProgressParseResult<T> = { ok: true; value: T } | { ok: false; issues: FieldIssue[] };

export function parseProgressBatch(input: unknown): ProgressParseResult<ProgressBatch> {
  const res = ProgressBatchSchema.safeParse(input);
  return res.success ? { ok: true, value: res.data } : { ok: false, issues: toFieldIssues(res.error) };
}

/**
 * Checks an answer against the events it answers: the shape, and exactly one result per event in
 * request order. A sender must treat a failure as a contract breach, never as delivered.
 */
export function parseProgressAnswer(sent: ReadonlyArray<Pick<ProgressEvent, 'eventId'>>, input: unknown): ProgressParseResult<ProgressAnswer> {
  const res = ProgressAnswerSchema.safeParse(input);
  if (!res.success) return { ok: false, issues: toFieldIssues(res.error) };
  const { results } = res.data;
  if (results.length !== sent.length) {
    return { ok: false, issues: [{ path: 'results', message: `has ${results.length} results for ${sent.length} events` }] };
  }
  const issues: FieldIssue[] = [];
  results.forEach((r, i) => {
    if (r.eventId !== sent[i].eventId) issues.push({ path: formatPath(['results', i, 'eventId']), message: `answers another event than events[${i}] (results must follow request order)` });
  });
  return issues.length ? { ok: false, issues } : { ok: true, value: res.data };
}
