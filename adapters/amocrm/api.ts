import { z } from 'zod';
import type { AdapterContext, CrmRequest, CrmResponse } from '../types';
import { DeliveryError } from '../../src/domain/errors';
import { badShape, describe, failure, validationErrorsOf, zodIssue, type ValidationErrors } from './classify';
import type { AmoComplexLead } from './mapping';
import type { AmoAuth } from './oauth';

/**
 * The amoCRM v4 endpoints the adapter and the CLI use, with a zod schema for every body we read.
 * Schemas list only the fields we use and ignore the rest, so amoCRM adding fields breaks nothing,
 * while a missing or retyped field we depend on fails loudly as `contract`.
 */

const id = z.number().int().positive();

/** POST /api/v4/leads/complex → a plain array (not HAL), one element per created or merged lead (§5.2). */
export const ComplexResultSchema = z.object({
  id,
  contact_id: id.nullable().optional(),
  company_id: id.nullable().optional(),
  // An array (several entries when duplicate control merged several of ours into one lead); tolerate a scalar.
  request_id: z.union([z.array(z.union([z.string(), z.number()])).min(1), z.string(), z.number()]).transform((v) => (Array.isArray(v) ? v : [v]).map(String)),
  merged: z.boolean().optional().default(false),
});
export const ComplexResponseSchema = z.array(ComplexResultSchema).min(1);
export type ComplexResult = z.output<typeof ComplexResultSchema>;

const LinkSchema = z.object({ href: z.string() });

/** The part of a lead we read back: its id and custom field values (for the exact external-id check). */
export const LeadSummarySchema = z.object({
  id,
  pipeline_id: z.number().int().optional(),
  custom_fields_values: z
    .array(
      z.object({
        field_id: z.number().int(),
        values: z.array(z.object({ value: z.union([z.string(), z.number(), z.boolean()]).nullable().optional() })).nullable(),
      }),
    )
    .nullable()
    .optional(),
});
export type LeadSummary = z.infer<typeof LeadSummarySchema>;

export const LeadsPageSchema = z.object({
  _links: z.object({ next: LinkSchema.optional() }).optional(),
  _embedded: z.object({ leads: z.array(LeadSummarySchema) }),
});

export const AccountSchema = z.object({ id, name: z.string(), subdomain: z.string() });
export type AmoAccount = z.infer<typeof AccountSchema>;

export const PipelinesSchema = z.object({
  _embedded: z.object({
    pipelines: z.array(
      z.object({
        id,
        name: z.string(),
        is_main: z.boolean().optional(),
        is_archive: z.boolean().optional(),
        _embedded: z.object({
          statuses: z.array(z.object({ id, name: z.string(), type: z.number().int().optional(), sort: z.number().optional() })),
        }),
      }),
    ),
  }),
});
export type AmoPipeline = z.infer<typeof PipelinesSchema>['_embedded']['pipelines'][number];

export const CustomFieldsPageSchema = z.object({
  _links: z.object({ next: LinkSchema.optional() }).optional(),
  _embedded: z.object({
    custom_fields: z.array(
      z.object({
        id,
        name: z.string(),
        type: z.string(),
        code: z.string().nullable().optional(),
        enums: z.array(z.object({ id: z.number().int(), value: z.string() })).nullable().optional(),
      }),
    ),
  }),
});
export type AmoCustomField = z.infer<typeof CustomFieldsPageSchema>['_embedded']['custom_fields'][number];

export type ComplexCall =
  | { kind: 'created'; results: ComplexResult[] }
  | { kind: 'invalid'; groups: ValidationErrors['validation-errors'] }
  /** 504 from amoCRM's gateway: the batch was too big to finish in time; it may or may not exist. */
  | { kind: 'gateway-timeout'; reason: string };

const LIST_LIMIT = 250;
/** Safety stop for paging (amoCRM always advertises a `next` on full pages, §7.3). */
const MAX_PAGES = 20;

export class AmoApi {
  constructor(
    private readonly ctx: AdapterContext,
    private readonly auth: AmoAuth,
  ) {}

  /**
   * Sends with the access token, chosen after the request passed the rate limiter (so it cannot
   * expire while the request queues); after a 401, renews the token once and retries once, then `auth`.
   */
  async send(req: Omit<CrmRequest, 'headers' | 'auth'>): Promise<CrmResponse> {
    let used = '';
    let res = await this.ctx.http.request({
      ...req,
      auth: async () => {
        used = await this.auth.accessToken();
        return { Authorization: `Bearer ${used}` };
      },
    });
    if (res.status === 401 && used) {
      // A 401 means the request was not processed: retrying a create is safe.
      const next = await this.auth.recover(used);
      if (next) res = await this.ctx.http.request({ ...req, auth: async () => ({ Authorization: `Bearer ${next}` }) });
    }
    if (res.status === 401) {
      throw new DeliveryError('auth', `amoCRM refused the access token (HTTP 401) — reconnect with lead-export amocrm connect ${this.ctx.clientId} --code <code>`, {
        status: 401,
        crmDetail: describe(res),
      });
    }
    return res;
  }

  async createComplex(body: AmoComplexLead[]): Promise<ComplexCall> {
    const what = `POST /api/v4/leads/complex (${body.length} leads)`;
    const res = await this.send({ method: 'POST', path: '/api/v4/leads/complex', body, purpose: 'push' });
    if (res.status >= 200 && res.status < 300) {
      const parsed = ComplexResponseSchema.safeParse(res.body);
      if (!parsed.success) throw badShape(res, what, zodIssue(parsed.error), { uncertain: true });
      return { kind: 'created', results: parsed.data };
    }
    const groups = validationErrorsOf(res);
    if (groups) return { kind: 'invalid', groups };
    if (res.status === 504) return { kind: 'gateway-timeout', reason: describe(res) };
    throw failure(res, what, { uncertain: true });
  }

  /**
   * Leads whose custom field `fieldId` holds one of `values`, by the precise filter
   * (`filter[custom_fields_values][ID][]=…`). Returns null when the account ignores the filter (it
   * is not available on every account, §7.2): then some returned lead does not hold any of the values.
   */
  async leadsByFieldFilter(fieldId: number, values: string[]): Promise<LeadSummary[] | null> {
    const wanted = new Set(values);
    const found: LeadSummary[] = [];
    for await (const page of this.leadPages({ [`filter[custom_fields_values][${fieldId}][]`]: values }, 'filter lookup')) {
      for (const lead of page) {
        if (!fieldValues(lead, fieldId).some((v) => wanted.has(v))) return null;
        found.push(lead);
      }
    }
    return found;
  }

  /** Full-text search (`query=`): fuzzy by design; callers must check the field exactly. */
  async leadsByQuery(query: string): Promise<LeadSummary[]> {
    const out: LeadSummary[] = [];
    for await (const page of this.leadPages({ query }, 'query lookup')) out.push(...page);
    return out;
  }

  private async *leadPages(query: NonNullable<CrmRequest['query']>, what: string): AsyncGenerator<LeadSummary[]> {
    for (let page = 1; page <= MAX_PAGES; page++) {
      const res = await this.send({ method: 'GET', path: '/api/v4/leads', query: { ...query, limit: LIST_LIMIT, page }, purpose: 'lookup' });
      // 204: nothing matches (amoCRM never sends an empty list, §4).
      if (res.status === 204) return;
      if (res.status !== 200) throw failure(res, `GET /api/v4/leads (${what})`, { uncertain: false });
      const parsed = LeadsPageSchema.safeParse(res.body);
      if (!parsed.success) throw badShape(res, `GET /api/v4/leads (${what})`, zodIssue(parsed.error), { uncertain: false });
      const leads = parsed.data._embedded.leads;
      yield leads;
      // A full page always carries `next`, even when it is the last one; a short page is the end.
      if (leads.length < LIST_LIMIT || !parsed.data._links?.next) return;
    }
    throw new DeliveryError('contract', `GET /api/v4/leads (${what}) returned more than ${MAX_PAGES * LIST_LIMIT} leads; refusing to page further`);
  }

  async account(purpose: CrmRequest['purpose'] = 'probe'): Promise<AmoAccount> {
    const res = await this.send({ method: 'GET', path: '/api/v4/account', purpose });
    if (res.status !== 200) throw failure(res, 'GET /api/v4/account', { uncertain: false });
    const parsed = AccountSchema.safeParse(res.body);
    if (!parsed.success) throw badShape(res, 'GET /api/v4/account', zodIssue(parsed.error), { uncertain: false });
    return parsed.data;
  }

  async pipelines(purpose: CrmRequest['purpose'] = 'admin'): Promise<AmoPipeline[]> {
    const res = await this.send({ method: 'GET', path: '/api/v4/leads/pipelines', purpose });
    if (res.status === 204) return [];
    if (res.status !== 200) throw failure(res, 'GET /api/v4/leads/pipelines', { uncertain: false });
    const parsed = PipelinesSchema.safeParse(res.body);
    if (!parsed.success) throw badShape(res, 'GET /api/v4/leads/pipelines', zodIssue(parsed.error), { uncertain: false });
    return parsed.data._embedded.pipelines;
  }

  /** Every custom field of leads or contacts (amoCRM pages them by at most 50). */
  async customFields(entity: 'leads' | 'contacts', purpose: CrmRequest['purpose'] = 'admin'): Promise<AmoCustomField[]> {
    const out: AmoCustomField[] = [];
    const path = `/api/v4/${entity}/custom_fields`;
    for (let page = 1; page <= MAX_PAGES; page++) {
      const res = await this.send({ method: 'GET', path, query: { limit: 50, page }, purpose });
      if (res.status === 204) break;
      if (res.status !== 200) throw failure(res, `GET ${path}`, { uncertain: false });
      const parsed = CustomFieldsPageSchema.safeParse(res.body);
      if (!parsed.success) throw badShape(res, `GET ${path}`, zodIssue(parsed.error), { uncertain: false });
      out.push(...parsed.data._embedded.custom_fields);
      if (parsed.data._embedded.custom_fields.length < 50 || !parsed.data._links?.next) break;
    }
    return out;
  }
}

/** The values of one custom field of a lead, as strings. */
export function fieldValues(lead: LeadSummary, fieldId: number): string[] {
  return (lead.custom_fields_values ?? [])
    .filter((f) => f.field_id === fieldId)
    .flatMap((f) => f.values ?? [])
    .map((v) => v.value)
    .filter((v): v is string | number | boolean => v !== null && v !== undefined)
    .map(String);
}
