import { LeadProducer } from '../../src/queue/producer';
import { startFakeRestCrm, type FakeRestCrm } from '../support/fake-rest-crm';
import { eventually, makeLead, restClient, startHarness, type Harness } from '../support/harness';
import { freePort } from '../../src/demo/local-redis';
import { startService } from '../../src/service';
import { loadServiceConfig } from '../../src/config/service-config';
import { createLogger } from '../../src/logging/logger';
import { LogCapture, INTAKE_TOKEN } from '../support/harness';
import { startIntakeServer, type IntakeServer } from '../support/intake-server';
import { MAX_INTAKE_BODY_BYTES } from '../../src/api/intake-routes';
import { LeadV1Schema, MAX_LEAD_BYTES } from '../../src/domain/lead';
import { request } from 'node:http';

describe('HTTP intake', () => {
  let crm: FakeRestCrm;
  let h: Harness;

  beforeEach(async () => {
    crm = await startFakeRestCrm();
    h = await startHarness({ clients: [restClient('acme', crm.url)] });
  });
  afterEach(async () => {
    await h.close();
    await crm.close();
  });

  it('202 for one lead, with a result per lead', async () => {
    const lead = makeLead('acme');
    const r = await h.post(lead);
    expect(r.status).toBe(202);
    expect(r.body).toEqual({ accepted: 1, duplicate: 0, invalid: 0, unknownClient: 0, results: [{ index: 0, status: 'accepted', leadId: lead.leadId, jobId: `acme.${String(lead.leadId)}` }] });
  });

  it('401 without a token, with a wrong token, and with a token of another length', async () => {
    const lead = makeLead('acme');
    const res = await fetch(`${h.svc.url}/v1/leads`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(lead) });
    expect(res.status).toBe(401);
    expect((await h.post(lead, 'intake-token-0123456789abcdeX')).status).toBe(401);
    expect((await h.post(lead, 'x')).status).toBe(401);
    const runtime = h.svc.supervisor!.runtime('acme')!;
    expect((await runtime.status()).counts.wait).toBe(0);
  });

  it('422 with field-level errors per lead; the valid leads of a mixed batch are accepted', async () => {
    const good = makeLead('acme');
    const bad = makeLead('acme', { candidate: { firstName: 'Ivan', phone: '123' }, consent: { given: false, at: 'x' } });
    const r = await h.post([good, bad]);
    expect(r.status).toBe(422);
    expect(r.body.accepted).toBe(1);
    expect(r.body.results[0]).toEqual(expect.objectContaining({ status: 'accepted', leadId: good.leadId }));
    expect(r.body.results[1]).toEqual({
      index: 1,
      status: 'invalid',
      errors: expect.arrayContaining([
        { path: 'candidate.phone', message: expect.stringContaining('not a valid phone') },
        { path: 'consent.given', message: expect.stringContaining('consent') },
        { path: 'consent.at', message: expect.any(String) },
      ]),
    });
    await eventually(() => crm.candidates().length === 1, 'the valid lead to arrive');
    expect(crm.candidates()[0].body.external_id).toBe(good.leadId);
  });

  it('404 for an unknown client; a mixed batch marks only those leads', async () => {
    const r = await h.post(makeLead('nobody'));
    expect(r.status).toBe(404);
    expect(r.body.error).toBe('unknown_client');
    const mixed = await h.post([makeLead('acme'), makeLead('nobody')]);
    expect(mixed.status).toBe(422);
    expect(mixed.body.results[1]).toEqual(expect.objectContaining({ status: 'unknown_client', errors: [{ path: 'clientId', message: "unknown client 'nobody'" }] }));
  });

  it('400 for a body that is not JSON; 413 over 1,000 leads', async () => {
    const res = await fetch(`${h.svc.url}/v1/leads`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer intake-token-0123456789abcdef' }, body: '{"leadId":' });
    expect(res.status).toBe(400);
    const many = Array.from({ length: 1001 }, () => makeLead('acme'));
    expect((await h.post(many)).status).toBe(413);
  });

  it('enqueues idempotently before delivery, and after delivery once the job is gone', async () => {
    const lead = makeLead('acme');
    const [a, b] = await Promise.all([h.post(lead), h.post(lead)]);
    expect([a.body.results[0].status, b.body.results[0].status].sort()).toEqual(['accepted', 'duplicate']);
    await eventually(() => crm.candidates().length === 1, 'delivery');
    const rt = h.svc.supervisor!.runtime('acme')!;
    // Completed jobs are removed after a while to shed personal data; simulate that retention now.
    const job = await eventually(async () => ((await rt.queue.getJob(`acme.${String(lead.leadId)}`)) ?? null), 'the completed job');
    await eventually(async () => (await job.isCompleted()) || null, 'completion');
    await job.remove();
    const again = await h.post(lead);
    expect(again.status).toBe(202);
    expect(again.body.results[0].status).toBe('duplicate');
    // Even a job that slipped past intake (e.g. a replay) is not delivered twice: the worker checks the delivered mark.
    await rt.queue.add('deliver', { lead: { ...lead, candidate: { ...(lead.candidate as object), phone: '+79123456789' }, extra: {} } as never, acceptedAt: Date.now() }, { jobId: `acme.${String(lead.leadId)}` });
    const redone = await eventually(async () => {
      const j = await rt.queue.getJob(`acme.${String(lead.leadId)}`);
      return j && (await j.isCompleted()) ? j : null;
    }, 'the re-added job to complete');
    expect(redone.returnvalue).toEqual(expect.objectContaining({ skipped: true }));
    expect(crm.candidates()).toHaveLength(1);
  });
});

describe('intake when Redis is unreachable', () => {
  it('answers 503 fast and never hangs', async () => {
    const deadPort = await freePort();
    const logs = new LogCapture();
    const cfg = loadServiceConfig({}, { redisUrl: `redis://127.0.0.1:${deadPort}`, httpPort: 0, httpHost: '127.0.0.1', intakeToken: 'intake-token-0123456789abcdef' });
    const svc = await startService(cfg, { api: true, worker: false }, { logger: createLogger({ level: 'warn' }, logs) });
    try {
      const started = Date.now();
      const res = await fetch(`${svc.url}/v1/leads`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer intake-token-0123456789abcdef' },
        body: JSON.stringify(makeLead('acme')),
      });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('5');
      expect(Date.now() - started).toBeLessThan(5_000);
      const ready = await fetch(`${svc.url}/readyz`);
      expect(ready.status).toBe(503);
    } finally {
      await svc.close();
    }
  });
});

describe('LeadProducer (library)', () => {
  it('enqueues with the same validation and idempotency as HTTP', async () => {
    const crm = await startFakeRestCrm();
    const h = await startHarness({ clients: [restClient('acme', crm.url)], roles: { api: false, worker: true } });
    const producer = new LeadProducer({ connection: h.config.redisUrl, prefix: h.prefix });
    try {
      const lead = makeLead('acme');
      expect(await producer.enqueue(lead)).toEqual(expect.objectContaining({ status: 'accepted' }));
      expect(await producer.enqueue(lead)).toEqual(expect.objectContaining({ status: 'duplicate' }));
      expect(await producer.enqueue({ ...lead, leadId: 'x y' })).toEqual(expect.objectContaining({ status: 'invalid', issues: [expect.objectContaining({ path: 'leadId' })] }));
      expect(await producer.enqueue(makeLead('ghost'))).toEqual(expect.objectContaining({ status: 'unknown_client' }));
      const many = await producer.enqueueMany([makeLead('acme'), makeLead('acme')]);
      expect(many.map((r) => r.status)).toEqual(['accepted', 'accepted']);
      await eventually(() => crm.candidates().length === 3, 'three leads delivered');
    } finally {
      await producer.close();
      await h.close();
      await crm.close();
    }
  });
});

describe('process roles', () => {
  it('a worker-only process serves health, metrics and admin, but takes no leads', async () => {
    const crm = await startFakeRestCrm();
    const h = await startHarness({ clients: [restClient('acme', crm.url)], roles: { api: false, worker: true } });
    try {
      expect((await h.post(makeLead('acme'))).status).toBe(404);
      expect((await fetch(`${h.svc.url}/healthz`)).status).toBe(200);
      expect(await (await fetch(`${h.svc.url}/metrics`)).text()).toContain('lead_export_queue_jobs');
      const admin = await fetch(`${h.svc.url}/admin/clients`, { headers: { authorization: 'Bearer admin-token-0123456789abcdef' } });
      expect(admin.status).toBe(200);
    } finally {
      await h.close();
      await crm.close();
    }
  });
});

describe('idle clients', () => {
  it('open a worker only while they have work, and close it when idle', async () => {
    const crm = await startFakeRestCrm();
    const h = await startHarness({ clients: [restClient('busy', crm.url), restClient('idle', crm.url)], overrides: { workerIdleMs: 1_500 } });
    try {
      const busy = h.svc.supervisor!.runtime('busy')!;
      const idle = h.svc.supervisor!.runtime('idle')!;
      await new Promise((r) => setTimeout(r, 1_200));
      expect((await busy.status()).workerOpen).toBe(false); // no work yet: no worker, no blocking connection
      await h.post(makeLead('busy'));
      await eventually(() => crm.candidates().length === 1, 'the lead');
      expect((await busy.status()).workerOpen).toBe(true);
      expect((await idle.status()).workerOpen).toBe(false);
      await eventually(async () => !(await busy.status()).workerOpen, 'the idle worker to close', 10_000);
      expect(h.logs.messages().some((m) => m.msg === 'worker closed' && m.why === 'idle' && m.clientId === 'busy')).toBe(true);
    } finally {
      await h.close();
      await crm.close();
    }
  });
});

describe('contract documents for HRDrom core', () => {
  it('serves the LeadV1 JSON Schema and an OpenAPI document that embeds it', async () => {
    const crm = await startFakeRestCrm();
    const h = await startHarness({ clients: [restClient('acme', crm.url)] });
    try {
      const schema = (await (await fetch(`${h.svc.url}/v1/schema/lead`)).json()) as { required: string[] };
      expect(schema.required).toContain('consent');
      const doc = (await (await fetch(`${h.svc.url}/v1/openapi.json`)).json()) as any;
      expect(doc.openapi).toBe('3.1.0');
      expect(doc.components.schemas.LeadV1.required).toEqual(schema.required);
      expect(Object.keys(doc.paths['/v1/leads'].post.responses)).toEqual(['202', '400', '401', '404', '413', '415', '422', '503']);
      const candidate = doc.components.schemas.LeadV1.properties.candidate.properties;
      expect(Object.keys(candidate)).toEqual(expect.arrayContaining(['phoneExtension', 'otherPhones']));
      expect(doc.components.schemas.LeadV1.properties.extra.maxProperties).toBe(50);
      expect(Object.keys(doc.components.schemas.IntakeResponse.properties.results.items.properties)).toEqual(expect.arrayContaining(['warnings', 'replaced']));
    } finally {
      await h.close();
      await crm.close();
    }
  });
});

describe('intake answers what the field reports asked for', () => {
  let s: IntakeServer;
  beforeEach(async () => {
    s = await startIntakeServer();
  });
  afterEach(async () => {
    await s.close();
  });

  /** Every job in the client's queue, parsed again with the schema: nothing invalid may sit there. */
  async function queuedLeads() {
    const jobs = await s.queue('acme').getJobs(['waiting', 'delayed', 'failed', 'completed', 'active']);
    return jobs.map((j) => LeadV1Schema.parse(j.data.lead));
  }

  it('415 for text/plain or no Content-Type, naming the accepted type; 401 still comes first', async () => {
    const body = JSON.stringify(makeLead('acme'));
    const plain = await s.post(body, { raw: true, contentType: 'text/plain' });
    expect(plain).toEqual({ status: 415, body: { error: 'unsupported_media_type', message: 'send the leads as JSON with Content-Type: application/json (got text/plain)' } });
    const none = await s.post(body, { raw: true, contentType: null });
    expect(none.status).toBe(415);
    expect(none.body.message).toContain('no Content-Type was sent');
    expect((await s.post(body, { raw: true, contentType: 'text/plain', token: 'wrong' })).status).toBe(401);
    expect((await s.post(body, { raw: true, contentType: 'application/json; charset=utf-8' })).status).toBe(202);
    expect(await queuedLeads()).toHaveLength(1);
  });

  it('400 with the reason for a body that is not JSON, or is empty', async () => {
    const broken = await s.post('{"leadId":', { raw: true });
    expect(broken.status).toBe(400);
    expect(broken.body).toEqual({ error: 'bad_request', message: expect.stringMatching(/^the body is not valid JSON: /) });
    const empty = await s.post('  ', { raw: true });
    expect(empty).toEqual({ status: 400, body: { error: 'bad_request', message: 'the body is empty: send one lead (an object) or an array of leads' } });
  });

  it(`413 naming the limit for a body over ${MAX_INTAKE_BODY_BYTES} bytes, refused before it is read`, async () => {
    // Declare the size and send almost nothing: the limit must be applied from Content-Length.
    const res = await new Promise<{ status: number; body: any }>((resolve, reject) => {
      const req = request(`${s.url}/v1/leads`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${INTAKE_TOKEN}`, 'content-length': String(MAX_INTAKE_BODY_BYTES + 1) },
      });
      req.on('response', (r) => {
        let text = '';
        r.on('data', (c: Buffer) => (text += c.toString()));
        r.on('end', () => {
          req.destroy();
          resolve({ status: r.statusCode ?? 0, body: JSON.parse(text) });
        });
      });
      req.on('error', reject);
      req.write('[');
    });
    expect(res.status).toBe(413);
    expect(res.body.message).toBe(`the body is larger than ${MAX_INTAKE_BODY_BYTES} bytes, the intake limit (1000 leads of at most ${MAX_LEAD_BYTES} bytes each): send smaller batches`);
    expect(MAX_INTAKE_BODY_BYTES).toBe(1000 * MAX_LEAD_BYTES);
  });

  it('refuses the reported 8.8 MB lead (3,500 extra entries of 2,000 characters) and queues nothing', async () => {
    const extra = Object.fromEntries(Array.from({ length: 3_500 }, (_, i) => [`k${i}`, 'x'.repeat(2_000)]));
    const r = await s.post(makeLead('acme', { extra }));
    expect(r.status).toBe(422);
    expect(r.body.results[0].errors[0]).toEqual({ path: 'extra.k0', message: 'must be at most 1000 characters' });
    expect(await queuedLeads()).toEqual([]);
  });

  it('accepts the reported e-mails, trimmed; an unreadable one is left out with a warning', async () => {
    const emails = ['иван@пример.рф', 'ivan@xn--e1afmkfd.xn--p1ai', 'ivan@example.org ', 'ivan@@example'];
    const leads = emails.map((email) => makeLead('acme', { candidate: { firstName: 'Ivan', phone: '+7 912 345-67-89', email } }));
    const r = await s.post(leads);
    expect(r.status).toBe(202);
    expect(r.body.accepted).toBe(4);
    expect(r.body.results.map((x: { warnings?: unknown }) => x.warnings)).toEqual([
      undefined,
      undefined,
      undefined,
      [{ path: 'candidate.email', message: expect.stringContaining('the field was left out and the lead accepted without it') }],
    ]);
    const stored = new Map((await queuedLeads()).map((l) => [l.leadId, l.candidate.email]));
    expect(leads.map((l) => stored.get(String(l.leadId)))).toEqual(['иван@пример.рф', 'ivan@xn--e1afmkfd.xn--p1ai', 'ivan@example.org', undefined]);
  });

  it('keeps a phone extension and further numbers, refuses a number that cannot exist', async () => {
    const ext = makeLead('acme', { candidate: { firstName: 'Ivan', phone: '+7 495 555-12-34 доб. 4321' } });
    const two = makeLead('acme', { candidate: { firstName: 'Ivan', phone: '+7 916 123 45 67 / 8 903 123 45 67' } });
    const impossible = makeLead('acme', { candidate: { firstName: 'Ivan', phone: '+7 300 123-45-67' } });
    const r = await s.post([ext, two, impossible]);
    expect(r.status).toBe(422);
    expect(r.body.results[1].warnings).toEqual([{ path: 'candidate.phone', message: 'held 2 numbers: part 1 is kept as the phone, 1 more in candidate.otherPhones' }]);
    expect(r.body.results[2].errors).toEqual([{ path: 'candidate.phone', message: expect.stringContaining('no such number range') }]);
    const stored = new Map((await queuedLeads()).map((l) => [l.leadId, l.candidate]));
    expect(stored.get(String(ext.leadId))).toEqual(expect.objectContaining({ phone: '+74955551234', phoneExtension: '4321' }));
    expect(stored.get(String(two.leadId))).toEqual(expect.objectContaining({ phone: '+79161234567', otherPhones: ['+79031234567'] }));
    expect(stored.size).toBe(2);
  });

  it('refuses consent given in the future, saying why', async () => {
    const at = new Date(Date.now() + 3_600_000).toISOString();
    const r = await s.post(makeLead('acme', { consent: { given: true, at } }));
    expect(r.status).toBe(422);
    expect(r.body.results[0].errors).toEqual([{ path: 'consent.at', message: expect.stringContaining('consent given in the future is not consent') }]);
  });

  it('refuses a bidi override in a name and strips control characters from the comment', async () => {
    const spoofed = makeLead('acme', { candidate: { firstName: 'Iv\u202Ean', phone: '+7 912 345-67-89' } });
    const noisy = makeLead('acme', { comment: 'перезвонить\u0007 после 18:00' });
    const r = await s.post([spoofed, noisy]);
    expect(r.body.results[0].errors).toEqual([{ path: 'candidate.firstName', message: expect.stringContaining('U+202E') }]);
    expect(r.body.results[1].warnings).toEqual([{ path: 'comment', message: 'invisible control characters (U+0007) were removed' }]);
    expect((await queuedLeads())[0].comment).toBe('перезвонить после 18:00');
  });

  it('logs no personal data from refused or repaired leads', async () => {
    await s.post([makeLead('acme', { candidate: { firstName: 'Зинаида', phone: '+7 300 123-45-67', email: 'zina@' } })]);
    expect(s.logs.text).not.toMatch(/Зинаида|zina@|3001234567/);
  });
});
