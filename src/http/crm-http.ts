import http from 'node:http';
import https from 'node:https';
import axios, { AxiosError, type AxiosInstance, type AxiosResponse } from 'axios';
import type { AdapterLogger, CrmHttp, CrmRequest, CrmResponse } from '../../adapters/types';
import { DeliveryError, LeadExportError } from '../domain/errors';
import { parseRetryAfter } from '../flow/retry-after';

/**
 * The flow-controlled HTTP client every adapter uses for every CRM request.
 *
 * Why one place: the guarantees the architecture promises — the client's rate limit across all
 * processes, obeying 429/Retry-After for the whole client, origin pinning, timeouts, PII-free logs —
 * hold only if no request can go around them.
 */

/** What the client needs from flow control; src/flow's SharedRateLimiter satisfies it. */
export interface RequestGate {
  acquire(signal?: AbortSignal): Promise<unknown>;
  /**
   * The request admitted by acquire() — given what acquire() returned — is being sent now. Not
   * awaited: it must not delay the send.
   */
  sent?(admission: unknown): Promise<unknown>;
  holdFor(ms: number, reason: string): Promise<void>;
  onRateLimited?(): Promise<unknown>;
  onSuccess?(): Promise<unknown>;
}

export interface RequestObservation {
  clientId: string;
  method: string;
  path: string;
  purpose: CrmRequest['purpose'];
  status: number | 'network_error';
  durationMs: number;
}

export interface CrmHttpOptions {
  clientId: string;
  baseUrl: string;
  timeoutMs: number;
  log: AdapterLogger;
  gate?: RequestGate;
  /** Called after every request (metrics). */
  observe?: (o: RequestObservation) => void;
  /** Default wait when a 429 names none (amoCRM's HTML 429 has no Retry-After). */
  defaultRateLimitWaitMs?: number;
  /**
   * Called after the gate admitted a request and right before it is sent; a rejection stops it.
   * A request can wait in the limiter for a while, and the client's circuit may open meanwhile
   * (another process saw the outage or the 401): this is the last point at which not sending is free.
   */
  beforeSend?: (req: CrmRequest) => Promise<void>;
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ECONNABORTED', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ERR_SOCKET_CONNECTION_TIMEOUT']);

/**
 * Failures that happen before a connection exists: the request never left this process, so the CRM
 * cannot have created anything. Marking such a failure uncertain would make every lead of the batch
 * look itself up first after the CRM comes back — one extra rate-limited request per lead after an
 * outage, for nothing.
 */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ERR_SOCKET_CONNECTION_TIMEOUT']);

export class FlowControlledHttp implements CrmHttp {
  readonly baseUrl: string;
  private readonly origin: string;
  private readonly axios: AxiosInstance;
  private consecutive429 = 0;

  constructor(private readonly opts: CrmHttpOptions) {
    let url: URL;
    try {
      url = new URL(opts.baseUrl);
    } catch {
      throw new LeadExportError('config', `baseUrl '${opts.baseUrl}' is not a valid URL`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new LeadExportError('config', `baseUrl must be http(s), got ${url.protocol}`);
    }
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.origin = url.origin;
    const origin = this.origin;
    this.axios = axios.create({
      timeout: opts.timeoutMs,
      // Keep-alive: a client's CRM gets a steady stream of small requests; reconnecting each time costs a TLS handshake.
      httpAgent: new http.Agent({ keepAlive: true, maxSockets: 16 }),
      // TLS verification stays on; there is deliberately no option to turn it off.
      httpsAgent: new https.Agent({ keepAlive: true, maxSockets: 16, rejectUnauthorized: true }),
      validateStatus: () => true,
      responseType: 'text',
      transformResponse: [(d: unknown) => d],
      maxRedirects: 3,
      // A redirect may not take a lead (or our credentials) to another host.
      beforeRedirect: (options: Record<string, unknown>) => {
        const target = `${String(options.protocol)}//${String(options.hostname)}${options.port ? `:${String(options.port)}` : ''}`;
        if (new URL(target).origin !== origin) {
          throw new LeadExportError('contract', `the CRM redirected to another origin (${new URL(target).origin}); redirects may only stay on ${origin}`);
        }
      },
      maxContentLength: 20 * 1024 * 1024,
    });
  }

  private resolveUrl(path: string): string {
    if (/^https?:\/\//i.test(path)) {
      if (new URL(path).origin !== this.origin) {
        throw new LeadExportError('contract', `refusing a request to ${new URL(path).origin}: requests may only go to ${this.origin}`);
      }
      return path;
    }
    return `${this.baseUrl}${path.startsWith('/') ? '' : '/'}${path}`;
  }

  async request(req: CrmRequest): Promise<CrmResponse> {
    const url = this.resolveUrl(req.path);
    const admission: unknown = this.opts.gate ? await this.opts.gate.acquire() : undefined;
    if (this.opts.beforeSend) await this.opts.beforeSend(req);
    if (this.opts.gate?.sent) void this.opts.gate.sent(admission).catch(() => undefined);
    const started = Date.now();
    const logPath = new URL(url).pathname; // never the query: it can carry a phone (amoCRM `query=`)
    let res: AxiosResponse<string>;
    try {
      const isString = typeof req.body === 'string';
      res = await this.axios.request<string>({
        method: req.method,
        url,
        params: req.query,
        paramsSerializer: { indexes: null },
        headers: {
          Accept: 'application/json',
          ...(req.body !== undefined && !isString ? { 'Content-Type': 'application/json' } : {}),
          ...req.headers,
        },
        data: req.body === undefined ? undefined : isString ? req.body : JSON.stringify(req.body),
        timeout: req.timeoutMs ?? this.opts.timeoutMs,
      });
    } catch (err) {
      const durationMs = Date.now() - started;
      this.opts.observe?.({ clientId: this.opts.clientId, method: req.method, path: logPath, purpose: req.purpose, status: 'network_error', durationMs });
      throw this.networkError(err, req, logPath, durationMs);
    }
    const durationMs = Date.now() - started;
    const headers = lowerHeaders(res.headers as Record<string, unknown>);
    const text = typeof res.data === 'string' ? res.data : '';
    const contentType = headers['content-type'] ?? '';
    const out: CrmResponse = { status: res.status, headers, text, body: parseBody(text, contentType), contentType, durationMs };
    this.opts.observe?.({ clientId: this.opts.clientId, method: req.method, path: logPath, purpose: req.purpose, status: res.status, durationMs });
    this.opts.log.debug({ method: req.method, path: logPath, purpose: req.purpose, status: res.status, durationMs }, 'crm request');

    if (res.status === 429) {
      this.consecutive429 += 1;
      const hinted = parseRetryAfter({ headers, body: out.body });
      // No hint (amoCRM's HTML 429): wait 1 s, 2 s, 4 s … up to a minute — never hot-retry a 429.
      const fallback = Math.min((this.opts.defaultRateLimitWaitMs ?? 1000) * 2 ** Math.min(this.consecutive429 - 1, 6), 60_000);
      const waitMs = hinted ?? fallback;
      if (this.opts.gate) {
        await this.opts.gate.holdFor(waitMs, 'crm answered 429');
        await this.opts.gate.onRateLimited?.();
      }
      this.opts.log.warn({ path: logPath, waitMs, hinted: hinted !== undefined }, 'crm rate limit hit: holding all traffic to this client');
      throw new DeliveryError('rate_limited', `the CRM answered 429 Too Many Requests; waiting ${waitMs} ms`, {
        status: 429,
        retryAfterMs: waitMs,
        details: { rateLimitHeaders: rateLimitHeaders(headers) },
      });
    }
    this.consecutive429 = 0;
    if (res.status < 400) await this.opts.gate?.onSuccess?.();
    return out;
  }

  private networkError(err: unknown, req: CrmRequest, path: string, durationMs: number): Error {
    // Our own refusals (a redirect to another origin) come back wrapped by axios/follow-redirects.
    for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
      if (e instanceof LeadExportError) {
        return e.kind === 'contract' && !(e instanceof DeliveryError) ? new DeliveryError('contract', e.message) : e;
      }
    }
    const ax = err as AxiosError;
    const code = ax.code ?? (err as NodeJS.ErrnoException).code ?? 'network_error';
    const timedOut = code === 'ECONNABORTED' || code === 'ETIMEDOUT' || /timeout/i.test(ax.message ?? '');
    const what = timedOut ? `timed out after ${durationMs} ms` : `failed: ${code}`;
    this.opts.log.warn({ method: req.method, path, purpose: req.purpose, code, durationMs }, 'crm request failed');
    if (!NETWORK_CODES.has(code) && !timedOut && !/socket hang up/i.test(ax.message ?? '')) {
      return new DeliveryError('transient', `${req.method} ${path} ${what} (${ax.message})`, { code });
    }
    const uncertain = timedOut || !NOT_SENT_CODES.has(code);
    return new DeliveryError('transient', `${req.method} ${path} ${what}`, { code: timedOut ? 'timeout' : code, details: uncertain ? { uncertain: true } : undefined });
  }
}

/**
 * The headers in which a CRM states its rate limit (X-RateLimit-*, the IETF RateLimit-* draft,
 * Retry-After). Safe to keep and print: they carry numbers, never credentials or personal data.
 */
export function rateLimitHeaders(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    const name = k.toLowerCase();
    if (name === 'retry-after' || name.startsWith('x-ratelimit-') || name.startsWith('ratelimit')) out[name] = v;
  }
  return out;
}

function lowerHeaders(h: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h ?? {})) {
    if (v === undefined || v === null) continue;
    out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : String(v);
  }
  return out;
}

function parseBody(text: string, contentType: string): unknown {
  if (!text) return undefined;
  if (/json/i.test(contentType) || /^\s*[[{]/.test(text)) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

/** Cuts a CRM's error text down to something safe and short enough to keep per attempt. */
export function snippet(text: string, max = 500): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}
