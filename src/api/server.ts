import Fastify, { type FastifyInstance } from 'fastify';
import { leadJsonSchema } from '../domain/lead';
import { openApiDocument } from './openapi';
import { bearerMatches } from './auth';
import type { Supervisor } from '../delivery/supervisor';
import type { Logger } from '../logging/logger';
import type { Metrics } from '../observability/metrics';
import type { LeadProducer } from '../queue/producer';
import { registerAdminRoutes } from './admin-routes';
import { registerIntakeRoutes } from './intake-routes';

export interface ServerDeps {
  /** Present in processes that take leads (role api or all): mounts POST /v1/leads. */
  producer?: LeadProducer;
  supervisor?: Supervisor;
  metrics: Metrics;
  log: Logger;
  intakeToken: string;
  adminToken: string;
  /** When set, GET /metrics needs `Authorization: Bearer <metricsToken>`: the metrics name every client. */
  metricsToken?: string;
  /** Readiness: ready while Redis answers; otherwise why not. */
  ready: () => Promise<{ ready: boolean; cause?: string }>;
  /** Why the Redis-backed endpoints cannot answer now (Redis unreachable, delivery starting); undefined when they can. */
  redisProblem?: () => string | undefined;
}

export function buildServer(deps: ServerDeps): FastifyInstance {
  const app = Fastify({
    // Fastify's own request log would print URLs and headers; ours logs ids and outcomes only.
    logger: false,
    bodyLimit: 8 * 1024 * 1024,
  });
  app.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) deps.log.error({ err: err.message }, 'http handler failed');
    // A body that is not JSON at all is the caller's mistake: say so plainly.
    return reply.code(status).send({ error: status === 500 ? 'internal' : 'bad_request', message: status === 500 ? 'internal error' : err.message });
  });
  app.get('/healthz', async () => ({ ok: true }));
  app.get('/readyz', async (_req, reply) => {
    const r = await deps.ready();
    return r.ready ? { ready: true } : reply.code(503).header('retry-after', '5').send({ ready: false, cause: r.cause });
  });
  app.get('/metrics', async (req, reply) => {
    if (deps.metricsToken && !bearerMatches(req.headers.authorization, deps.metricsToken)) {
      return reply.code(401).send({ error: 'unauthorized', message: 'send Authorization: Bearer <METRICS_TOKEN>' });
    }
    return reply.header('content-type', deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });
  app.get('/v1/schema/lead', async () => leadJsonSchema());
  app.get('/v1/openapi.json', async () => openApiDocument());
  if (deps.producer) registerIntakeRoutes(app, { ...deps, producer: deps.producer });
  if (deps.supervisor) registerAdminRoutes(app, { supervisor: deps.supervisor, adminToken: deps.adminToken, redisProblem: deps.redisProblem ?? (() => undefined) });
  return app;
}
