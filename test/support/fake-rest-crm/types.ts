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
      /** Unit of `expires_in` in the login and refresh answers; default 's'. Some servers send ms. */
      expiresInUnit?: 's' | 'ms';
      /**
       * Default false. When true, POST /auth/logout must also carry `{"refresh_token": "<the
       * session's current refresh token>"}`; without it the answer is 400 and the session stays open.
       */
      logoutRequiresRefreshToken?: boolean;
    };

export interface FakeRestCrmRateLimit {
  requests: number;
  perSeconds: number;
  /** Sent as `Retry-After` on a 429; default 1. */
  retryAfterSeconds?: number;
}

/** How `updated_after` is read and `updated_at` is written: ISO 8601 whole seconds, or epoch numbers. */
export type TimeFormat = 'iso-seconds' | 'unix-seconds' | 'unix-ms';

export type FeedPagination = 'page' | 'offset' | 'cursor' | 'next-link';

/** The "what changed since" endpoint a status poller reads; see routes-feed.ts for the shapes. */
export interface UpdatedFeedOptions {
  /** Default '/api/candidates/updated'. */
  path?: string;
  /** Name of the query parameter holding the lower bound; default 'updated_after'. */
  updatedAfterParam?: string;
  /** Default 'iso-seconds'. */
  timeFormat?: TimeFormat;
  /** Default false: strictly after, so a cursor equal to the last second seen skips that second. */
  updatedAfterInclusive?: boolean;
  /** Default 'page'. */
  pagination?: FeedPagination;
  /** Items per page, and the cap on `limit` in offset mode; default 50. */
  pageSize?: number;
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
  /**
   * How GET /api/candidates?external_id=X matches; default 'contains' (a SQL LIKE '%X%', as most
   * home-made search endpoints do): X = hh-7 finds hh-7 and hh-77.
   */
  lookupMatch?: 'contains' | 'exact';
  /**
   * Query parameters every GET /api/candidates must carry with exactly these values, else 400
   * `{error:'missing_parameter', parameter}`; e.g. `{ fields: 'id,external_id,status', limit: '50' }`.
   */
  lookupRequiredParams?: Record<string, string>;
  /** Order of the batch results; default 'input'. 'errors-first' lists refused items first. */
  batchResultOrder?: 'input' | 'errors-first';
  /** When set, a `phone` that starts with none of these is refused (e.g. ['+7']). Default: any E.164. */
  acceptedPhonePrefixes?: string[];
  /**
   * Answer to a create whose external_id exists; default '409-with-id' (409 {error:'duplicate', id}).
   * '400-not-unique' answers 400 with a GraphQL-style error and no id.
   */
  duplicateReply?: '409-with-id' | '400-not-unique';
  /**
   * Idle keep-alive connections are closed this long after their last response; default 5000,
   * Node's own default, which most home-made Node/Express CRMs run with. 0: never.
   */
  keepAliveTimeoutMs?: number;
  /**
   * Default true: answers carry `Keep-Alive: timeout=<whole seconds>` as Node servers send it (and
   * Node's agent then drops the socket a second before). false: no hint, as behind nginx, so a
   * client only learns of the close when it reuses the socket.
   */
  keepAliveHeader?: boolean;
  /**
   * Default off. The first request on a keep-alive connection idle for longer than this is
   * answered with a TCP reset and never processed: a server or middlebox that forgot the connection.
   */
  dropIdleConnectionsAfterMs?: number;
  updatedFeed?: UpdatedFeedOptions;
  /**
   * Default false. true: every answer, whatever its status, repeats the request back — every header
   * (Authorization, Cookie, X-Api-Key, …), the query and the whole body — as an `echo` field of a
   * JSON object body, appended to a text body, as the body of an answer that had none, and always
   * in an `X-Echo-Request` header (see echo.ts). The worst case for what a client may log.
   */
  echo?: boolean;
  /** Epoch ms for created_at, updated_at and changed_at; default Date.now. Injected by time-sensitive tests. */
  clock?: () => number;
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
  /**
   * Set when the request got no whole answer although it reached the server: 'idle-reset' (reset
   * unprocessed by dropIdleConnectionsAfterMs), 'body-unfinished' (status sent, body cut off).
   */
  broken?: 'idle-reset' | 'body-unfinished';
}

export interface StoredCandidate {
  id: string;
  /** The candidate object exactly as it was received. */
  body: Record<string, unknown>;
  /** ISO 8601. */
  createdAt: string;
  /** Funnel status: 'new' on creation, then whatever setStatus() set. */
  status: string;
  /** ISO 8601 in whole seconds (the server keeps no finer time): creation, then each setStatus(). */
  updatedAt: string;
}

export type FaultSpec =
  | { type: 'status'; status: number; body?: unknown; headers?: Record<string, string> }
  | { type: 'timeout'; ms?: number }
  | { type: 'reset' }
  | { type: 'rate-limit'; retryAfter: string }
  | { type: 'rate-limit-body'; retryAfterSeconds: number }
  | { type: 'shape' }
  | { type: 'create-then-delay'; ms: number }
  | { type: 'unauthorized' }
  /** Held ms, then handled (a create is written whether or not the client still waits), then answered. */
  | { type: 'write-after'; ms: number }
  /** Handled at once, then silence for ms before the status line. */
  | { type: 'slow-headers'; ms: number }
  /** Handled at once; status and headers at once, the body trickles in small chunks over ms. */
  | { type: 'slow-body'; ms: number }
  /** Handled at once; status, headers and part of the body, then nothing until the client or down() ends it. */
  | { type: 'endless-body' };

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

export interface OpenSession {
  id: string;
  /** Epoch ms of the login. */
  openedAt: number;
  refreshes: number;
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
  /** Also sets the candidate's updated_at to the current second of the server clock. */
  setStatus(candidateId: string, status: string): void;
  /** Login sessions neither logged out nor expired (access and refresh token both dead). */
  openSessions(): OpenSession[];
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
  stats(): FakeRestCrmStats;
}
