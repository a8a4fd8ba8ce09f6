import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, redisAnswers } from '../../src/demo/local-redis';
import { startFakeRestCrm, type FakeRestCrm } from '../support/fake-rest-crm';
import { eventually, makeLead, restClient, startHarness, type Harness } from '../support/harness';

/**
 * "Accepted means durable": a lead answered 202 survives Redis itself dying. This suite runs its own
 * redis-server with AOF (fsync on every write) on another port, kills it with SIGKILL after intake,
 * restarts it on the same data, and checks that every accepted lead is delivered exactly once.
 */
describe('durability across a Redis crash (AOF)', () => {
  let dir: string;
  let port: number;
  let redis: ChildProcess | null = null;
  let crm: FakeRestCrm;
  let h: Harness | undefined;

  const startRedis = async () => {
    redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--maxmemory-policy', 'noeviction'], { stdio: 'ignore' });
    await eventually(() => redisAnswers(`redis://127.0.0.1:${port}`, 300), 'redis-server to answer');
  };
  const killRedis = async () => {
    const r = redis!;
    redis = null;
    r.kill('SIGKILL');
    await new Promise((res) => r.once('exit', res));
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'le-aof-'));
    port = await freePort();
    await startRedis();
    crm = await startFakeRestCrm();
  });
  afterEach(async () => {
    await h?.close().catch(() => undefined);
    h = undefined;
    await crm.close();
    if (redis) await killRedis();
    await rm(dir, { recursive: true, force: true });
  });

  it('delivers every accepted lead exactly once after Redis is killed and restarted', async () => {
    h = await startHarness({
      clients: [restClient('acme', crm.url, { paused: true })],
      overrides: { redisUrl: `redis://127.0.0.1:${port}` },
    });
    const leads = Array.from({ length: 100 }, () => makeLead('acme'));
    const r = await h.post(leads);
    expect(r.status).toBe(202);
    expect(r.body.accepted).toBe(100);

    await killRedis(); // no shutdown, no final fsync beyond what AOF already did
    const during = await h.post(makeLead('acme'));
    expect(during.status).toBe(503); // fail fast while Redis is away: the caller sends again later
    await startRedis();

    // Un-pause the client by editing its file, as ops would; the service reconnects on its own.
    await h.writeClient(restClient('acme', crm.url, { paused: false }));
    await eventually(() => crm.candidates().length === 100, 'all 100 accepted leads in the CRM', 30_000);
    const ids = crm.candidates().map((c) => c.body.external_id);
    expect(new Set(ids).size).toBe(100);
    expect(new Set(ids)).toEqual(new Set(leads.map((l) => l.leadId)));
  });
});
