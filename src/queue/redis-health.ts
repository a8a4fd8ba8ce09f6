import type { Redis } from 'ioredis';
import type { Logger } from '../logging/logger';

/**
 * Whether the service's Redis answers, as the request paths need to know it: they must answer at
 * once (503 naming the cause) instead of queueing a command that waits for Redis forever.
 *
 * It watches the shared connection (the one BullMQ's queues use; it retries for ever) and says so
 * in the log once per outage — what is unreachable and why — and once when it answers again,
 * instead of a line per reconnect attempt.
 */
export class RedisHealth {
  private down = false;
  private reported = false;
  private reportTimer: NodeJS.Timeout | undefined;
  private downSince = 0;
  private lastError = '';
  private closed = false;
  private readonly waiters = new Set<() => void>();

  constructor(
    private readonly redis: Redis,
    private readonly log: Logger,
    /** Where Redis is, for messages: host:port, never credentials. */
    readonly where: string,
  ) {
    redis.on('ready', () => this.onReady());
    redis.on('error', (err: Error) => this.onLost(err));
    redis.on('close', () => this.onLost(undefined));
  }

  /** True while commands go through: the connection is up and ready. */
  get up(): boolean {
    return !this.closed && this.redis.status === 'ready';
  }

  /** Why Redis cannot be used now, for a 503 or a readiness answer; undefined while it answers. */
  cause(): string | undefined {
    if (this.up) return undefined;
    const why = this.lastError ? ` (${this.lastError})` : this.redis.status === 'connecting' || this.redis.status === 'wait' ? ' (connecting)' : '';
    return `Redis at ${this.where} is unreachable${why}`;
  }

  /** Resolves true once Redis is ready, or false after timeoutMs (never, without one) or when closed. */
  waitUntilUp(timeoutMs?: number): Promise<boolean> {
    if (this.up) return Promise.resolve(true);
    if (this.closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (ok: boolean) => {
        if (timer) clearTimeout(timer);
        this.waiters.delete(wake);
        resolve(ok && this.up);
      };
      const wake = () => done(true);
      this.waiters.add(wake);
      if (timeoutMs !== undefined) timer = setTimeout(() => done(false), timeoutMs);
    });
  }

  /** The service is stopping: the connection's end is not an outage, and nobody waits any more. */
  close(): void {
    this.closed = true;
    if (this.reportTimer) clearTimeout(this.reportTimer);
    for (const w of [...this.waiters]) w();
  }

  private onReady(): void {
    if (this.reportTimer) clearTimeout(this.reportTimer);
    if (this.reported && !this.closed) {
      this.log.warn({ redis: this.where, downForMs: Date.now() - this.downSince }, 'Redis answers again: intake, admin and deliveries resume');
    }
    this.down = false;
    this.reported = false;
    this.lastError = '';
    for (const w of [...this.waiters]) w();
  }

  private onLost(err: Error | undefined): void {
    if (err) this.lastError = describeError(err);
    if (this.down || this.closed) return;
    this.down = true;
    this.downSince = Date.now();
    // A reconnect that succeeds at once (Redis closed an idle connection, a failover) is no outage;
    // and the 'error' that says why comes after the 'close'. Request paths see `cause()` at once.
    this.reportTimer = setTimeout(() => this.report(), REPORT_AFTER_MS);
    this.reportTimer.unref();
  }

  private report(): void {
    if (this.closed || this.redis.status === 'ready') return;
    this.reported = true;
    this.log.error(
      { redis: this.where, err: this.lastError || 'connection closed' },
      'Redis is unreachable: intake and the admin API answer 503, deliveries wait (nothing is lost); retrying until it answers',
    );
  }
}

/** An outage shorter than this is not logged (a reconnect); request paths still answer 503 during it. */
const REPORT_AFTER_MS = 1_000;

/** The connection error without the stack: its code and the address tried. */
function describeError(err: Error): string {
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  if (e.code && e.address) return `${e.code} ${e.address}${e.port ? `:${e.port}` : ''}`;
  return (e.code ?? err.message).slice(0, 200);
}

/** Where a REDIS_URL points, without its credentials: host:port, or the cluster's seed nodes. */
export function describeRedisUrl(url: string): string {
  const cluster = /^rediss?\+cluster:\/\/(.+)$/.exec(url);
  try {
    if (cluster) {
      const seeds = cluster[1].split(',').map((hp) => {
        const u = new URL(`redis://${hp.trim()}`);
        return `${u.hostname}:${u.port || 6379}`;
      });
      return `cluster ${seeds.join(',')}`;
    }
    const u = new URL(url);
    return `${u.hostname}:${u.port || 6379}`;
  } catch {
    return '(REDIS_URL)';
  }
}

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'ECONNABORTED']);

/**
 * An error that only says Redis cannot be reached (RedisHealth reports those, once per outage), as
 * opposed to one worth a line of its own.
 */
export function isConnectionError(err: Error): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  if (code && CONNECTION_CODES.has(code)) return true;
  return /connection is closed|connect ETIMEDOUT|stream isn't writeable|max retries per request|reached the max retries|ECONNREFUSED|ECONNRESET/i.test(err.message);
}
