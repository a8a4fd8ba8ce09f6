import { z } from 'zod';
import { InputError, type FieldIssue } from './errors';
import { emailProblem, MAX_EMAIL_LENGTH } from './email';
import {
  CLOCK_SKEW_MS,
  EARLIEST_DATE_MS,
  EXTRA_KEY_PATTERN,
  MAX_COMMENT_LENGTH,
  MAX_EXTRA_KEY_LENGTH,
  MAX_EXTRA_KEYS,
  MAX_EXTRA_VALUE_LENGTH,
  MAX_LEAD_BYTES,
  MAX_NAME_LENGTH,
  MAX_OTHER_PHONES,
  MAX_TITLE_LENGTH,
  RESERVED_EXTRA_KEYS,
} from './lead-limits';
import { repairAndParse } from './lead-repair';
import { MAX_PHONE_INPUT_LENGTH, parsePhone, PHONE_EXTENSION_PATTERN, splitPhoneList } from './phone';
import { forbiddenCharacter, type TextKind } from './text';

export * from './lead-limits';
export { DEFAULT_PHONE_REGION } from './phone';

/**
 * LeadV1: the contract between HRDrom core and lead-export. Everything that enters a queue has
 * passed this schema, so workers and adapters never see a malformed lead.
 *
 * The schema is strict: it says what a stored lead may hold. `parseLead` is the lenient door in front
 * of it (see lead-repair.ts): it repairs what can be repaired without losing anything and drops an
 * optional field that cannot be read, and says so in warnings.
 */

/** Ids end up in BullMQ job ids and Redis keys, so they are restricted to a safe alphabet. */
export const LEAD_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$/;
export const CLIENT_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** The time source for date checks (ms since the epoch); injectable so tests are deterministic. */
export type Clock = () => number;

const noForbidden = (kind: TextKind) => (s: string, ctx: z.core.$RefinementCtx<string>) => {
  const problem = forbiddenCharacter(s, kind);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
};

/** A single-line text field: trimmed, NFC, non-empty, bounded, no invisible controls. */
const line = (max: number) =>
  z
    .string()
    .trim()
    .normalize('NFC')
    .min(1, 'must not be empty')
    .max(max, `must be at most ${max} characters`)
    .superRefine(noForbidden('line'));

const isoDate = z.iso.datetime({ offset: true, message: 'must be an ISO-8601 date-time with a time zone, e.g. 2026-11-27T10:00:00Z' });

const leadDate = (now: Clock, futureMeans: string) =>
  isoDate.superRefine((s, ctx) => {
    const t = Date.parse(s);
    if (t < EARLIEST_DATE_MS) ctx.addIssue({ code: 'custom', message: 'is before 1970-01-01, which is not a real date for a lead' });
    else if (t > now() + CLOCK_SKEW_MS) {
      ctx.addIssue({ code: 'custom', message: `is in the future (more than ${CLOCK_SKEW_MS / 60_000} minutes ahead of the server clock): ${futureMeans}` });
    }
  })
  .meta({ description: `not before 1970, and not more than ${CLOCK_SKEW_MS / 60_000} minutes ahead of lead-export's clock` });

/** The phone as sent: one number, with an optional extension written in it. */
const phone = z
  .string()
  .trim()
  .normalize('NFC')
  .min(1, 'must not be empty')
  .max(MAX_PHONE_INPUT_LENGTH, `must be at most ${MAX_PHONE_INPUT_LENGTH} characters`)
  .transform((raw, ctx) => {
    const whole = parsePhone(raw);
    if (whole.ok) return whole;
    const parts = splitPhoneList(raw);
    const readable = parts.filter((p) => parsePhone(p).ok).length;
    ctx.addIssue({
      code: 'custom',
      message: parts.length > 1 && readable > 0 ? `holds ${parts.length} numbers: send one here and the others in candidate.otherPhones` : whole.reason,
    });
    return z.NEVER;
  })
  .meta({
    description:
      'one number in any common notation (default region RU), stored in E.164; an extension written in it (доб. 12, ext. 12) goes to phoneExtension. ' +
      'Several numbers separated by / , ; are accepted by intake with a warning: the first valid one stays here, the others go to otherPhones.',
  });

const otherPhone = z
  .string()
  .trim()
  .max(MAX_PHONE_INPUT_LENGTH, `must be at most ${MAX_PHONE_INPUT_LENGTH} characters`)
  .transform((raw, ctx) => {
    const p = parsePhone(raw);
    if (!p.ok) ctx.addIssue({ code: 'custom', message: p.reason });
    else if (p.ext) ctx.addIssue({ code: 'custom', message: 'has an extension; additional numbers are kept in E.164 without one' });
    return p.ok ? p.e164 : z.NEVER;
  });

const email = z
  .string()
  .trim()
  .normalize('NFC')
  .max(MAX_EMAIL_LENGTH, `must be at most ${MAX_EMAIL_LENGTH} characters`)
  .superRefine(noForbidden('line'))
  .superRefine((s, ctx) => {
    const problem = emailProblem(s);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .meta({ description: 'internationalised addresses accepted (иван@пример.рф) and kept as written, trimmed' });

const extraKey = z
  .string()
  .max(MAX_EXTRA_KEY_LENGTH, `key must be at most ${MAX_EXTRA_KEY_LENGTH} characters`)
  .regex(EXTRA_KEY_PATTERN, 'key must be letters A-Z a-z, digits, _ and - (no dots), starting with a letter, digit or _')
  .refine((k) => !RESERVED_EXTRA_KEYS.includes(k), { message: `key must not be one of the reserved names ${RESERVED_EXTRA_KEYS.join(', ')}` });

const extraValue = z
  .string()
  .normalize('NFC')
  .max(MAX_EXTRA_VALUE_LENGTH, `must be at most ${MAX_EXTRA_VALUE_LENGTH} characters`)
  .superRefine(noForbidden('free'));

const extra = z
  .record(extraKey, extraValue)
  .superRefine((rec, ctx) => {
    // `rec` holds only the entries that passed, so the input's own count is not known here.
    if (Object.keys(rec).length > MAX_EXTRA_KEYS) {
      ctx.addIssue({ code: 'too_big', origin: 'object', maximum: MAX_EXTRA_KEYS, input: rec, message: `has more than ${MAX_EXTRA_KEYS} keys; at most ${MAX_EXTRA_KEYS} are allowed` });
    }
  })
  .meta({ maxProperties: MAX_EXTRA_KEYS, description: `free-form strings for client mappings (extra.<key>); at most ${MAX_EXTRA_KEYS} keys` });

export const UtmSchema = z
  .object({
    source: line(MAX_TITLE_LENGTH).optional(),
    medium: line(MAX_TITLE_LENGTH).optional(),
    campaign: line(MAX_TITLE_LENGTH).optional(),
    term: line(MAX_TITLE_LENGTH).optional(),
    content: line(MAX_TITLE_LENGTH).optional(),
  })
  .strict();

const candidate = z
  .object({
    firstName: line(MAX_NAME_LENGTH),
    lastName: line(MAX_NAME_LENGTH).optional(),
    middleName: line(MAX_NAME_LENGTH).optional(),
    phone,
    phoneExtension: z
      .string()
      .trim()
      .regex(PHONE_EXTENSION_PATTERN, 'must be 1-10 digits')
      .optional()
      .meta({ description: 'extension of candidate.phone; an extension written in phone (доб. 12, ext. 12) lands here' }),
    otherPhones: z
      .array(otherPhone)
      .max(MAX_OTHER_PHONES, `must hold at most ${MAX_OTHER_PHONES} numbers`)
      .optional()
      .meta({ description: 'further numbers of the candidate, stored in E.164; extra numbers sent in phone (separated by / , ;) land here' }),
    email: email.optional(),
    city: line(MAX_NAME_LENGTH).optional(),
  })
  .strict()
  .transform(({ phone: p, phoneExtension, otherPhones, ...rest }, ctx) => {
    if (p.ext && phoneExtension !== undefined && p.ext !== phoneExtension) {
      ctx.addIssue({ code: 'custom', path: ['phoneExtension'], message: 'differs from the extension written in candidate.phone' });
      return z.NEVER;
    }
    const ext = phoneExtension ?? p.ext;
    const others = [...new Set(otherPhones ?? [])].filter((n) => n !== p.e164);
    return { ...rest, phone: p.e164, ...(ext ? { phoneExtension: ext } : {}), ...(others.length ? { otherPhones: others } : {}) };
  });

/** Builds the schema with a clock for the date checks; `LeadV1Schema` uses the real one. */
export function makeLeadV1Schema(now: Clock) {
  return z
    .object({
      leadId: z.string().regex(LEAD_ID_PATTERN, 'must be 1-128 characters of A-Z a-z 0-9 _ . - starting with a letter or digit'),
      clientId: z.string().regex(CLIENT_ID_PATTERN, 'must be 1-63 characters of a-z 0-9 - starting with a letter or digit'),
      createdAt: leadDate(now, 'a lead cannot be created after it is sent'),
      candidate,
      vacancy: z
        .object({
          id: line(MAX_NAME_LENGTH).optional(),
          title: line(MAX_TITLE_LENGTH),
          city: line(MAX_NAME_LENGTH).optional(),
        })
        .strict(),
      source: z
        .object({
          channel: line(MAX_NAME_LENGTH),
          campaign: line(MAX_TITLE_LENGTH).optional(),
          utm: UtmSchema.optional(),
        })
        .strict(),
      comment: z
        .string()
        .normalize('NFC')
        .max(MAX_COMMENT_LENGTH, `must be at most ${MAX_COMMENT_LENGTH} characters`)
        .superRefine(noForbidden('free'))
        .optional(),
      consent: z
        .object({
          given: z.literal(true, { message: 'personal-data consent is required: given must be true' }),
          at: leadDate(now, 'consent given in the future is not consent'),
        })
        .strict(),
      extra: extra.default({}),
    })
    .strict()
    .superRefine((lead, ctx) => {
      const bytes = Buffer.byteLength(JSON.stringify(lead));
      if (bytes > MAX_LEAD_BYTES) {
        ctx.addIssue({
          code: 'too_big',
          origin: 'object',
          maximum: MAX_LEAD_BYTES,
          input: lead,
          message: `the lead is ${bytes} bytes as stored; at most ${MAX_LEAD_BYTES} (${MAX_LEAD_BYTES / 1024} KB) are allowed: shorten comment or extra`,
        });
      }
    })
    .meta({ description: `A lead from HRDrom core. At most ${MAX_LEAD_BYTES} bytes as stored (UTF-8 JSON).` });
}

export const LeadV1Schema = makeLeadV1Schema(() => Date.now());

/** A lead as HRDrom core sends it (phone in any common format). */
export type LeadV1Input = z.input<typeof LeadV1Schema>;
/** A validated lead: phone in E.164, `extra` present. */
export type LeadV1 = z.output<typeof LeadV1Schema>;

export type LeadParseResult =
  | { ok: true; lead: LeadV1; warnings: FieldIssue[] }
  | { ok: false; issues: FieldIssue[]; warnings: FieldIssue[] };

export interface ParseLeadOptions {
  /** Clock for the date checks (default Date.now). */
  now?: Clock;
}

const schemas = new WeakMap<Clock, typeof LeadV1Schema>();
function schemaFor(now: Clock | undefined): typeof LeadV1Schema {
  if (!now) return LeadV1Schema;
  let s = schemas.get(now);
  if (!s) schemas.set(now, (s = makeLeadV1Schema(now)));
  return s;
}

/**
 * Validates a lead the way intake does: harmless repairs and unreadable optional fields come back
 * as warnings, anything else wrong as issues. Never throws.
 */
export function parseLead(input: unknown, opts: ParseLeadOptions = {}): LeadParseResult {
  const schema = schemaFor(opts.now);
  return repairAndParse(input, (value) => schema.safeParse(value));
}

/** Parses or throws an InputError of kind `validation` that lists every bad field. */
export function assertLead(input: unknown, opts: ParseLeadOptions = {}): LeadV1 {
  const res = parseLead(input, opts);
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
