/**
 * The fake HRDrom's endpoints and the contract's whole-request checks, free of sockets and timers:
 *
 *   GET  /healthz             200 {"ok":true}
 *   POST /v1/lead-progress    401 → 415 → 413 (bytes) → 400 (JSON) → 413 (count) → 400 (fields) → a batch
 *
 * A request that passes every check comes back as its events; the server decides (with faults and
 * the ledger) what to record and answer.
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { parseProgressBatch, type ProgressErrorBody, type ProgressEvent } from '../../../src/domain/progress';
import { PROGRESS_PATH } from './faults';

/** Far above the largest valid batch (about 3.5 MB), small enough to protect test memory. */
export const MAX_BODY_BYTES = 5 * 1024 * 1024;

export type Body = { kind: 'none' } | { kind: 'json'; value: unknown } | { kind: 'invalid' } | { kind: 'too_large' };

export interface Reply {
  status: number;
  /** undefined: no body; anything else is sent as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
}

export type Routed =
  | { kind: 'reply'; reply: Reply; /** refused by a contract check (400/401/413/415) */ refused: boolean; eventCount: number }
  | { kind: 'batch'; events: ProgressEvent[] };

export interface RouteInput {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Body;
}

const reply = (status: number, body?: unknown, headers?: Record<string, string>): Reply => ({ status, body, headers });
const refuse = (status: number, body: ProgressErrorBody, eventCount = 0, headers?: Record<string, string>): Routed => ({
  kind: 'reply',
  reply: reply(status, body, headers),
  refused: true,
  eventCount,
});
const plain = (r: Reply): Routed => ({ kind: 'reply', reply: r, refused: false, eventCount: 0 });

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Compared in constant time, as a real receiver should; lengths may leak, the token may not. */
function tokenMatches(authorization: string | undefined, token: string): boolean {
  const m = /^Bearer +(\S+) *$/i.exec(authorization ?? '');
  if (!m) return false;
  const given = Buffer.from(m[1]);
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

function isJsonType(contentType: string | undefined): boolean {
  return (contentType ?? '').split(';')[0].trim().toLowerCase() === 'application/json';
}

export class HrdromRoutes {
  constructor(
    private readonly token: string,
    private readonly maxEvents: () => number,
  ) {}

  route(input: RouteInput): Routed {
    const { method, path } = input;
    if (path === '/healthz') {
      if (method === 'GET' || method === 'HEAD') return plain(reply(200, method === 'HEAD' ? undefined : { ok: true }));
      return plain(reply(405, { error: 'method_not_allowed' }, { Allow: 'GET, HEAD' }));
    }
    if (path !== PROGRESS_PATH) return plain(reply(404, { error: 'not_found' }));
    if (method !== 'POST') return plain(reply(405, { error: 'method_not_allowed' }, { Allow: 'POST' }));
    return this.checkWriteBack(input);
  }

  private checkWriteBack({ headers, body }: RouteInput): Routed {
    if (!tokenMatches(header(headers, 'authorization'), this.token)) {
      return refuse(401, { error: 'unauthorized' }, 0, { 'WWW-Authenticate': 'Bearer realm="hrdrom"' });
    }
    if (!isJsonType(header(headers, 'content-type'))) return refuse(415, { error: 'unsupported_media_type' });
    if (body.kind === 'too_large') return refuse(413, { error: 'payload_too_large', max: MAX_BODY_BYTES });
    if (body.kind === 'none') return refuse(400, { error: 'invalid_body', details: [{ path: '', message: 'the body is empty; expected {"events":[...]}' }] });
    if (body.kind === 'invalid') return refuse(400, { error: 'invalid_body', details: [{ path: '', message: 'the body is not valid JSON' }] });
    const raw = body.value;
    const events = raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? (raw as { events?: unknown }).events : undefined;
    const eventCount = Array.isArray(events) ? events.length : 0;
    const max = this.maxEvents();
    if (eventCount > max) return refuse(413, { error: 'too_many_events', max }, eventCount);
    const parsed = parseProgressBatch(raw);
    if (!parsed.ok) return refuse(400, { error: 'invalid_body', details: parsed.issues }, eventCount);
    return { kind: 'batch', events: parsed.value.events };
  }
}
