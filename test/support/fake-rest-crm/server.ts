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
import { Connections } from './connections';
import { applyFault, INFRA_FAULTS } from './fault-replies';
import { FaultQueue, SlidingWindow } from './flow';
import { resolveOptions } from './options';
import { type Body, type Ctx, MAX_BODY_BYTES } from './reply';
import { CrmRoutes } from './routes';
import { CandidateStore } from './store';
import type {
  FakeRestCrm,
  FakeRestCrmOptions,
  FakeRestCrmRateLimit,
  FakeRestCrmStats,
  FaultSpec,
  InjectFaultOptions,
  OpenSession,
  RecordedRequest,
  StoredCandidate,
} from './types';
import { ReplyWriter } from './wire';

const HOST = '127.0.0.1';

/** Epoch milliseconds from a monotonic source, so recorded arrival times never go backwards. */
function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

function wantsKeepAlive(req: http.IncomingMessage): boolean {
  const connection = req.headers.connection?.toLowerCase() ?? '';
  return req.httpVersion === '1.1' ? !connection.includes('close') : connection.includes('keep-alive');
}

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

export class FakeRestCrmServer implements FakeRestCrm {
  readonly requests: RecordedRequest[] = [];
  private readonly server: http.Server;
  private readonly connections: Connections;
  private readonly writer: ReplyWriter;
  /** Late writes (write-after) outlive down(), as a database commit outlives the HTTP layer. */
  private readonly lateWrites = new Set<NodeJS.Timeout>();
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
  private readonly keepAliveHeader: boolean;
  private readonly echo: boolean;

  constructor(options: FakeRestCrmOptions = {}) {
    const opts = resolveOptions(options);
    this.boundPort = opts.port;
    this.auth = new AuthState(opts.auth);
    this.store = new CandidateStore(opts);
    this.latencyMs = opts.latencyMs;
    this.setRateLimit(opts.rateLimit);
    this.routes = new CrmRoutes(this.auth, this.store, opts, () => this.limiter?.retryAfterSeconds ?? 1);
    this.writer = new ReplyWriter(() => this.latencyMs);
    this.connections = new Connections(opts);
    this.keepAliveHeader = opts.keepAliveHeader;
    this.echo = opts.echo;
    this.server = http.createServer((req, res) => this.onRequest(req, res));
    // Node's own timer is the backstop (it fires a second later); Connections closes on time.
    this.server.keepAliveTimeout = opts.keepAliveTimeoutMs;
    this.server.on('connection', (socket: Socket) => this.connections.add(socket));
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

  openSessions(): OpenSession[] {
    return this.auth.openSessions(nowMs());
  }

  stats(): FakeRestCrmStats {
    return {
      logins: this.auth.logins,
      refreshes: this.auth.refreshes,
      revokes: this.auth.revokes,
      created: this.store.created,
      duplicates: this.store.duplicates,
      rateLimited: this.writer.rateLimited,
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
      for (const t of this.lateWrites) clearTimeout(t);
      this.lateWrites.clear();
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
    this.writer.cancelAll();
    if (!this.listening) return;
    this.listening = false;
    // close() stops accepting at once (new connections are refused); its callback waits for the
    // open sockets, which are destroyed right after: idle keep-alive ones and every one held by a
    // fault (timeout, write-after, slow-body, endless-body).
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.connections.destroyAll();
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
    const socket = req.socket;
    res.on('finish', () => this.connections.answered(socket, nowMs()));
    res.on('close', () => {
      rec.durationMs = nowMs() - at;
      rec.status = res.headersSent ? res.statusCode : 0;
      if (res.headersSent && !res.writableFinished && !rec.broken) rec.broken = 'body-unfinished';
    });
    if (this.connections.arrived(socket, at)) {
      // Before faults and the limiter: the request never reached anything that could count it.
      rec.broken = 'idle-reset';
      socket.resetAndDestroy();
      return;
    }

    // An explicit Connection header stops Node from adding its `Keep-Alive: timeout=N` hint.
    if (!this.keepAliveHeader && wantsKeepAlive(req)) res.setHeader('Connection', 'keep-alive');

    const fault = this.faults.take(method, path);
    const isApi = path === '/api' || path.startsWith('/api/');
    // Decided now, not after the body, so the window is measured at arrival and in arrival order.
    const limited = isApi && !(fault && INFRA_FAULTS.has(fault.type)) && this.limiter !== undefined && !this.limiter.tryAccept(at);
    const authFailure = isApi && !limited ? this.auth.checkApi(req.headers, at) : undefined;

    readBody(req).then(
      (body) => {
        rec.body = body.kind === 'json' ? body.value : body.kind === 'invalid' ? body.text : undefined;
        if (this.echo) this.writer.echo(res, { method, path, query, headers: req.headers, body: rec.body });
        const ctx: Ctx = { method, path, query, headers: req.headers, body, at, limited, authFailure };
        if (!fault) return this.writer.send(res, this.routes.handle(ctx));
        applyFault(fault, res, ctx, { writer: this.writer, handle: (c) => this.routes.handle(c), later: (ms, fn) => this.later(ms, fn) });
      },
      // The client went away mid-body: there is nobody left to answer.
      () => res.destroy(),
    );
  }

  private later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.lateWrites.delete(timer);
      fn();
    }, ms);
    this.lateWrites.add(timer);
  }
}
