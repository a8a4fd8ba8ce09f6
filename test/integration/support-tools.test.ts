import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../src/cli/main';
import { startFakeRestCrm, type FakeRestCrm } from '../support/fake-rest-crm';
import { ADMIN_TOKEN, eventually, makeLead, restClient, startHarness, type Harness } from '../support/harness';

/** The tools support and ops use: the CLI's enqueue, failed and replay, and the admin API. */
describe('support tools', () => {
  let crm: FakeRestCrm;
  let h: Harness;
  let dir: string;

  beforeEach(async () => {
    crm = await startFakeRestCrm({ requiredFields: ['external_id', 'city'] });
    h = await startHarness({ clients: [restClient('acme', crm.url)] });
    dir = await mkdtemp(join(tmpdir(), 'le-cli-'));
  });
  afterEach(async () => {
    await h.close();
    await crm.close();
    await rm(dir, { recursive: true, force: true });
  });

  const cli = async (args: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    process.exitCode = undefined;
    const code = await runCli(args, { out: (s) => out.push(s), err: (s) => err.push(s) }, { REDIS_URL: h.config.redisUrl, QUEUE_PREFIX: h.prefix, CLIENTS_DIR: h.clientsDir });
    process.exitCode = undefined;
    return { code, out: out.join(''), err: err.join('') };
  };

  const admin = async (method: string, path: string, body?: unknown, token = ADMIN_TOKEN) => {
    const res = await fetch(`${h.svc.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: (await res.json()) as any };
  };

  it('enqueue: reads a JSONL file, reports bad lines by number and warnings, and exits 1 when any is bad', async () => {
    const good = [makeLead('acme'), makeLead('acme')];
    const badEmail = makeLead('acme', { candidate: { firstName: 'Ivan', phone: '+7 912 345-67-89', email: 'ivan@' } });
    const lines = [JSON.stringify(good[0]), '{not json', JSON.stringify(makeLead('acme', { consent: { given: false, at: 'x' } })), '', JSON.stringify(good[1]), JSON.stringify(good[0]), JSON.stringify(badEmail)];
    const file = join(dir, 'leads.jsonl');
    await writeFile(file, `${lines.join('\n')}\n`);
    const r = await cli(['enqueue', file, '--no-progress']);
    expect(r.code).toBe(1);
    expect(r.out).toContain('lines: 7  accepted: 3  duplicate: 1  invalid: 2  unknown client: 0');
    expect(r.err).toContain('line 2: not valid JSON');
    expect(r.err).toContain('line 3: consent.given: personal-data consent is required');
    expect(r.err).toContain('line 7: warning: candidate.email: is not a valid email address');
    const missing = await cli(['enqueue', join(dir, 'missing.jsonl')]);
    expect(missing.code).toBe(2);
    expect(missing.err).toContain('cannot read the leads file');
  });

  it('failed + replay: a lead rejected for a mapping gap is delivered after the fix, exactly once', async () => {
    const lead = makeLead('acme');
    await h.post(lead);
    const rt = h.svc.supervisor!.runtime('acme')!;
    await eventually(async () => (await rt.status()).counts.failed === 1, 'the rejection');

    const listed = await cli(['failed', 'acme', '--json']);
    expect(listed.code).toBe(0);
    const failed = JSON.parse(listed.out) as Array<{ leadId: string; reason: string; log: string[] }>;
    expect(failed).toHaveLength(1);
    expect(failed[0].leadId).toBe(lead.leadId);
    expect(failed[0].reason).toContain('city');
    expect(failed[0].log.map((l) => JSON.parse(l).outcome)).toEqual(['rejected']);
    expect(listed.out).not.toContain('Ivan'); // support sees ids and reasons, never the candidate

    // Ops fix the mapping; the running service applies it without a restart.
    const fixed = restClient('acme', crm.url);
    (fixed.mapping as Record<string, unknown>).city = 'candidate.city';
    await h.writeClient(fixed);
    await eventually(() => (rt.currentConfig.mapping as Record<string, unknown>).city === 'candidate.city', 'the reload');

    const replay = await cli(['replay', 'acme', '--lead', String(lead.leadId)]);
    expect(replay.out).toContain('acme: replayed 1 of 1 failed');
    await eventually(() => crm.candidates().length === 1, 'the replayed lead');
    // A second replay finds nothing to do; a job re-run for a delivered lead would be skipped anyway.
    expect((await cli(['replay', 'acme', '--all'])).out).toContain('replayed 0 of 0');
    expect(crm.candidates()).toHaveLength(1);
    expect((await cli(['replay', 'acme'])).code).toBe(2);
  });

  it('clients status/pause name an unknown client instead of printing zeros', async () => {
    const r = await cli(['clients', 'status', 'nobody']);
    expect(r.code).toBe(1);
    expect(r.err).toContain("unknown client 'nobody'");
    const ok = await cli(['clients', 'status', 'acme']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.out)).toEqual(expect.objectContaining({ clientId: 'acme', paused: false }));
  });

  it('admin API: token required; status, pause, resume, failed and replay', async () => {
    expect((await admin('GET', '/admin/clients', undefined, 'wrong-token-0000000000')).status).toBe(401);
    const list = await admin('GET', '/admin/clients');
    expect(list.body.clients.map((c: { clientId: string }) => c.clientId)).toEqual(['acme']);
    expect((await admin('GET', '/admin/clients/nobody')).status).toBe(404);

    const paused = await admin('POST', '/admin/clients/acme/pause');
    expect(paused.body).toEqual(expect.objectContaining({ queuePaused: true, circuit: expect.objectContaining({ state: 'open', reason: 'manual' }) }));
    const lead = makeLead('acme');
    await h.post(lead);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(crm.requests.filter((r) => r.method === 'POST')).toHaveLength(0);
    await admin('POST', '/admin/clients/acme/resume');
    const rt = h.svc.supervisor!.runtime('acme')!;
    await eventually(async () => (await rt.status()).counts.failed === 1, 'the held lead to be tried (and rejected: no city)');

    const failed = await admin('GET', '/admin/clients/acme/failed?limit=10');
    expect(failed.body.failed).toEqual([expect.objectContaining({ leadId: lead.leadId, reason: expect.stringContaining('HTTP 422') })]);
    expect((await admin('GET', '/admin/clients/acme/failed?limit=0')).status).toBe(400);
    expect((await admin('POST', '/admin/clients/acme/replay', {})).status).toBe(400);
    const replay = await admin('POST', '/admin/clients/acme/replay', { reasonContains: 'HTTP 422' });
    expect(replay.body).toEqual({ scanned: 1, replayed: 1, skipped: 0 });
    await eventually(async () => (await rt.status()).counts.failed === 1, 'the replayed lead to be rejected again');
    const metrics = await (await fetch(`${h.svc.url}/metrics`)).text();
    expect(metrics).toContain('lead_export_queue_jobs{client="acme",state="failed"} 1');
    expect(metrics).toMatch(/lead_export_deliveries_total\{client="acme",outcome="rejected"\} 2/);
  });
});
