import { isDeepStrictEqual } from 'node:util';
import type { Redis } from 'ioredis';
import { loadClientsDir, formatClientFileError } from '../config/client-loader';
import type { ClientConfig } from '../config/client-schema';
import { ClientRuntime, type RuntimeDeps } from './client-runtime';

/**
 * Keeps one ClientRuntime per configured client in this process, in step with the client files:
 * a new file starts a client, an edited one is applied live, a removed one stops its worker (its jobs
 * stay in Redis), and a file that fails validation leaves the last good config in force.
 */
export class Supervisor {
  private readonly runtimes = new Map<string, ClientRuntime>();
  /** Files that currently fail validation, so the same error is logged once, not every reload. */
  private readonly reportedErrors = new Map<string, string>();
  private reloadTimer: NodeJS.Timeout | null = null;
  private tickTimer: NodeJS.Timeout | null = null;
  private ticking = false;
  private closing = false;
  private readonly inflight = new Set<Promise<void>>();
  private reloading = false;
  private startedOnce = false;

  constructor(
    private readonly clientsDir: string,
    private readonly deps: RuntimeDeps & { redis: Redis },
    private readonly opts: { reloadMs: number; tickMs?: number; shutdownTimeoutMs?: number },
  ) {}

  async start(): Promise<void> {
    await this.reload();
    // close() may have come while the first reload waited for Redis: start no timers then.
    if (this.closing) return;
    this.startedOnce = true;
    this.reloadTimer = setInterval(() => void this.track(this.reload()), this.opts.reloadMs);
    this.tickTimer = setInterval(() => void this.track(this.tick()), this.opts.tickMs ?? 1_000);
    await this.tick();
  }

  /** The first load of the client files is done and the clients run (start() can wait for Redis). */
  get started(): boolean {
    return this.startedOnce;
  }

  get clients(): ClientRuntime[] {
    return [...this.runtimes.values()];
  }

  runtime(clientId: string): ClientRuntime | undefined {
    return this.runtimes.get(clientId);
  }

  /** Re-reads the folder and applies the differences. Safe to call at any time. */
  async reload(): Promise<void> {
    if (this.reloading || this.closing) return;
    this.reloading = true;
    try {
      const { results, errors } = await loadClientsDir(this.clientsDir);
      const log = this.deps.log;
      if (errors.length && results.length === 0 && errors[0]?.file === this.clientsDir) {
        log.error({ error: formatClientFileError(errors[0]) }, 'cannot read the clients folder; keeping the clients already running');
        return;
      }
      const seen = new Set<string>();
      const failedFileIds = new Set<string>();
      for (const r of results) {
        const fileId = r.file.replace(/\.ya?ml$/, '');
        if (!r.ok) {
          failedFileIds.add(fileId);
          const text = r.errors.map(formatClientFileError).join('; ');
          if (this.reportedErrors.get(r.file) !== text) {
            this.reportedErrors.set(r.file, text);
            log.error({ file: r.file, errors: r.errors.map(formatClientFileError) }, this.runtimes.has(fileId) ? 'client file invalid; the last good config stays in force' : 'client file invalid; client not started');
          }
          continue;
        }
        this.reportedErrors.delete(r.file);
        seen.add(r.config.id);
        try {
          await this.apply(r.config);
        } catch (err) {
          // One client that cannot start must not stop the others from starting or reloading.
          log.error({ clientId: r.config.id, err: (err as Error).message }, 'client config could not be applied; the last good config stays in force');
        }
      }
      for (const [id, rt] of this.runtimes) {
        if (!seen.has(id) && !failedFileIds.has(id)) {
          this.runtimes.delete(id);
          await rt.close(this.opts.shutdownTimeoutMs);
          await this.deps.redis.hdel(this.deps.keys.knownClients(), id);
          log.warn({ clientId: id }, 'client file removed: worker closed, queued jobs kept in Redis');
        }
      }
    } catch (err) {
      this.deps.log.error({ err: (err as Error).message }, 'client reload failed; keeping the current clients');
    } finally {
      this.reloading = false;
    }
  }

  private async apply(config: ClientConfig): Promise<void> {
    const existing = this.runtimes.get(config.id);
    if (!existing) {
      const rt = new ClientRuntime(config, this.deps);
      this.runtimes.set(config.id, rt);
      await this.deps.redis.hset(this.deps.keys.knownClients(), config.id, config.adapter);
      this.deps.log.info({ clientId: config.id, adapter: config.adapter }, 'client started');
      return;
    }
    if (!isDeepStrictEqual(existing.currentConfig, config)) await existing.update(config);
  }

  private async tick(): Promise<void> {
    if (this.ticking || this.closing) return;
    this.ticking = true;
    try {
      await Promise.all(
        this.clients.map((rt) => rt.reconcile().catch((err: Error) => this.deps.log.warn({ clientId: rt.clientId, err: err.message }, 'reconcile failed'))),
      );
    } finally {
      this.ticking = false;
    }
  }

  /** Remembers a timer-started reload or tick, so close() can wait for it to finish. */
  private track(p: Promise<void>): Promise<void> {
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
    return p;
  }

  /**
   * The shutdown deadline passed (Redis is gone, a delivery hangs): stop everything without waiting.
   * Active deliveries stay active in Redis and move on to another process when their locks expire.
   */
  abort(): void {
    this.closing = true;
    if (this.reloadTimer) clearInterval(this.reloadTimer);
    if (this.tickTimer) clearInterval(this.tickTimer);
    const all = this.clients;
    this.runtimes.clear();
    for (const rt of all) rt.abort();
  }

  /** `drainMs`: how long active deliveries may finish (default: shutdownTimeoutMs). */
  async close(drainMs = this.opts.shutdownTimeoutMs): Promise<void> {
    this.closing = true;
    if (this.reloadTimer) clearInterval(this.reloadTimer);
    if (this.tickTimer) clearInterval(this.tickTimer);
    // A tick or reload already under way could otherwise open a worker (a Redis connection) or start
    // a client after the runtimes below are closed, and nothing would ever close it.
    await Promise.allSettled([...this.inflight]);
    const all = this.clients;
    this.runtimes.clear();
    await Promise.all(all.map((rt) => rt.close(drainMs)));
  }
}
