/**
 * The error taxonomy of lead-export. Every error that crosses a module boundary is one of these,
 * and carries a `kind` that tells the caller what to do — not where it came from.
 *
 * Delivery kinds (what an adapter or the HTTP layer may raise for a CRM call):
 * - `transient`    network error, timeout, 5xx: retry with backoff, counts toward the circuit breaker.
 * - `rate_limited` 429 / Retry-After: the whole client waits; never uses up an attempt.
 * - `rejected`     the CRM refused this lead for good (validation): fail the job with the CRM's reason.
 * - `auth`         credentials do not work even after a refresh: pause the client.
 * - `blocked`      the CRM blocked us (amoCRM 403 HTML): pause the client with a long cooldown.
 * - `account`      the CRM account itself is unusable (amoCRM 402): pause the client.
 * - `contract`     the CRM answered with a shape we do not understand: pause, never count as delivered.
 *
 * Input kinds: `config` (a client or service config file), `validation` (a lead), `usage` (a CLI argument).
 */
export type DeliveryErrorKind =
  | 'transient'
  | 'rate_limited'
  | 'rejected'
  | 'auth'
  | 'blocked'
  | 'account'
  | 'contract';

export type ErrorKind = DeliveryErrorKind | 'config' | 'validation' | 'usage' | 'unavailable' | 'not_found';

export interface LeadExportErrorOptions {
  /** The CRM's own code for the failure, when it gave one (e.g. amoCRM `NotSupportedChoice`). */
  code?: string;
  /** How long the CRM asked us to wait, in ms (Retry-After, `retry_after`). */
  retryAfterMs?: number;
  /** HTTP status of the response that caused it, if any. */
  status?: number;
  /** Extra machine-readable facts (never personal data). */
  details?: Record<string, unknown>;
  cause?: unknown;
}

export class LeadExportError extends Error {
  readonly kind: ErrorKind;
  readonly code?: string;
  readonly retryAfterMs?: number;
  readonly status?: number;
  readonly details?: Record<string, unknown>;

  constructor(kind: ErrorKind, message: string, opts: LeadExportErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'LeadExportError';
    this.kind = kind;
    this.code = opts.code;
    this.retryAfterMs = opts.retryAfterMs;
    this.status = opts.status;
    this.details = opts.details;
    // Keep instanceof working after transpilation to ES5-style classes and across module copies.
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

/** An error raised around a CRM call; its kind decides retry, pause or failure. */
export class DeliveryError extends LeadExportError {
  declare readonly kind: DeliveryErrorKind;
  constructor(kind: DeliveryErrorKind, message: string, opts: LeadExportErrorOptions = {}) {
    super(kind, message, opts);
    this.name = 'DeliveryError';
  }
}

/** One problem in an input, located by its path (`candidate.phone`, `rest.auth.token`). */
export interface FieldIssue {
  path: string;
  message: string;
}

/** Bad input: a lead, a config file, a CLI argument. Lists every problem with its path. */
export class InputError extends LeadExportError {
  readonly issues: FieldIssue[];
  constructor(kind: 'config' | 'validation' | 'usage', message: string, issues: FieldIssue[] = []) {
    super(kind, issues.length ? `${message}: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}` : message);
    this.name = 'InputError';
    this.issues = issues;
  }
}

export function isDeliveryError(err: unknown): err is DeliveryError {
  return err instanceof LeadExportError && DELIVERY_KINDS.has(err.kind);
}

const DELIVERY_KINDS: ReadonlySet<ErrorKind> = new Set<ErrorKind>([
  'transient',
  'rate_limited',
  'rejected',
  'auth',
  'blocked',
  'account',
  'contract',
]);

/** Kinds that stop all traffic to a client until a person (or a config change) intervenes. */
export const PAUSING_KINDS: ReadonlySet<DeliveryErrorKind> = new Set(['auth', 'blocked', 'account', 'contract']);

export function assertNever(x: never, what = 'value'): never {
  throw new Error(`unexpected ${what}: ${JSON.stringify(x)}`);
}
