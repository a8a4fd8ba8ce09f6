/**
 * Public types of the fake "home-made REST CRM" used by the generic REST adapter's tests, demo and
 * benchmarks. Kept apart from the server so callers can import the shapes without the machinery.
 */

export type FakeRestCrmAuth =
  | { mode: 'none' }
  | { mode: 'header'; header: string; value: string }
  | { mode: 'bearer'; token: string }
  | { mode: 'basic'; username: string; password: string }
  | {
      mode: 'login';
      username: string;
      password: string;
      /** Default 3 600 000 (one hour). */
      accessTtlMs?: number;
      /** Default 30 days. */
      refreshTtlMs?: number;
    };

export interface FakeRestCrmRateLimit {
  requests: number;
  perSeconds: number;
  /** Sent as `Retry-After` on a 429; default 1. */
  retryAfterSeconds?: number;
}

export interface FakeRestCrmOptions {
  /** Default 0 (random); the port actually bound is kept for up() after down(). */
  port?: number;
  /** Default `{ mode: 'none' }`. */
  auth?: FakeRestCrmAuth;
  /** Added to every response (default 0). */
  latencyMs?: number;
  /** Strict sliding window over all /api requests; the excess gets 429. */
  rateLimit?: FakeRestCrmRateLimit;
  /** Top-level fields a candidate must have; default ['external_id']. */
  requiredFields?: string[];
  /** Default 100; a larger batch gets 413 {error:'batch_too_large', max}. */
  batchMaxSize?: number;
  /** Created ids are `${idPrefix}${n}`; default 'cand-'. */
  idPrefix?: string;
}

export interface RecordedRequest {
  /**
   * Arrival time in epoch milliseconds, fractional and monotonic. The rate limiter uses this very
   * value, so a test can re-check the sliding window from `requests` without clock skew.
   */
  at: number;
  method: string;
  /** Path without the query string. */
  path: string;
  query: Record<string, string>;
  /** Lower-cased names; repeated headers joined with ', '. */
  headers: Record<string, string>;
  /** Parsed JSON; the raw text when it was not valid JSON; undefined when there was no body. */
  body: unknown;
  /** 0 while no response has been sent, and for requests never answered (timeout, reset, down()). */
  status: number;
  /** From arrival until the response finished or the connection went away; 0 while in flight. */
  durationMs: number;
}

export interface StoredCandidate {
  id: string;
  /** The candidate object exactly as it was received. */
  body: Record<string, unknown>;
  /** ISO 8601. */
  createdAt: string;
  /** Funnel status: 'new' on creation, then whatever setStatus() set. */
  status: string;
}

export type FaultSpec =
  | { type: 'status'; status: number; body?: unknown; headers?: Record<string, string> }
  | { type: 'timeout'; ms?: number }
  | { type: 'reset' }
  | { type: 'rate-limit'; retryAfter: string }
  | { type: 'rate-limit-body'; retryAfterSeconds: number }
  | { type: 'shape' }
  | { type: 'create-then-delay'; ms: number }
  | { type: 'unauthorized' };

export interface FaultMatch {
  /** Compared case-insensitively. */
  method?: string;
  /** Tested against the path without the query string. */
  path?: RegExp;
}

export interface InjectFaultOptions {
  /** Default 1. */
  times?: number;
  /** Default: any /api/candidates* request. */
  match?: FaultMatch;
}

export interface FakeRestCrmStats {
  logins: number;
  refreshes: number;
  revokes: number;
  created: number;
  duplicates: number;
  /** Every 429 sent, whether from the rate limiter or an injected rate-limit fault. */
  rateLimited: number;
}

export interface FakeRestCrm {
  readonly url: string;
  readonly port: number;
  /** Every request, in arrival order (auth ones included). */
  readonly requests: RecordedRequest[];
  candidates(): StoredCandidate[];
  injectFault(fault: FaultSpec, opts?: InjectFaultOptions): void;
  clearFaults(): void;
  setLatency(ms: number): void;
  setRateLimit(rl: FakeRestCrmRateLimit | undefined): void;
  expireTokens(): void;
  revokeRefreshTokens(): void;
  setCredentials(username: string, password: string): void;
  setStatus(candidateId: string, status: string): void;
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
  stats(): FakeRestCrmStats;
}
