/**
 * The `echo` option: a CRM that repeats back everything it received — every request header
 * (Authorization, Cookie, X-Api-Key, …), the query and the whole body — in every answer it gives,
 * whatever the status. Real servers do this in error pages, debug modes and "invalid request"
 * bodies; it is the worst case for what lead-export may log, show in status or keep on a job.
 *
 * Where the echo goes, so that it never changes what a client can parse:
 *  - an object body (JSON): an extra top-level `echo` field;
 *  - a text body (an HTML page, plain text): the echo as JSON, appended;
 *  - no body (an error without one): the body becomes `{"echo": …}`; 204/304 keep none;
 *  - an array body (a list answer): unchanged, since a client reads it by position;
 *  - always, for every status: the `X-Echo-Request` response header (JSON, non-ASCII as \uXXXX).
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Reply } from './reply';
import { isPlainObject } from './store';

export interface EchoedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  /** Exactly as received (lower-case names). */
  headers: IncomingHttpHeaders;
  /** Parsed JSON, the raw text when it was not JSON, undefined when there was none. */
  body: unknown;
}

/** A header value may only hold Latin-1: everything else is escaped the way JSON allows. */
function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function withEcho(reply: Reply, echo: EchoedRequest): Reply {
  const headers = { ...reply.headers, 'X-Echo-Request': asciiJson(echo) };
  if (reply.status === 204 || reply.status === 304) return { ...reply, headers };
  if (reply.body === undefined) return { ...reply, headers, body: { echo } };
  if (typeof reply.body === 'string') return { ...reply, headers, body: `${reply.body}\n${JSON.stringify({ echo })}` };
  if (isPlainObject(reply.body)) return { ...reply, headers, body: { ...reply.body, echo } };
  return { ...reply, headers };
}
