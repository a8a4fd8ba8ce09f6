import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { AdapterContext, PushItem, PushOutcome } from '../../adapters/types';
import type { AmoAdapter } from '../../adapters/amocrm';
import { exchangeCode, importTokens, readTokens } from '../../adapters/amocrm/oauth';
import type { AmoMapping, AmoSettings } from '../../adapters/amocrm/settings';
import type { CrmChannel } from '../../src/channel/channel';
import { DeliveryError } from '../../src/domain/errors';
import { assertLead, type LeadV1 } from '../../src/domain/lead';
import { Keys } from '../../src/queue/keys';
import { LogCapture, makeLead } from '../support/harness';
import { clientConfig, testChannel } from '../support/channel';
import { cleanupPrefix, redisClient, testPrefix } from '../support/redis';
import { startFakeAmo, type FakeAmo, type FakeAmoOptions } from '../support/fake-amocrm';
import { SELECT_VACANCY_FIELDS } from '../support/amocrm-fixtures';

// The adapter on its own, over real HTTP to the fake amoCRM and a real Redis store: every branch of
// push, auth and lookup that the whole-service tests (amocrm.test.ts) do not reach cheaply.

const CLIENT = 'acme';
const OAUTH = { clientId: 'amo-cid', clientSecret: 'amo-secret-value', redirectUri: 'https://hrdrom.test/amocrm' };
const ENV = { AMO_SECRET: OAUTH.clientSecret };
/** Filled by the long-lived token test with a token the fake issues. */
const ENV_LONG: Record<string, string> = {};

let fake: FakeAmo | undefined;
let redis: Redis | undefined;
let prefix = '';
let logLines: string[] = [];
let openChannels: CrmChannel[] = [];

afterEach(async () => {
  await Promise.all(openChannels.map((c) => c.close()));
  openChannels = [];
  await fake?.close();
  fake = undefined;
  if (redis) {
    await cleanupPrefix(redis, prefix);
    redis.disconnect();
    redis = undefined;
  }
});

interface Env {
  fake: FakeAmo;
  settings: AmoSettings;
  mapping: AmoMapping;
  /** A new adapter instance with its own channel (HTTP client, memory): another "process" on the same Redis. */
  adapter(env?: NodeJS.ProcessEnv, settings?: Partial<AmoSettings>): AmoAdapter;
  ctx(env?: NodeJS.ProcessEnv): AdapterContext;
  connect(): Promise<void>;
}

async function setup(
  opts: FakeAmoOptions = {},
  over: { settings?: Record<string, unknown>; mapping?: Record<string, unknown>; limit?: number } = {},
): Promise<Env> {
  fake = await startFakeAmo({ ...OAUTH, ...opts });
  redis = redisClient();
  prefix = testPrefix('amo');
  logLines = [];
  const encryptionKey = randomBytes(32).toString('base64');
  const config = clientConfig({
    id: CLIENT,
    name: 'Acme',
    adapter: 'amocrm',
    // amoCRM's 7/s, with the arrival guard the service's channels use too.
    rateLimit: { requests: over.limit ?? 7, perSeconds: 1 },
    settings: {
      baseUrl: fake.url,
      auth: { type: 'oauth', clientId: OAUTH.clientId, clientSecret: 'env:AMO_SECRET', redirectUri: OAUTH.redirectUri },
      pipelineId: 1000,
      statusId: 1002,
      timeoutMs: 2_000,
      ...over.settings,
    },
    mapping: {
      fields: { externalId: 500, vacancy: 501, city: 502, source: 503, utmSource: 510, utmMedium: 511, utmCampaign: 512 },
      tags: ['hrdrom', { from: 'source.channel' }],
      ...over.mapping,
    },
  });
  const settings = config.settings as AmoSettings;
  const mapping = config.mapping as AmoMapping;
  const r = redis;
  const f = fake;
  const logs = new LogCapture();
  const channels: CrmChannel[] = [];
  const channel = (env: NodeJS.ProcessEnv = ENV, settingsOver?: Partial<AmoSettings>): CrmChannel => {
    const c = testChannel(settingsOver ? { ...config, settings: { ...settings, ...settingsOver } } : config, { redis: r, prefix, env, encryptionKey, logs });
    channels.push(c);
    return c;
  };
  openChannels = channels;
  logLines = logs.lines;
  return {
    fake: f,
    settings,
    mapping,
    ctx: (env?: NodeJS.ProcessEnv) => channel(env).adapterParts().ctx,
    adapter: (env?: NodeJS.ProcessEnv, settingsOver?: Partial<AmoSettings>) => channel(env, settingsOver).adapterParts().adapter as AmoAdapter,
    async connect() {
      await exchangeCode(settings, f.issueCode(), channel().adapterParts().ctx);
    },
  };
}

function leads(n: number, over: (i: number) => Record<string, unknown> = () => ({})): LeadV1[] {
  return Array.from({ length: n }, (_, i) => assertLead(makeLead(CLIENT, over(i))));
}

const items = (ls: LeadV1[], uncertain = false): PushItem[] => ls.map((lead) => ({ lead, idempotencyKey: `${CLIENT}.${lead.leadId}`, uncertain }));

const complexRequests = (f: FakeAmo) => f.requests.filter((r) => r.method === 'POST' && r.path === '/api/v4/leads/complex');
const lookups = (f: FakeAmo) => f.requests.filter((r) => r.method === 'GET' && r.path === '/api/v4/leads');
const api401 = (f: FakeAmo) => f.requests.filter((r) => r.path.startsWith('/api/v4') && r.status === 401);

function externalIds(f: FakeAmo): string[] {
  return f.leads().map((l) => String(l.custom_fields_values?.find((c) => c.field_id === 500)?.values[0]?.value));
}

async function caught(p: Promise<unknown>): Promise<DeliveryError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof DeliveryError) return err;
    throw err;
  }
  throw new Error('expected a DeliveryError');
}

/** Every test ends with this: no 429, no block, nothing in the fake twice. */
function expectCleanRun(f: FakeAmo): void {
  expect(f.stats().rateLimited).toBe(0);
  expect(f.stats().blocked).toBe(0);
  const ids = externalIds(f);
  expect(new Set(ids).size).toBe(ids.length);
}

describe('amoCRM adapter against the fake amoCRM', () => {
  test('push: one complex request; lead, contact, fields and tags as sent; no personal data or token in logs', async () => {
    const env = await setup();
    await env.connect();
    const ls = leads(3);
    const out = await env.adapter().push(items(ls));
    expect(out.map((o) => o.status)).toEqual(['delivered', 'delivered', 'delivered']);
    expect(complexRequests(env.fake)).toHaveLength(1);
    const req = complexRequests(env.fake)[0];
    expect(String(req.headers.authorization)).toMatch(/^Bearer \S+$/);
    const stored = env.fake.leads();
    expect(stored.map((l) => String(l.id)).sort()).toEqual(out.map((o) => (o.status === 'delivered' ? o.crmId : '')).sort());
    const first = stored.find((l) => String(l.id) === (out[0] as Extract<PushOutcome, { status: 'delivered' }>).crmId)!;
    expect(first).toMatchObject({ name: 'Courier — Ivan Petrov', pipeline_id: 1000, status_id: 1002, created_at: Date.parse('2026-11-27T10:00:00Z') / 1000 });
    expect(first.custom_fields_values?.map((c) => [c.field_id, c.values[0].value])).toEqual([
      [500, ls[0].leadId],
      [501, 'Courier'],
      [502, 'Moscow'],
      [503, 'hh'],
      [510, 'hh'],
      [511, 'cpc'],
      [512, 'winter'],
    ]);
    expect(first._embedded.tags.map((t) => t.name)).toEqual(['hrdrom', 'hh']);
    const contact = env.fake.contacts().find((c) => c.id === first._embedded.contacts[0].id)!;
    expect(contact).toMatchObject({ first_name: 'Ivan', last_name: 'Petrov' });
    expect(contact.custom_fields_values?.map((c) => [c.field_code, c.values[0].value, c.values[0].enum])).toEqual([
      ['PHONE', '+79123456789', 'WORK'],
      ['EMAIL', 'ivan.petrov@example.org', 'WORK'],
    ]);
    expect((out[0] as Extract<PushOutcome, { status: 'delivered' }>).refs).toEqual({ contactId: String(contact.id) });
    const tokens = await readTokens(env.ctx().store, CLIENT);
    const logs = logLines.join('\n');
    for (const secret of ['Ivan', 'Petrov', '79123456789', 'ivan.petrov', tokens!.accessToken, tokens!.refreshToken, OAUTH.clientSecret]) expect(logs).not.toContain(secret);
    expectCleanRun(env.fake);
  });

  test('not connected: auth error that says how to connect; tokens are stored encrypted', async () => {
    const env = await setup();
    const err = await caught(env.adapter().push(items(leads(1))));
    expect(err.kind).toBe('auth');
    expect(err.message).toMatch(/amocrm connect acme --code/);
    expect(env.fake.requests).toHaveLength(0);
    await env.connect();
    const raw = await redis!.get(new Keys(prefix).store(CLIENT).value('amocrm-oauth'));
    expect(raw).toMatch(/^v1:/);
    const tokens = await readTokens(env.ctx().store, CLIENT);
    expect(raw).not.toContain(tokens!.refreshToken);
  });

  test('proactive refresh ahead of expiry: exactly one refresh across three "processes", no 401', async () => {
    const env = await setup({ accessTtlSeconds: 2 });
    await env.connect();
    const procs = [env.adapter(), env.adapter(), env.adapter()];
    await Promise.all(procs.map((a) => a.push(items(leads(2)))));
    expect(env.fake.stats().refreshes).toBe(0);
    // 10 % of a 2 s lifetime: the refresh starts 200 ms before expiry.
    await new Promise((r) => setTimeout(r, 1_850));
    await Promise.all(procs.map((a) => a.push(items(leads(2)))));
    expect(env.fake.stats().refreshes).toBe(1);
    expect(api401(env.fake)).toHaveLength(0);
    expect(env.fake.leads()).toHaveLength(12);
    expectCleanRun(env.fake);
  });

  test('a 401 with a token we believe valid: one refresh under the lock for all processes, then retry', async () => {
    const env = await setup();
    await env.connect();
    const procs = [env.adapter(), env.adapter(), env.adapter()];
    await Promise.all(procs.map((a) => a.push(items(leads(1)))));
    env.fake.expireAccessTokens();
    const out = await Promise.all(procs.map((a) => a.push(items(leads(5)))));
    expect(out.flat().every((o) => o.status === 'delivered')).toBe(true);
    expect(env.fake.stats().refreshes).toBe(1);
    expect(api401(env.fake).length).toBeGreaterThanOrEqual(1);
    expect(env.fake.leads()).toHaveLength(18);
    expectCleanRun(env.fake);
  });

  test('revoked refresh token: auth, the pair is marked dead (no second token request), connect cures it', async () => {
    const env = await setup();
    await env.connect();
    const a = env.adapter();
    const b = env.adapter();
    await a.push(items(leads(1)));
    await b.push(items(leads(1)));
    env.fake.revokeAllTokens();
    const err = await caught(a.push(items(leads(2))));
    expect(err.kind).toBe('auth');
    expect(err.crmDetail).toMatch(/Token has been revoked/);
    expect(env.fake.stats().refreshes).toBe(1);
    // Another process with the old token in memory: its 401 finds the dead mark, and does not refresh.
    const err2 = await caught(b.push(items(leads(2))));
    expect(err2.kind).toBe('auth');
    expect(err2.message).toMatch(/amocrm connect/);
    expect(env.fake.stats().refreshes).toBe(1);
    expect((await readTokens(env.ctx().store, CLIENT))?.dead?.reason).toMatch(/Token has been revoked/);
    await env.connect();
    const out = await Promise.all([a.push(items(leads(2))), b.push(items(leads(2)))]);
    expect(out.flat().every((o) => o.status === 'delivered')).toBe(true);
    expect(env.fake.stats().refreshes).toBe(1);
    expectCleanRun(env.fake);
  });

  test('tokens of another integration, a bad code, a wrong secret: auth errors that say why', async () => {
    const env = await setup();
    await env.connect();
    const other = env.adapter(ENV, { auth: { ...env.settings.auth, clientId: 'another' } as AmoSettings['auth'] });
    expect((await caught(other.push(items(leads(1))))).message).toMatch(/belong to integration amo-cid/);
    const bad = await caught(exchangeCode(env.settings, 'def502-not-a-code', env.ctx()));
    expect([bad.kind, bad.crmDetail]).toEqual(['auth', expect.stringMatching(/Cannot decrypt the authorization code/)]);
    const wrong = await caught(exchangeCode(env.settings, env.fake.issueCode(), env.ctx({ AMO_SECRET: 'wrong' })));
    expect(wrong.crmDetail).toMatch(/Некорректный клиент/);
    // A secret that cannot be read is the client's config, not its credentials.
    const missing = await caught(exchangeCode(env.settings, env.fake.issueCode(), env.ctx({})));
    expect([missing.kind, missing.message]).toEqual(['config', expect.stringMatching(/AMO_SECRET is not set/)]);
  });

  test('a wrong client secret on refresh: auth, but the refresh token is not marked dead (fixing the secret cures it)', async () => {
    const env = await setup();
    await env.connect();
    env.fake.expireAccessTokens();
    const wrongSecret = env.adapter({ AMO_SECRET: 'wrong' });
    const err = await caught(wrongSecret.push(items(leads(1))));
    expect([err.kind, err.crmDetail]).toEqual(['auth', expect.stringMatching(/Некорректный клиент/)]);
    expect((await readTokens(env.ctx().store, CLIENT))?.dead).toBeUndefined();
    const out = await env.adapter().push(items(leads(1)));
    expect(out[0].status).toBe('delivered');
    expect(env.fake.stats().refreshes).toBe(2);
  });

  test('importTokens: a pair with unknown expiry is refreshed on first use', async () => {
    const env = await setup();
    await env.connect();
    const t = (await readTokens(env.ctx().store, CLIENT))!;
    await importTokens(env.settings, { accessToken: t.accessToken, refreshToken: t.refreshToken! }, env.ctx());
    await env.adapter().push(items(leads(1)));
    expect(env.fake.stats().refreshes).toBe(1);
  });

  test('long-lived token: works without refresh; once expired, auth', async () => {
    const env = await setup({}, { settings: { auth: { type: 'long-lived', token: 'env:AMO_LONG' } } });
    ENV_LONG.AMO_LONG = env.fake.issueLongLivedToken(1);
    const adapter = env.adapter(ENV_LONG);
    expect((await adapter.push(items(leads(2)))).map((o) => o.status)).toEqual(['delivered', 'delivered']);
    await new Promise((r) => setTimeout(r, 1_100));
    const err = await caught(adapter.push(items(leads(1))));
    expect([err.kind, err.status]).toEqual(['auth', 401]);
    expect(env.fake.stats().refreshes).toBe(0);
    await expect(exchangeCode(env.settings, 'x', env.ctx())).rejects.toThrow(/long-lived token/);
  });

  test('validation errors: the bad lead is rejected with code, path and detail; the others are resent and delivered', async () => {
    const selectVacancy = SELECT_VACANCY_FIELDS;
    const env = await setup({ leadCustomFields: selectVacancy });
    await env.connect();
    const ls = leads(10, (i) => (i === 3 || i === 7 ? { vacancy: { title: 'Astronaut' } } : {}));
    const out = await env.adapter().push(items(ls));
    expect(out.filter((o) => o.status === 'delivered')).toHaveLength(8);
    expect(out[3]).toEqual({
      leadId: ls[3].leadId,
      status: 'rejected',
      code: 'NotSupportedChoice',
      path: 'custom_fields_values.1.values.0.value',
      reason: 'custom_fields_values.1.values.0.value: The value you selected is not a valid choice. (NotSupportedChoice)',
      httpStatus: 400,
    });
    expect(out[7].status).toBe('rejected');
    expect(complexRequests(env.fake).map((r) => (r.body as unknown[]).length)).toEqual([10, 8]);
    expect(externalIds(env.fake).sort()).toEqual(ls.filter((_, i) => i !== 3 && i !== 7).map((l) => l.leadId).sort());
    expectCleanRun(env.fake);
  });

  test('duplicate control merged into an existing lead: delivered, existing', async () => {
    const env = await setup({ duplicateControl: true });
    await env.connect();
    const [first] = await env.adapter().push(items(leads(1)));
    const [second] = await env.adapter().push(items(leads(1)));
    expect(first.status).toBe('delivered');
    expect(second).toMatchObject({ status: 'delivered', existing: true, crmId: (first as Extract<PushOutcome, { status: 'delivered' }>).crmId });
    expect(env.fake.stats().merged).toBe(1);
  });

  test('uncertain leads are looked up by external id (one request for many) and never created twice', async () => {
    const env = await setup();
    await env.connect();
    const ls = leads(6);
    await env.adapter().push(items(ls.slice(0, 4)));
    const before = complexRequests(env.fake).length;
    const out = await env.adapter().push(items(ls, true));
    expect(out.slice(0, 4).every((o) => o.status === 'delivered' && o.existing === true)).toBe(true);
    expect(out.slice(4).every((o) => o.status === 'delivered' && !o.existing)).toBe(true);
    expect(lookups(env.fake)).toHaveLength(1);
    expect(lookups(env.fake)[0].query).toMatchObject({ filter: { custom_fields_values: { '500': ls.map((l) => l.leadId) } } });
    expect((complexRequests(env.fake).at(-1)!.body as unknown[]).length).toBe(2);
    expect(complexRequests(env.fake).length).toBe(before + 1);
    expect(env.fake.leads()).toHaveLength(6);
    expect(await env.adapter().findExisting(ls[5])).toEqual({ crmId: (out[5] as Extract<PushOutcome, { status: 'delivered' }>).crmId });
    expect(await env.adapter().findExisting(leads(1)[0])).toBeNull();
    expectCleanRun(env.fake);
  });

  test('an account without the custom-field filter: query= fallback with an exact check ("lead-1" is not "lead-10")', async () => {
    const env = await setup({ customFieldFilter: false });
    await env.connect();
    const ls = leads(11, (i) => ({ leadId: `cand-${i + 1}` }));
    await env.adapter().push(items(ls.slice(1)));
    const adapter = env.adapter();
    // cand-1 is not in amoCRM, but a full-text search for it also finds cand-10 and cand-11.
    const out = await adapter.push(items([ls[0], ls[9]], true));
    expect(out[0]).toMatchObject({ status: 'delivered' });
    expect(out[0]).not.toHaveProperty('existing');
    expect(out[1]).toMatchObject({ status: 'delivered', existing: true });
    const queries = lookups(env.fake).map((r) => r.query.query).filter(Boolean);
    expect(queries.sort()).toEqual(['cand-1', 'cand-10']);
    expect(logLines.some((l) => l.includes('ignores filter[custom_fields_values]'))).toBe(true);
    // The verdict is remembered: the next lookup goes straight to query=.
    const n = lookups(env.fake).length;
    expect(await adapter.findExisting(ls[4])).not.toBeNull();
    expect(lookups(env.fake).length).toBe(n + 1);
    expect(env.fake.leads()).toHaveLength(11);
    expectCleanRun(env.fake);
  });

  test('504 on big batches: lookup, halves, and smaller batches from then on; nothing twice', async () => {
    const env = await setup();
    await env.connect();
    env.fake.injectFault({ type: '504-if-batch-over', size: 10 });
    const adapter = env.adapter();
    const out = await adapter.push(items(leads(25)));
    expect(out.every((o) => o.status === 'delivered')).toBe(true);
    expect(complexRequests(env.fake).map((r) => [(r.body as unknown[]).length, r.status])).toEqual([
      [25, 504],
      [13, 504],
      [7, 200],
      [6, 200],
      [12, 504],
      [6, 200],
      [6, 200],
    ]);
    expect(lookups(env.fake)).toHaveLength(3);
    // The next batch starts at the shrunk size (6, the last half that worked), not at 25.
    await adapter.push(items(leads(14)));
    expect(complexRequests(env.fake).slice(7).map((r) => [(r.body as unknown[]).length, r.status])).toEqual([
      [6, 200],
      [6, 200],
      [2, 200],
    ]);
    expect(env.fake.leads()).toHaveLength(39);
    expectCleanRun(env.fake);
  });

  test('500 → transient, uncertain, with trace_id; 402 → account; 403 → blocked; ping uses /account', async () => {
    const env = await setup();
    await env.connect();
    const adapter = env.adapter();
    await adapter.ping();
    expect(env.fake.requests.at(-1)?.path).toBe('/api/v4/account');
    env.fake.injectFault({ type: 'status', status: 500 });
    const e500 = await caught(adapter.push(items(leads(2))));
    expect([e500.kind, e500.uncertain]).toEqual(['transient', true]);
    expect(e500.crmDetail).toMatch(/ErrInternalServer.*trace_id [0-9a-f]{32}/);
    env.fake.injectFault({ type: 'status', status: 402 });
    expect((await caught(adapter.push(items(leads(1))))).kind).toBe('account');
    env.fake.injectFault({ type: 'status', status: 403 });
    const blocked = await caught(adapter.ping());
    expect(blocked.kind).toBe('blocked');
    expect(blocked.crmDetail).toMatch(/403 Forbidden \(HTML page from nginx\)/);
    env.fake.injectFault({ type: 'status', status: 503, body: 'empty' });
    expect((await caught(adapter.ping())).kind).toBe('transient');
    expect(env.fake.leads()).toHaveLength(0);
  });

  test('a 2xx of the wrong shape: contract, uncertain — and the retry finds the leads instead of creating them again', async () => {
    const env = await setup();
    await env.connect();
    const ls = leads(3);
    env.fake.injectFault({ type: 'shape' });
    const err = await caught(env.adapter().push(items(ls)));
    expect([err.kind, err.uncertain]).toEqual(['contract', true]);
    expect(env.fake.leads()).toHaveLength(3);
    const out = await env.adapter().push(items(ls, true));
    expect(out.every((o) => o.status === 'delivered' && o.existing)).toBe(true);
    expect(env.fake.leads()).toHaveLength(3);
  });

  test('timeout after the CRM created the leads (create-then-delay): transient + uncertain, then found', async () => {
    const env = await setup({}, { settings: { timeoutMs: 500 } });
    await env.connect();
    const ls = leads(4);
    env.fake.injectFault({ type: 'create-then-delay', ms: 1_500 });
    const err = await caught(env.adapter().push(items(ls)));
    expect([err.kind, err.uncertain]).toEqual(['transient', true]);
    const out = await env.adapter().push(items(ls, true));
    expect(out.every((o) => o.status === 'delivered' && o.existing)).toBe(true);
    expect(env.fake.leads()).toHaveLength(4);
    expect(complexRequests(env.fake)).toHaveLength(1);
  });

  test('an error after nothing was created is not uncertain (uncertain leads stay so on their jobs)', async () => {
    const env = await setup();
    await env.connect();
    env.fake.injectFault({ type: 'status', status: 402 });
    const err = await caught(env.adapter().push(items(leads(2), true)));
    expect([err.kind, err.uncertain]).toEqual(['account', false]);
  });
});

