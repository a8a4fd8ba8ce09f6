import type { IncomingHttpHeaders } from 'node:http';

/** A query string parsed PHP-style (`filter[statuses][0][status_id]=1`, `filter[id][]=2`), as amoCRM reads it. */
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
  /** 0 while pending, or when no response reached the socket (reset, timeout, client gave up). */
  status: number;
  durationMs: number;
  /** The injected fault that shaped this request, if any. */
  fault?: AmoFault['type'];
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

export type AmoFault =
  /** 502/503/504 answer with an nginx page unless `body: 'empty'`. */
  | { type: 'status'; status: 500 | 502 | 503 | 504 | 402 | 403; body?: 'html' | 'empty' }
  | { type: 'reset' }
  | { type: 'timeout' }
  | { type: 'create-then-delay'; ms: number }
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
  /** Order of GET /api/v4/events; amoCRM documents none, the UI feed is newest first (default 'desc'). */
  eventsOrder?: 'asc' | 'desc';
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
  setLeadStatus(leadId: number, statusId: number, pipelineId?: number): void;
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
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}
