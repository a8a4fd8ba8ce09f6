import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startFakeRestCrm, type FakeRestCrm } from '../support/fake-rest-crm';
import { eventually, makeLead, restClient, startHarness, type Harness } from '../support/harness';
import { redisClient } from '../support/redis';

/** Ops change clients by editing files; the running service follows within seconds, without a restart. */
describe('client files reload live', () => {
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

  it('starts a new client, pauses on paused: true, keeps the last good config on a bad file, and keeps the jobs of a removed client', async () => {
    // A new file: the client gets its queue and worker, intake knows it.
    expect((await h.post(makeLead('beta'))).status).toBe(404);
    await h.writeClient(restClient('beta', crm.url));
    await eventually(() => h.svc.supervisor!.runtime('beta'), 'beta to start', 5_000);
    await eventually(async () => (await h.post(makeLead('beta'))).status === 202, 'intake to know beta', 10_000);
    await eventually(() => crm.candidates().length >= 1, 'a beta lead delivered');

    // paused: true — leads keep queueing, nothing is sent.
    await h.writeClient(restClient('acme', crm.url, { paused: true }));
    const acme = h.svc.supervisor!.runtime('acme')!;
    await eventually(async () => (await acme.status()).queuePaused, 'acme to pause', 5_000);
    const held = makeLead('acme');
    expect((await h.post(held)).status).toBe(202);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(crm.candidates().some((c) => c.body.external_id === held.leadId)).toBe(false);

    // A broken edit: the last good config (paused) stays in force and the log says why.
    await writeFile(join(h.clientsDir, 'acme.yaml'), 'id: acme\nname: ACME\nadapter: rest\nrateLimit: { requests: -1, perSeconds: 1 }\n');
    await eventually(() => h.logs.messages().some((m) => m.msg === 'client file invalid; the last good config stays in force' && JSON.stringify(m.errors).includes('rateLimit.requests')), 'the invalid-file log line', 5_000);
    expect(h.svc.supervisor!.runtime('acme')).toBe(acme);
    expect((await acme.status()).queuePaused).toBe(true);

    // Fixed and un-paused: the held lead is delivered.
    await h.writeClient(restClient('acme', crm.url));
    await eventually(() => crm.candidates().some((c) => c.body.external_id === held.leadId), 'the held lead after un-pausing', 10_000);

    // Removed: the worker stops, intake refuses new leads, queued jobs stay in Redis.
    await h.writeClient(restClient('acme', crm.url, { paused: true }));
    await eventually(async () => (await acme.status()).queuePaused, 'acme paused again', 5_000);
    const kept = makeLead('acme');
    expect((await h.post(kept)).status).toBe(202);
    await rm(join(h.clientsDir, 'acme.yaml'));
    await eventually(() => h.svc.supervisor!.runtime('acme') === undefined, 'acme to be removed', 5_000);
    const r = redisClient();
    try {
      // The job hash is still in Redis (BullMQ key layout: <prefix>:<queue>:<jobId>).
      expect(await r.exists(`${h.prefix}:{acme}-deliver:acme.${String(kept.leadId)}`)).toBe(1);
    } finally {
      r.disconnect();
    }
    await eventually(async () => (await h.post(makeLead('acme'))).status === 404, 'intake to forget acme', 10_000);
    // The file comes back: the kept lead is delivered.
    await h.writeClient(restClient('acme', crm.url));
    await eventually(() => crm.candidates().some((c) => c.body.external_id === kept.leadId), 'the kept lead after the file returns', 10_000);
  });
});
