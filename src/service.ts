import { connectRedis } from './queue/redis-connection';
import type { Redis } from 'ioredis';
import type { FastifyInstance } from 'fastify';
import { buildServer } from './api/server';
import { EnvFileSecretResolver } from './config/secret-ref';
import type { ServiceConfig } from './config/service-config';
import { Supervisor } from './delivery/supervisor';
import { LeadExportError } from './domain/errors';
import { createLogger, type Logger } from './logging/logger';
import { Metrics } from './observability/metrics';
import { Keys } from './queue/keys';
import { LeadProducer } from './queue/producer';

export interface ServiceRoles {
  /** The intake + admin HTTP server. */
  api: boolean;
  /** Delivery workers for every configured client. */
  worker: boolean;
}

export interface RunningService {
  url: string;
  supervisor: Supervisor | null;
  producer: LeadProducer;
  metrics: Metrics;
  log: Logger;
  close(): Promise<void>;
}

/** Builds and starts lead-export from a validated service config. */
export async function startService(
  config: ServiceConfig,
  roles: ServiceRoles = { api: true, worker: true },
  opts: { logger?: Logger; env?: NodeJS.ProcessEnv; defaultMetrics?: boolean } = {},
): Promise<RunningService> {
  if (roles.api && !config.intakeToken) {
    throw new LeadExportError('config', 'INTAKE_TOKEN is required to run the intake API (at least 16 characters)');
  }
  const log = opts.logger ?? createLogger({ level: config.logLevel });
  const metrics = new Metrics({ defaultMetrics: opts.defaultMetrics });
  const keys = new Keys(config.queuePrefix);
  const redis: Redis = connectRedis(config.redisUrl, { maxRetriesPerRequest: null });
  redis.on('error', (err) => log.warn({ err: err.message }, 'redis connection error'));

  let supervisor: Supervisor | null = null;
  if (roles.worker) {
    supervisor = new Supervisor(
      config.clientsDir,
      {
        redis,
        keys,
        log,
        metrics,
        secrets: new EnvFileSecretResolver(opts.env ?? process.env),
        tokenEncryptionKey: config.tokenEncryptionKey,
        idempotencyTtlSeconds: config.idempotencyTtlDays * 86_400,
        workerLockMs: config.workerLockMs,
        idleWorkerMs: config.workerIdleMs,
      },
      { reloadMs: config.configReloadMs, shutdownTimeoutMs: config.shutdownTimeoutMs },
    );
    await supervisor.start();
    const sup = supervisor;
    metrics.observeQueues(async () =>
      Promise.all(sup.clients.map(async (rt) => ({ client: rt.clientId, counts: await rt.queue.getJobCounts('wait', 'active', 'delayed', 'failed', 'prioritized') }))),
    );
  }

  const producer = new LeadProducer({ connection: config.redisUrl, prefix: config.queuePrefix, idempotencyTtlDays: config.idempotencyTtlDays });
  // Every role serves HTTP: api/all take leads; every process serves /healthz, /readyz and /metrics
  // (a worker's delivery metrics must be scrapable); processes that run workers serve the admin API.
  const app: FastifyInstance = buildServer({
    producer: roles.api ? producer : undefined,
    supervisor: supervisor ?? undefined,
    metrics,
    log,
    intakeToken: config.intakeToken,
    adminToken: config.adminToken,
    metricsToken: config.metricsToken,
    // The shared connection queues commands while Redis is away; readiness must answer, not wait.
    ready: async () => redis.status === 'ready' && (await withTimeout(redis.ping(), 1_000).catch(() => null)) === 'PONG',
  });

  let closing: Promise<void> | null = null;
  const close = () =>
    (closing ??= (async () => {
      await app.close();
      if (supervisor) await supervisor.close();
      await producer.close();
      if (redis.status === 'ready') await withTimeout(redis.quit(), 2_000).catch(() => redis.disconnect());
      else redis.disconnect();
    })());

  let url: string;
  try {
    url = await app.listen({ port: config.httpPort, host: config.httpHost });
  } catch (err) {
    // Without this, the workers and Redis connections already open would keep a process that has
    // no HTTP side (no health, no metrics, no intake) alive and looking healthy to nobody.
    await close();
    throw listenError(err, config);
  }
  log.info({ url, roles }, 'http server listening');

  return { url, supervisor, producer, metrics, log, close };
}

function listenError(err: unknown, config: ServiceConfig): LeadExportError {
  const code = (err as NodeJS.ErrnoException).code;
  const where = `${config.httpHost}:${config.httpPort}`;
  if (code === 'EADDRINUSE') {
    return new LeadExportError('config', `HTTP_PORT ${config.httpPort} is already in use on ${config.httpHost} (another lead-export serve?): stop that process or set another HTTP_PORT`);
  }
  if (code === 'EACCES') return new LeadExportError('config', `HTTP_PORT ${config.httpPort}: permission denied (ports below 1024 need privileges); set another HTTP_PORT`);
  if (code === 'EADDRNOTAVAIL') return new LeadExportError('config', `HTTP_HOST ${config.httpHost} is not an address of this machine; set another HTTP_HOST`);
  return new LeadExportError('config', `cannot listen on ${where} (HTTP_HOST:HTTP_PORT): ${code ?? (err as Error).message}`);
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    }),
  ]);
}
