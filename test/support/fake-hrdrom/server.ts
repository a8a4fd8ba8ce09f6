/**
 * The fake HRDrom core: a real node:http server on loopback, so the progress write-back is tested
 * against real sockets, timeouts, resets and refused connections rather than mocks.
 *
 * A request is judged once its body is in: routes.ts runs the contract's checks, then the first
 * matching injected fault (if any) decides what happens instead of, or around, the normal answer.
 * Recording is synchronous, so concurrent requests never interleave inside the ledger, and events
 * are recorded before any latency, as a receiver that commits and then answers slowly would.
 * Nothing here writes to the console: headers carry the token.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { MAX_PROGRESS_EVENTS, type ProgressEvent } from '../../../src/domain/progress';
import { FaultQueue } from './faults';
import { Ledger } from './ledger';
import { type Body, HrdromRoutes, MAX_BODY_BYTES, type Reply } from './routes';
import type {
  ContentDuplicate,
  FakeHrdrom,
  FakeHrdromOptions,
  FakeHrdromStats,
  FaultSpec,
  InjectFaultOptions,
  ReceivedEvent,
  RecordedRequest,
  RejectPredicate,
} from './types';

const HOST = '127.0.0.1';

/** Epoch milliseconds from a monotonic source, so recorded times never go backwards. */
function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

function checkOptions(opts: FakeHrdromOptions): void {
  const bad = (why: string): never => {
    throw new Error(`startFakeHrdrom(): ${why}`);
  };
  if (typeof opts?.token !== 'string' || opts.token.trim() === '' || /\s/.test(opts.token)) bad('token must be a non-empty string without spaces');
  if (opts.port !== undefined && (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535)) bad(`port must be an integer 0-65535, got ${opts.port}`);
  const max = opts.maxEventsPerRequest;
  if (max !== undefined && (!Number.isInteger(max) || max < 1 || max > MAX_PROGRESS_EVENTS)) {
    bad(`maxEventsPerRequest must be an integer 1-${MAX_PROGRESS_EVENTS} (the contract's limit), got ${max}`);
  }
}

function readBody(req: http.IncomingMessage): Promise<Body> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      // Keep draining past the limit, so the 413 can still be written on this connection.
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () => {
      if (size > MAX_BODY_BYTES) return resolve({ kind: 'too_large' });
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') return resolve({ kind: 'none' });
      try {
        resolve({ kind: 'json', value: JSON.parse(text) as unknown });
      } catch {
        resolve({ kind: 'invalid' });
      }
    });
    req.on('error', reject);
  });
}

function faultReply(status: number, headers?: Record<string, string>, body?: unknown): Reply {
  const code = status === 429 ? 'rate_limited' : (http.STATUS_CODES[status] ?? 'error').toLowerCase().replace(/\W+/g, '_');
  return { status, headers, body: body === undefined ? { error: code } : body };
}

export class FakeHrdromServer implements FakeHrdrom {
  readonly requests: RecordedRequest[] = [];
  private readonly server: http.Server;
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly ledger = new Ledger();
  private readonly faultQueue = new FaultQueue();
  private readonly routes: HrdromRoutes;
  private rejectPredicate: RejectPredicate | undefined;
  private latencyMs = 0;
  private boundPort: number;
  private listening = false;
  private closed = false;
  /** Serialises down()/up()/close() so overlapping calls cannot interleave listen and close. */
  private lifecycle: Promise<void> = Promise.resolve();
  private refused = 0;
  private faultsServed = 0;
  private internalErrors = 0;

  constructor(opts: FakeHrdromOptions) {
    checkOptions(opts);
    this.boundPort = opts.port ?? 0;
    this.setLatency(opts.latencyMs ?? 0);
    const maxEvents = opts.maxEventsPerRequest ?? MAX_PROGRESS_EVENTS;
    this.routes = new HrdromRoutes(opts.token, () => maxEvents);
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

  get accepted(): number {
    return this.ledger.size;
  }

  // ---------------------------------------------------------------------------------------------
  // Control API

  events(): ReceivedEvent[] {
    return this.ledger.events();
  }

  eventsFor(clientId: string, leadId: string): ReceivedEvent[] {
    return this.ledger.eventsFor(clientId, leadId);
  }

  injectFault(fault: FaultSpec, opts?: InjectFaultOptions): void {
    this.faultQueue.add(fault, opts);
  }

  clearFaults(): void {
    this.faultQueue.clear();
  }

  rejectWhen(predicate: RejectPredicate | undefined): void {
    if (predicate !== undefined && typeof predicate !== 'function') throw new Error('rejectWhen(): expected a function or undefined');
    this.rejectPredicate = predicate;
  }

  setLatency(ms: number): void {
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) throw new Error(`latency must be a finite number >= 0, got ${ms}`);
    this.latencyMs = ms;
  }

  outOfOrderLeads(): string[] {
    return this.ledger.outOfOrderLeads();
  }

  duplicatesByContent(): ContentDuplicate[] {
    return this.ledger.duplicatesByContent();
  }

  stats(): FakeHrdromStats {
    return {
      requests: this.requests.length,
      ...this.ledger.counts,
      refused: this.refused,
      faults: this.faultsServed,
      internalErrors: this.internalErrors,
    };
  }

  up(): Promise<void> {
    return this.serially(async () => {
      if (this.closed) throw new Error('fake HRDrom is closed; start a new one');
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
    // Pending answers are dropped with their sockets; what they recorded stays recorded.
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    if (!this.listening) return;
    this.listening = false;
    // close() refuses new connections at once; its callback waits for open sockets, destroyed just
    // after, including keep-alive ones and those held by a 'timeout' fault.
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  // ---------------------------------------------------------------------------------------------
  // Request pipeline

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const at = nowMs();
    const method = (req.method ?? 'GET').toUpperCase();
    const path = new URL(req.url ?? '/', `http://${HOST}`).pathname;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    const rec: RecordedRequest = { at, method, path, headers, eventCount: 0, eventIds: [], status: 0, durationMs: 0 };
    this.requests.push(rec);
    res.on('close', () => {
      rec.durationMs = nowMs() - at;
    });

    readBody(req).then(
      (body) => this.handle(rec, method, path, req, res, body),
      // The caller went away mid-body: there is nobody left to answer.
      () => res.destroy(),
    );
  }

  private handle(rec: RecordedRequest, method: string, path: string, req: http.IncomingMessage, res: http.ServerResponse, body: Body): void {
    const routed = this.routes.route({ method, path, headers: req.headers, body });
    const events = routed.kind === 'batch' ? routed.events : undefined;
    if (events) {
      rec.eventCount = events.length;
      rec.eventIds = events.map((e) => e.eventId);
    } else if (routed.kind === 'reply') {
      rec.eventCount = routed.eventCount;
    }

    const fault = this.faultQueue.take({ method, path, events });
    if (fault) {
      rec.fault = fault.type;
      this.faultsServed++;
    }
    switch (fault?.type) {
      case 'status':
        return this.send(rec, res, faultReply(fault.status, fault.headers, fault.body));
      case 'timeout':
        return;
      case 'reset':
        // RST rather than FIN, so the caller sees ECONNRESET as with a crashed receiver.
        res.socket?.resetAndDestroy();
        return;
      case 'accept-then-status': {
        // Only valid batches match this fault, so `events` is set; a throwing predicate still wins.
        const answer = this.record(events ?? []);
        return this.send(rec, res, answer.status === 200 ? faultReply(fault.status, fault.headers, fault.body) : answer);
      }
      case 'latency':
      case undefined: {
        const extra = fault?.type === 'latency' ? fault.ms : 0;
        if (routed.kind === 'reply') {
          if (routed.refused) this.refused++;
          return this.send(rec, res, routed.reply, extra);
        }
        return this.send(rec, res, this.record(routed.events), extra);
      }
    }
  }

  private record(events: ReadonlyArray<ProgressEvent>): Reply {
    try {
      return { status: 200, body: { results: this.ledger.apply(events, nowMs(), this.rejectPredicate) } };
    } catch (err) {
      this.internalErrors++;
      // The message is the test's own predicate failing; it is shown so the test can tell why.
      return { status: 500, body: { error: 'internal_error', message: `rejectWhen threw: ${err instanceof Error ? err.message : String(err)}` } };
    }
  }

  private send(rec: RecordedRequest, res: http.ServerResponse, reply: Reply, extraDelayMs = 0): void {
    const write = (): void => {
      if (res.destroyed || res.writableEnded) return;
      // Set before a byte leaves, so a caller that has its answer always finds the status recorded.
      rec.status = reply.status;
      const headers: Record<string, string> = { ...reply.headers };
      let payload: string | undefined;
      if (reply.body !== undefined) {
        // A string goes out as is: an injected fault may stand for a proxy's HTML error page.
        const isText = typeof reply.body === 'string';
        payload = isText ? (reply.body as string) : JSON.stringify(reply.body);
        const hasType = Object.keys(headers).some((h) => h.toLowerCase() === 'content-type');
        if (!hasType) headers['Content-Type'] = isText ? 'text/html; charset=utf-8' : 'application/json; charset=utf-8';
        headers['Content-Length'] = String(Buffer.byteLength(payload));
      }
      res.writeHead(reply.status, headers);
      res.end(payload);
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
