import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { DeliveryJobData } from '../../src/queue/delivery-job';
import { eventually, makeLead } from '../support/harness';
import { startIntakeServer, type IntakeServer } from '../support/intake-server';
import { redisClient } from '../support/redis';

/**
 * Field report: hh-5 was refused by the CRM for its phone; HRDrom sent it again, corrected, and got
 * `duplicate` — the corrected lead could never be delivered. No service workers here: the test's
 * own tiny worker decides each job's fate.
 */
describe('sending a lead again', () => {
  let s: IntakeServer;
  beforeEach(async () => {
    s = await startIntakeServer();
  });
  afterEach(async () => {
    await s.close();
  });

  /** Runs a worker until the job has the wanted outcome, then closes it. */
  async function settle(jobId: string, outcome: 'fail' | 'complete', opts: { markUncertain?: boolean } = {}): Promise<Job<DeliveryJobData>> {
    const conn = redisClient();
    const worker = new Worker<DeliveryJobData>(
      s.keys.deliveryQueue('acme'),
      async (job) => {
        if (job.id !== jobId) throw new Error(`unexpected job ${String(job.id)}`);
        if (opts.markUncertain) await job.updateData({ ...job.data, uncertain: true });
        if (outcome === 'fail') throw new UnrecoverableError('CRM refused: phone is invalid');
        return { crmId: 'crm-1', existing: false };
      },
      { connection: conn, prefix: s.prefix },
    );
    try {
      return await eventually(async () => {
        const job = await s.queue('acme').getJob(jobId);
        const state = job && (await job.getState());
        return state === (outcome === 'fail' ? 'failed' : 'completed') ? job : null;
      }, `the job to be ${outcome === 'fail' ? 'failed' : 'completed'}`);
    } finally {
      await worker.close();
      conn.disconnect();
    }
  }

  it('replaces a FAILED lead with the corrected one and queues it again with a full retry budget', async () => {
    const lead = makeLead('acme', { leadId: 'hh-5', candidate: { firstName: 'Ivan', phone: '+7 912 345-67-89' } });
    const first = await s.post(lead);
    expect(first.body.results[0]).toEqual({ index: 0, status: 'accepted', leadId: 'hh-5', jobId: 'acme.hh-5' });
    const failed = await settle('acme.hh-5', 'fail', { markUncertain: true });
    expect(failed.attemptsMade).toBe(1);
    const oldAcceptedAt = failed.data.acceptedAt;

    const corrected = { ...lead, candidate: { firstName: 'Ivan', phone: '+7 903 123-45-67' } };
    const again = await s.post(corrected);
    expect(again.status).toBe(202);
    expect(again.body).toEqual(expect.objectContaining({ accepted: 1, duplicate: 0 }));
    expect(again.body.results[0]).toEqual({ index: 0, status: 'accepted', leadId: 'hh-5', jobId: 'acme.hh-5', replaced: true });

    const job = (await s.queue('acme').getJob('acme.hh-5'))!;
    expect(await job.getState()).toBe('waiting');
    expect(job.attemptsMade).toBe(0);
    expect(job.data.lead.candidate.phone).toBe('+79031234567');
    expect(job.data.uncertain).toBe(true); // an earlier attempt may have reached the CRM: look it up first
    expect(job.data.acceptedAt).toBeGreaterThanOrEqual(oldAcceptedAt);
    expect(await s.queue('acme').getJobCounts('waiting', 'failed')).toEqual({ waiting: 1, failed: 0 });

    // Now pending: a third send is a duplicate and changes nothing.
    const third = await s.post({ ...lead, candidate: { firstName: 'Ivan', phone: '+7 916 000-00-01' } });
    expect(third.body.results[0].status).toBe('duplicate');
    expect((await s.queue('acme').getJob('acme.hh-5'))!.data.lead.candidate.phone).toBe('+79031234567');
  });

  it('does not carry `uncertain` over when the failed job never had it', async () => {
    const lead = makeLead('acme');
    const jobId = `acme.${String(lead.leadId)}`;
    await s.post(lead);
    await settle(jobId, 'fail');
    expect((await s.post(lead)).body.results[0].replaced).toBe(true);
    expect((await s.queue('acme').getJob(jobId))!.data.uncertain).toBeUndefined();
  });

  it('a delivered lead stays a duplicate: completed job, or a delivered mark beside a failed job', async () => {
    const done = makeLead('acme');
    await s.post(done);
    await settle(`acme.${String(done.leadId)}`, 'complete');
    const r = await s.post(done);
    expect(r.body.results[0]).toEqual(expect.objectContaining({ status: 'duplicate' }));
    expect(r.body.results[0].replaced).toBeUndefined();

    const marked = makeLead('acme');
    const jobId = `acme.${String(marked.leadId)}`;
    await s.post(marked);
    await settle(jobId, 'fail');
    await s.redis.set(s.keys.delivered('acme', String(marked.leadId)), 'crm-9');
    expect((await s.post(marked)).body.results[0].status).toBe('duplicate');
    expect(await (await s.queue('acme').getJob(jobId))!.getState()).toBe('failed');
  });

  it('never answers accepted when no job was added: a lead whose seen mark is gone but whose job exists', async () => {
    const lead = makeLead('acme');
    const jobId = `acme.${String(lead.leadId)}`;
    await s.post(lead);
    await settle(jobId, 'complete');
    await s.redis.del(s.keys.seen('acme', String(lead.leadId)));
    const r = await s.post(lead);
    expect(r.body.results[0].status).toBe('duplicate');
    expect(await s.queue('acme').getJobCounts('waiting', 'completed')).toEqual({ waiting: 0, completed: 1 });
  });

  it('two simultaneous re-sends of a failed lead replace it once', async () => {
    const lead = makeLead('acme');
    const jobId = `acme.${String(lead.leadId)}`;
    await s.post(lead);
    await settle(jobId, 'fail');
    const [a, b] = await Promise.all([s.post(lead), s.post(lead)]);
    const statuses = [a.body.results[0], b.body.results[0]].map((x: { status: string; replaced?: boolean }) => `${x.status}${x.replaced ? '+replaced' : ''}`).sort();
    expect(statuses).toEqual(['accepted+replaced', 'duplicate']);
    expect(await s.queue('acme').getJobCounts('waiting', 'failed')).toEqual({ waiting: 1, failed: 0 });
  });

  it('a batch can mix a replacement, a duplicate and a new lead', async () => {
    const failedLead = makeLead('acme');
    const pending = makeLead('acme');
    await s.post([failedLead]);
    await settle(`acme.${String(failedLead.leadId)}`, 'fail');
    await s.post([pending]);
    const fresh = makeLead('acme');
    const r = await s.post([failedLead, pending, fresh, fresh]);
    expect(r.status).toBe(202);
    expect(r.body.results.map((x: { status: string; replaced?: boolean }) => `${x.status}${x.replaced ? '+replaced' : ''}`)).toEqual([
      'accepted+replaced',
      'duplicate',
      'accepted',
      'duplicate',
    ]);
  });
});
