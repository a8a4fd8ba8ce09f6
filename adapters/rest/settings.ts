import { z } from 'zod';
import { secretRef } from '../../src/config/secret-ref';
import { httpUrl } from '../../src/domain/http-url';
import { isReservedName, reservedNameMessage, reservedSegment } from '../../src/domain/reserved-names';

/**
 * `settings:` of a client whose CRM is a home-made REST API. Everything the adapter does is described
 * here, so ops connect such a CRM with a config file and no code.
 */

const path = z.string().regex(/^\/[^\s]*$/, "must be a path starting with '/' (the origin comes from baseUrl)");
const responsePath = z
  .string()
  .regex(/^([A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*)?$/, 'must be a dot path such as id or data.id')
  .superRefine((p, ctx) => {
    const reserved = reservedSegment(p);
    if (reserved !== undefined) ctx.addIssue({ code: 'custom', message: reservedNameMessage(reserved, 'a response path segment') });
  });

/** A name the adapter uses as a key of a request body, query or header object. */
const keyName = (what: string) =>
  z.string().superRefine((k, ctx) => {
    if (isReservedName(k)) ctx.addIssue({ code: 'custom', message: reservedNameMessage(k, what) });
  });
const fieldName = keyName('a field name');
const headerName = keyName('a header name');

const AuthNone = z.object({ type: z.literal('none') }).strict();
const AuthHeader = z
  .object({ type: z.literal('header'), header: headerName.regex(/^[A-Za-z0-9-]+$/, 'must be an HTTP header name'), value: secretRef })
  .strict();
const AuthBearer = z.object({ type: z.literal('bearer'), token: secretRef }).strict();
const AuthBasic = z.object({ type: z.literal('basic'), username: z.string().min(1), password: secretRef }).strict();
const AuthLogin = z
  .object({
    type: z.literal('login'),
    username: z.string().min(1),
    password: secretRef,
    login: z
      .object({
        path,
        usernameField: fieldName.default('username'),
        passwordField: fieldName.default('password'),
      })
      .strict(),
    /** Where the tokens are in the login/refresh response. */
    accessTokenPath: responsePath.default('access_token'),
    refreshTokenPath: responsePath.optional(),
    expiresInPath: responsePath.optional(),
    /** Used when the response names no expiry. */
    defaultTtl: z.number().int().positive().default(3600).describe('seconds'),
    refresh: z
      .object({ path, tokenField: fieldName.default('refresh_token') })
      .strict()
      .optional(),
    revoke: z.object({ path }).strict().optional(),
    /** How the access token is sent. */
    tokenHeader: headerName.default('Authorization'),
    tokenPrefix: z.string().default('Bearer '),
  })
  .strict();

export const RestAuthSchema = z.discriminatedUnion('type', [AuthNone, AuthHeader, AuthBearer, AuthBasic, AuthLogin], {
  message: 'auth.type must be one of: none, header, bearer, basic, login',
});
export type RestAuthSettings = z.infer<typeof RestAuthSchema>;
export type LoginAuthSettings = z.infer<typeof AuthLogin>;

export const RestSettingsSchema = z
  .object({
    baseUrl: httpUrl('must be an http(s) URL such as https://crm.example.com'),
    auth: RestAuthSchema,
    create: z
      .object({
        method: z.enum(['POST', 'PUT']).default('POST'),
        path,
        /** Where the created record's id is in the response. */
        idPath: responsePath.default('id'),
        /** Header that carries the lead's stable idempotency key (the job id), if the CRM honours one. */
        idempotencyHeader: headerName.optional(),
        /** A status that means "already exists" (e.g. 409), and where the existing id is in its body. */
        duplicate: z.object({ status: z.number().int(), idPath: responsePath.default('id') }).strict().optional(),
        /** Where the CRM puts its reason when it rejects a lead (defaults: the whole body). */
        errorPath: responsePath.optional(),
      })
      .strict(),
    batch: z
      .object({
        path,
        maxSize: z.number().int().min(2).max(1000),
        /** The array is sent as { <itemsField>: [...] }; omit to send a bare array. */
        itemsField: fieldName.optional(),
        resultsPath: responsePath.default('results'),
        resultIdPath: responsePath.default('id'),
        resultErrorPath: responsePath.default('errors'),
        /** A per-item field that says "already existed", and its value. */
        resultStatusPath: responsePath.optional(),
        duplicateValue: z.string().optional(),
      })
      .strict()
      .optional(),
    /** How to find a lead by its HRDrom id, so a retry after an unknown outcome never creates a duplicate. */
    lookup: z
      .object({
        path,
        queryParam: fieldName.default('external_id'),
        itemsPath: responsePath.default('items'),
        idPath: responsePath.default('id'),
      })
      .strict()
      .optional(),
    /** A cheap read-only request used by health probes and `lead-export probe`. */
    ping: z.object({ path }).strict().optional(),
    timeoutMs: z.number().int().positive().max(120_000).optional(),
  })
  .strict();

export type RestSettings = z.infer<typeof RestSettingsSchema>;
