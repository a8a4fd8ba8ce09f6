import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { QueryObject, QueryValue } from './types';
import { parseQuery } from './php-query';

/** Queries and form bodies are read as PHP's parse_str reads them; the rules are listed in php-query.ts. */
export { parseQuery };

export type QueryValueOrUndef = QueryValue | undefined;

export const HAL = 'application/hal+json';
export const PROBLEM = 'application/problem+json';

/** What a handler answers; the server applies faults, latency and recording around it. */
export interface Reply {
  status: number;
  /** Objects are JSON-encoded; strings are sent as is; undefined means an empty body. */
  body?: string | object;
  contentType?: string;
  headers?: Record<string, string>;
}

export interface RequestContext {
  method: string;
  path: string;
  query: QueryObject;
  headers: IncomingHttpHeaders;
  body: unknown;
  bodyKind: 'none' | 'json' | 'form' | 'text' | 'invalid-json';
  /** Where the fake is reachable from the caller's point of view (collection links must be followable). */
  baseUrl: string;
  nowMs: number;
}

export const noContent: Reply = { status: 204 };

export function hal(body: object, status = 200): Reply {
  return { status, body, contentType: HAL };
}

export function problem(status: number, title: string, detail: string, extra: Record<string, unknown> = {}): Reply {
  return { status, contentType: PROBLEM, body: { title, type: `https://httpstatus.es/${status}`, status, detail, ...extra } };
}

export function nginxPage(status: number, text: string): Reply {
  const title = `${status} ${text}`;
  const body = `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`;
  return { status, body, contentType: 'text/html' };
}

export interface ValidationError {
  code: string;
  path: string;
  detail: string;
}
export interface ValidationGroup {
  request_id: string;
  errors: ValidationError[];
}

export function validationFailed(groups: ValidationGroup[]): Reply {
  // Key order matches the captured responses: the error list first.
  return {
    status: 400,
    contentType: PROBLEM,
    body: { 'validation-errors': groups, title: 'Bad Request', type: 'https://httpstatus.es/400', status: 400, detail: 'Request validation failed' },
  };
}

export const emptyRequest = (): Reply => problem(400, 'Bad Request', 'Request data can not be empty');
export const limitExceeded = (max: number): Reply => problem(422, 'Unprocessable Entity', `Limit ${max} per page`);

export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    // A client that vanishes mid-body still gets its request recorded.
    req.on('error', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('aborted', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

export function parseBody(raw: string, contentType: string | undefined): { body: unknown; kind: RequestContext['bodyKind'] } {
  if (raw.length === 0) return { body: undefined, kind: 'none' };
  const ct = (contentType ?? '').toLowerCase();
  if (ct.includes('application/x-www-form-urlencoded')) return { body: parseQuery(raw), kind: 'form' };
  try {
    return { body: JSON.parse(raw) as unknown, kind: 'json' };
  } catch {
    return { body: raw, kind: ct.includes('json') ? 'invalid-json' : 'text' };
  }
}

export function qGet(q: QueryValue | undefined, ...path: string[]): QueryValue | undefined {
  let cur = q;
  for (const p of path) {
    if (cur === undefined || typeof cur === 'string') return undefined;
    cur = Array.isArray(cur) ? cur[Number(p)] : cur[p];
  }
  return cur;
}

/** Flattens `x`, `x[]`, `x[0]` and nested forms into the list of leaf strings. */
export function qList(v: QueryValue | undefined): string[] {
  if (v === undefined) return [];
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.flatMap((x) => qList(x));
  return Object.values(v).flatMap((x) => qList(x));
}

/** Like qList, also splitting comma-separated values (`filter[type]=a,b`). */
export function qSplitList(v: QueryValue | undefined): string[] {
  return qList(v)
    .flatMap((s) => s.split(','))
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

export function qInt(v: QueryValue | undefined): number | undefined {
  if (typeof v !== 'string' || !/^-?\d+$/.test(v.trim())) return undefined;
  return Number(v);
}

/** Entries of an object-shaped query value (`filter[statuses][0][...]`), arrays included. */
export function qEntries(v: QueryValue | undefined): QueryValue[] {
  if (v === undefined || typeof v === 'string') return [];
  return Array.isArray(v) ? v : Object.values(v);
}

export interface Range {
  from?: number;
  to?: number;
}

export function qRange(v: QueryValue | undefined): Range | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'string') {
    // Legacy v2 form `from,to`, or a single timestamp meaning "from".
    const [a, b] = v.split(',');
    const from = qInt(a);
    const to = b === undefined ? undefined : qInt(b);
    return from === undefined && to === undefined ? undefined : { from, to };
  }
  const from = qInt(qGet(v, 'from'));
  const to = qInt(qGet(v, 'to'));
  return from === undefined && to === undefined ? undefined : { from, to };
}

export function inRange(x: number | null, r: Range | undefined): boolean {
  if (!r) return true;
  if (x === null) return false;
  return (r.from === undefined || x >= r.from) && (r.to === undefined || x <= r.to);
}

export interface Paging {
  page: number;
  limit: number;
}

/** Reads page/limit; an over-limit `limit` gets the 422 amoCRM sends for over-sized pages. */
export function paging(q: QueryObject, defLimit: number, maxLimit: number): Paging | Reply {
  const limitRaw = q.limit;
  const pageRaw = q.page;
  const limit = limitRaw === undefined ? defLimit : qInt(limitRaw);
  const page = pageRaw === undefined ? 1 : qInt(pageRaw);
  if (limit === undefined || limit < 1) return problem(400, 'Bad Request', 'Invalid limit');
  if (limit > maxLimit) return limitExceeded(maxLimit);
  if (page === undefined || page < 1) return problem(400, 'Bad Request', 'Invalid page');
  return { page, limit };
}

export function isReply(x: Paging | Reply): x is Reply {
  return 'status' in x;
}

/** A HAL page, or 204 when the page is empty — amoCRM never sends an empty list. */
export function halPage<T>(ctx: RequestContext, p: Paging, all: T[], key: string, extra: Record<string, unknown> = {}): Reply {
  const items = all.slice((p.page - 1) * p.limit, p.page * p.limit);
  if (items.length === 0) return noContent;
  const link = (page: number): { href: string } => {
    const params = new URLSearchParams();
    for (const [k, v] of flattenQuery(ctx.query)) if (k !== 'page' && k !== 'limit') params.append(k, v);
    params.set('page', String(page));
    params.set('limit', String(p.limit));
    return { href: `${ctx.baseUrl}${ctx.path}?${params.toString()}` };
  };
  const links: Record<string, { href: string }> = { self: link(p.page) };
  // Like amoCRM, a full page always advertises a next page, even when it is the last one.
  if (items.length === p.limit) links.next = link(p.page + 1);
  if (p.page > 1) links.prev = link(p.page - 1);
  return hal({ ...extra, _page: p.page, _links: links, _embedded: { [key]: items } });
}

function flattenQuery(v: QueryValue, prefix = ''): Array<[string, string]> {
  if (typeof v === 'string') return [[prefix, v]];
  if (Array.isArray(v)) return v.flatMap((x) => flattenQuery(x, `${prefix}[]`));
  return Object.entries(v).flatMap(([k, x]) => flattenQuery(x, prefix ? `${prefix}[${k}]` : k));
}

export const unixNow = (nowMs: number): number => Math.floor(nowMs / 1000);
