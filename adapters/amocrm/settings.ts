import { z } from 'zod';
import { secretRef } from '../../src/domain/secret-ref';
import { duration } from '../../src/domain/duration';
import { httpUrl } from '../../src/domain/http-url';

/**
 * The two blocks of an amoCRM client file, each validated at load time:
 *
 *  - `settings:` WHERE and HOW: the account (subdomain or baseUrl), the integration's credentials,
 *    the pipeline/stage new leads land in, batch size and timeout. Changes here are about the
 *    account and are made when a client is connected.
 *  - `mapping:`  WHAT goes WHERE: the ids of the custom fields that receive the lead's data, tags,
 *    and the PHONE/EMAIL enum codes. Changes here are the everyday ops edits ("the client added a
 *    UTM field"), so they live apart from the credentials.
 */

/** amoCRM accepts at most 50 leads per POST /api/v4/leads/complex (reference §3.2). */
export const COMPLEX_MAX_BATCH = 50;

const SUBDOMAIN = /^[a-z0-9][a-z0-9-]{0,62}$/;

const positiveId = (what: string) =>
  z.number({ message: `${what} must be a number (an id from \`lead-export amocrm check-online\`)` }).int(`${what} must be a whole number`).positive(`${what} must be a positive id`);

const OAuthAuth = z
  .object({
    type: z.literal('oauth'),
    /** "Integration ID" of the private integration (not a secret: it is in every authorization URL). */
    clientId: z.string().trim().min(1, 'must not be empty'),
    clientSecret: secretRef,
    /** The redirect URI registered in the integration; amoCRM checks it on every token request. */
    redirectUri: httpUrl('must be the redirect URL registered in the integration, e.g. https://hrdrom.ru/amocrm/oauth'),
    /**
     * How long amoCRM keeps an unused refresh token (3 months). The tokens are refreshed after a third
     * of it, whatever the traffic, so a client without leads for months keeps its access.
     */
    refreshTokenTtl: duration.default(90 * 86_400_000),
  })
  .strict();

const LongLivedAuth = z
  .object({
    type: z.literal('long-lived'),
    /** A long-lived token of a private integration (it is a JWT; there is no refresh token). */
    token: secretRef,
  })
  .strict();

export const AmoAuthSchema = z.discriminatedUnion('type', [OAuthAuth, LongLivedAuth], {
  message: "auth.type must be 'oauth' (private integration with authorization code) or 'long-lived' (long-lived token)",
});
export type AmoAuthSettings = z.infer<typeof AmoAuthSchema>;
export type AmoOAuthSettings = z.infer<typeof OAuthAuth>;

export const AmoSettingsSchema = z
  .object({
    /** `acme` for https://acme.amocrm.ru. Give this or baseUrl. */
    subdomain: z.string().regex(SUBDOMAIN, 'must be the account subdomain only, e.g. acme for https://acme.amocrm.ru').optional(),
    /** The full origin, e.g. https://acme.amocrm.ru or https://acme.kommo.com (tests: the fake's http URL). */
    baseUrl: httpUrl('must be an http(s) URL such as https://acme.amocrm.ru').optional(),
    auth: AmoAuthSchema,
    /** The pipeline ("воронка") new leads go to. */
    pipelineId: positiveId('pipelineId'),
    /** The stage new leads start in (normally the first stage after "Неразобранное"). */
    statusId: positiveId('statusId'),
    /** The amoCRM user new leads are assigned to; omitted = the integration's default. */
    responsibleUserId: positiveId('responsibleUserId').optional(),
    /** Leads per complex request (amoCRM's hard maximum is 50). */
    batchSize: z.number().int().min(1).max(COMPLEX_MAX_BATCH, `must be at most ${COMPLEX_MAX_BATCH}: amoCRM refuses bigger complex requests`).default(COMPLEX_MAX_BATCH),
    /** Per-request timeout in ms (default: the client file's timeouts.request). */
    timeoutMs: z.number().int().positive().max(120_000).optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (!s.subdomain && !s.baseUrl) ctx.addIssue({ code: 'custom', path: ['subdomain'], message: 'give the account: subdomain (acme) or baseUrl (https://acme.amocrm.ru)' });
    if (s.subdomain && s.baseUrl) ctx.addIssue({ code: 'custom', path: ['baseUrl'], message: 'give either subdomain or baseUrl, not both' });
  });
export type AmoSettings = z.output<typeof AmoSettingsSchema>;

/** PHONE / EMAIL enum codes amoCRM accepts on write (reference §6.2). */
export const PHONE_ENUMS = ['WORK', 'WORKDD', 'MOB', 'FAX', 'HOME', 'OTHER'] as const;
export const EMAIL_ENUMS = ['WORK', 'PRIV', 'OTHER'] as const;

/** Lead fields a tag may be taken from. Deliberately no candidate fields: tags are not a place for personal data. */
export const TAG_SOURCES = ['source.channel', 'source.campaign', 'vacancy.id', 'vacancy.title', 'vacancy.city'] as const;
export type TagSource = (typeof TAG_SOURCES)[number];

const fieldId = (what: string) => positiveId(what).optional();

export const AmoFieldsSchema = z
  .object({
    /** A text field that receives HRDrom's lead id: how a retry finds a lead that may already exist. Required. */
    externalId: positiveId('fields.externalId'),
    vacancy: fieldId('fields.vacancy'),
    /** Receives the vacancy's city, or the candidate's when the vacancy has none. */
    city: fieldId('fields.city'),
    /** Receives source.channel (hh, avito, …). */
    source: fieldId('fields.source'),
    utmSource: fieldId('fields.utmSource'),
    utmMedium: fieldId('fields.utmMedium'),
    utmCampaign: fieldId('fields.utmCampaign'),
    utmTerm: fieldId('fields.utmTerm'),
    utmContent: fieldId('fields.utmContent'),
  })
  .strict()
  .superRefine((f, ctx) => {
    const seen = new Map<number, string>();
    for (const [k, v] of Object.entries(f)) {
      if (typeof v !== 'number') continue;
      const prev = seen.get(v);
      if (prev) ctx.addIssue({ code: 'custom', path: [k], message: `field id ${v} is already used for ${prev}` });
      else seen.set(v, k);
    }
  });
export type AmoFields = z.output<typeof AmoFieldsSchema>;

const TagSpec = z.union(
  [
    z.string().trim().min(1, 'a tag must not be empty').max(100),
    z.object({ from: z.enum(TAG_SOURCES) }).strict(),
  ],
  { message: `a tag is a constant text, or { from: <field> } where tags can be taken from ${TAG_SOURCES.join(', ')}` },
);

export const AmoMappingSchema = z
  .object({
    fields: AmoFieldsSchema,
    /** Constant tags and/or tags taken from the lead: ["hrdrom", { from: source.channel }]. */
    tags: z.array(TagSpec).max(20).default([]),
    phoneEnum: z.enum(PHONE_ENUMS, { message: `must be one of ${PHONE_ENUMS.join(', ')}` }).default('WORK'),
    emailEnum: z.enum(EMAIL_ENUMS, { message: `must be one of ${EMAIL_ENUMS.join(', ')}` }).default('WORK'),
  })
  .strict();
export type AmoMapping = z.output<typeof AmoMappingSchema>;

/** The origin every request of this client goes to. */
export function amoBaseUrl(s: Pick<AmoSettings, 'subdomain' | 'baseUrl'>): string {
  if (s.baseUrl) return s.baseUrl.replace(/\/+$/, '');
  return `https://${s.subdomain}.amocrm.ru`;
}
