import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startFakeRestCrm, type FakeRestCrm } from '../support/fake-rest-crm';
import { ADMIN_TOKEN, INTAKE_TOKEN, eventually, makeLead, restClient } from '../support/harness';
import { spawnService, type ServiceProcess } from '../support/processes';
import { testRedisServer, type TestRedisServer } from '../support/redis-server';
import { testPrefix } from '../support/redis';

/**
 * Losing Redis, with a real `lead-export serve` in a child process and a redis-server of the test's
 * own that it kills (SIGKILL) and restarts on the same data (AOF, fsync always):
 *  - started while Redis is unreachable, the service still serves HTTP (/healthz 200; /readyz, intake
 *    and admin 503 naming the cause), says so once in its log, and delivers once Redis answers;
 *  - with Redis gone after start, every endpoint answers within seconds, SIGTERM ends within
 *    SHUTDOWN_TIMEOUT_MS plus a little, and after Redis returns a new process delivers every
 *    accepted lead exactly once.
 */

let dir: string;
let redis: TestRedisServer;
let crm: FakeRestCrm;
let clientsDir: string;
const procs: ServiceProcess[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'le-redis-loss-'));
  clientsDir = await mkdtemp(join(tmpdir(), 'le-clients-'));
  redis = await testRedisServer(dir);
});

afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.kill()));
  await crm?.close();
  await redis.kill();
  await rm(dir, { recursive: true, force: true });
  await rm(clientsDir, { recursive: true, force: true });
});

function serviceEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    REDIS_URL: redis.url,
    QUEUE_PREFIX: testPrefix('loss'),
    CLIENTS_DIR: clientsDir,
    INTAKE_TOKEN,
    ADMIN_TOKEN,
    TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    LOG_LEVEL: 'info',
    CONFIG_RELOAD_MS: '500',
    ...extra,
  };
}

async function serve(env: NodeJS.ProcessEnv): Promise<{ proc: ServiceProcess; url: string }> {
  const proc = spawnService(env, ['serve']);
  procs.push(proc);
  const line = await eventually(() => proc.output.find((l) => l.includes('"http server listening"')), 'the HTTP server to listen', 20_000);
  return { proc, url: (JSON.parse(line) as { url: string }).url };
}

/** An answer and how long it took (a request that hangs fails the test at its own deadline). */
async function timed(url: string, init: RequestInit = {}): Promise<{ status: number; body: string; ms: number }> {
  const started = Date.now();
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(15_000) });
  const body = await res.text();
  return { status: res.status, body, ms: Date.now() - started };
}

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
const postLeads = (url: string, leads: unknown) =>
  timed(`${url}/v1/leads`, { method: 'POST', headers: { authorization: `Bearer ${INTAKE_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(leads) });
const lines = (p: ServiceProcess, msg: string) => p.output.filter((l) => l.includes(msg));

test('serve started while Redis is unreachable: HTTP answers at once, the log says it once, delivery starts when Redis answers', async () => {
  crm = await startFakeRestCrm();
  await writeFile(join(clientsDir, 'acme.yaml'), stringify(restClient('acme', crm.url)));
  const { proc, url } = await serve(serviceEnv());

  expect((await timed(`${url}/healthz`)).status).toBe(200);
  const ready = await timed(`${url}/readyz`);
  expect(ready.status).toBe(503);
  expect(JSON.parse(ready.body).cause).toContain(`Redis at 127.0.0.1:${redis.port} is unreachable`);
  const intake = await postLeads(url, makeLead('acme'));
  expect([intake.status, intake.ms < 2_500]).toEqual([503, true]);
  expect(JSON.parse(intake.body).message).toContain(`127.0.0.1:${redis.port}`);
  const clients = await timed(`${url}/admin/clients`, { headers: admin });
  expect([clients.status, clients.ms < 3_500]).toEqual([503, true]);
  expect(JSON.parse(clients.body).message).toContain('is unreachable');
  const metrics = await timed(`${url}/metrics`);
  expect(metrics.status).toBe(200);
  expect(metrics.body).toMatch(/^lead_export_redis_up 0$/m);

  await redis.start();
  await eventually(() => lines(proc, 'Redis answers again').length === 1, 'the log to say Redis answers');
  // Delivery starts by itself: the client is loaded (admin sees it), then leads go through.
  await eventually(async () => {
    const r = await timed(`${url}/admin/clients`, { headers: admin });
    return r.status === 200 && r.body.includes('"clientId":"acme"');
  }, 'the admin API to list the client');
  expect((await timed(`${url}/readyz`)).status).toBe(200);
  const leads = Array.from({ length: 5 }, () => makeLead('acme'));
  expect((await postLeads(url, leads)).status).toBe(202);
  await eventually(() => crm.candidates().length === 5, 'the 5 leads in the CRM');
  expect((await timed(`${url}/metrics`)).body).toMatch(/^lead_export_redis_up 1$/m);

  // Once each way, however many reconnect attempts the outage took.
  expect(lines(proc, 'Redis is unreachable')).toHaveLength(1);
  expect(lines(proc, 'Redis answers again')).toHaveLength(1);
  expect(lines(proc, 'redis connection error')).toHaveLength(0);
  expect(await proc.stop()).toBe(0);
});

test('Redis gone after start: endpoints answer in seconds, SIGTERM ends within its deadline, a new process delivers every accepted lead once', async () => {
  await redis.start();
  // Slow answers keep deliveries in flight when Redis dies.
  crm = await startFakeRestCrm({ latencyMs: 400 });
  await writeFile(join(clientsDir, 'acme.yaml'), stringify(restClient('acme', crm.url)));
  const env = serviceEnv({ SHUTDOWN_TIMEOUT_MS: '3000', WORKER_LOCK_MS: '2000' });
  const first = await serve(env);
  const leads = Array.from({ length: 40 }, () => makeLead('acme'));
  const accepted = await postLeads(first.url, leads);
  expect(accepted.status).toBe(202);
  await eventually(() => crm.candidates().length >= 3, 'the first deliveries');

  await redis.kill();
  const intake = await postLeads(first.url, makeLead('acme'));
  expect([intake.status, intake.ms < 2_500]).toEqual([503, true]);
  const metrics = await timed(`${first.url}/metrics`);
  expect([metrics.status, metrics.ms < 3_500]).toEqual([200, true]);
  expect(metrics.body).toMatch(/^lead_export_redis_up 0$/m);
  expect(metrics.body).not.toMatch(/^lead_export_queue_jobs\{/m);
  for (const path of ['/admin/clients', '/admin/clients/acme', '/admin/clients/acme/failed']) {
    const r = await timed(`${first.url}${path}`, { headers: admin });
    expect([path, r.status, r.ms < 3_500]).toEqual([path, 503, true]);
    expect(JSON.parse(r.body).message).toContain(`Redis at 127.0.0.1:${redis.port} is unreachable`);
  }
  expect((await timed(`${first.url}/healthz`)).status).toBe(200);
  expect((await timed(`${first.url}/readyz`)).status).toBe(503);

  const stopping = Date.now();
  await first.proc.stop(30_000);
  const tookMs = Date.now() - stopping;
  // eslint-disable-next-line no-console
  console.log(`SIGTERM with Redis gone: exited after ${tookMs} ms (SHUTDOWN_TIMEOUT_MS 3000); ${crm.candidates().length} of 40 delivered before`);
  expect(tookMs).toBeLessThan(3_000 + 2_500);
  expect(lines(first.proc, 'shutdown deadline passed')).toHaveLength(1);

  await redis.start();
  const second = await serve(env);
  await eventually(() => crm.candidates().length >= 40, 'all 40 accepted leads in the CRM', 60_000);
  await eventually(async () => {
    const r = await timed(`${second.url}/admin/clients/acme`, { headers: admin });
    const s = JSON.parse(r.body) as { counts: Record<string, number> };
    return r.status === 200 && s.counts.completed === 40 && s.counts.active === 0 && s.counts.wait === 0 && s.counts.delayed === 0;
  }, 'every job completed', 30_000);
  const ids = crm.candidates().map((c) => String(c.body.external_id));
  expect(ids).toHaveLength(40);
  expect(new Set(ids)).toEqual(new Set(leads.map((l) => String(l.leadId))));
  expect(await second.proc.stop()).toBe(0);
});
