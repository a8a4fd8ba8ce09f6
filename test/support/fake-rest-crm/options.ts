/**
 * Checks the fake's options once, at construction, and fills in the defaults, so a typo in a test's
 * setup fails with the option's name instead of a fake that quietly behaves like the default.
 */
import { z } from 'zod';
import type { FakeRestCrmAuth, FakeRestCrmOptions, FakeRestCrmRateLimit } from './types';

const nonNegativeMs = z.number().finite().nonnegative();
const positiveMs = z.number().finite().positive();
// Under /api/ so that the rate limit and the auth check cover it like every other API path.
const TAKEN_PATHS = ['/api/ping', '/api/candidates', '/api/candidates/batch', '/api/changes'];
const apiPath = z
  .string()
  .regex(/^\/api\/[^?#\s]+$/, 'must be a path under /api/ (no query, no spaces)')
  .refine((p) => !TAKEN_PATHS.includes(p), 'is the path of another endpoint');
const paramName = z.string().regex(/^[A-Za-z0-9_.[\]-]+$/, 'must be a plain query parameter name');

const loginAuth = z.strictObject({
  mode: z.literal('login'),
  username: z.string(),
  password: z.string(),
  accessTtlMs: positiveMs.optional(),
  refreshTtlMs: positiveMs.optional(),
  expiresInUnit: z.enum(['s', 'ms']).optional(),
  logoutRequiresRefreshToken: z.boolean().optional(),
});

const auth = z.discriminatedUnion('mode', [
  z.strictObject({ mode: z.literal('none') }),
  z.strictObject({ mode: z.literal('header'), header: z.string().min(1), value: z.string() }),
  z.strictObject({ mode: z.literal('bearer'), token: z.string().min(1) }),
  z.strictObject({ mode: z.literal('basic'), username: z.string(), password: z.string() }),
  loginAuth,
]);

const updatedFeed = z.strictObject({
  path: apiPath.default('/api/candidates/updated'),
  updatedAfterParam: paramName.default('updated_after'),
  timeFormat: z.enum(['iso-seconds', 'unix-seconds', 'unix-ms']).default('iso-seconds'),
  updatedAfterInclusive: z.boolean().default(false),
  pagination: z.enum(['page', 'offset', 'cursor', 'next-link']).default('page'),
  pageSize: z.number().int().min(1).max(10_000).default(50),
});

const schema = z.strictObject({
  port: z.number().int().min(0).max(65_535).default(0),
  auth: auth.default({ mode: 'none' }),
  latencyMs: nonNegativeMs.default(0),
  // Checked in depth by SlidingWindow, which setRateLimit() shares.
  rateLimit: z.custom<FakeRestCrmRateLimit>((v) => typeof v === 'object' && v !== null, 'must be an object').optional(),
  requiredFields: z.array(z.string().min(1)).default(['external_id']),
  batchMaxSize: z.number().int().min(1).default(100),
  idPrefix: z.string().default('cand-'),
  lookupMatch: z.enum(['contains', 'exact']).default('contains'),
  lookupRequiredParams: z.record(paramName, z.string()).default({}),
  batchResultOrder: z.enum(['input', 'errors-first']).default('input'),
  acceptedPhonePrefixes: z.array(z.string().regex(/^\+\d*$/, "must look like '+7'")).min(1).optional(),
  duplicateReply: z.enum(['409-with-id', '400-not-unique']).default('409-with-id'),
  keepAliveTimeoutMs: nonNegativeMs.default(5_000),
  keepAliveHeader: z.boolean().default(true),
  dropIdleConnectionsAfterMs: positiveMs.optional(),
  updatedFeed: updatedFeed.default(updatedFeed.parse({})),
  echo: z.boolean().default(false),
  clock: z.custom<() => number>((v) => typeof v === 'function', 'must be a function returning epoch ms').default(() => Date.now),
});

export type ResolvedOptions = z.output<typeof schema> & { auth: FakeRestCrmAuth };
export type ResolvedFeedOptions = z.output<typeof updatedFeed>;
export type LoginAuth = z.output<typeof loginAuth>;

export function resolveOptions(opts: FakeRestCrmOptions): ResolvedOptions {
  const parsed = schema.safeParse(opts);
  if (!parsed.success) throw new Error(`fake REST CRM options are invalid:\n${z.prettifyError(parsed.error)}`);
  return parsed.data;
}
