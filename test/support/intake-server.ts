import { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { buildServer } from '../../src/api/server';
import type { Clock } from '../../src/domain/lead';
import { createLogger } from '../../src/logging/logger';
import { Metrics } from '../../src/observability/metrics';
import type { DeliveryJobData } from '../../src/queue/delivery-job';
import { Keys } from '../../src/queue/keys';
import { LeadProducer } from '../../src/queue/producer';
import { INTAKE_TOKEN, LogCapture } from './harness';
import { cleanupPrefix, redisClient, REDIS_URL, testPrefix } from './redis';

/**
 * The intake HTTP server alone: no workers, no client files. Leads stay in their queues, so a test
 * can look at (or fail) the jobs itself. Every client id in `clients` is known.
 */
export interface IntakeServer {
  url: string;
  prefix: string;
  keys: Keys;
  producer: LeadProducer;
  logs: LogCapture;
  /** A connection for the test's own reads and writes (closed by close()). */
  redis: Redis;
  /** The delivery queue of a client, as the service names it. Closed by close(). */
  queue(clientId: string): Queue<DeliveryJobData>;
  post(body: unknown, opts?: { token?: string; contentType?: string | null; raw?: boolean }): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

export async function startIntakeServer(opts: { clients?: string[]; now?: Clock } = {}): Promise<IntakeServer> {
  const prefix = testPrefix('intake');
  const keys = new Keys(prefix);
  const known = new Set(opts.clients ?? ['acme']);
  const producer = new LeadProducer({ connection: REDIS_URL, prefix, isKnownClient: (id) => known.has(id), now: opts.now });
  const logs = new LogCapture();
  const app: FastifyInstance = buildServer({
    producer,
    metrics: new Metrics(),
    log: createLogger({ level: 'debug' }, logs),
    intakeToken: INTAKE_TOKEN,
    adminToken: 'admin-token-0123456789abcdef',
    ready: async () => ({ ready: true }),
  });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  const queues = new Map<string, Queue<DeliveryJobData>>();
  const redis = redisClient();
  return {
    url,
    prefix,
    keys,
    producer,
    logs,
    redis,
    queue(clientId) {
      let q = queues.get(clientId);
      if (!q) {
        q = new Queue<DeliveryJobData>(keys.deliveryQueue(clientId), { connection: redis, prefix });
        queues.set(clientId, q);
      }
      return q;
    },
    async post(body, o = {}) {
      const headers: Record<string, string> = { authorization: `Bearer ${o.token ?? INTAKE_TOKEN}` };
      if (o.contentType !== null) headers['content-type'] = o.contentType ?? 'application/json';
      const text = o.raw ? (body as string) : JSON.stringify(body);
      // fetch labels a string body text/plain; bytes go without a Content-Type.
      const res = await fetch(`${url}/v1/leads`, { method: 'POST', headers, body: o.contentType === null ? Buffer.from(text) : text });
      const answer = await res.text();
      return { status: res.status, body: answer ? JSON.parse(answer) : null };
    },
    async close() {
      await app.close();
      await producer.close();
      await Promise.all([...queues.values()].map((q) => q.close()));
      await cleanupPrefix(redis, prefix);
      redis.disconnect();
    },
  };
}
