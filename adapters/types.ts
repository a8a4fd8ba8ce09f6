/**
 * The adapter contract: the seam of lead-export.
 *
 * Everything client-specific (a CRM's URLs, auth, payload shapes, error dialects) lives behind this
 * interface, in one folder per CRM kind. Nothing behind it knows about queues, jobs or Redis keys:
 * an adapter receives leads and returns one outcome per lead. Flow control (rate limits, Retry-After,
 * circuit breaking, retries) wraps the adapter from outside, through the `http` client it is given.
 */
import type { z } from 'zod';
import type { LeadV1 } from '../src/domain/lead';

/** How an adapter can learn about funnel progress (used by the status poller). */
export type StatusPollingMode = 'events' | 'changes-since' | 'per-lead' | 'none';

export interface AdapterCapabilities {
  /** The most leads one create request may carry (1 = no batch endpoint). */
  maxBatchSize: number;
  statusPolling: StatusPollingMode;
  /** A hard request-rate limit the CRM is known to enforce (amoCRM: 7/s); `probe` never exceeds it. */
  knownRateLimit?: { requests: number; perSeconds: number };
}

/** One lead handed to `push`. */
export interface PushItem {
  lead: LeadV1;
  /** Stable per lead across retries and replays (the job id): send it as an idempotency key. */
  idempotencyKey: string;
  /**
   * True when an earlier attempt for this lead ended without a known outcome (timeout, reset, 5xx,
   * crash): the CRM may already hold the lead, so look it up before creating it again.
   */
  uncertain: boolean;
}

export type PushOutcome =
  | {
      leadId: string;
      status: 'delivered';
      /** The CRM's id of the created (or already existing) lead. */
      crmId: string;
      /** True when the lead already existed in the CRM (found by external id, or merged by the CRM). */
      existing?: boolean;
      /** Extra ids worth recording (contact id, …). Never personal data. */
      refs?: Record<string, string>;
    }
  | {
      leadId: string;
      status: 'rejected';
      /** The CRM's own words, kept for support. */
      reason: string;
      code?: string;
      /** Where in the lead the CRM found the problem, in the CRM's terms. */
      path?: string;
      httpStatus?: number;
    }
  | {
      leadId: string;
      status: 'transient';
      reason: string;
      retryAfterMs?: number;
      httpStatus?: number;
    };

/** A status change read from the CRM, already mapped to HRDrom's funnel stage by the poller. */
export interface CrmStatusChange {
  crmLeadId: string;
  /** The CRM's own status key, matched against the client's `statusMap`. */
  crmStatus: string;
  changedAt: string;
  /** Stable id of the change itself, for dropping repeats. */
  changeId: string;
}

export interface PollResult {
  changes: CrmStatusChange[];
  /** Opaque; stored only after the changes are durable. */
  nextCursor: string | null;
}

export interface CrmAdapter {
  readonly kind: string;
  readonly capabilities: AdapterCapabilities;
  /**
   * Creates the leads in the CRM. Returns exactly one outcome per item (any order; matched by leadId).
   * Problems that concern the whole client — credentials, a block, an unpaid account, a response
   * of the wrong shape, a 429, a network failure of the whole request — are thrown as DeliveryError.
   */
  push(items: PushItem[]): Promise<PushOutcome[]>;
  /** Looks a lead up by its HRDrom lead id (for idempotent re-creation). */
  findExisting?(lead: LeadV1): Promise<{ crmId: string } | null>;
  /** Reads status changes since the cursor. */
  pollChanges?(cursor: string | null): Promise<PollResult>;
  /** One cheap, read-only, authenticated request: health probes and the capacity probe use it. */
  ping?(): Promise<void>;
  /** `clients check --online`: compares the client file with the live CRM (read-only requests). */
  checkOnline?(): Promise<OnlineCheckReport>;
  /**
   * Called every few seconds whatever the traffic: keeps credentials alive (a rotating refresh token
   * that is never used dies — amoCRM's after 3 months). Must be cheap when there is nothing to do.
   */
  maintain?(): Promise<void>;
  /** Releases what the adapter holds (e.g. revokes a login session). */
  close?(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// What an adapter is given.

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/**
 * What a request is for. Every purpose passes the client's shared rate limiter; `poll` may use only
 * its share of the budget; `probe` (health probes, the capacity probe) and `admin` (a person's CLI
 * command) are sent even while the client's circuit is open, because they are how we learn it works.
 */
export type RequestPurpose = 'push' | 'lookup' | 'poll' | 'auth' | 'probe' | 'admin';

/**
 * A query, serialized key by key exactly as written: an array repeats its key verbatim
 * (`{ 'ids[]': [1, 2] }` → `ids[]=1&ids[]=2`; `{ id: [1, 2] }` → `id=1&id=2`). Write the form the
 * CRM parses: PHP servers (amoCRM) keep only the last of a repeated key without `[]`.
 */
export type QueryParams = Record<string, string | number | boolean | undefined | ReadonlyArray<string | number>>;

export interface CrmRequest {
  method: HttpMethod;
  /** A path relative to the adapter's base URL; absolute URLs must share its origin. */
  path: string;
  query?: QueryParams;
  headers?: Record<string, string>;
  /**
   * Credentials, resolved after the request has passed the rate limiter and right before it leaves,
   * so a token cannot expire while its request waits. A rejection stops the request.
   */
  auth?: () => Promise<Record<string, string>>;
  /** JSON body, or a string sent as is (set Content-Type yourself). */
  body?: unknown;
  /** A total deadline for the whole exchange, headers and body (default: the client's request timeout). */
  timeoutMs?: number;
  /** What the request is for: rate share, circuit check, metrics, logs. */
  purpose: RequestPurpose;
}

export interface CrmResponse {
  status: number;
  headers: Record<string, string>;
  /** Parsed JSON when the body is JSON, the raw text otherwise, undefined when empty. */
  body: unknown;
  /** The raw text of the body (for HTML error pages and problem reports). */
  text: string;
  contentType: string;
  durationMs: number;
  /**
   * A wait the server asked for on an error answer (Retry-After on a 503, …), already bounded and
   * already applied to every process; put it on the error you raise (`retryAfterMs`).
   */
  retryAfterMs?: number;
}

/**
 * The HTTP client an adapter must use for every CRM request. It is flow-controlled: it waits for the
 * client's shared rate limiter before each request, checks the client's circuit, enforces the origin
 * and a total deadline, turns network failures into `transient` DeliveryErrors (uncertain only for a
 * create that may have reached the CRM) and 429 answers into `rate_limited` ones (holding back every
 * process), obeys Retry-After on any status, and logs without bodies. Every other status is returned
 * as is: classifying it is the adapter's job, because each CRM speaks its own dialect.
 */
export interface CrmHttp {
  readonly baseUrl: string;
  request(req: CrmRequest): Promise<CrmResponse>;
}

/** Resolves `env:NAME` / `file:PATH` secret references. Values must never be logged. */
export interface SecretResolver {
  resolve(ref: string): Promise<string>;
}

/** Small, durable, per-client storage (Redis); values are encrypted at rest. */
export interface AdapterStore {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, ttlMs?: number): Promise<void>;
  del(key: string): Promise<void>;
  /** Runs fn while holding a lock shared by every process (e.g. one token refresh at a time). */
  withLock<T>(name: string, ttlMs: number, fn: () => Promise<T>): Promise<T>;
}

/** The logger given to adapters: pino-compatible, with redaction already configured. */
export interface AdapterLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface AdapterContext {
  clientId: string;
  http: CrmHttp;
  secrets: SecretResolver;
  store: AdapterStore;
  log: AdapterLogger;
  now(): number;
}

/** The part of a client config file an adapter owns. */
export interface AdapterConfig<TSettings, TMapping> {
  clientId: string;
  settings: TSettings;
  mapping: TMapping;
  /** Leads per request, already capped at the adapter's maximum. */
  batchSize: number;
  /** The client's request timeout, ms (settings may override it). */
  requestTimeoutMs: number;
}

// ---------------------------------------------------------------------------------------------
// What an adapter may contribute to the CLI and to `clients check --online`.

/** One line of an online check: is this id/path/setting of the client file real in the live CRM? */
export interface OnlineCheckLine {
  level: 'ok' | 'warn' | 'missing';
  what: string;
  message: string;
}

export interface OnlineCheckReport {
  /** What the live account looks like (pipelines, fields, …), for a person choosing ids. */
  description: string[];
  checks: OnlineCheckLine[];
}

/** What an adapter command is given: the client's opened channel, and the terminal. */
export interface AdapterCommandContext<TSettings = unknown, TMapping = unknown> {
  clientId: string;
  settings: TSettings;
  mapping: TMapping;
  /** The adapter's context (flow-controlled HTTP, store, secrets), opened by the channel. */
  ctx: AdapterContext;
  adapter: CrmAdapter;
  print(line: string): void;
  warn(line: string): void;
  /**
   * After new credentials: closes the client's circuit so deliveries resume (a pause a person made
   * stays); returns what it did, in words.
   */
  resumeAfterReconnect(): Promise<string[]>;
}

/** `lead-export <kind> <name> <client> [args]`: a command only this CRM kind needs (amoCRM connect). */
export interface AdapterCommand<TSettings = unknown, TMapping = unknown> {
  name: string;
  description: string;
  /** Extra positional arguments after <client>. */
  args?: Array<{ name: string; description: string }>;
  options?: Array<{ flags: string; description: string; required?: boolean }>;
  /** Returns the exit code: 0 ok, 1 the CRM said no, 3 the CRM could not be reached. */
  run(c: AdapterCommandContext<TSettings, TMapping>, args: string[], options: Record<string, unknown>): Promise<number>;
}

/** What an adapter folder exports; registered in adapters/registry.ts. */
export interface AdapterDefinition<TSettings = unknown, TMapping = unknown> {
  kind: string;
  /** Validates `settings:` of a client file. Secret fields must use the secretRef schema. */
  settingsSchema: z.ZodType<TSettings>;
  /** Validates `mapping:` of a client file. */
  mappingSchema: z.ZodType<TMapping>;
  /** Capabilities that do not depend on an instance (checked at config load). */
  capabilities(settings: TSettings): AdapterCapabilities;
  /** The base URL all of this client's requests go to (the origin is enforced). */
  baseUrl(settings: TSettings): string;
  /** Request timeout from settings, if the adapter exposes one. */
  timeoutMs?(settings: TSettings): number | undefined;
  create(config: AdapterConfig<TSettings, TMapping>, ctx: AdapterContext): CrmAdapter;
  /** Commands under `lead-export <kind> …` (they run on an opened channel). */
  commands?: ReadonlyArray<AdapterCommand<TSettings, TMapping>>;
}
