import { registerAdapter } from '../../../adapters/registry';
import { runCli } from '../../../src/cli/main';
import { eventually, makeLead, startHarness, type Harness } from '../../support/harness';
import { tinyAdapter } from './adapter';
import { startFakeTinyCrm, type FakeTinyCrm } from './fake-tiny-crm';

// The whole service with a client of the third CRM kind. Its only registration is this call: no file
// outside test/contract/tiny-crm/ knows the kind, yet the client file validates, leads are delivered,
// a refused one fails with the CRM's reason, and the CLI's clients check and tiny check-online work.
registerAdapter(tinyAdapter);

const API_KEY = 'tiny-key-0123456789';

const tinyClient = (id: string, url: string, pipeline = 'new') => ({
  id,
  name: `Tiny ${id}`,
  adapter: 'tiny',
  rateLimit: { requests: 20, perSeconds: 1 },
  batch: { linger: '10ms' },
  retry: { initialDelay: '200ms', maxDelay: '1s', jitter: 0.2, uncertainGrace: '300ms' },
  settings: { url, apiKey: 'env:TINY_KEY' },
  mapping: { pipeline },
});

describe('a tiny CRM client in the running service', () => {
  let crm: FakeTinyCrm | undefined;
  let h: Harness | undefined;

  afterEach(async () => {
    await h?.close();
    await crm?.close();
    h = undefined;
    crm = undefined;
  });

  async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
    const out: string[] = [];
    const err: string[] = [];
    const env = { REDIS_URL: h!.config.redisUrl, QUEUE_PREFIX: h!.prefix, CLIENTS_DIR: h!.clientsDir, TINY_KEY: API_KEY };
    const code = await runCli(args, { out: (s) => out.push(s), err: (s) => err.push(s) }, env);
    process.exitCode = undefined;
    return { code, out: out.join(''), err: err.join('') };
  }

  test('leads reach the tiny CRM, a refused one fails with its reason; clients check and tiny check-online know the kind', async () => {
    const fake = (crm = await startFakeTinyCrm({ apiKey: API_KEY, pipelines: ['new', 'screening'] }));
    h = await startHarness({ clients: [tinyClient('shop', fake.url)], env: { TINY_KEY: API_KEY } });

    const good = [makeLead('shop'), makeLead('shop'), makeLead('shop')];
    const refused = makeLead('shop', { candidate: { firstName: 'Anna', phone: '+44 20 7946 0958' } });
    const posted = await h.post([...good, refused]);
    expect(posted.status).toBe(202);
    expect(posted.body.accepted).toBe(4);

    await eventually(() => fake.leads().length === good.length, 'the three good leads in the tiny CRM');
    expect(fake.leads().map((l) => l.external_id).sort()).toEqual(good.map((l) => String(l.leadId)).sort());
    expect(fake.leads().every((l) => l.pipeline === 'new')).toBe(true);
    const rt = h.svc.supervisor!.runtime('shop')!;
    await eventually(async () => (await rt.status()).counts.failed === 1, 'the refused lead to fail');
    const failed = await cli(['failed', 'shop', '--json']);
    expect(JSON.parse(failed.out)).toEqual([expect.objectContaining({ leadId: refused.leadId, reason: expect.stringContaining('INVALID_PHONE') })]);

    const check = await cli(['clients', 'check']);
    expect(check.out).toContain('shop.yaml: ok (tiny, enabled)');
    expect(check.code).toBe(0);

    const online = await cli(['tiny', 'check-online', 'shop']);
    expect(online.out).toContain('pipelines (mapping.pipeline): new, screening');
    expect(online.out).toContain('mapping.pipeline new: exists');
    expect(online.code).toBe(0);
    expect(await cli(['clients', 'check', '--online', 'shop'])).toMatchObject({ code: 0 });

    // A file that names a pipeline the CRM does not have: the online check says so and exits 1.
    await h.writeClient(tinyClient('shop-old', fake.url, 'archive'));
    const missing = await cli(['tiny', 'check-online', 'shop-old']);
    expect(missing.out).toMatch(/MISSING\s+mapping\.pipeline archive: no such pipeline/);
    expect(missing.code).toBe(1);
    // And a tiny command for a client of another kind is a usage error, as for every kind.
    await h.writeClient({ ...tinyClient('not-tiny', fake.url), adapter: 'rest', settings: { baseUrl: fake.url, auth: { type: 'none' }, create: { path: '/rpc' } }, mapping: { external_id: 'leadId' } });
    const wrongKind = await cli(['tiny', 'check-online', 'not-tiny']);
    expect(wrongKind.err).toContain("not-tiny uses adapter 'rest', not tiny");
    expect(wrongKind.code).toBe(2);
  });
});
