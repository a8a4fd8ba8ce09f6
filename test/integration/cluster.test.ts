import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, redisAnswers } from '../../src/demo/local-redis';
import { startFakeRestCrm, type FakeRestCrm } from '../support/fake-rest-crm';
import { eventually, makeLead, restClient, startHarness, type Harness } from '../support/harness';

/**
 * lead-export on a real Redis Cluster (three primaries on loopback, made by this test): every key of a
 * client carries its `{clientId}` hash tag, so BullMQ's scripts, our Lua, pipelines and MGETs each
 * stay inside one slot, and different clients spread over the nodes.
 */
describe('on a Redis Cluster', () => {
  let dir: string;
  let nodes: ChildProcess[] = [];
  let ports: number[] = [];
  let crm: FakeRestCrm;
  let h: Harness | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'le-cluster-'));
    ports = [await freePort(), await freePort(), await freePort()];
    nodes = ports.map((p) =>
      spawn('redis-server', ['--port', String(p), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${p}.conf`), '--dir', dir, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' }),
    );
    for (const p of ports) await eventually(() => redisAnswers(`redis://127.0.0.1:${p}`, 300), `cluster node ${p}`);
    const r = spawnSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`cluster create failed: ${r.stdout}${r.stderr}`);
    await eventually(() => /cluster_state:ok/.test(spawnSync('redis-cli', ['-p', String(ports[0]), 'cluster', 'info'], { encoding: 'utf8' }).stdout), 'cluster_state:ok');
  }, 60_000);

  afterAll(async () => {
    for (const n of nodes) n.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  beforeEach(async () => {
    crm = await startFakeRestCrm();
  });
  afterEach(async () => {
    await h?.close().catch(() => undefined);
    h = undefined;
    await crm.close();
  });

  it('accepts, deduplicates and delivers for several clients, exactly once', async () => {
    const ids = ['alpha', 'bravo', 'charlie', 'delta'];
    const slots = ids.map((id) => Number(spawnSync('redis-cli', ['-p', String(ports[0]), 'cluster', 'keyslot', `{${id}}`], { encoding: 'utf8' }).stdout.trim()));
    expect(new Set(slots.map((s) => (s < 5461 ? 0 : s < 10923 ? 1 : 2))).size).toBeGreaterThan(1); // the clients live on different nodes
    h = await startHarness({
      clients: ids.map((id) => restClient(id, crm.url)),
      overrides: { redisUrl: `redis+cluster://${ports.map((p) => `127.0.0.1:${p}`).join(',')}` },
    });
    const leads = ids.flatMap((id) => Array.from({ length: 10 }, () => makeLead(id)));
    const r = await h.post(leads);
    expect(r.status).toBe(202);
    expect(r.body.accepted).toBe(40);
    expect((await h.post(leads[0])).body.duplicate).toBe(1);
    await eventually(() => crm.candidates().length === 40, 'all 40 leads in the CRM', 30_000);
    expect(new Set(crm.candidates().map((c) => c.body.external_id)).size).toBe(40);
    // The limiter, the breaker and pause all work per client on the cluster too.
    const rt = h.svc.supervisor!.runtime('alpha')!;
    await rt.pause('test');
    expect((await rt.status()).queuePaused).toBe(true);
    await rt.resume();
    expect((await rt.status()).circuit.state).toBe('closed');
  });
});
