import type { IncomingHttpHeaders } from 'node:http';

/**
 * A query string or form body as PHP's parse_str reads it (php-query.ts): `filter[id][]=2` is a list,
 * `filter[statuses][0][status_id]=1` nests, a repeated key without `[]` keeps its last value.
 */
export type QueryValue = string | QueryValue[] | QueryObject;
export interface QueryObject {
  [key: string]: QueryValue;
}

export interface RecordedAmoRequest {
  /** Arrival time, epoch ms with sub-ms precision (the rate limiter judges by this same value). */
  at: number;
  method: string;
  path: string;
  query: QueryObject;
  headers: IncomingHttpHeaders;
  /** Parsed JSON or form body; the raw text when it could not be parsed; undefined when empty. */
  body: unknown;
  /** Set when the status line is written; 0 while pending, or when none was (reset, timeout, client gave up). */
  status: number;
  durationMs: number;
  /** Which TCP connection carried it (1, 2, … in order of accept): shows keep-alive reuse. */
  connection: number;
  /**
   * The injected fault that shaped this request, if any; 'stale-reset' when it arrived on a
   * connection idle past `dropIdleConnectionsAfterMs` and was answered with a TCP reset, unprocessed.
   */
  fault?: AmoFault['type'] | 'stale-reset';
}

export type AmoFieldType =
  | 'text'
  | 'textarea'
  | 'numeric'
  | 'checkbox'
  | 'select'
  | 'multiselect'
  | 'radiobutton'
  | 'multitext'
  | 'date'
  | 'date_time'
  | 'url'
  | 'tracking_data';

export interface AmoEnumSeed {
  id: number;
  value: string;
  sort?: number;
}

export interface AmoCustomFieldSeed {
  id: number;
  name: string;
  type: AmoFieldType;
  code?: string | null;
  sort?: number;
  enums?: AmoEnumSeed[];
}

export interface AmoStatusSeed {
  id: number;
  name: string;
  /** 1 = unsorted ("Неразобранное"), 0 = ordinary. */
  type?: 0 | 1;
  sort?: number;
  color?: string;
  is_editable?: boolean;
}

export interface AmoPipelineSeed {
  id: number;
  name: string;
  is_main?: boolean;
  sort?: number;
  /** 142 and 143 are appended when missing: amoCRM has them in every pipeline. */
  statuses: AmoStatusSeed[];
}

export interface AmoCustomFieldValueItem {
  value: string | number | boolean;
  enum_id?: number;
  enum?: string;
}

export interface AmoCustomFieldValue {
  field_id: number;
  field_name: string;
  field_code: string | null;
  field_type: AmoFieldType;
  values: AmoCustomFieldValueItem[];
}

export interface AmoLink {
  href: string;
}

export interface AmoTag {
  id: number;
  name: string;
  color: string | null;
}

export interface AmoLead {
  id: number;
  name: string;
  price: number;
  responsible_user_id: number;
  group_id: number;
  status_id: number;
  pipeline_id: number;
  loss_reason_id: number | null;
  created_by: number;
  updated_by: number;
  created_at: number;
  updated_at: number;
  closed_at: number | null;
  closest_task_at: number | null;
  is_deleted: boolean;
  custom_fields_values: AmoCustomFieldValue[] | null;
  score: number | null;
  account_id: number;
  labor_cost: number | null;
  _links: { self: AmoLink };
  /** `contacts` is always filled in the store; over HTTP only with `with=contacts`. */
  _embedded: { tags: AmoTag[]; companies: Array<{ id: number }>; contacts: Array<{ id: number; is_main: boolean }> };
}

export interface AmoContact {
  id: number;
  name: string;
  first_name: string;
  last_name: string;
  responsible_user_id: number;
  group_id: number;
  created_by: number;
  updated_by: number;
  created_at: number;
  updated_at: number;
  closest_task_at: number | null;
  is_deleted: boolean;
  custom_fields_values: AmoCustomFieldValue[] | null;
  account_id: number;
  _links: { self: AmoLink };
  /** `leads` is always filled in the store; over HTTP only with `with=leads`. */
  _embedded: { tags: AmoTag[]; companies: Array<{ id: number }>; leads: Array<{ id: number }> };
}

export interface AmoLeadStatusValue {
  lead_status: { id: number; pipeline_id: number };
}

export interface AmoEvent {
  id: string;
  type: 'lead_added' | 'lead_status_changed';
  entity_id: number;
  entity_type: 'lead';
  created_by: number;
  created_at: number;
  value_before: AmoLeadStatusValue[];
  value_after: AmoLeadStatusValue[];
  account_id: number;
  _links: { self: AmoLink };
  _embedded: { entity: { id: number; _links: { self: AmoLink } } };
}

/** The body of a faulty answer: an nginx page, amoCRM's problem+json, or nothing. */
export type FaultBody = 'html' | 'json' | 'empty';

export type AmoFault =
  /**
   * Any 4xx/5xx (an integer 400–599), plus optional headers such as `Retry-After`. The default body
   * is the one amoCRM sends for that status: problem+json for 500 (with `trace_id`) and for 4xx other
   * than 403/429, an nginx page for 403, 429 and the other 5xx.
   */
  | { type: 'status'; status: number; body?: FaultBody; headers?: Record<string, string> }
  /** The connection is destroyed without an answer. */
  | { type: 'reset' }
  /** Never answered; the socket is held until the client gives up or the fake goes down. */
  | { type: 'timeout' }
  /** The work is done at once, the answer comes ms later (or never, when the client left). */
  | { type: 'create-then-delay'; ms: number }
  /** The work is done (e.g. the leads are created), then this status is answered, an nginx page by default. */
  | { type: 'create-then-status'; status: number; body?: FaultBody; headers?: Record<string, string> }
  /**
   * Nothing happens for ms (the request waits in a queue), then it is processed and answered; a
   * client that gave up meanwhile is dropped unprocessed, as nginx drops an aborted queued request.
   */
  | { type: 'slow-headers'; ms: number }
  /** Processed at once; status and headers go out at once, the body trickles in small chunks over ms. */
  | { type: 'slow-body'; ms: number }
  /** Processed at once; status, headers and part of the body go out, then the body never ends. */
  | { type: 'endless-body' }
  /** A 200 of the wrong shape, after doing the work. */
  | { type: 'shape' }
  | { type: '504-if-batch-over'; size: number };

export interface FaultOptions {
  /** Default 1, except '504-if-batch-over' which stays until cleared (it models a gateway property). */
  times?: number;
  /**
   * Default: every /api/v4 request ('create-then-delay' and '504-if-batch-over': POSTs of new leads).
   * Pass e.g. `{ path: /oauth2/ }` to hit the token endpoint.
   */
  match?: { method?: string; path?: RegExp };
}

export interface RateLimit {
  requests: number;
  windowMs: number;
}

export interface FakeAmoStats {
  /** Token-endpoint requests per grant, successful or not (a lost refresh race still counts). */
  refreshes: number;
  codeExchanges: number;
  rateLimited: number;
  blocked: number;
  leadsCreated: number;
  merged: number;
  maxRequestsInWindow: number;
}

export interface FakeAmoOptions {
  port?: number;
  subdomain?: string;
  accountId?: number;
  clientId?: string;
  clientSecret?: string;
  redirectUri?: string;
  accessTtlSeconds?: number;
  rateLimit?: RateLimit;
  rateLimitBody?: 'html' | 'json';
  rateLimitRetryAfterSeconds?: number;
  blockAfterViolations?: number;
  blockWindowMs?: number;
  blockDurationMs?: number;
  duplicateControl?: boolean;
  latencyMs?: number;
  pipelines?: AmoPipelineSeed[];
  leadCustomFields?: AmoCustomFieldSeed[];
  contactCustomFields?: AmoCustomFieldSeed[];
  customFieldFilter?: boolean;
  /**
   * Order of GET /api/v4/events. amoCRM documents none, so by default ('shuffled') each event gets
   * a random sort key when it is written: pages of one query agree with each other, but the order is
   * neither time nor id, and a poller that relies on one fails here. 'asc'/'desc' = creation order.
   */
  eventsOrder?: 'asc' | 'desc' | 'shuffled';
  /** Refresh-token lifetime (default 90 days: amoCRM's 3 months). An expired one gets 401 "Token has expired". */
  refreshTtlSeconds?: number;
  /**
   * How long an idle keep-alive connection stays open (Node's `server.keepAliveTimeout`): default
   * 5000, like Node and a short nginx `keepalive_timeout`; 0 = never closed. Default 0 when
   * `dropIdleConnectionsAfterMs` is set, so that mode's connections are not closed cleanly first.
   */
  keepAliveTimeoutMs?: number;
  /**
   * Off by default. Models a middlebox or server that forgot an idle connection without telling the
   * client: the connection stays open, but the first request on a connection idle for longer than
   * this gets a TCP reset and is never processed (recorded with `fault: 'stale-reset'`).
   */
  dropIdleConnectionsAfterMs?: number;
  /** Status changes within this window go out in one webhook POST (default 100 ms). */
  webhookBatchMs?: number;
  /** How long a webhook receiver may take to answer (default 2000 ms, amoCRM's 2 s). */
  webhookTimeoutMs?: number;
  /** Multiplies amoCRM's webhook retry ladder (5 min, 15 min, 15 min, 1 h); e.g. 0.0001 in tests. */
  webhookRetryScale?: number;
  /**
   * Epoch ms used for everything the fake stamps or judges by time: timestamps, events, token and
   * refresh lifetimes, the rate limit. Default: the real clock. Tests may step it to put several
   * status moves inside one second or to jump past a lifetime without waiting.
   */
  clock?: () => number;
  /**
   * Default false. true: every answer, whatever its status, repeats the request back — every header
   * (the bearer token), the query and the whole body (client_secret, code, refresh_token, the
   * candidate) — as an `echo` field of an object body, in a `<pre>` of an HTML page, and always in an
   * `x-echo-request` header (echo.ts). Not amoCRM's behaviour: a proxy's or middleware's, the worst case.
   */
  echo?: boolean;
}

export interface ForeignLeadOptions {
  name?: string;
  pipelineId?: number;
  statusId?: number;
  /** Text values of lead custom fields by field id, e.g. a hand-typed external id `{ 500: 'x' }`; none by default. */
  fields?: Record<number, string>;
  /** The user who created it (default 1, a manager; 0 would be a robot). */
  createdBy?: number;
  /** Unix seconds (default now). */
  createdAt?: number;
}

/** One POST of the webhook emitter to one receiver. */
export interface WebhookAttempt {
  url: string;
  /** 1 for the first try, up to 5 (3 unless the receiver answered 499 or 5xx). */
  attempt: number;
  /** Clock ms when sent. */
  at: number;
  /** The form body as sent (`leads[status][0][id]=…&account[subdomain]=…`). */
  body: string;
  leadIds: number[];
  /** The receiver's status; 0 when none came (refused, reset, 2 s timeout). */
  status: number;
  /** Only HTTP 100–299 counts, as on amoCRM. */
  delivered: boolean;
  /** Why there was no status, e.g. 'timeout' or 'ECONNREFUSED'. */
  error?: string;
  durationMs: number;
}

export interface FakeAmo {
  readonly url: string;
  readonly port: number;
  readonly requests: RecordedAmoRequest[];
  leads(): AmoLead[];
  contacts(): AmoContact[];
  events(): AmoEvent[];
  issueCode(): string;
  issueLongLivedToken(ttlSeconds: number): string;
  expireAccessTokens(): void;
  revokeAllTokens(): void;
  /**
   * Moves a lead as a manager would: writes a `lead_status_changed` event and triggers webhooks.
   * 142/143 stay in the lead's pipeline; a status of another pipeline (or `pipelineId`) moves it there.
   */
  setLeadStatus(leadId: number, statusId: number, pipelineId?: number): void;
  /** A lead this service did not deliver (typed in by hand, imported): for changes to leads not ours. */
  createForeignLead(opts?: ForeignLeadOptions): AmoLead;
  /** Registers a receiver of status-change webhooks (http/https URL). */
  addWebhook(url: string): void;
  /** Unregisters it; its pending retries are dropped. */
  removeWebhook(url: string): void;
  /** Every webhook POST attempt, in the order they finished. */
  readonly webhookAttempts: WebhookAttempt[];
  /** True when no webhook POST is pending, scheduled for retry or in flight. */
  webhooksIdle(): boolean;
  injectFault(f: AmoFault, opts?: FaultOptions): void;
  clearFaults(): void;
  setRateLimitBody(kind: 'html' | 'json'): void;
  setRateLimit(rl: RateLimit): void;
  setDuplicateControl(on: boolean): void;
  isBlocked(): boolean;
  unblock(): void;
  stats(): FakeAmoStats;
  /** Default filter: /api/v4 requests (the ones the rate limit applies to). */
  maxRequestsInAnyWindow(windowMs: number, filter?: (r: RecordedAmoRequest) => boolean): number;
  /** Stops listening and ends every held connection; pending webhook deliveries are dropped. */
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}
