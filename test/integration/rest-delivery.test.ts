import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startFakeRestCrm, type FakeRestCrm, type FakeRestCrmOptions } from '../support/fake-rest-crm';
import { circuitOpened, eventually, makeLead, restClient, startHarness, type Harness } from '../support/harness';

/**
 * Delivery through the generic REST adapter to the fake REST CRM, over real HTTP and real Redis.
 */
describe('REST adapter delivery', () => {
  let crm: FakeRestCrm | undefined;
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    await crm?.close();
    h = undefined;
    crm = undefined;
  });

  async function setup(crmOpts: FakeRestCrmOptions, client: (url: string) => Record<string, unknown>, env: Record<string, string> = {}) {
    crm = await startFakeRestCrm(crmOpts);
    h = await startHarness({ clients: [client(crm.url)], env });
    return { crm, h };
  }

  const withAuth = (auth: Record<string, unknown>) => (url: string) => {
    const c = restClient('acme', url);
    (c.settings as Record<string, unknown>).auth = auth;
    return c;
  };

  async function deliver(h: Harness, crm: FakeRestCrm, n = 1) {
    const leads = Array.from({ length: n }, () => makeLead('acme'));
    const r = await h.post(leads);
    expect(r.status).toBe(202);
    await eventually(() => leads.every((l) => crm.candidates().some((c) => c.body.external_id === l.leadId)), `${n} lead(s) in the CRM`);
    return leads;
  }

  it.each([
    ['none', { mode: 'none' }, { type: 'none' }, {}],
    ['header', { mode: 'header', header: 'X-Api-Key', value: 'key-123456' }, { type: 'header', header: 'X-Api-Key', value: 'env:T_KEY' }, { T_KEY: 'key-123456' }],
    ['bearer', { mode: 'bearer', token: 'tok-abcdef' }, { type: 'bearer', token: 'env:T_TOKEN' }, { T_TOKEN: 'tok-abcdef' }],
    ['basic', { mode: 'basic', username: 'bot', password: 'pw-987' }, { type: 'basic', username: 'bot', password: 'env:T_PASS' }, { T_PASS: 'pw-987' }],
    [
      'login',
      { mode: 'login', username: 'bot', password: 'pw-987' },
      { type: 'login', username: 'bot', password: 'env:T_PASS', login: { path: '/auth/login' }, refreshTokenPath: 'refresh_token', expiresInPath: 'expires_in', refresh: { path: '/auth/refresh' }, revoke: { path: '/auth/logout' } },
      { T_PASS: 'pw-987' },
    ],
  ])('delivers with %s auth and maps the lead into the body', async (_name, crmAuth, auth, env) => {
    const { crm, h } = await setup({ auth: crmAuth as FakeRestCrmOptions['auth'] }, withAuth(auth), env);
    const [lead] = await deliver(h, crm);
    const body = crm.candidates()[0].body;
    expect(body).toEqual({
      external_id: lead.leadId,
      first_name: 'Ivan',
      last_name: 'Petrov',
      phone: '+79123456789',
      email: 'ivan.petrov@example.org',
      vacancy: 'Courier',
      source: 'HeadHunter',
    });
    expect(crm.requests.filter((r) => r.path.startsWith('/api/') && r.status === 401)).toHaveLength(0);
  });

  const loginAuth = {
    type: 'login',
    username: 'bot',
    password: 'env:T_PASS',
    login: { path: '/auth/login' },
    refreshTokenPath: 'refresh_token',
    expiresInPath: 'expires_in',
    refresh: { path: '/auth/refresh' },
    revoke: { path: '/auth/logout' },
  };

  it('login: refreshes ahead of expiry, and after a 401 on an expired token, then succeeds', async () => {
    const { crm, h } = await setup({ auth: { mode: 'login', username: 'bot', password: 'pw-987', accessTtlMs: 2_000 } }, withAuth(loginAuth), { T_PASS: 'pw-987' });
    await deliver(h, crm);
    expect(crm.stats()).toEqual(expect.objectContaining({ logins: 1, refreshes: 0 }));
    await new Promise((r) => setTimeout(r, 2_100)); // past 90 % of the 2 s lifetime
    await deliver(h, crm);
    expect(crm.stats()).toEqual(expect.objectContaining({ logins: 1, refreshes: 1 }));
    crm.expireTokens(); // the CRM kills the token early: our copy still looks valid
    await deliver(h, crm);
    expect(crm.stats()).toEqual(expect.objectContaining({ logins: 1, refreshes: 2 }));
    expect(crm.requests.filter((r) => r.path.startsWith('/api/') && r.status === 401)).toHaveLength(1);
    const rt = h.svc.supervisor!.runtime('acme')!;
    expect((await rt.status()).counts.failed).toBe(0);
  });

  it('login: 401 and a refused refresh → logs in again once, then succeeds', async () => {
    const { crm, h } = await setup({ auth: { mode: 'login', username: 'bot', password: 'pw-987' } }, withAuth(loginAuth), { T_PASS: 'pw-987' });
    await deliver(h, crm);
    crm.revokeRefreshTokens();
    crm.expireTokens();
    await deliver(h, crm);
    expect(crm.stats()).toEqual(expect.objectContaining({ logins: 2 }));
    expect(crm.requests.filter((r) => r.path === '/auth/refresh').map((r) => r.status)).toEqual([401]);
  });

  it('login: credentials that no longer work pause the client with reason auth, and nothing is lost', async () => {
    const { crm, h } = await setup({ auth: { mode: 'login', username: 'bot', password: 'pw-987' } }, withAuth(loginAuth), { T_PASS: 'pw-987' });
    await deliver(h, crm);
    crm.setCredentials('bot', 'rotated-by-client');
    crm.revokeRefreshTokens();
    crm.expireTokens();
    const lead = makeLead('acme');
    await h.post(lead);
    const rt = h.svc.supervisor!.runtime('acme')!;
    const st = await circuitOpened(rt, 'the client to pause');
    expect(st.circuit.reason).toBe('auth');
    expect(st.queuePaused).toBe(true);
    expect(st.counts.failed).toBe(0);
    const alerts = h.logs.messages().filter((m) => m.alert === true);
    expect(alerts).toHaveLength(1);
    // The client fixes the password on their side; a person resumes: the backlog is delivered.
    crm.setCredentials('bot', 'pw-987');
    await rt.resume();
    await eventually(() => crm!.candidates().some((c) => c.body.external_id === lead.leadId), 'the held lead after resume');
  });

  it('retries a transient failure (500) and delivers once, looking the lead up first', async () => {
    const { crm, h } = await setup({}, (url) => restClient('acme', url));
    crm.injectFault({ type: 'status', status: 500, body: { error: 'maintenance' } }, { times: 1, match: { method: 'POST', path: /^\/api\/candidates$/ } });
    const [lead] = await deliver(h, crm);
    const rt = h.svc.supervisor!.runtime('acme')!;
    // The lead reaches the CRM a moment before BullMQ records the completion: wait for that, not for time.
    const job = await eventually(async () => {
      const j = await rt.queue.getJob(`acme.${String(lead.leadId)}`);
      return j && (await j.isCompleted()) ? j : null;
    }, 'the job to complete');
    expect(job.attemptsMade).toBe(2); // BullMQ counts the successful run too: 1 failed + 1 delivered
    const logs = (await rt.queue.getJobLogs(job.id!)).logs.map((l) => JSON.parse(l) as { outcome: string });
    expect(logs.map((l) => l.outcome)).toEqual(['transient', 'delivered']);
    const lookups = crm.requests.filter((r) => r.method === 'GET' && r.path === '/api/candidates');
    expect(lookups).toHaveLength(1);
    expect(crm.candidates()).toHaveLength(1);
  });

  it('a create that lands but answers after our timeout is found by external id, not created twice', async () => {
    const { crm, h } = await setup({}, (url) => restClient('acme', url));
    crm.injectFault({ type: 'create-then-delay', ms: 3_000 }, { times: 1, match: { method: 'POST', path: /^\/api\/candidates$/ } });
    const lead = makeLead('acme');
    await h.post(lead);
    const rt = h.svc.supervisor!.runtime('acme')!;
    const job = await eventually(async () => {
      const j = await rt.queue.getJob(`acme.${String(lead.leadId)}`);
      return j && (await j.isCompleted()) ? j : null;
    }, 'the job to complete', 20_000);
    expect(job.returnvalue).toEqual({ crmId: crm.candidates()[0].id, existing: true });
    expect(crm.candidates()).toHaveLength(1);
  });

  it('fails a permanently rejected lead at once, with the CRM reason', async () => {
    const { h } = await setup({ requiredFields: ["external_id", "middle_name"] }, (url) => restClient('acme', url));
    const lead = makeLead('acme');
    await h.post(lead);
    const rt = h.svc.supervisor!.runtime('acme')!;
    const job = await eventually(async () => {
      const j = await rt.queue.getJob(`acme.${String(lead.leadId)}`);
      return j && (await j.isFailed()) ? j : null;
    }, 'the job to fail');
    expect(job.attemptsMade).toBe(1);
    expect(job.failedReason).toContain('HTTP 422');
    expect(job.failedReason).toContain('middle_name');
    expect(job.failedReason).toContain('is required');
    expect((await rt.status()).circuit.state).toBe('closed');
  });

  it('batches ready leads into one request and gives each lead its own outcome', async () => {
    const { crm, h } = await setup({ requiredFields: ['external_id', 'email'] }, (url) => {
      const c = restClient('acme', url, { batch: { size: 20, linger: '200ms' } });
      (c.settings as Record<string, unknown>).batch = { path: '/api/candidates/batch', maxSize: 50, itemsField: 'items', resultStatusPath: 'status', duplicateValue: 'duplicate' };
      return c;
    });
    const leads = Array.from({ length: 20 }, () => makeLead('acme'));
    const noEmail = makeLead('acme', { candidate: { firstName: 'Olga', phone: '+79001112233' } });
    leads[7] = noEmail;
    await h.post(leads);
    const rt = h.svc.supervisor!.runtime('acme')!;
    await eventually(async () => {
      const s = await rt.status();
      return crm!.candidates().length === 19 && s.counts.failed === 1;
    }, '19 delivered and 1 failed');
    const batches = crm.requests.filter((r) => r.path === '/api/candidates/batch');
    expect(batches.length).toBeLessThanOrEqual(2);
    const failed = await rt.queue.getFailed();
    expect(failed.map((j) => j.data.lead.leadId)).toEqual([noEmail.leadId]);
    expect(failed[0].failedReason).toContain('email');
  });

  it('a 2xx in a changed response shape is a contract failure: never delivered, the client pauses', async () => {
    const { crm, h } = await setup({}, (url) => restClient('acme', url));
    crm.injectFault({ type: 'shape' }, { times: 1, match: { method: 'POST', path: /^\/api\/candidates$/ } });
    const lead = makeLead('acme');
    await h.post(lead);
    const rt = h.svc.supervisor!.runtime('acme')!;
    const st = await circuitOpened(rt, 'a contract pause');
    expect(st.circuit.reason).toBe('contract');
    expect(await h.svc.producer.enqueue(makeLead('acme'))).toEqual(expect.objectContaining({ status: 'accepted' }));
    // After a person checks the CRM and resumes, the uncertain lead is looked up (it was created) — no duplicate.
    await rt.resume();
    await eventually(() => crm!.candidates().length === 2, 'both leads present');
    expect(crm.candidates().filter((c) => c.body.external_id === lead.leadId)).toHaveLength(1);
  });

  it('a lookup the CRM refuses pauses the client with reason contract instead of guessing', async () => {
    const { crm, h } = await setup({}, (url) => {
      const c = restClient('acme', url);
      (c.settings as Record<string, any>).lookup = { path: '/api/candidates/batch', queryParam: 'external_id', itemsPath: 'items', idPath: 'id' };
      return c;
    });
    crm.injectFault({ type: 'timeout', ms: 3_000 }, { times: 1, match: { method: 'POST', path: /^\/api\/candidates$/ } });
    await h.post(makeLead('acme'));
    const rt = h.svc.supervisor!.runtime('acme')!;
    const st = await circuitOpened(rt, 'a contract pause', 20_000);
    expect(st.circuit.reason).toBe('contract');
    expect(st.circuit.detail).toContain('check settings.lookup');
    expect(st.counts.failed).toBe(0);
  });

  it('a secret that cannot be read pauses the client with reason config (one alert), losing nothing', async () => {
    const { crm, h } = await setup({ auth: { mode: 'bearer', token: 'tok-abcdef' } }, withAuth({ type: 'bearer', token: 'env:T_TOKEN_NOT_SET' }));
    await h.post(makeLead('acme'));
    const rt = h.svc.supervisor!.runtime('acme')!;
    const st = await circuitOpened(rt, 'a config pause');
    expect(st.circuit.reason).toBe('config');
    expect(st.circuit.detail).toContain('T_TOKEN_NOT_SET is not set');
    expect(st.counts.failed).toBe(0);
    expect(h.logs.messages().filter((m) => m.alert === true)).toHaveLength(1);
    expect(crm.requests).toHaveLength(0);
  });

  it('a redirect to another origin is refused as a contract failure; the lead goes nowhere else', async () => {
    const elsewhere = await startFakeRestCrm();
    const redirector = createServer((req, res) => {
      res.writeHead(307, { location: `${elsewhere.url}${req.url ?? '/'}` });
      res.end();
    });
    await new Promise<void>((r) => redirector.listen(0, '127.0.0.1', () => r()));
    const port = (redirector.address() as AddressInfo).port;
    try {
      h = await startHarness({ clients: [restClient('acme', `http://127.0.0.1:${port}`)] });
      await h.post(makeLead('acme'));
      const rt = h.svc.supervisor!.runtime('acme')!;
      const st = await circuitOpened(rt, 'a contract pause');
      expect(st.circuit.reason).toBe('contract');
      expect(st.circuit.detail).toContain('redirected to another origin');
      expect(elsewhere.requests).toHaveLength(0);
    } finally {
      await new Promise((r) => redirector.close(r));
      await elsewhere.close();
    }
  });

  it('without a ping, the next delivery is the probe: a failed one reopens quietly, a good one closes', async () => {
    const { crm, h } = await setup({}, (url) => {
      const c = restClient('acme', url, { circuit: { failureThreshold: 2, cooldown: '1s', maxCooldown: '2s' }, retry: { initialDelay: '100ms', maxDelay: '200ms', jitter: 0, uncertainGrace: '100ms' } });
      delete (c.settings as Record<string, unknown>).ping;
      delete (c.settings as Record<string, unknown>).lookup;
      return c;
    });
    crm.injectFault({ type: 'status', status: 503 }, { times: 3, match: { method: 'POST', path: /^\/api\/candidates$/ } });
    const lead = makeLead('acme');
    await h.post(lead);
    await eventually(() => crm!.candidates().length === 1, 'the lead, after the circuit closes again', 20_000);
    const rt = h.svc.supervisor!.runtime('acme')!;
    expect((await rt.status()).circuit.state).toBe('closed');
    const transitions = h.logs.messages().filter((m) => typeof m.msg === 'string' && m.msg.startsWith('circuit ') && m.to !== undefined).map((m) => `${String(m.from)}>${String(m.to)}`);
    expect(transitions).toEqual(['closed>open', 'open>half-open', 'half-open>open', 'open>half-open', 'half-open>closed']);
    expect(h.logs.messages().filter((m) => m.alert === true)).toHaveLength(1); // the failed probe raised no second alert
    expect(crm.requests.filter((r) => r.method === 'GET')).toHaveLength(0); // no guessed ping path
  });

  it('logs no name, phone, email, password or token during a delivery run', async () => {
    const { crm, h } = await setup({ auth: { mode: 'login', username: 'bot', password: 'pw-secret-987', accessTtlMs: 1_500 } }, withAuth(loginAuth), { T_PASS: 'pw-secret-987' });
    crm.injectFault({ type: 'status', status: 503 }, { times: 1, match: { method: 'POST', path: /^\/api\/candidates$/ } });
    const leads = await deliver(h, crm, 3);
    await h.post(makeLead('acme', { candidate: { firstName: 'Zinaida', phone: 'bad' } }));
    const text = h.logs.text;
    expect(h.logs.lines.length).toBeGreaterThan(5);
    for (const needle of ['Ivan', 'Petrov', 'Zinaida', '+79123456789', '9123456789', 'ivan.petrov@example.org', 'pw-secret-987']) {
      expect(text).not.toContain(needle);
    }
    const tokens = crm.requests.flatMap((r) => (r.headers.authorization ? [r.headers.authorization.replace(/^Bearer /, '')] : []));
    expect(tokens.length).toBeGreaterThan(0);
    for (const t of tokens) expect(text).not.toContain(t);
    for (const l of leads) expect(text).toContain(String(l.leadId)); // ids are logged: support needs them
  });
});
