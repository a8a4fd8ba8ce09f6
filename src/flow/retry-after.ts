/**
 * How long a CRM asked us to wait, from a 429/503 response. Pure: no I/O, no clock unless `now` is omitted.
 *
 * Precedence: the standard `Retry-After` header, then a JSON body field (`retry_after` / `retryAfter`,
 * seconds, top level), then rate-limit reset headers. Values that do not parse are ignored rather than
 * guessed at, so a garbage header never turns into a zero wait or a day-long one.
 */

export const MAX_RETRY_AFTER_MS = 24 * 60 * 60 * 1000;

export interface RetryAfterInput {
  headers: Record<string, string>;
  body: unknown;
  /** ms since epoch; defaults to Date.now(). Needed for HTTP dates and epoch reset headers. */
  now?: number;
}

/** Returns the wait in ms, clamped to [0, 24 h], or undefined when the response says nothing usable. */
export function parseRetryAfter(input: RetryAfterInput): number | undefined {
  const now = input.now ?? Date.now();
  const headers = lowerCaseKeys(input.headers);

  const fromHeader = parseRetryAfterValue(headers['retry-after'], now);
  if (fromHeader !== undefined) return clamp(fromHeader);

  const fromBody = parseBody(input.body);
  if (fromBody !== undefined) return clamp(fromBody);

  // Seconds until the window resets (Discord-style and the IETF RateLimit-Reset draft).
  for (const name of ['x-ratelimit-reset-after', 'ratelimit-reset']) {
    const s = parseSeconds(headers[name]);
    if (s !== undefined) return clamp(s * 1000);
  }
  // X-RateLimit-Reset means epoch seconds at GitHub and friends, but delta seconds elsewhere;
  // a value that large can only be an epoch.
  const reset = parseSeconds(headers['x-ratelimit-reset']);
  if (reset !== undefined) {
    if (reset >= 1e12) return clamp(reset - now); // epoch ms
    if (reset >= 1e9) return clamp(reset * 1000 - now); // epoch seconds
    return clamp(reset * 1000);
  }
  return undefined;
}

/** `Retry-After: <seconds>` or `Retry-After: <HTTP-date>` (RFC 9110 §10.2.3). */
export function parseRetryAfterValue(value: string | undefined, now: number): number | undefined {
  const seconds = parseSeconds(value);
  if (seconds !== undefined) return seconds * 1000;
  if (value === undefined) return undefined;
  const v = value.trim();
  // Date.parse accepts almost anything ("1", "soon 5"); an HTTP date always names a month or weekday.
  if (!/[a-z]{3}/i.test(v) || !/\d{1,2}:\d{2}/.test(v)) return undefined;
  const at = Date.parse(v);
  if (!Number.isFinite(at)) return undefined;
  return at - now;
}

function parseBody(body: unknown): number | undefined {
  let obj = body;
  if (typeof body === 'string') {
    try {
      obj = JSON.parse(body) as unknown;
    } catch {
      return undefined;
    }
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return undefined;
  const rec = obj as Record<string, unknown>;
  for (const field of ['retry_after', 'retryAfter']) {
    const v = rec[field];
    const s = typeof v === 'number' ? (Number.isFinite(v) && v >= 0 ? v : undefined) : typeof v === 'string' ? parseSeconds(v) : undefined;
    if (s !== undefined) return s * 1000;
  }
  return undefined;
}

/** Non-negative decimal seconds; anything else (negative, hex, empty, units) is garbage. */
function parseSeconds(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (!/^\d+(\.\d+)?$/.test(v)) return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

function lowerCaseKeys(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (typeof v === 'string') out[k.toLowerCase()] = v;
  return out;
}

function clamp(ms: number): number {
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, Math.ceil(ms)));
}
