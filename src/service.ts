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
import { RedisHealth, describeRedisUrl } from './queue/redis-health';

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
  /** Whether Redis answers now, and why not. */
  health: RedisHealth;
  /** Settles once delivery has started (at once when Redis answered at start; later when it comes). */
  workStarted(): Promise<void>;
  /** Stops within SHUTDOWN_TIMEOUT_MS, whatever Redis does. */
  close(): Promise<void>;
}

/**
 * Builds and starts lead-export from a validated service config.
 *
 * The HTTP side never waits for Redis: when Redis does not answer at start, the server listens
 * anyway (/healthz 200, /readyz and intake 503 naming the cause), the log says once what is
 * unreachable, and delivery starts by itself when Redis answers.
 */
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
  // BullMQ's workers need a connection that waits for Redis (maxRetriesPerRequest: null); request
  // paths ask `health` first and bound every call, so they never wait with it.
  const redis: Redis = connectRedis(config.redisUrl, { maxRetriesPerRequest: null });
  const health = new RedisHealth(redis, log, describeRedisUrl(config.redisUrl));

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
    const sup = supervisor;
    metrics.observeQueues(async () =>
      health.up && sup.started
        ? withTimeout(
            Promise.all(sup.clients.map(async (rt) => ({ client: rt.clientId, counts: await rt.queue.getJobCounts('wait', 'active', 'delayed', 'failed', 'prioritized') }))),
            METRICS_REDIS_MS,
          ).catch(() => [])
        : [],
    );
  }
  metrics.observeRedis(() => health.up);

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
    redisProblem: () => health.cause() ?? (supervisor && !supervisor.started ? 'delivery is starting' : undefined),
    // The shared connection queues commands while Redis is away; readiness must answer, not wait.
    ready: async () => {
      const cause = health.cause();
      if (cause) return { ready: false, cause };
      const pong = await withTimeout(redis.ping(), 1_000).catch(() => null);
      return pong === 'PONG' ? { ready: true } : { ready: false, cause: `Redis at ${health.where} did not answer a PING within 1 s` };
    },
  });

  let closing: Promise<void> | null = null;
  let workStarting: Promise<void> = Promise.resolve();
  const close = () =>
    (closing ??= (async () => {
      const deadline = Date.now() + config.shutdownTimeoutMs;
      const graceful = (async () => {
        await app.close();
        // The workers' drain gets what is left of the deadline, less a second for the rest.
        if (supervisor) await supervisor.close(Math.max(0, deadline - Date.now() - 1_000));
        await producer.close();
        health.close();
        if (redis.status === 'ready') await withTimeout(redis.quit(), 2_000).catch(() => redis.disconnect());
        else redis.disconnect();
      })();
      if (await finishesBy(graceful, deadline)) return;
      // Past SHUTDOWN_TIMEOUT_MS (Redis is gone, or a delivery hangs): stop waiting. A delivery whose
      // outcome is unknown stays active in Redis, with its in-flight mark; the next process takes it
      // over once its lock expires and looks the lead up before sending it again.
      log.warn({ deadlineMs: config.shutdownTimeoutMs, redis: health.cause() ?? 'answers' }, 'shutdown deadline passed: closing connections; unfinished deliveries stay in Redis for the next process');
      health.close();
      supervisor?.abort();
      redis.disconnect();
      producer.abort();
      void graceful.catch(() => undefined);
    })());

  const startWork = async () => {
    if (!supervisor || closing) return;
    await supervisor.start();
  };

  // With Redis up (the usual case) delivery is running before the port opens, as it always was.
  if (supervisor && (await health.waitUntilUp(START_WAIT_MS))) await startWork();
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
  if (supervisor && !supervisor.started) {
    // Redis did not answer at start: serve HTTP now, start delivering when it answers.
    workStarting = health.waitUntilUp().then(async (up) => {
      if (up) await startWork();
    });
    workStarting.catch((err: Error) => log.error({ err: err.message }, 'delivery could not start'));
  }

  return { url, supervisor, producer, metrics, log, health, workStarted: () => workStarting, close };
}

/** How long start waits for Redis before serving HTTP without it. */
const START_WAIT_MS = 3_000;
/** The metrics' Redis-backed series give up after this long (the rest is served without them). */
const METRICS_REDIS_MS = 2_000;

/** True when `p` settled before `deadline` (epoch ms); its failure counts as settled. */
async function finishesBy(p: Promise<unknown>, deadline: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const settled = await Promise.race([
    p.then(
      () => true,
      () => true,
    ),
    new Promise<boolean>((r) => {
      timer = setTimeout(() => r(false), Math.max(0, deadline - Date.now()));
    }),
  ]);
  if (timer) clearTimeout(timer);
  return settled;
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
