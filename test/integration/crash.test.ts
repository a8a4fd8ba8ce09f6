import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { stringify } from 'yaml';
import { LeadProducer } from '../../src/queue/producer';
import { startFakeRestCrm, type FakeRestCrm } from '../support/fake-rest-crm';
import { eventually, makeLead, restClient } from '../support/harness';
import { ensureBuilt, spawnService, type ServiceProcess } from '../support/processes';
import { cleanupPrefix, REDIS_URL, redisClient, testPrefix } from '../support/redis';

/**
 * Nothing accepted is lost when a worker is killed with SIGKILL mid-delivery, and nothing is created
 * twice: the leads it held are picked up by another worker once their locks lapse, and those whose
 * request was on the wire are looked up in the CRM before being created again.
 */
describe('a worker killed with SIGKILL', () => {
  let crm: FakeRestCrm;
  let dir: string;
  let prefix: string;
  let children: ServiceProcess[] = [];

  beforeAll(() => ensureBuilt());
  beforeEach(async () => {
    crm = await startFakeRestCrm({ latencyMs: 600 }); // the CRM creates on arrival and answers late: kills land mid-request
    dir = await mkdtemp(join(tmpdir(), 'le-crash-'));
    prefix = testPrefix('crash');
  });
  afterEach(async () => {
    await Promise.all(children.map((c) => c.kill()));
    children = [];
    await crm.close();
    const r = redisClient();
    await cleanupPrefix(r, prefix);
    r.disconnect();
    await rm(dir, { recursive: true, force: true });
  });

  it('loses no lead and creates none twice', async () => {
    const client = restClient('acme', crm.url, { rateLimit: { requests: 40, perSeconds: 1 }, batch: { size: 5, linger: '20ms' } });
    (client.settings as Record<string, unknown>).batch = { path: '/api/candidates/batch', maxSize: 5, itemsField: 'items' };
    await writeFile(join(dir, 'acme.yaml'), stringify(client));
    const env = { REDIS_URL, QUEUE_PREFIX: prefix, CLIENTS_DIR: dir, TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64'), LOG_LEVEL: 'info', WORKER_LOCK_MS: '3000' };
    const first = spawnService(env);
    children.push(first);
    const producer = new LeadProducer({ connection: REDIS_URL, prefix, isKnownClient: () => true });
    const leads = Array.from({ length: 200 }, () => makeLead('acme'));
    try {
      expect((await producer.enqueueMany(leads)).every((r) => r.status === 'accepted')).toBe(true);
    } finally {
      await producer.close();
    }
    // Kill while a create request is on the wire: the CRM holds those leads, the worker never hears so.
    await eventually(() => crm.candidates().length >= 40 && crm.requests.some((r) => r.method === 'POST' && r.status === 0), 'a request in flight after some deliveries', 30_000);
    await first.kill(); // SIGKILL: active jobs keep their locks until they lapse
    const killedAt = crm.candidates().length;
    const second = spawnService(env);
    children.push(second);
    await eventually(() => new Set(crm.candidates().map((c) => c.body.external_id)).size === 200, 'every lead delivered by the second worker', 60_000);
    const ids = crm.candidates().map((c) => String(c.body.external_id));
    expect(ids).toHaveLength(200); // none created twice
    expect(new Set(ids)).toEqual(new Set(leads.map((l) => String(l.leadId))));
    // The leads of the interrupted request were looked up, found, and not created again.
    expect(crm.requests.filter((r) => r.method === 'GET' && r.path === '/api/candidates').length).toBeGreaterThan(0);
    console.log(`crash test: ${killedAt} delivered before SIGKILL, ${200 - killedAt} after; ${crm.requests.filter((r) => r.method === 'GET').length} look-ups; 0 duplicates`);
  });
});
