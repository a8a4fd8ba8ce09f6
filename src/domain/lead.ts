import { z } from 'zod';
import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js';
import { InputError, type FieldIssue } from './errors';
import { toFieldIssues } from './zod-issues';

/**
 * LeadV1: the contract between HRDrom core and lead-export. Everything that enters a queue has
 * passed this schema, so workers and adapters never see a malformed lead.
 */

export const DEFAULT_PHONE_REGION: CountryCode = 'RU';

/** Ids end up in BullMQ job ids and Redis keys, so they are restricted to a safe alphabet. */
export const LEAD_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$/;
export const CLIENT_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

const trimmed = (max: number) => z.string().trim().min(1, 'must not be empty').max(max, `must be at most ${max} characters`);

const isoDate = z.iso.datetime({ offset: true, message: 'must be an ISO-8601 date-time with a time zone, e.g. 2026-11-27T10:00:00Z' });

const phone = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .transform((raw, ctx) => {
    const parsed = parsePhoneNumberFromString(raw, DEFAULT_PHONE_REGION);
    if (!parsed || !parsed.isValid()) {
      ctx.addIssue({ code: 'custom', message: 'is not a valid phone number (expected e.g. +7 912 345-67-89)' });
      return z.NEVER;
    }
    return parsed.number; // E.164
  });

export const UtmSchema = z
  .object({
    source: z.string().max(256).optional(),
    medium: z.string().max(256).optional(),
    campaign: z.string().max(256).optional(),
    term: z.string().max(256).optional(),
    content: z.string().max(256).optional(),
  })
  .strict();

export const LeadV1Schema = z
  .object({
    leadId: z.string().regex(LEAD_ID_PATTERN, 'must be 1-128 characters of A-Z a-z 0-9 _ . - starting with a letter or digit'),
    clientId: z.string().regex(CLIENT_ID_PATTERN, 'must be 1-63 characters of a-z 0-9 - starting with a letter or digit'),
    createdAt: isoDate,
    candidate: z
      .object({
        firstName: trimmed(128),
        lastName: trimmed(128).optional(),
        middleName: trimmed(128).optional(),
        phone,
        email: z.email({ message: 'is not a valid email address' }).max(254).optional(),
        city: trimmed(128).optional(),
      })
      .strict(),
    vacancy: z
      .object({
        id: trimmed(128).optional(),
        title: trimmed(256),
        city: trimmed(128).optional(),
      })
      .strict(),
    source: z
      .object({
        channel: trimmed(128),
        campaign: trimmed(256).optional(),
        utm: UtmSchema.optional(),
      })
      .strict(),
    comment: z.string().max(4000, 'must be at most 4000 characters').optional(),
    consent: z
      .object({
        given: z.literal(true, { message: 'personal-data consent is required: given must be true' }),
        at: isoDate,
      })
      .strict(),
    extra: z.record(z.string().max(128), z.string().max(2000)).default({}),
  })
  .strict();

/** A lead as HRDrom core sends it (phone in any common format). */
export type LeadV1Input = z.input<typeof LeadV1Schema>;
/** A validated lead: phone in E.164, `extra` present. */
export type LeadV1 = z.output<typeof LeadV1Schema>;

export type LeadParseResult = { ok: true; lead: LeadV1 } | { ok: false; issues: FieldIssue[] };

export function parseLead(input: unknown): LeadParseResult {
  const res = LeadV1Schema.safeParse(input);
  if (res.success) return { ok: true, lead: res.data };
  return { ok: false, issues: toFieldIssues(res.error) };
}

/** Parses or throws an InputError of kind `validation` that lists every bad field. */
export function assertLead(input: unknown): LeadV1 {
  const res = parseLead(input);
  if (!res.ok) throw new InputError('validation', 'invalid lead', res.issues);
  return res.lead;
}

/**
 * The BullMQ job id of a lead. It comes from the client and the lead id, so enqueueing the same lead
 * twice is a no-op. BullMQ ids may not contain ':' and may not be all digits; client ids have no '.',
 * so the first '.' separates the two parts unambiguously.
 */
export function leadJobId(clientId: string, leadId: string): string {
  return `${clientId}.${leadId}`;
}

/** JSON Schema of LeadV1 for HRDrom core (input side: what may be sent). */
export function leadJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(LeadV1Schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}
