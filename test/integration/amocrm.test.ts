import { Command } from 'commander';
import { Queue } from 'bullmq';
import type { AmoLead } from '../support/fake-amocrm';
import { startFakeAmo, type FakeAmo, type FakeAmoOptions } from '../support/fake-amocrm';
import { eventually, makeLead, startHarness, type Harness } from '../support/harness';
import { ensureBuilt, spawnService, type ServiceProcess } from '../support/processes';
import { REDIS_URL, redisClient } from '../support/redis';
import { registerAdapterCommands } from '../../src/cli/adapter-commands';
import { LeadProducer } from '../../src/queue/producer';
import { Keys } from '../../src/queue/keys';
import type { DeliveryJobData, DeliveryResult } from '../../src/queue/delivery-job';
import { SELECT_VACANCY_FIELDS } from '../support/amocrm-fixtures';

// lead-export with the amoCRM adapter, end to end: intake queue → workers → fake amoCRM (real HTTP),
// real Redis, and — for the token race — three real worker processes.

const OAUTH = { clientId: 'amo-cid', clientSecret: 'amo-secret-value', redirectUri: 'https://hrdrom.test/amocrm' };
const ENV = { AMO_TEST_SECRET: OAUTH.clientSecret };

let fake: FakeAmo | undefined;
let harness: Harness | undefined;
let children: ServiceProcess[] = [];
let extraClose: Array<() => Promise<void>> = [];

afterEach(async () => {
  await Promise.all(children.map((c) => c.stop(5_000)));
  children = [];
  for (const c of extraClose) await c();
  extraClose = [];
  await harness?.close();
  harness = undefined;
  await fake?.close();
  fake = undefined;
});

async function startAmo(opts: FakeAmoOptions = {}): Promise<FakeAmo> {
  fake = await startFakeAmo({ ...OAUTH, ...opts });
  return fake;
}

/**
 * amoCRM's own limit, 7 per 1 s: the shared limiter spaces admissions a little wider than the window
 * (its arrival guard), because amoCRM counts arrivals and we count departures.
 */
const AMO_TEST_RATE = { requests: 7, perSeconds: 1 };

function amoClient(id: string, url: string, over: Record<string, unknown> = {}, settingsOver: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id,
    name: `amoCRM ${id}`,
    adapter: 'amocrm',
    rateLimit: AMO_TEST_RATE,
    batch: { size: 50, linger: '200ms' },
    retry: { initialDelay: '200ms', maxDelay: '1s', jitter: 0.2, uncertainGrace: '300ms' },
    settings: {
      baseUrl: url,
      auth: { type: 'oauth', clientId: OAUTH.clientId, clientSecret: 'env:AMO_TEST_SECRET', redirectUri: OAUTH.redirectUri },
      pipelineId: 1000,
      statusId: 1002,
      timeoutMs: 5_000,
      ...settingsOver,
    },
    mapping: {
      fields: { externalId: 500, vacancy: 501, city: 502, source: 503, utmSource: 510, utmMedium: 511, utmCampaign: 512 },
      tags: ['hrdrom', { from: 'source.channel' }],
    },
    ...over,
  };
}

/** `lead-export amocrm <args>` in this process, against the harness's Redis prefix and clients folder. */
async function amoCli(h: Harness, args: string[]): Promise<{ out: string; err: string; exitCode: number }> {
  let out = '';
  let err = '';
  const program = new Command('lead-export').exitOverride();
  registerAdapterCommands(program, { serviceConfig: () => h.config, print: (s: string) => (out += `${s}\n`), err: (s: string) => (err += s), env: { ...process.env, ...ENV } });
  const before = process.exitCode;
  process.exitCode = undefined;
  await program.parseAsync(['amocrm', ...args], { from: 'user' });
  const exitCode = typeof process.exitCode === 'number' ? process.exitCode : 0;
  process.exitCode = before;
  return { out, err, exitCode };
}

const complexRequests = (f: FakeAmo) => f.requests.filter((r) => r.method === 'POST' && r.path === '/api/v4/leads/complex');
const externalIdOf = (l: AmoLead) => String(l.custom_fields_values?.find((c) => c.field_id === 500)?.values[0]?.value);

/** What every test asserts: the CRM holds each lead once, every lead went over the wire, nothing tripped the limit or the block. */
function expectCleanRun(f: FakeAmo, leadIds: string[], opts: { inCrm?: string[] } = {}): void {
  const inCrm = f.leads().map(externalIdOf);
  expect(new Set(inCrm).size).toBe(inCrm.length);
  expect([...inCrm].sort()).toEqual([...(opts.inCrm ?? leadIds)].sort());
  const sent = new Set(complexRequests(f).flatMap((r) => (r.body as Array<{ custom_fields_values: Array<{ field_id: number; values: Array<{ value: string }> }> }>).map((b) => b.custom_fields_values.find((c) => c.field_id === 500)!.values[0].value)));
  for (const id of leadIds) expect(sent.has(id)).toBe(true);
  expect(f.requests.every((r) => r.status !== 0 || r.fault !== undefined)).toBe(true);
  expect(f.stats().blocked).toBe(0);
  expect(f.stats().rateLimited).toBe(0);
  expect(f.requests.filter((r) => r.status === 429)).toHaveLength(0);
  expect(f.maxRequestsInAnyWindow(1000)).toBeLessThanOrEqual(7);
}

function expectNoPersonalData(text: string): void {
  for (const pii of ['Ivan', 'Petrov', '79123456789', '912 345', 'ivan.petrov@example.org', OAUTH.clientSecret]) expect(text).not.toContain(pii);
}

describe('amoCRM through the whole service', () => {
  test('500 leads: ≤ 11 complex requests, no duplicates, never over 7 requests in any second, no 429', async () => {
    const f = await startAmo();
    const h = (harness = await startHarness({ clients: [amoClient('amo-bulk', f.url)], env: ENV }));
    const connected = await amoCli(h, ['connect', 'amo-bulk', '--code', f.issueCode()]);
    expect(connected.out).toMatch(/tokens stored/);
    const leads = Array.from({ length: 500 }, () => makeLead('amo-bulk'));
    const started = Date.now();
    const res = await h.svc.producer.enqueueMany(leads);
    expect(res.every((r) => r.status === 'accepted')).toBe(true);
    const rt = h.svc.supervisor!.runtime('amo-bulk')!;
    await eventually(async () => (await rt.queue.getJobCounts('completed')).completed === 500, '500 deliveries', 30_000);
    const tookMs = Date.now() - started;
    const ids = leads.map((l) => String(l.leadId));
    expectCleanRun(f, ids);
    const complex = complexRequests(f);
    expect(complex.length).toBeLessThanOrEqual(11);
    expect(complex.every((r) => r.status === 200)).toBe(true);
    expect((await rt.queue.getJobCounts('failed')).failed).toBe(0);
    expectNoPersonalData(h.logs.text);
    // eslint-disable-next-line no-console
    console.log(`500 leads: ${complex.length} complex requests (sizes ${complex.map((r) => (r.body as unknown[]).length).join(',')}), ` +
      `${f.requests.length} requests in all, max ${f.maxRequestsInAnyWindow(1000)} in any 1 s window, delivered in ${tookMs} ms`);
  });

  test('access token expires mid-run under 3 worker processes: exactly one refresh, every lead delivered', async () => {
    ensureBuilt();
    const f = await startAmo();
    const client = amoClient('amo-race', f.url, { batch: { size: 10, linger: '50ms' } });
    const h = (harness = await startHarness({ clients: [client], env: ENV, roles: { api: false, worker: false } }));
    await amoCli(h, ['connect', 'amo-race', '--code', f.issueCode()]);
    const env = {
      REDIS_URL,
      QUEUE_PREFIX: h.prefix,
      CLIENTS_DIR: h.clientsDir,
      TOKEN_ENCRYPTION_KEY: h.config.tokenEncryptionKey,
      LOG_LEVEL: 'info',
      CONFIG_RELOAD_MS: '500',
      ...ENV,
    };
    children = [spawnService(env), spawnService(env), spawnService(env)];
    // A shared connection with an offline queue: a producer given a URL fails its first call made before the connection is up.
    const conn = redisClient();
    const producer = new LeadProducer({ connection: conn, prefix: h.prefix, isKnownClient: () => true });
    extraClose.push(async () => {
      await producer.close();
      conn.disconnect();
    });
    const leads = Array.from({ length: 300 }, () => makeLead('amo-race'));
    await producer.enqueueMany(leads);
    await eventually(() => f.leads().length >= 40, 'the first deliveries', 20_000);
    f.expireAccessTokens();
    const expiredAt = f.requests.length;
    const qconn = redisClient();
    const queue = new Queue<DeliveryJobData, DeliveryResult, string>(new Keys(h.prefix).deliveryQueue('amo-race'), { connection: qconn, prefix: h.prefix });
    extraClose.push(async () => {
      await queue.close();
      qconn.disconnect();
    });
    await eventually(async () => (await queue.getJobCounts('completed')).completed === 300, '300 deliveries', 40_000);
    expect(f.stats().refreshes).toBe(1);
    expect((await queue.getJobCounts('failed', 'delayed', 'wait')).failed).toBe(0);
    expectCleanRun(f, leads.map((l) => String(l.leadId)));
    const after = f.requests.slice(expiredAt);
    const output = children.flatMap((c) => c.output);
    // Every process saw the expiry (401s), one refreshed, the others picked up its tokens.
    const senders = new Set(after.filter((r) => r.path === '/api/v4/leads/complex' && r.status === 200).map((r) => String(r.headers.authorization)));
    expect(senders.size).toBe(1);
    expect(output.filter((l) => l.includes('tokens renewed'))).toHaveLength(1);
    expect(output.filter((l) => /delivery attempt failed|delivery failed for good|client paused/.test(l))).toEqual([]);
    const workers = new Set(output.filter((l) => l.includes('"lead delivered"')).map((l) => (JSON.parse(l) as { pid: number }).pid));
    expect(workers.size).toBeGreaterThanOrEqual(2);
    expectNoPersonalData(output.join('\n'));
    const leadsPerPid = [...workers].map((pid) => output.filter((l) => l.includes('"lead delivered"') && l.includes(`"pid":${pid}`)).length);
    // eslint-disable-next-line no-console
    console.log(`3 processes: ${f.stats().refreshes} refresh, ${after.filter((r) => r.status === 401).length} API 401s after expiry, leads per process ${leadsPerPid.join('/')}, ` +
      `${complexRequests(f).length} complex requests, max ${f.maxRequestsInAnyWindow(1000)} in any 1 s window`);
  });

  test('revoked refresh token: the client pauses with reason auth, nothing is lost; connect delivers the backlog', async () => {
    const f = await startAmo();
    const h = (harness = await startHarness({ clients: [amoClient('amo-revoke', f.url, { batch: { size: 50, linger: '50ms' } })], env: ENV }));
    await amoCli(h, ['connect', 'amo-revoke', '--code', f.issueCode()]);
    const rt = h.svc.supervisor!.runtime('amo-revoke')!;
    const first = Array.from({ length: 10 }, () => makeLead('amo-revoke'));
    await h.svc.producer.enqueueMany(first);
    await eventually(async () => (await rt.queue.getJobCounts('completed')).completed === 10, 'the first 10');
    f.revokeAllTokens();
    const backlog = Array.from({ length: 15 }, () => makeLead('amo-revoke'));
    await h.svc.producer.enqueueMany(backlog);
    const paused = await eventually(async () => {
      const s = await rt.status();
      return s.circuit.state === 'open' && s.circuit.reason === 'auth' && s.queuePaused ? s : null;
    }, 'the auth pause');
    // The client-level reason names the refusal, never the CRM's words (which stay on the jobs).
    expect(paused!.circuit.detail).toMatch(/token refresh refused: HTTP 401/);
    expect(f.stats().refreshes).toBe(1);
    // One alert line, no failed lead, nothing created.
    expect(h.logs.messages().filter((m) => m.alert === true && m.reason === 'auth')).toHaveLength(1);
    const counts = await rt.queue.getJobCounts('failed', 'completed', 'wait', 'delayed', 'prioritized', 'active');
    expect(counts.failed).toBe(0);
    expect(counts.completed).toBe(10);
    expect(counts.wait + counts.delayed + counts.prioritized + counts.active).toBe(15);
    expect(f.leads()).toHaveLength(10);
    // Ops reconnects with a fresh code: the CLI stores the tokens and resumes the client.
    const res = await amoCli(h, ['connect', 'amo-revoke', '--code', f.issueCode()]);
    expect(res.out).toMatch(/amo-revoke: resumed \(was paused: auth\)/);
    await eventually(async () => (await rt.queue.getJobCounts('completed')).completed === 25, 'the backlog', 20_000);
    expect(f.stats().refreshes).toBe(1);
    expect((await rt.queue.getJobCounts('failed')).failed).toBe(0);
    expectCleanRun(f, [...first, ...backlog].map((l) => String(l.leadId)));
    expectNoPersonalData(h.logs.text);
  });

  test('one invalid lead in a batch of 50: 49 delivered, 1 failed with amoCRM’s code, path and detail', async () => {
    const fields = SELECT_VACANCY_FIELDS;
    const f = await startAmo({ leadCustomFields: fields });
    const h = (harness = await startHarness({ clients: [amoClient('amo-invalid', f.url, { batch: { size: 50, linger: '500ms' } })], env: ENV }));
    await amoCli(h, ['connect', 'amo-invalid', '--code', f.issueCode()]);
    const leads = Array.from({ length: 50 }, (_, i) => makeLead('amo-invalid', i === 17 ? { vacancy: { title: 'Astronaut' } } : {}));
    await h.svc.producer.enqueueMany(leads);
    const rt = h.svc.supervisor!.runtime('amo-invalid')!;
    await eventually(async () => {
      const c = await rt.queue.getJobCounts('completed', 'failed');
      return c.completed === 49 && c.failed === 1;
    }, '49 delivered and 1 failed');
    const [failed] = await rt.queue.getFailed();
    expect(failed.data.lead.leadId).toBe(leads[17].leadId);
    expect(failed.failedReason).toBe(
      'rejected by the CRM (NotSupportedChoice at custom_fields_values.1.values.0.value): custom_fields_values.1.values.0.value: The value you selected is not a valid choice. (NotSupportedChoice)',
    );
    expect(failed.attemptsMade).toBe(1);
    expect(complexRequests(f).map((r) => [(r.body as unknown[]).length, r.status])).toEqual([
      [50, 400],
      [49, 200],
    ]);
    const ids = leads.map((l) => String(l.leadId));
    expectCleanRun(f, ids, { inCrm: ids.filter((_, i) => i !== 17) });
  });

  test.each([
    ['the custom-field filter', true],
    ['query= (filter unavailable)', false],
  ])('the CRM creates the leads but answers after our timeout: the retry finds them by external id via %s', async (_how, customFieldFilter) => {
    const f = await startAmo({ customFieldFilter });
    const h = (harness = await startHarness({ clients: [amoClient('amo-slow', f.url, {}, { timeoutMs: 800 })], env: ENV }));
    await amoCli(h, ['connect', 'amo-slow', '--code', f.issueCode()]);
    const rt = h.svc.supervisor!.runtime('amo-slow')!;
    // Someone else's lead in the account: an account that ignores the filter answers with it, and is found out.
    const other = makeLead('amo-slow');
    await h.svc.producer.enqueue(other);
    await eventually(async () => (await rt.queue.getJobCounts('completed')).completed === 1, 'the first lead');
    f.injectFault({ type: 'create-then-delay', ms: 2_000 });
    const leads = Array.from({ length: 5 }, () => makeLead('amo-slow'));
    await h.svc.producer.enqueueMany(leads);
    await eventually(async () => (await rt.queue.getJobCounts('completed')).completed === 6, 'the 5 leads', 20_000);
    const jobs = (await rt.queue.getCompleted()).filter((j) => j.data.lead.leadId !== other.leadId);
    expect(jobs.map((j) => j.returnvalue.existing)).toEqual([true, true, true, true, true]);
    expect(jobs.every((j) => j.attemptsMade >= 1)).toBe(true);
    expect(complexRequests(f)).toHaveLength(2);
    expect(complexRequests(f)[1].status).toBe(0); // the answer never reached us
    const lookups = f.requests.filter((r) => r.method === 'GET' && r.path === '/api/v4/leads');
    expect(lookups.length).toBeGreaterThanOrEqual(1);
    if (customFieldFilter) expect(lookups.every((r) => r.query.filter !== undefined)).toBe(true);
    else expect(lookups.some((r) => typeof r.query.query === 'string')).toBe(true);
    expectCleanRun(f, [other, ...leads].map((l) => String(l.leadId)));
  });

  test('amocrm check-online lists the account and flags ids that do not exist (exit 1)', async () => {
    const f = await startAmo();
    const h = (harness = await startHarness({ clients: [amoClient('amo-check', f.url)], env: ENV, roles: { api: false, worker: false } }));
    await amoCli(h, ['connect', 'amo-check', '--code', f.issueCode()]);
    const good = await amoCli(h, ['check-online', 'amo-check']);
    expect(good.exitCode).toBe(0);
    expect(good.out).toMatch(/1000 {2}Воронка {2}\[main\]/);
    expect(good.out).toMatch(/1001 {2}Неразобранное {2}\[unsorted\]/);
    expect(good.out).toMatch(/600 {2}Телефон {2}\(multitext, code PHONE\) {2}types: WORK, MOB, OTHER/);
    expect(good.out).toMatch(/ok {5} {2}mapping\.fields\.externalId 500: "External ID" \(text\)/);
    expect(good.out).toMatch(/every id and path in the client file matches the live CRM/);
    const client = amoClient('amo-check', f.url, {}, { pipelineId: 2000, statusId: 1002 });
    (client.mapping as { fields: Record<string, number> }).fields.utmSource = 999;
    await h.writeClient(client);
    const bad = await amoCli(h, ['check-online', 'amo-check']);
    expect(bad.exitCode).toBe(1);
    expect(bad.out).toMatch(/MISSING {2}settings\.statusId 1002: not a status of pipeline 2000/);
    expect(bad.out).toMatch(/MISSING {2}mapping\.fields\.utmSource 999: no such lead custom field/);
    expect(bad.out).toMatch(/2 setting\(s\) in the client file do not match the live CRM/);
    expect(f.stats().blocked).toBe(0);
    expect(f.maxRequestsInAnyWindow(1000)).toBeLessThanOrEqual(7);
    await expect(amoCli(h, ['connect', 'nope', '--code', 'x'])).rejects.toThrow(/there is no nope.yaml/);
  });
});
