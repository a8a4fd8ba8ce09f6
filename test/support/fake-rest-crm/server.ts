/**
 * The fake "home-made REST CRM": a real node:http server on loopback, so the generic REST adapter is
 * tested against real sockets, real timeouts and real connection failures rather than mocks.
 *
 * Rate limiting, fault selection and auth depend only on the request line and headers, and are
 * decided on arrival, in arrival order, as a gateway in front of a real CRM would. Handlers then run
 * synchronously once the body is in, so concurrent requests never interleave inside the store.
 * Nothing here writes to the console: request bodies carry personal data.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { AuthState } from './auth';
import { FaultQueue, SlidingWindow } from './flow';
import { type Body, type Ctx, CrmRoutes, error, json, MAX_BODY_BYTES, type Reply } from './routes';
import { CandidateStore, isPlainObject } from './store';
import type {
  FakeRestCrm,
  FakeRestCrmOptions,
  FakeRestCrmRateLimit,
  FakeRestCrmStats,
  FaultSpec,
  InjectFaultOptions,
  RecordedRequest,
  StoredCandidate,
} from './types';

const HOST = '127.0.0.1';

/** Epoch milliseconds from a monotonic source, so recorded arrival times never go backwards. */
function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Faults that stand in for infrastructure failing in front of the CRM: the CRM never sees the request. */
const INFRA_FAULTS: ReadonlySet<FaultSpec['type']> = new Set(['status', 'timeout', 'reset', 'rate-limit', 'rate-limit-body', 'unauthorized']);

function readBody(req: http.IncomingMessage): Promise<Body> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      // Keep draining past the limit so the 413 can still be written on this connection.
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => {
      if (tooLarge) return resolve({ kind: 'too_large' });
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') return resolve({ kind: 'none' });
      try {
        resolve({ kind: 'json', value: JSON.parse(text) as unknown });
      } catch {
        resolve({ kind: 'invalid', text });
      }
    });
    req.on('error', reject);
  });
}

/** `{"id":...}` becomes `{"data":{"candidate":{"uuid":...}}}`: the kind of silent API change a client must notice. */
function reshape(body: unknown): unknown {
  if (isPlainObject(body) && typeof body.id === 'string') {
    const { id, ...rest } = body;
    return { data: { candidate: { uuid: id, ...rest } } };
  }
  return { data: body };
}

export class FakeRestCrmServer implements FakeRestCrm {
  readonly requests: RecordedRequest[] = [];
  private readonly server: http.Server;
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly auth: AuthState;
  private readonly store: CandidateStore;
  private readonly faults = new FaultQueue();
  private readonly routes: CrmRoutes;
  private limiter: SlidingWindow | undefined;
  private latencyMs: number;
  private boundPort: number;
  private listening = false;
  private closed = false;
  /** Serialises down()/up()/close() so overlapping calls cannot interleave listen and close. */
  private lifecycle: Promise<void> = Promise.resolve();
  private rateLimitedCount = 0;

  constructor(opts: FakeRestCrmOptions = {}) {
    this.boundPort = opts.port ?? 0;
    this.auth = new AuthState(opts.auth ?? { mode: 'none' });
    this.store = new CandidateStore(opts.requiredFields ?? ['external_id'], opts.idPrefix ?? 'cand-');
    this.latencyMs = 0;
    this.setLatency(opts.latencyMs ?? 0);
    this.setRateLimit(opts.rateLimit);
    this.routes = new CrmRoutes(this.auth, this.store, opts.batchMaxSize ?? 100, () => this.limiter?.retryAfterSeconds ?? 1);
    this.server = http.createServer((req, res) => this.onRequest(req, res));
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  get port(): number {
    return this.boundPort;
  }

  get url(): string {
    return `http://${HOST}:${this.boundPort}`;
  }

  // ---------------------------------------------------------------------------------------------
  // Control API

  candidates(): StoredCandidate[] {
    // Copies, so a test that pokes at the result cannot change what the server will answer.
    return structuredClone(this.store.all());
  }

  injectFault(fault: FaultSpec, opts?: InjectFaultOptions): void {
    this.faults.add(fault, opts);
  }

  clearFaults(): void {
    this.faults.clear();
  }

  setLatency(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new Error(`latency must be a finite number >= 0, got ${ms}`);
    this.latencyMs = ms;
  }

  setRateLimit(rl: FakeRestCrmRateLimit | undefined): void {
    if (!rl) this.limiter = undefined;
    else if (this.limiter) this.limiter.reconfigure({ ...rl });
    else this.limiter = new SlidingWindow({ ...rl });
  }

  expireTokens(): void {
    this.auth.expireAll();
  }

  revokeRefreshTokens(): void {
    this.auth.revokeAllRefresh();
  }

  setCredentials(username: string, password: string): void {
    this.auth.setCredentials(username, password);
  }

  setStatus(candidateId: string, status: string): void {
    this.store.setStatus(candidateId, status);
  }

  stats(): FakeRestCrmStats {
    return {
      logins: this.auth.logins,
      refreshes: this.auth.refreshes,
      revokes: this.auth.revokes,
      created: this.store.created,
      duplicates: this.store.duplicates,
      rateLimited: this.rateLimitedCount,
    };
  }

  up(): Promise<void> {
    return this.serially(async () => {
      if (this.closed) throw new Error('fake REST CRM is closed; start a new one');
      if (this.listening) return;
      await new Promise<void>((resolve, reject) => {
        const onError = (err: Error): void => {
          this.server.off('listening', onListening);
          reject(err);
        };
        const onListening = (): void => {
          this.server.off('error', onError);
          resolve();
        };
        this.server.once('error', onError);
        this.server.once('listening', onListening);
        this.server.listen(this.boundPort, HOST);
      });
      this.listening = true;
      this.boundPort = (this.server.address() as AddressInfo).port;
    });
  }

  down(): Promise<void> {
    return this.serially(() => this.stop());
  }

  close(): Promise<void> {
    return this.serially(async () => {
      this.closed = true;
      await this.stop();
    });
  }

  private serially(op: () => Promise<void>): Promise<void> {
    const run = this.lifecycle.then(op);
    // A failed up() must not poison every later lifecycle call.
    this.lifecycle = run.catch(() => undefined);
    return run;
  }

  private async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    if (!this.listening) return;
    this.listening = false;
    // close() stops accepting at once (new connections are refused); its callback waits for the
    // open sockets, which are destroyed right after, including ones held by a 'timeout' fault.
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  // ---------------------------------------------------------------------------------------------
  // Request pipeline

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const at = nowMs();
    const url = new URL(req.url ?? '/', `http://${HOST}`);
    const method = (req.method ?? 'GET').toUpperCase();
    const path = url.pathname;
    const query: Record<string, string> = {};
    for (const [k, v] of url.searchParams) if (!(k in query)) query[k] = v;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    const rec: RecordedRequest = { at, method, path, query, headers, body: undefined, status: 0, durationMs: 0 };
    this.requests.push(rec);
    res.on('close', () => {
      rec.durationMs = nowMs() - at;
      rec.status = res.headersSent ? res.statusCode : 0;
    });

    const fault = this.faults.take(method, path);
    const isApi = path === '/api' || path.startsWith('/api/');
    // Decided now, not after the body, so the window is measured at arrival and in arrival order.
    const limited = isApi && !(fault && INFRA_FAULTS.has(fault.type)) && this.limiter !== undefined && !this.limiter.tryAccept(at);
    const authFailure = isApi && !limited ? this.auth.checkApi(req.headers, at) : undefined;

    readBody(req).then(
      (body) => {
        rec.body = body.kind === 'json' ? body.value : body.kind === 'invalid' ? body.text : undefined;
        const ctx: Ctx = { method, path, query, headers: req.headers, body, at, limited, authFailure };
        if (fault) return this.applyFault(fault, res, ctx);
        this.send(res, this.routes.handle(ctx));
      },
      // The client went away mid-body: there is nobody left to answer.
      () => res.destroy(),
    );
  }

  private applyFault(fault: FaultSpec, res: http.ServerResponse, ctx: Ctx): void {
    switch (fault.type) {
      case 'status':
        return this.send(res, {
          status: fault.status,
          body: fault.body ?? { error: (http.STATUS_CODES[fault.status] ?? 'error').toLowerCase().replace(/\W+/g, '_') },
          headers: fault.headers,
        });
      case 'timeout':
        // With ms, the gateway gives up first; the request never reached the CRM, so nothing is created.
        if (fault.ms !== undefined) this.send(res, error(504, 'gateway_timeout'), fault.ms);
        return;
      case 'reset':
        // RST rather than FIN, so the client sees ECONNRESET as with a crashed upstream.
        res.socket?.resetAndDestroy();
        return;
      case 'rate-limit':
        return this.send(res, json(429, { error: 'rate_limited' }, { 'Retry-After': fault.retryAfter }));
      case 'rate-limit-body':
        return this.send(res, json(429, { error: 'rate_limited', retry_after: fault.retryAfterSeconds }));
      case 'unauthorized':
        return this.send(res, error(401, 'token_expired'));
      case 'shape': {
        const reply = this.routes.handle(ctx);
        const ok = reply.status >= 200 && reply.status < 300 && reply.body !== undefined;
        return this.send(res, ok ? { ...reply, body: reshape(reply.body) } : reply);
      }
      case 'create-then-delay':
        return this.send(res, this.routes.handle(ctx), fault.ms);
    }
  }

  private send(res: http.ServerResponse, reply: Reply, extraDelayMs = 0): void {
    if (reply.status === 429) this.rateLimitedCount++;
    const write = (): void => {
      if (res.destroyed || res.writableEnded) return;
      const headers: Record<string, string> = { ...reply.headers };
      const noBody = reply.body === undefined || reply.status === 204 || reply.status === 304;
      let payload = '';
      if (!noBody) {
        const isText = typeof reply.body === 'string';
        payload = isText ? (reply.body as string) : JSON.stringify(reply.body);
        const hasType = Object.keys(headers).some((h) => h.toLowerCase() === 'content-type');
        if (!hasType) headers['Content-Type'] = isText ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8';
        headers['Content-Length'] = String(Buffer.byteLength(payload));
      }
      res.writeHead(reply.status, headers);
      res.end(noBody ? undefined : payload);
    };
    const delay = this.latencyMs + extraDelayMs;
    if (delay <= 0) return write();
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      write();
    }, delay);
    this.timers.add(timer);
  }
}
