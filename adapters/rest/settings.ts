import { z } from 'zod';
import { secretRef } from '../../src/domain/secret-ref';
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
const queryValue = z.union([z.string(), z.number(), z.boolean()]);
/** Constant fields sent along (e.g. `client_id`, `grant_type`): never secrets, which go in their own fields. */
const constFields = z.record(fieldName.regex(/^[A-Za-z0-9_.$-]+$/, 'field names are letters, digits, _ . $ -'), queryValue);

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
        /** Other constant fields of the login body. */
        fields: constFields.default({}),
      })
      .strict(),
    /** Where the tokens are in the login/refresh response. */
    accessTokenPath: responsePath.default('access_token'),
    refreshTokenPath: responsePath.optional(),
    expiresInPath: responsePath.optional(),
    /** The unit of the expiry the CRM gives: seconds (OAuth's expires_in) or milliseconds. */
    expiresInUnit: z.enum(['s', 'ms'], { message: "must be 's' or 'ms'" }).default('s'),
    /** Used when the response names no expiry, in seconds. */
    defaultTtl: z.number().int().positive().default(3600),
    refresh: z
      .object({ path, tokenField: fieldName.default('refresh_token'), fields: constFields.default({}) })
      .strict()
      .optional(),
    /**
     * Ends the session at the CRM when the last lead-export process using it stops. The access token
     * goes in the token header; `refreshTokenField` also puts the refresh token in the JSON body
     * (servers that need it to end the session), next to constant `fields`.
     */
    revoke: z
      .object({ path, refreshTokenField: fieldName.optional(), fields: constFields.default({}) })
      .strict()
      .optional(),
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

/** A status plus, optionally, a value found in the body: how a CRM says "this already exists". */
const DuplicateAnswer = z
  .object({
    status: z.number().int().min(200).max(599),
    /** Where the existing record's id is. When the answer has none, the lead is looked up (needs `lookup`). */
    idPath: responsePath.default('id'),
    /** Only answers whose body holds `equals` at `path` are duplicates (e.g. errors.0.extensions.code = RECORD_NOT_UNIQUE). */
    match: z.object({ path: responsePath, equals: queryValue }).strict().optional(),
  })
  .strict();

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
        /** Header that carries the lead's stable idempotency key (the same on every attempt), if the CRM honours one. */
        idempotencyHeader: headerName.optional(),
        /** How the CRM answers a create of a record it already has: counted as delivered (existing). */
        duplicate: DuplicateAnswer.optional(),
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
        /**
         * Where each result echoes the lead's HRDrom id (e.g. external_id): results are matched to
         * leads by it, in any order. Without it results are taken in order, and an answer whose
         * echoed ids are out of line fails as `contract` rather than guess.
         */
        resultKeyPath: responsePath.optional(),
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
        /** Other constant query parameters the search needs (fields, limit, …). */
        query: z.record(fieldName, queryValue).default({}),
        itemsPath: responsePath.default('items'),
        idPath: responsePath.default('id'),
        /**
         * Where each found record holds the HRDrom id. Only a record whose value there equals the lead's
         * id exactly counts: many CRMs search by "contains" (hh-7 also finds hh-77).
         */
        externalIdPath: responsePath.default('external_id'),
      })
      .strict()
      .optional(),
    /** A cheap read-only request used by health probes and `lead-export probe`. */
    ping: z.object({ path }).strict().optional(),
    timeoutMs: z.number().int().positive().max(120_000).optional(),
  })
  .strict();

export type RestSettings = z.infer<typeof RestSettingsSchema>;
