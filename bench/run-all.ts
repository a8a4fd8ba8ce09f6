import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import IORedis from 'ioredis';
import { stringify } from 'yaml';
import { loadServiceConfig } from '../src/config/service-config';
import { ensureRedis } from '../src/demo/local-redis';
import { createLogger } from '../src/logging/logger';
import { LeadProducer } from '../src/queue/producer';
import { startService } from '../src/service';
import { startFakeRestCrm } from '../test/support/fake-rest-crm';
import { makeLead, restClient } from '../test/support/harness';
import { printTable, RssSampler, summarize } from './stats';

/**
 * `npm run bench`: intake and end-to-end delivery throughput on this machine, printed as tables.
 * Each run uses its own Redis key prefix and removes its keys afterwards.
 */
const INTAKE_LEADS = Number(process.env.BENCH_INTAKE_LEADS ?? 20_000);
const DELIVERY_LEADS = Number(process.env.BENCH_DELIVERY_LEADS ?? 10_000);

async function withService<T>(redisUrl: string, clients: Array<Record<string, unknown>>, fn: (url: string, token: string, prefix: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'le-bench-'));
  for (const c of clients) await writeFile(join(dir, `${String(c.id)}.yaml`), stringify(c));
  const prefix = `bench-${randomBytes(3).toString('hex')}`;
  const token = randomBytes(16).toString('hex');
  const cfg = loadServiceConfig({}, { redisUrl, httpPort: 0, httpHost: '127.0.0.1', clientsDir: dir, intakeToken: token, queuePrefix: prefix, logLevel: 'warn' });
  const svc = await startService(cfg, { api: true, worker: true }, { logger: createLogger({ level: 'error' }) });
  try {
    return await fn(svc.url!, token, prefix);
  } finally {
    await svc.close();
    const r = new IORedis(redisUrl);
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await r.del(...keys);
    } while (cursor !== '0');
    r.disconnect();
    await rm(dir, { recursive: true, force: true });
  }
}

async function benchIntake(redisUrl: string): Promise<Array<Record<string, string | number>>> {
  const crm = await startFakeRestCrm();
  const rows: Array<Record<string, string | number>> = [];
  // The client is paused: this measures intake alone (validation + durable enqueue), not delivery.
  await withService(redisUrl, [restClient('bench', crm.url, { paused: true })], async (url, token) => {
    for (const [label, perRequest, concurrency] of [
      ['POST 1 lead', 1, 8],
      ['POST 100 leads', 100, 4],
      ['POST 1,000 leads', 1000, 2],
    ] as const) {
      const total = perRequest === 1 ? Math.min(4_000, INTAKE_LEADS) : INTAKE_LEADS;
      const requests = Math.ceil(total / perRequest);
      const latencies: number[] = [];
      const rss = new RssSampler();
      const started = Date.now();
      let next = 0;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < requests) {
            next += 1;
            const body = Array.from({ length: perRequest }, () => makeLead('bench'));
            const t = Date.now();
            const res = await fetch(`${url}/v1/leads`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body) });
            await res.arrayBuffer();
            if (res.status !== 202) throw new Error(`intake answered ${res.status}`);
            latencies.push(Date.now() - t);
          }
        }),
      );
      const secs = (Date.now() - started) / 1000;
      const s = summarize(latencies);
      rows.push({ scenario: label, leads: requests * perRequest, concurrency, 'leads/s': Math.round((requests * perRequest) / secs), 'p50 ms': s.p50, 'p99 ms': s.p99, 'peak RSS MB': rss.stop() });
    }
  });
  await crm.close();
  return rows;
}

async function benchDelivery(redisUrl: string): Promise<Array<Record<string, string | number>>> {
  const rows: Array<Record<string, string | number>> = [];
  for (const [label, batch, latencyMs, rate] of [
    ['REST, batch 50, CRM 20 ms, limit 50/s', 50, 20, 50],
    ['REST, one per request, CRM 20 ms, limit 50/s', 1, 20, 50],
  ] as const) {
    const crm = await startFakeRestCrm({ latencyMs });
    const n = batch === 1 ? Math.min(1_000, DELIVERY_LEADS) : DELIVERY_LEADS;
    const client = restClient('bench', crm.url, { rateLimit: { requests: rate, perSeconds: 1 }, batch: { size: batch, linger: '25ms' } });
    if (batch > 1) (client.settings as Record<string, unknown>).batch = { path: '/api/candidates/batch', maxSize: 50, itemsField: 'items' };
    await withService(redisUrl, [client], async (_url, _token, prefix) => {
      const producer = new LeadProducer({ connection: redisUrl, prefix, isKnownClient: () => true });
      const rss = new RssSampler();
      const accepted = new Map<string, number>();
      const started = Date.now();
      for (let i = 0; i < n; i += 1000) {
        const chunk = Array.from({ length: Math.min(1000, n - i) }, () => makeLead('bench'));
        const t = Date.now();
        await producer.enqueueMany(chunk);
        for (const l of chunk) accepted.set(String(l.leadId), t);
      }
      const deadline = Date.now() + 600_000;
      while (crm.candidates().length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const secs = (Date.now() - started) / 1000;
      const lat = crm.candidates().map((c) => Date.parse(c.createdAt) - (accepted.get(String(c.body.external_id)) ?? 0));
      const s = summarize(lat);
      const creates = crm.requests.filter((r) => r.method === 'POST' && r.path.startsWith('/api/candidates')).length;
      rows.push({ scenario: label, leads: crm.candidates().length, requests: creates, 'leads/s': Math.round(crm.candidates().length / secs), 'accept→CRM p50 ms': s.p50, 'p99 ms': s.p99, 'peak RSS MB': rss.stop() });
      await producer.close();
    });
    await crm.close();
  }
  return rows;
}

async function main(): Promise<void> {
  const redis = await ensureRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  process.stdout.write(`machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}; Redis ${redis.url} on the same machine\n`);
  try {
    printTable('Intake (HTTP POST /v1/leads → durable in Redis; delivery paused)', await benchIntake(redis.url));
    printTable('Delivery end to end (enqueue → fake REST CRM on loopback; one process)', await benchDelivery(redis.url));
  } finally {
    await redis.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    process.stderr.write(`bench failed: ${err.message}\n`);
    process.exit(1);
  },
);
