/**
 * The error taxonomy of lead-export. Every error that crosses a module boundary is one of these,
 * and carries a `kind` that tells the caller what to do — not where it came from. Kinds are fields,
 * never parsed back from message text.
 *
 * Delivery kinds (what an adapter, the HTTP layer or the channel may raise around a CRM call):
 * - `transient`    network error, timeout, 5xx: retry with backoff, counts toward the circuit breaker.
 * - `rate_limited` 429 / Retry-After: the whole client waits; never uses up an attempt.
 * - `circuit_open` not sent: the client's circuit is open (another request met the outage, the 401, …).
 * - `rejected`     the CRM refused this lead for good (validation): fail the job with the CRM's reason.
 * - `auth`         credentials do not work even after a refresh: pause the client.
 * - `config`       the client's config cannot work (a secret that cannot be read, a key that cannot
 *                  decrypt the stored tokens): pause the client until the config changes.
 * - `blocked`      the CRM blocked us (amoCRM 403 HTML): pause the client with a long cooldown.
 * - `account`      the CRM account itself is unusable (amoCRM 402): pause the client.
 * - `contract`     the CRM answered with a shape we do not understand: pause, never count as delivered.
 *
 * Input kinds: `validation` (a lead), `usage` (a CLI argument); `config` doubles as the kind of a bad
 * client or service config file. Service kinds: `unavailable` (Redis), `not_found`.
 */
export type DeliveryErrorKind = 'transient' | 'rate_limited' | 'circuit_open' | 'rejected' | 'auth' | 'config' | 'blocked' | 'account' | 'contract';

/** Kinds that stop all traffic to a client until a person, a config change or a cooldown lets it go. */
export type PauseReason = 'auth' | 'config' | 'blocked' | 'account' | 'contract';

export type ErrorKind = DeliveryErrorKind | 'validation' | 'usage' | 'unavailable' | 'not_found';

export interface LeadExportErrorOptions {
  /** The CRM's own code for the failure, when it gave one (e.g. amoCRM `NotSupportedChoice`). */
  code?: string;
  /** How long the CRM asked us to wait, in ms (Retry-After, `retry_after`). */
  retryAfterMs?: number;
  /** HTTP status of the response that caused it, if any. */
  status?: number;
  /**
   * The failed call may have created leads in the CRM (a create that timed out or got a 5xx): the
   * next attempt must look them up before creating them again.
   */
  uncertain?: boolean;
  /**
   * The CRM's own words about the failure (its error body, reduced). They may echo the candidate, so
   * they are kept on the lead's job for support and never put in the message, which reaches logs,
   * client status and alerts.
   */
  crmDetail?: string;
  /** Extra machine-readable facts (never personal data). */
  details?: Record<string, unknown>;
  cause?: unknown;
}

export class LeadExportError extends Error {
  readonly kind: ErrorKind;
  readonly code?: string;
  readonly retryAfterMs?: number;
  readonly status?: number;
  readonly uncertain: boolean;
  readonly crmDetail?: string;
  readonly details?: Record<string, unknown>;

  constructor(kind: ErrorKind, message: string, opts: LeadExportErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'LeadExportError';
    this.kind = kind;
    this.code = opts.code;
    this.retryAfterMs = opts.retryAfterMs;
    this.status = opts.status;
    this.uncertain = opts.uncertain ?? false;
    this.crmDetail = opts.crmDetail;
    this.details = opts.details;
    // Keep instanceof working after transpilation to ES5-style classes and across module copies.
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

/** An error raised around a CRM call; its kind decides retry, hold, pause or failure. */
export class DeliveryError extends LeadExportError {
  declare readonly kind: DeliveryErrorKind;
  constructor(kind: DeliveryErrorKind, message: string, opts: LeadExportErrorOptions = {}) {
    super(kind, message, opts);
    this.name = 'DeliveryError';
  }

  /** The same error with `uncertain` set (or cleared), keeping everything else. */
  withUncertain(uncertain: boolean): DeliveryError {
    if (this.uncertain === uncertain) return this;
    return new DeliveryError(this.kind, this.message, {
      code: this.code,
      status: this.status,
      retryAfterMs: this.retryAfterMs,
      uncertain,
      crmDetail: this.crmDetail,
      details: this.details,
      cause: this.cause,
    });
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
  return err instanceof DeliveryError;
}

export const PAUSE_REASONS: ReadonlySet<DeliveryErrorKind> = new Set<PauseReason>(['auth', 'config', 'blocked', 'account', 'contract']);

export function isPauseReason(kind: DeliveryErrorKind): kind is PauseReason {
  return PAUSE_REASONS.has(kind);
}
