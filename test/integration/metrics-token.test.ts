import { ADMIN_TOKEN, INTAKE_TOKEN, restClient, startHarness, type Harness } from '../support/harness';

const METRICS_TOKEN = 'metrics-token-0123456789abcdef';

/** /metrics names every client; METRICS_TOKEN keeps it from anyone who can reach the port. */
describe('GET /metrics and METRICS_TOKEN', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  const scrape = async (authorization?: string) => {
    const res = await fetch(`${h!.svc.url}/metrics`, { headers: authorization ? { authorization } : {} });
    return { status: res.status, text: await res.text() };
  };

  it('with METRICS_TOKEN set, needs Authorization: Bearer <METRICS_TOKEN>; other tokens get 401', async () => {
    h = await startHarness({ clients: [restClient('acme', 'http://127.0.0.1:9')], overrides: { metricsToken: METRICS_TOKEN } });
    for (const auth of [undefined, 'Bearer wrong-token-0123456789', `Bearer ${INTAKE_TOKEN}`, `Bearer ${ADMIN_TOKEN}`, METRICS_TOKEN]) {
      const r = await scrape(auth);
      expect({ auth, status: r.status }).toEqual({ auth, status: 401 });
      expect(JSON.parse(r.text)).toEqual({ error: 'unauthorized', message: 'send Authorization: Bearer <METRICS_TOKEN>' });
      expect(r.text).not.toContain('acme');
    }
    const ok = await scrape(`Bearer ${METRICS_TOKEN}`);
    expect(ok.status).toBe(200);
    expect(ok.text).toContain('lead_export_queue_jobs');
    expect(ok.text).toContain('client="acme"');
    // Health and readiness stay open for the orchestrator.
    expect((await fetch(`${h.svc.url}/healthz`)).status).toBe(200);
  });

  it('without METRICS_TOKEN, /metrics stays open (for deployments that bind HTTP_HOST to a private interface)', async () => {
    h = await startHarness({ clients: [restClient('acme', 'http://127.0.0.1:9')] });
    const r = await scrape();
    expect(r.status).toBe(200);
    expect(r.text).toContain('lead_export_queue_jobs');
  });
});
