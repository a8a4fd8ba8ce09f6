import { Command, CommanderError } from 'commander';
import { startFakeRestCrm, type FakeRestCrm } from '../support/fake-rest-crm';
import { restClient, startHarness, type Harness } from '../support/harness';
import { registerProbeCommand } from '../../src/cli/probe-command';
import { LeadExportError } from '../../src/domain/errors';
import { measure, type ProbeReport, type ProbeSample, type ProbeTarget } from '../../src/support/probe';

/*
 * `lead-export probe <client>` against the fake REST CRM (real HTTP, real Redis), and the ramp's
 * caps against a simulated CRM.
 */

let crm: FakeRestCrm | undefined;
let h: Harness | undefined;

afterEach(async () => {
  await h?.close();
  h = undefined;
  await crm?.close();
  crm = undefined;
});

/** `lead-export probe …` in this process, with the CLI's exit-code rules (2 = bad usage). */
async function probeCli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const program = new Command('lead-export')
    .exitOverride()
    .configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (err += s) });
  registerProbeCommand(program, { serviceConfig: () => h!.config, print: (s) => (out += `${s}\n`), err: (s) => (err += s) });
  try {
    await program.parseAsync(['probe', ...args], { from: 'user' });
    return { code: 0, out, err };
  } catch (e) {
    if (e instanceof CommanderError) return { code: 2, out, err };
    if (e instanceof LeadExportError) return { code: e.kind === 'usage' ? 2 : 1, out, err: `${err}lead-export: ${e.message}\n` };
    throw e;
  }
}

describe('lead-export probe', () => {
  test('7. measures latency and finds a 10/s limit within 20 %, with read-only requests only', async () => {
    crm = await startFakeRestCrm({ rateLimit: { requests: 10, perSeconds: 1, retryAfterSeconds: 1 }, latencyMs: 15 });
    h = await startHarness({
      clients: [restClient('probe-me', crm.url, { rateLimit: { requests: 8, perSeconds: 1 }, probe: { ramp: true, maxRate: 20 } })],
      roles: { api: false, worker: false },
    });
    const started = Date.now();
    const res = await probeCli(['probe-me', '--json']);
    const tookS = (Date.now() - started) / 1000;
    expect(res.err).not.toMatch(/lead-export:/);
    expect(res.code).toBe(0);
    const report = JSON.parse(res.out) as ProbeReport;
    const rate = report.recommended.requests / report.recommended.perSeconds;
    console.log(
      `[flow 7] probe vs a 10/s CRM (15 ms latency): p50/p90/p99 ${report.baseline.p50}/${report.baseline.p90}/${report.baseline.p99} ms; ` +
        `steps ${report.steps.map((s) => `${s.rate}:${s.verdict}`).join(' ')}; measured ok at ${report.ramp.lastGoodRate}/s, bad at ${report.ramp.firstBadRate}/s; ` +
        `recommended ${report.recommended.requests}/${report.recommended.perSeconds}s (${((rate / 10) * 100).toFixed(0)} % of the real limit); ` +
        `${crm.requests.length} requests (${crm.stats().rateLimited} × 429) in ${tookS.toFixed(1)} s`,
    );
    expect(report.baseline.sent).toBe(20);
    expect(report.baseline.ok).toBe(20);
    for (const p of [report.baseline.p50, report.baseline.p90, report.baseline.p99]) {
      expect(p).toBeGreaterThanOrEqual(15);
      expect(p).toBeLessThan(500);
    }
    expect(report.ramp.ran).toBe(true);
    expect(report.ramp.stoppedBy).toBe('rate_limited');
    expect(rate).toBeGreaterThanOrEqual(8);
    expect(rate).toBeLessThanOrEqual(12);
    // Read-only: nothing but the ping, nothing created; and never above the cap.
    expect(crm.requests.every((r) => r.method === 'GET' && r.path === '/api/ping')).toBe(true);
    expect(crm.candidates()).toHaveLength(0);
    expect(Math.max(...report.steps.map((s) => s.rate))).toBeLessThanOrEqual(20);
  }, 60_000);

  test('prints a table and the recommendation; without probe.ramp only the latency phase runs; bad arguments exit 2', async () => {
    crm = await startFakeRestCrm({ latencyMs: 5 });
    h = await startHarness({ clients: [restClient('quiet', crm.url, { rateLimit: { requests: 6, perSeconds: 1 } })], roles: { api: false, worker: false } });
    // The CRM states its limit in a header on one of the answers: the probe reports it and caps at it.
    crm.injectFault({ type: 'status', status: 200, body: { ok: true }, headers: { 'X-RateLimit-Limit': '4', 'X-RateLimit-Remaining': '3' } }, { times: 1, match: { path: /^\/api\/ping$/ } });
    const res = await probeCli(['quiet', '--samples', '8']);
    expect(res.code).toBe(0);
    expect(res.out).toMatch(/rate-limit headers: x-ratelimit-limit: 4, x-ratelimit-remaining: 3/);
    expect(res.out).toMatch(/announced limit: 4 per 1 s/);
    expect(res.out).toMatch(/latency \(8 requests at 3\/s\): p50 \d+(\.\d)? ms, p90 \d+(\.\d)? ms, p99 \d+(\.\d)? ms/);
    expect(res.out).toMatch(/ramp: not run — probe\.ramp is false in quiet\.yaml/);
    expect(res.out).toMatch(/^step\s+phase\s+rate\/s\s+sent\s+ok\s+429\s+errors\s+p50 ms\s+p90 ms\s+p99 ms\s+verdict$/m);
    expect(res.out).toMatch(/recommended rateLimit: \{ requests: 4, perSeconds: 1 \}  \(the limit the CRM announces \(no ramp\)\)/);
    console.log(`[flow 7c] latency-only probe output:\n${res.out}`);
    expect(crm.requests).toHaveLength(8);

    expect(await probeCli(['Not_An_Id'])).toMatchObject({ code: 2, err: expect.stringMatching(/is not a client id/) });
    expect(await probeCli(['nobody'])).toMatchObject({ code: 2, err: expect.stringMatching(/no client 'nobody': there is no nobody\.yaml/) });
    expect(await probeCli(['quiet', '--samples', '1'])).toMatchObject({ code: 2, err: expect.stringMatching(/samples from 3 to 500/) });
    expect(await probeCli(['quiet', '--max-rate', '50'])).toMatchObject({ code: 2, err: expect.stringMatching(/can only lower the cap/) });
    expect(await probeCli([])).toMatchObject({ code: 2, err: expect.stringMatching(/missing required argument 'client'/) });
    expect(crm.requests).toHaveLength(8);

    // A client whose adapter has no read-only request to send cannot be probed: said, not guessed.
    const noPing = restClient('no-ping', crm.url);
    delete (noPing.settings as Record<string, unknown>).ping;
    await h.writeClient(noPing);
    expect(await probeCli(['no-ping'])).toMatchObject({ code: 1, err: expect.stringMatching(/no-ping: the rest adapter has no read-only ping for this client, so it cannot be probed \(REST: set settings\.ping\.path\)/) });
    expect(crm.requests).toHaveLength(8);
  }, 30_000);

  test('the ramp never goes past the cap (the lowest of probe.maxRate, a known or announced limit, --max-rate), and bisects', async () => {
    // A simulated CRM with a sliding window: no network, so the numbers are exact. A 250 ms window
    // keeps the steps (two windows each) short.
    const WINDOW = 250;
    const sim = (limitPerWindow: number): ProbeTarget => {
      const sent: number[] = [];
      return {
        holdRemainingMs: async () => 0,
        ping: async (): Promise<ProbeSample> => {
          const now = Date.now();
          const inWindow = sent.filter((t) => t > now - WINDOW).length;
          sent.push(now);
          return inWindow >= limitPerWindow ? { ok: false, rateLimited: true, headers: {} } : { ok: true, rateLimited: false, latencyMs: 10, headers: {} };
        },
      };
    };
    const m = await measure(sim(1000), { samples: 5, ramp: true, cap: 28, windowMs: WINDOW });
    expect(m.ramp).toMatchObject({ ran: true, stoppedBy: 'cap', lastGoodRate: 28 });
    expect(Math.max(...m.steps.map((s) => s.rate))).toBeLessThanOrEqual(28);

    // 4 per 250 ms = 16/s.
    const b = await measure(sim(4), { samples: 5, ramp: true, cap: 40, windowMs: WINDOW });
    expect(b.ramp.stoppedBy).toBe('rate_limited');
    expect(b.ramp.lastGoodRate).toBeLessThanOrEqual(16.2);
    expect(b.ramp.lastGoodRate).toBeGreaterThanOrEqual(12.8);
    expect(b.steps.some((s) => s.phase === 'bisect')).toBe(true);
    console.log(`[flow 7b] simulated: cap 28/s, no limit → steps ${m.steps.map((s) => s.rate).join(', ')}; limit 16/s → ${b.steps.map((s) => `${s.rate}:${s.verdict}`).join(' ')}`);
  }, 30_000);
});
