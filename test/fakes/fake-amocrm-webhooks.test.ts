import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseQuery } from '../support/fake-amocrm/php-query';
import { eventually } from '../support/harness';
import { call, candidate, createLeads, useFakeAmo } from './amocrm-client';

const { startWithToken } = useFakeAmo();

interface Received {
  path: string;
  contentType: string | undefined;
  raw: string;
  at: number;
}

/** A webhook receiver on loopback: answers each POST with the next planned status ('hang' = never). */
class Receiver {
  readonly got: Received[] = [];
  private readonly server: http.Server;
  private readonly held = new Set<http.ServerResponse>();
  constructor(private readonly plan: (n: number, path: string) => number | 'hang') {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const path = req.url ?? '/';
        this.got.push({ path, contentType: req.headers['content-type'], raw: Buffer.concat(chunks).toString(), at: performance.now() });
        const answer = this.plan(this.got.filter((g) => g.path === path).length, path);
        if (answer === 'hang') return void this.held.add(res);
        res.writeHead(answer).end();
      });
    });
  }
  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

const receivers: Receiver[] = [];
async function receiver(plan: (n: number, path: string) => number | 'hang' = () => 200): Promise<{ r: Receiver; url: string }> {
  const r = new Receiver(plan);
  receivers.push(r);
  return { r, url: await r.listen() };
}
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

describe('status webhooks', () => {
  test('changes within the batch window go out as one form-encoded POST with PHP-style keys', async () => {
    const { r, url } = await receiver();
    const { f, token } = await startWithToken({ webhookBatchMs: 200, accountId: 42, subdomain: 'acme' });
    f.addWebhook(`${url}/hook`);
    const [a, b] = await createLeads(f, token, [candidate(0), candidate(1, { pipeline_id: 2000 })]);
    f.setLeadStatus(a, 1003);
    f.setLeadStatus(b, 142);
    await eventually(() => f.webhookAttempts.length === 1, 'one webhook POST', 5_000);
    expect(r.got).toHaveLength(1);
    expect(r.got[0]).toMatchObject({ path: '/hook', contentType: 'application/x-www-form-urlencoded' });
    expect(r.got[0].raw).toContain('leads%5Bstatus%5D%5B0%5D%5Bid%5D=');
    const body = parseQuery(r.got[0].raw);
    expect(body).toEqual({
      leads: {
        status: [
          expect.objectContaining({ id: String(a), status_id: '1003', pipeline_id: '1000', old_status_id: '1002', old_pipeline_id: '1000', account_id: '42' }),
          expect.objectContaining({ id: String(b), status_id: '142', pipeline_id: '2000', old_status_id: '2002', old_pipeline_id: '2000' }),
        ],
      },
      account: { id: '42', subdomain: 'acme' },
    });
    expect(f.webhookAttempts[0]).toMatchObject({ url: `${url}/hook`, attempt: 1, status: 200, delivered: true, leadIds: [a, b] });

    // A change after the POST goes in a POST of its own; an API PATCH triggers one like a manager's move.
    const patched = await call(f, 'PATCH', '/api/v4/leads', { token, body: [{ id: a, status_id: 143 }] });
    expect(patched.status).toBe(200);
    await eventually(() => f.webhookAttempts.length === 2, 'a second webhook POST', 5_000);
    expect(parseQuery(r.got[1].raw)).toMatchObject({ leads: { status: [{ id: String(a), status_id: '143', old_status_id: '1003' }] } });
  });

  test('no POST for lead creation or without a receiver; a removed receiver gets nothing', async () => {
    const { r, url } = await receiver();
    const { f, token } = await startWithToken({ webhookBatchMs: 10 });
    const [a] = await createLeads(f, token, [candidate(0)]);
    f.setLeadStatus(a, 1003); // nobody listens yet
    f.addWebhook(`${url}/a`);
    f.addWebhook(`${url}/b`);
    f.removeWebhook(`${url}/b`);
    await createLeads(f, token, [candidate(1)]);
    f.setLeadStatus(a, 1004);
    await eventually(() => f.webhookAttempts.length === 1 && f.webhooksIdle(), 'the webhook to be sent', 5_000);
    expect(r.got.map((g) => g.path)).toEqual(['/a']);
    expect(parseQuery(r.got[0].raw)).toMatchObject({ leads: { status: [{ id: String(a), status_id: '1004', old_status_id: '1003' }] } });
  });

  test('retries on the ladder, scaled: 5 attempts after 5xx, 3 after other failures; a success stops them', async () => {
    const { r, url } = await receiver((n, path) => (path === '/5xx' ? 500 : path === '/404' ? 404 : n < 2 ? 503 : 204));
    const scale = 0.0002; // 5 min → 60 ms, 15 min → 180 ms, 1 h → 720 ms
    const { f, token } = await startWithToken({ webhookBatchMs: 10, webhookRetryScale: scale });
    for (const p of ['/5xx', '/404', '/flaky']) f.addWebhook(url + p);
    const [a] = await createLeads(f, token, [candidate(0)]);
    f.setLeadStatus(a, 1003);
    await eventually(() => f.webhooksIdle() && f.webhookAttempts.length >= 3, 'all retries to finish', 10_000);

    const of = (p: string) => f.webhookAttempts.filter((x) => x.url === url + p);
    expect(of('/5xx').map((x) => [x.attempt, x.status, x.delivered])).toEqual([1, 2, 3, 4, 5].map((n) => [n, 500, false]));
    expect(of('/404').map((x) => [x.attempt, x.status])).toEqual([
      [1, 404],
      [2, 404],
      [3, 404],
    ]);
    expect(of('/flaky').map((x) => [x.attempt, x.status, x.delivered])).toEqual([
      [1, 503, false],
      [2, 204, true],
    ]);
    // Each retry waits at least its scaled step; the body is the same every time.
    const gaps = r.got.filter((g) => g.path === '/5xx').map((g, i, all) => (i === 0 ? 0 : g.at - all[i - 1].at));
    const ladder = [0, 5, 15, 15, 60].map((m) => m * 60_000 * scale);
    gaps.forEach((gap, i) => expect(gap).toBeGreaterThanOrEqual(ladder[i] - 5));
    expect(new Set(r.got.map((g) => g.raw)).size).toBe(1);
  });

  test('a receiver that does not answer within webhookTimeoutMs fails the attempt with status 0 (3 attempts)', async () => {
    const { r, url } = await receiver(() => 'hang');
    const { f, token } = await startWithToken({ webhookBatchMs: 10, webhookTimeoutMs: 150, webhookRetryScale: 0.0001 });
    f.addWebhook(`${url}/slow`);
    const [a] = await createLeads(f, token, [candidate(0)]);
    f.setLeadStatus(a, 1003);
    await eventually(() => f.webhooksIdle() && f.webhookAttempts.length === 3, 'three timed-out attempts', 10_000);
    expect(f.webhookAttempts.map((x) => [x.attempt, x.status, x.error, x.delivered])).toEqual([1, 2, 3].map((n) => [n, 0, 'timeout', false]));
    for (const x of f.webhookAttempts) expect(x.durationMs).toBeGreaterThanOrEqual(140);
    expect(r.got).toHaveLength(3);
  });

  test('an unreachable receiver fails with its error code; removeWebhook drops the pending retries', async () => {
    const { r, url: deadUrl } = await receiver();
    await r.close(); // nothing listens there any more
    const { f, token } = await startWithToken({ webhookBatchMs: 10, webhookRetryScale: 1 });
    f.addWebhook(`${deadUrl}/gone`);
    const [a] = await createLeads(f, token, [candidate(0)]);
    f.setLeadStatus(a, 1003);
    await eventually(() => f.webhookAttempts.length === 1, 'the first attempt', 5_000);
    expect(f.webhookAttempts[0]).toMatchObject({ status: 0, error: 'ECONNREFUSED', delivered: false });
    expect(f.webhooksIdle()).toBe(false); // a retry 5 minutes out
    f.removeWebhook(`${deadUrl}/gone`);
    expect(f.webhooksIdle()).toBe(true);
  });

  test('close() ends a POST in flight and drops what is pending; bad URLs are refused', async () => {
    const { r, url } = await receiver(() => 'hang');
    const { f, token } = await startWithToken({ webhookBatchMs: 10 });
    expect(() => f.addWebhook('not a url')).toThrow(/not a URL/);
    expect(() => f.addWebhook('ftp://example.com/x')).toThrow(/only http\(s\)/);
    f.addWebhook(`${url}/hang`);
    const [a] = await createLeads(f, token, [candidate(0)]);
    f.setLeadStatus(a, 1003);
    await eventually(() => r.got.length === 1, 'the POST to reach the receiver', 5_000);
    f.setLeadStatus(a, 1004); // batched, not sent yet
    expect(f.webhooksIdle()).toBe(false);
    await f.close();
    expect(f.webhooksIdle()).toBe(true);
    expect(f.webhookAttempts).toHaveLength(0); // cut short by close(), not a failure of the receiver
  });
});
