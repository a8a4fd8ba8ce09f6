/**
 * What a route handler sees (Ctx) and gives back (Reply), and the helpers every route file shares.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { AuthFailure } from './auth';
import { isPlainObject } from './store';

/** Big enough for any sane batch, small enough that a runaway client cannot exhaust test memory. */
export const MAX_BODY_BYTES = 5 * 1024 * 1024;

export type Body = { kind: 'none' } | { kind: 'json'; value: unknown } | { kind: 'invalid'; text: string } | { kind: 'too_large' };

export interface Reply {
  status: number;
  /** undefined: no body. A string is sent as is (e.g. an HTML error page); anything else as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
}

export interface Ctx {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  body: Body;
  at: number;
  /** Decided on arrival by the server's rate limiter (API paths only). */
  limited: boolean;
  /** Decided on arrival by the auth check (API paths only). */
  authFailure: AuthFailure | undefined;
  /** Decoded `:id` of /api/candidates/:id. */
  id?: string;
}

export type Handler = (ctx: Ctx) => Reply;

/** Handlers of one path by method; a method not listed gets 405 with Allow. */
export type MethodRoutes = Record<string, Handler>;

export const json = (status: number, body: unknown, headers?: Record<string, string>): Reply => ({ status, body, headers });
export const error = (status: number, code: string, extra: Record<string, unknown> = {}): Reply => json(status, { error: code, ...extra });

export function firstHeader(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The parsed object body, or the 400 reply to send instead. */
export function jsonObject(ctx: Ctx): { value: Record<string, unknown> } | { reply: Reply } {
  if (ctx.body.kind === 'invalid') return { reply: error(400, 'invalid_json') };
  if (ctx.body.kind !== 'json' || !isPlainObject(ctx.body.value)) return { reply: error(400, 'bad_request') };
  return { value: ctx.body.value };
}

/** A query parameter that must be an integer >= min, or the 400 naming it; `fallback` when absent. */
export function intParam(query: Record<string, string>, name: string, min: number, fallback: number): { value: number } | { reply: Reply } {
  const raw = query[name];
  if (raw === undefined) return { value: fallback };
  if (!/^\d{1,9}$/.test(raw) || Number(raw) < min) {
    return { reply: error(400, 'invalid_parameter', { parameter: name, message: `must be an integer >= ${min}` }) };
  }
  return { value: Number(raw) };
}
