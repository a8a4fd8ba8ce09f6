import { HttpAgent, HttpsAgent } from 'agentkeepalive';
import axios, { AxiosError, type AxiosInstance, type AxiosResponse } from 'axios';
import type { AdapterLogger, CrmHttp, CrmRequest, CrmResponse, RequestPurpose } from '../../adapters/types';
import { DeliveryError, LeadExportError } from '../domain/errors';
import { parseRetryAfter } from '../flow/retry-after';
import type { SecretMemory } from '../logging/secret-memory';
import { serializeQuery } from './query';

/**
 * The flow-controlled HTTP client every adapter uses for every CRM request.
 *
 * Why one place: the guarantees the architecture promises — the client's rate limit across all
 * processes, obeying 429/Retry-After for the whole client, origin pinning, timeouts that hold
 * whatever the server does on the wire, PII-free logs — hold only if no request can go around them.
 */

/** What the client needs from flow control; the channel's gate (src/channel/gate.ts) satisfies it. */
export interface RequestGate {
  /** Waits until a request of this purpose may be sent; returns an admission for sent(). */
  acquire(purpose: RequestPurpose): Promise<unknown>;
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
  purpose: RequestPurpose;
  status: number | 'network_error';
  durationMs: number;
  /** Response headers (in memory only: never logged). */
  headers?: Record<string, string>;
}

export interface CrmHttpOptions {
  clientId: string;
  baseUrl: string;
  timeoutMs: number;
  log: AdapterLogger;
  gate?: RequestGate;
  /** Called after every request (metrics). */
  observe?: (o: RequestObservation) => void;
  /** Called when a request is about to leave (after the gate, the circuit check and auth headers). */
  onSend?: (req: CrmRequest) => void;
  /** Default wait when a 429 names none (amoCRM's HTML 429 has no Retry-After). */
  defaultRateLimitWaitMs?: number;
  /** Bounds of a server's wait hint: `Retry-After: 0` still waits the minimum; an absurd one is capped. */
  retryAfterBoundsMs?: { min: number; max: number };
  /**
   * Called after the gate admitted a request and right before it is sent; a rejection stops it.
   * A request can wait in the limiter for a while, and the client's circuit may open meanwhile
   * (another process saw the outage or the 401): this is the last point at which not sending is free.
   */
  beforeSend?: (req: CrmRequest) => Promise<void>;
  /**
   * Remembers every credential this client sends (auth headers, token fields of `auth` requests and
   * of their answers), so the CRM's echo of them can be removed from any text by value.
   */
  secrets?: SecretMemory;
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ECONNABORTED',
  'ERR_CANCELED',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
  'ERR_BAD_RESPONSE',
]);

/**
 * Failures that happen before a connection exists: the request never left this process, so the CRM
 * cannot have created anything.
 */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ERR_SOCKET_CONNECTION_TIMEOUT']);

/**
 * An idle keep-alive socket is dropped after this long. Servers close idle connections too (Node's
 * default is 5 s, many proxies less): a socket we keep longer than the server does can be reset
 * under our next request — measured as a failed token refresh after ~6 s idle. Ours must go first.
 */
export const FREE_SOCKET_TIMEOUT_MS = 4_000;
const DEFAULT_RETRY_AFTER_BOUNDS = { min: 1_000, max: 60 * 60_000 };
const MAX_BODY_BYTES = 20 * 1024 * 1024;

export class FlowControlledHttp implements CrmHttp {
  readonly baseUrl: string;
  private readonly origin: string;
  private readonly axios: AxiosInstance;
  private readonly agents: { http: HttpAgent; https: HttpsAgent };
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
    // The socket's own inactivity timeout must never fire before our total deadline does.
    const socketTimeout = opts.timeoutMs + 5_000;
    this.agents = {
      http: new HttpAgent({ keepAlive: true, maxSockets: 16, freeSocketTimeout: FREE_SOCKET_TIMEOUT_MS, timeout: socketTimeout }),
      // TLS verification stays on; there is deliberately no option to turn it off.
      https: new HttpsAgent({ keepAlive: true, maxSockets: 16, freeSocketTimeout: FREE_SOCKET_TIMEOUT_MS, timeout: socketTimeout, rejectUnauthorized: true }),
    };
    this.axios = axios.create({
      httpAgent: this.agents.http,
      httpsAgent: this.agents.https,
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
      maxContentLength: MAX_BODY_BYTES,
      maxBodyLength: MAX_BODY_BYTES,
    });
  }

  private resolveUrl(path: string): string {
    if (/^https?:\/\//i.test(path)) {
      if (new URL(path).origin !== this.origin) {
        throw new DeliveryError('contract', `refusing a request to ${new URL(path).origin}: requests may only go to ${this.origin}`);
      }
      return path;
    }
    return `${this.baseUrl}${path.startsWith('/') ? '' : '/'}${path}`;
  }

  async request(req: CrmRequest): Promise<CrmResponse> {
    const base = this.resolveUrl(req.path);
    const qs = req.query ? serializeQuery(req.query) : '';
    const url = qs ? `${base}${base.includes('?') ? '&' : '?'}${qs}` : base;
    const admission: unknown = this.opts.gate ? await this.opts.gate.acquire(req.purpose) : undefined;
    if (this.opts.beforeSend) await this.opts.beforeSend(req);
    // Credentials are chosen after the wait, so a token cannot expire while its request queues.
    const authHeaders = req.auth ? await req.auth() : {};
    this.opts.secrets?.rememberHeaders(authHeaders, true);
    this.opts.secrets?.rememberHeaders(req.headers, false);
    if (req.purpose === 'auth') this.opts.secrets?.rememberFields(req.body);
    if (this.opts.gate?.sent) void this.opts.gate.sent(admission).catch(() => undefined);
    this.opts.onSend?.(req);
    const started = Date.now();
    const logPath = new URL(base).pathname; // never the query: it can carry a phone (amoCRM `query=`)
    const timeoutMs = req.timeoutMs ?? this.opts.timeoutMs;
    let res: AxiosResponse<string>;
    try {
      const isString = typeof req.body === 'string';
      res = await this.axios.request<string>({
        method: req.method,
        url,
        headers: {
          Accept: 'application/json',
          ...(req.body !== undefined && !isString ? { 'Content-Type': 'application/json' } : {}),
          ...req.headers,
          ...authHeaders,
        },
        data: req.body === undefined ? undefined : isString ? req.body : JSON.stringify(req.body),
        // A total deadline: axios' own `timeout` is a socket-inactivity timer, which a server that
        // trickles its body one byte at a time never trips.
        signal: AbortSignal.timeout(timeoutMs),
        timeout: timeoutMs,
      });
    } catch (err) {
      const durationMs = Date.now() - started;
      this.opts.observe?.({ clientId: this.opts.clientId, method: req.method, path: logPath, purpose: req.purpose, status: 'network_error', durationMs });
      throw this.networkError(err, req, logPath, durationMs, timeoutMs);
    }
    const durationMs = Date.now() - started;
    const headers = lowerHeaders(res.headers as Record<string, unknown>);
    const text = typeof res.data === 'string' ? res.data : '';
    const contentType = headers['content-type'] ?? '';
    const out: CrmResponse = { status: res.status, headers, text, body: parseBody(text, contentType), contentType, durationMs };
    // A login or refresh answer hands out tokens the CRM may echo later.
    if (req.purpose === 'auth' && res.status < 300) this.opts.secrets?.rememberFields(out.body);
    this.opts.observe?.({ clientId: this.opts.clientId, method: req.method, path: logPath, purpose: req.purpose, status: res.status, durationMs, headers });
    this.opts.log.debug({ method: req.method, path: logPath, purpose: req.purpose, status: res.status, durationMs }, 'crm request');

    if (res.status === 429) {
      this.consecutive429 += 1;
      const hinted = this.boundedHint(parseRetryAfter({ headers, body: out.body }));
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
    // A server that says when to come back (503 maintenance, 502/504 from a proxy, …) is obeyed by
    // every process: nobody sends to this client before then. The adapter still classifies the answer.
    if (res.status >= 400 && headers['retry-after'] !== undefined) {
      const hinted = this.boundedHint(parseRetryAfter({ headers, body: undefined }));
      if (hinted !== undefined) {
        out.retryAfterMs = hinted;
        await this.opts.gate?.holdFor(hinted, `crm answered ${res.status} with Retry-After`);
        this.opts.log.warn({ path: logPath, status: res.status, waitMs: hinted }, 'crm asked us to wait: holding all traffic to this client');
      }
    }
    if (res.status < 400) await this.opts.gate?.onSuccess?.();
    return out;
  }

  /** Clamps a server's wait hint: `0` still waits the minimum, an absurd one is capped. */
  private boundedHint(ms: number | undefined): number | undefined {
    if (ms === undefined) return undefined;
    const b = this.opts.retryAfterBoundsMs ?? DEFAULT_RETRY_AFTER_BOUNDS;
    return Math.min(b.max, Math.max(b.min, ms));
  }

  private networkError(err: unknown, req: CrmRequest, path: string, durationMs: number, timeoutMs: number): Error {
    // Our own refusals (a redirect to another origin) come back wrapped by axios/follow-redirects.
    for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
      if (e instanceof DeliveryError) return e;
      if (e instanceof LeadExportError) return new DeliveryError(e.kind === 'contract' ? 'contract' : 'transient', e.message);
    }
    const ax = err as AxiosError;
    const code = ax.code ?? (err as NodeJS.ErrnoException).code ?? 'network_error';
    const timedOut = code === 'ECONNABORTED' || code === 'ETIMEDOUT' || code === 'ERR_CANCELED' || durationMs >= timeoutMs || /timeout|aborted/i.test(ax.message ?? '');
    const what = timedOut ? `timed out after ${durationMs} ms` : `failed: ${code}`;
    this.opts.log.warn({ method: req.method, path, purpose: req.purpose, code, durationMs }, 'crm request failed');
    // Only a create can leave leads behind; a failed token refresh or lookup created nothing, so the
    // leads that waited for it are not uncertain (they would each be looked up for nothing).
    const mayHaveCreated = req.purpose === 'push' && (timedOut || !NOT_SENT_CODES.has(code));
    if (!NETWORK_CODES.has(code) && !timedOut && !/socket hang up/i.test(ax.message ?? '')) {
      return new DeliveryError('transient', `${req.method} ${path} ${what} (${ax.message})`, { code, uncertain: mayHaveCreated });
    }
    return new DeliveryError('transient', `${req.method} ${path} ${what}`, { code: timedOut ? 'timeout' : code, uncertain: mayHaveCreated });
  }

  /** Closes idle keep-alive sockets (a closed channel must not keep the process alive). */
  close(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
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
