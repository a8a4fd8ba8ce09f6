import type { IncomingHttpHeaders } from 'node:http';
import type { Reply } from './http';

/**
 * The `echo` option: every answer repeats the request back — every header (Authorization with the
 * access token), the query and the whole body (the token endpoint's client_secret, code and
 * refresh_token; the candidate in a complex create) — whatever the status. amoCRM does not do this;
 * a proxy, a debug mode or a customer's middleware in front of it can, and it is the worst case for
 * what lead-export may log, show in status or keep on a job.
 *
 *  - a problem+json or HAL object: an extra top-level `echo` field (nothing we read moves);
 *  - an HTML page (nginx's 403/429/5xx): the echo in a `<pre>` before `</body>`;
 *  - no body (an error without one): `{"echo": …}`; 204 keeps none;
 *  - a plain array (the complex create's answer): unchanged, since it is read by position;
 *  - always: the `x-echo-request` header (JSON, non-ASCII as \uXXXX).
 */
export interface EchoedRequest {
  method: string;
  path: string;
  query: unknown;
  headers: IncomingHttpHeaders;
  body: unknown;
}

function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function withEcho(reply: Reply, echo: EchoedRequest): Reply {
  const headers = { ...reply.headers, 'x-echo-request': asciiJson(echo) };
  if (reply.status === 204) return { ...reply, headers };
  if (reply.body === undefined) return { ...reply, headers, body: { echo }, contentType: reply.contentType ?? 'application/json' };
  if (typeof reply.body === 'string') {
    const pre = `<pre>${JSON.stringify({ echo })}</pre>\r\n`;
    const at = reply.body.lastIndexOf('</body>');
    return { ...reply, headers, body: at >= 0 ? `${reply.body.slice(0, at)}${pre}${reply.body.slice(at)}` : `${reply.body}\n${pre}` };
  }
  if (Array.isArray(reply.body)) return { ...reply, headers };
  return { ...reply, headers, body: { ...reply.body, echo } };
}
