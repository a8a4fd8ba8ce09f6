import { z } from 'zod';
import type { CrmResponse } from '../types';
import { DeliveryError, type DeliveryErrorKind } from '../../src/domain/errors';
import { snippet } from '../../src/domain/text';

/**
 * How amoCRM's answers are read (reference §4). 429 never gets here: the HTTP layer holds every
 * process on it. 401 on API calls is handled by the auth layer first (refresh once, retry once).
 */

/** problem+json as amoCRM sends it; `trace_id` on 5xx, `hint` on OAuth errors. Unknown keys are ignored. */
export const ProblemSchema = z.object({
  title: z.string().optional(),
  detail: z.string().optional(),
  status: z.number().optional(),
  hint: z.string().optional(),
  trace_id: z.string().optional(),
});
export type Problem = z.infer<typeof ProblemSchema>;

export const ValidationErrorSchema = z.object({
  code: z.string(),
  path: z.string(),
  detail: z.string(),
});
export type AmoValidationError = z.infer<typeof ValidationErrorSchema>;

/** A 400 `validation-errors` body: one group per failing batch element, keyed by our request_id. */
export const ValidationErrorsSchema = z.object({
  'validation-errors': z
    .array(
      z.object({
        request_id: z.union([z.string(), z.number()]).transform(String),
        errors: z.array(ValidationErrorSchema),
      }),
    )
    .min(1),
});
export type ValidationErrors = z.output<typeof ValidationErrorsSchema>;

export function problemOf(res: CrmResponse): Problem | undefined {
  const p = ProblemSchema.safeParse(res.body);
  return p.success && res.body !== null && typeof res.body === 'object' && !Array.isArray(res.body) ? p.data : undefined;
}

/** The CRM's own words, short and safe to keep per attempt (problem fields, else the text; HTML is reduced to its title). */
export function describe(res: CrmResponse): string {
  const p = problemOf(res);
  if (p && (p.title || p.detail || p.hint)) {
    const parts = [p.title, p.detail, p.hint].filter((x): x is string => Boolean(x));
    return `HTTP ${res.status} ${parts.join(': ')}${p.trace_id ? ` (trace_id ${p.trace_id})` : ''}`;
  }
  const html = /<title>([^<]*)<\/title>/i.exec(res.text);
  if (html) return `HTTP ${res.status} ${snippet(html[1], 120)} (HTML page${/nginx/i.test(res.text) ? ' from nginx' : ''})`;
  return `HTTP ${res.status}${res.text ? ` ${snippet(res.text, 300)}` : ' (empty body)'}`;
}

/** What a non-2xx status means for the whole client. */
export function kindOfStatus(status: number): DeliveryErrorKind {
  if (status === 401) return 'auth';
  if (status === 402) return 'account';
  // amoCRM answers 403 (usually an nginx HTML page) when it blocked the account or our IP for
  // exceeding the rate limit, or for an IP whitelist: every request would fail until it is lifted.
  if (status === 403) return 'blocked';
  if (status === 429) return 'rate_limited';
  if (status === 408 || status >= 500) return 'transient';
  // 400 without validation-errors, 404, 405, 422 (over-sized batch): we sent something amoCRM
  // does not accept — a contract problem no retry will cure.
  return 'contract';
}

const ADVICE: Partial<Record<DeliveryErrorKind, string>> = {
  auth: 'the credentials do not work; reconnect with `lead-export amocrm connect`',
  account: 'the amoCRM account is unpaid or its trial is over',
  blocked: 'amoCRM blocked API access for this account or IP (repeated 429s, or an IP whitelist); unblocking goes through amoCRM support',
  contract: 'amoCRM did not accept the request as we sent it',
};

/**
 * The error for a whole request that failed. `uncertain` says whether the request may have created
 * leads (a create that hit a 5xx); lookups and token calls create nothing.
 */
export function failure(res: CrmResponse, what: string, opts: { uncertain: boolean }): DeliveryError {
  const kind = kindOfStatus(res.status);
  const advice = ADVICE[kind];
  const message = `${what} failed: HTTP ${res.status}${advice ? ` — ${advice}` : ''}`;
  const traceId = problemOf(res)?.trace_id;
  return new DeliveryError(kind, message, {
    status: res.status,
    retryAfterMs: res.retryAfterMs,
    uncertain: opts.uncertain && kind === 'transient',
    crmDetail: describe(res),
    details: traceId ? { traceId } : undefined,
  });
}

/** A 2xx whose body is not what amoCRM documents: never counted as delivered. */
export function badShape(res: CrmResponse, what: string, issue: string, opts: { uncertain: boolean }): DeliveryError {
  return new DeliveryError('contract', `${what} answered HTTP ${res.status} with an unexpected body (${issue}); the amoCRM API may have changed`, {
    status: res.status,
    uncertain: opts.uncertain,
  });
}

/** The validation groups of a 400, or undefined when the 400 is of another kind. */
export function validationErrorsOf(res: CrmResponse): ValidationErrors['validation-errors'] | undefined {
  if (res.status !== 400) return undefined;
  const v = ValidationErrorsSchema.safeParse(res.body);
  return v.success ? v.data['validation-errors'] : undefined;
}

/** Short text of a zod failure for messages: paths and messages, never values. */
export function zodIssue(err: z.ZodError): string {
  return err.issues
    .slice(0, 3)
    .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('; ');
}

