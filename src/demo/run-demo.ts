import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import pino from 'pino';
import { startFakeRestCrm } from '../../test/support/fake-rest-crm';
import { loadServiceConfig } from '../config/service-config';
import { createLogger } from '../logging/logger';
import { startService } from '../service';
import { ensureRedis } from './local-redis';

/**
 * `npm run demo`: the whole path on one machine. It starts a fake REST CRM, a Redis if none answers,
 * and lead-export with the bundled demo client; sends the sample leads through the HTTP intake (plus
 * one invalid and one repeated lead, to show both answers); makes the CRM fail once, to show a retry;
 * watches the leads arrive; prints a summary; and stops cleanly.
 */
const ROOT = resolve(__dirname, '../../..');
const say = (s = '') => process.stdout.write(`${s}\n`);

async function main(): Promise<number> {
  const started = Date.now();
  const redis = await ensureRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  say(`redis        ${redis.url}${redis.started ? ' (private redis-server started for the demo)' : ''}`);

  const password = randomBytes(12).toString('hex');
  const crm = await startFakeRestCrm({ auth: { mode: 'login', username: 'hrdrom-integration', password, accessTtlMs: 60_000 }, latencyMs: 15 });
  say(`fake CRM     ${crm.url}  (login auth, batch endpoint)`);
  // The CRM's first create request fails with a 500: lead-export retries it with backoff.
  crm.injectFault({ type: 'status', status: 500, body: { error: 'maintenance' } }, { times: 1, match: { method: 'POST', path: /^\/api\/candidates/ } });

  const workDir = join(ROOT, '.demo');
  const clientsDir = join(workDir, 'clients');
  await mkdir(clientsDir, { recursive: true });
  const template = await readFile(join(ROOT, 'config/demo/demo-rest.yaml'), 'utf8');
  await writeFile(join(clientsDir, 'demo-rest.yaml'), template.replaceAll('${FAKE_CRM_URL}', crm.url).replace(/initialDelay: 5s/, 'initialDelay: 1s'));

  const env = { ...process.env, DEMO_CRM_PASSWORD: password };
  const config = loadServiceConfig(env, {
    redisUrl: redis.url,
    httpPort: 0,
    httpHost: '127.0.0.1',
    clientsDir,
    intakeToken: randomBytes(24).toString('hex'),
    adminToken: randomBytes(24).toString('hex'),
    queuePrefix: `demo-${randomBytes(3).toString('hex')}`,
    configReloadMs: 2_000,
  });
  const logFile = join(workDir, 'service.log');
  const log = createLogger({ level: 'info' }, pino.destination({ dest: logFile, sync: true, append: false }));
  const svc = await startService(config, { api: true, worker: true }, { logger: log, env });
  say(`lead-export  ${svc.url}  (logs: ${logFile})`);
  say();

  const leads = (await readFile(join(ROOT, 'config/demo/sample-leads.jsonl'), 'utf8'))
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const post = async (body: unknown) => {
    const res = await fetch(`${svc.url}/v1/leads`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${config.intakeToken}` },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as { accepted?: number; duplicate?: number; invalid?: number; results?: Array<{ status: string; errors?: Array<{ path: string; message: string }> }> } };
  };

  const first = await post(leads);
  say(`POST /v1/leads  ${leads.length} sample leads        → ${first.status}  accepted=${first.body.accepted} duplicate=${first.body.duplicate}`);
  const repeat = await post(leads[0]);
  say(`POST /v1/leads  the first lead again          → ${repeat.status}  duplicate=${repeat.body.duplicate} (delivered once, whatever the repeats)`);
  const bad = { ...leads[1], leadId: 'demo-bad-1', candidate: { firstName: 'Тест', phone: '12345' }, consent: { given: false, at: 'yesterday' } };
  const invalid = await post(bad);
  const errs = invalid.body.results?.[0]?.errors ?? [];
  say(`POST /v1/leads  an invalid lead               → ${invalid.status}  ${errs.map((e) => `${e.path}: ${e.message}`).join('; ')}`);
  say();

  const expected = leads.length;
  const deadline = Date.now() + 60_000;
  let shown = 0;
  while (Date.now() < deadline) {
    const got = crm.candidates();
    for (; shown < got.length; shown++) {
      const c = got[shown];
      say(`  CRM ← ${c.id.padEnd(8)} lead ${String((c.body as Record<string, unknown>).external_id)}`);
    }
    if (got.length >= expected) break;
    await new Promise((r) => setTimeout(r, 100));
  }

  const creates = crm.requests.filter((r) => r.method === 'POST' && r.path.startsWith('/api/candidates'));
  const status = await svc.supervisor!.runtime('demo-rest')!.status();
  const delivered = crm.candidates().length;
  say();
  say('summary');
  const rows: Array<[string, string | number]> = [
    ['leads sent to intake', leads.length + 2],
    ['accepted', first.body.accepted ?? 0],
    ['duplicates refused', (first.body.duplicate ?? 0) + (repeat.body.duplicate ?? 0)],
    ['invalid (422)', invalid.body.invalid ?? 0],
    ['delivered into the CRM', delivered],
    ['duplicates in the CRM', delivered - new Set(crm.candidates().map((c) => String((c.body as Record<string, unknown>).external_id))).size],
    ['create requests (incl. 1 failed)', creates.length],
    ['failed deliveries', status.counts.failed ?? 0],
    ['seconds', ((Date.now() - started) / 1000).toFixed(1)],
  ];
  for (const [k, v] of rows) say(`  ${k.padEnd(34)} ${v}`);

  await svc.close();
  await crm.close();
  const { default: IORedis } = await import('ioredis');
  const r = new IORedis(redis.url);
  const keys = await r.keys(`${config.queuePrefix}:*`);
  if (keys.length) await r.del(...keys);
  r.disconnect();
  await redis.stop();
  const ok = delivered === expected && (status.counts.failed ?? 0) === 0;
  say();
  say(ok ? 'demo finished: every sample lead is in the CRM, exactly once.' : 'demo finished with problems: see the summary above and .demo/service.log');
  return ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`demo failed: ${err.message}\n`);
    process.exit(1);
  },
);
