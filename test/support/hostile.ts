/**
 * Shared parts of the leak tests (test/integration/hostile-echo-*.test.ts): leads full of distinctive
 * personal values, and the collection of EVERY output a person can read — the service's log, the
 * CLI's `clients status` and `failed`, the admin API, the metrics — for scanning.
 */
import { Queue } from 'bullmq';
import { runCli } from '../../src/cli/main';
import { Keys } from '../../src/queue/keys';
import type { DeliveryJobData, DeliveryResult } from '../../src/queue/delivery-job';
import { ADMIN_TOKEN, makeLead, type Harness } from './harness';
import type { Sensitive } from './leak-scan';
import { redisClient } from './redis';

const CYR = 'абвгдежзик';
const cyrillic = (n: number) => String(n).split('').map((d) => CYR[Number(d)]).join('');

let seq = 0;

/** A lead whose every personal value is unique to it, with the list of those values (every spelling we send). */
export function hostileLead(clientId: string, overrides: Record<string, unknown> = {}): { lead: Record<string, unknown>; personal: Sensitive[] } {
  seq += 1;
  // Unique within a run (a lead's values must not be another's), three digits for the phone.
  const n = 100 + (seq % 800);
  const tag = cyrillic(n);
  const firstName = `Евлампия${tag}`;
  const lastName = `Фомкина${tag}`;
  const middleName = `Аристарховна${tag}`;
  const email = `evlampia.fomkina${n}@hostile-mail.org`;
  const local = `555-${String(n).slice(0, 2)}-${String(n).slice(1, 3)}`;
  const input = `+7 (913) ${local}`;
  const digits = `913${local.replace(/-/g, '')}`;
  const comment = `Перезвонить после 18:00, конфиденциально ${tag}`;
  const lead = makeLead(clientId, {
    candidate: { firstName, lastName, middleName, phone: input, email, city: 'Moscow' },
    comment,
    ...overrides,
  });
  const personal: Sensitive[] = [
    { label: `firstName of ${clientId}`, value: firstName },
    { label: `lastName of ${clientId}`, value: lastName },
    { label: `middleName of ${clientId}`, value: middleName },
    { label: `email of ${clientId}`, value: email },
    { label: `phone (as sent in) of ${clientId}`, value: input },
    { label: `phone (E.164) of ${clientId}`, value: `+7${digits}` },
    { label: `phone (digits) of ${clientId}`, value: digits },
    { label: `phone (local) of ${clientId}`, value: local },
    { label: `comment of ${clientId}`, value: comment },
    { label: `comment words of ${clientId}`, value: `конфиденциально ${tag}` },
  ];
  return { lead, personal };
}

export interface CliRun {
  code: number;
  out: string;
  err: string;
}

/** `lead-export <args>` in this process against the harness's Redis prefix and clients folder. */
export async function cli(h: Harness, args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  process.exitCode = undefined;
  const code = await runCli(args, { out: (s) => out.push(s), err: (s) => err.push(s) }, {
    REDIS_URL: h.config.redisUrl,
    QUEUE_PREFIX: h.prefix,
    CLIENTS_DIR: h.clientsDir,
    TOKEN_ENCRYPTION_KEY: h.config.tokenEncryptionKey,
    ...env,
  });
  process.exitCode = undefined;
  return { code, out: out.join(''), err: err.join('') };
}

export async function httpGet(h: Harness, path: string, token?: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`${h.svc.url}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, text: await res.text() };
}

export interface Outputs {
  /** What must hold neither personal data nor secrets: logs, status, admin, metrics. */
  clientLevel: Record<string, string>;
  /** The failed-lead listings: the CRM's words about a lead may appear (names too), secrets never. */
  failedListings: Record<string, string>;
  /** Every attempt log line and failure reason of every job (support's view of a lead): secrets never. */
  jobStories: Record<string, string>;
}

/** Reads every output a person can reach, for the given clients. */
export async function collectOutputs(h: Harness, clientIds: string[]): Promise<Outputs> {
  const clientLevel: Record<string, string> = {};
  const failedListings: Record<string, string> = {};
  const jobStories: Record<string, string> = {};
  clientLevel['service log'] = h.logs.text;
  const all = await httpGet(h, '/admin/clients', ADMIN_TOKEN);
  expect(all.status).toBe(200);
  clientLevel['GET /admin/clients'] = all.text;
  clientLevel['GET /metrics'] = (await httpGet(h, '/metrics')).text;
  const redis = redisClient();
  try {
    for (const id of clientIds) {
      const status = await cli(h, ['clients', 'status', id]);
      expect(status.code).toBe(0);
      clientLevel[`lead-export clients status ${id}`] = status.out + status.err;
      const one = await httpGet(h, `/admin/clients/${id}`, ADMIN_TOKEN);
      expect(one.status).toBe(200);
      clientLevel[`GET /admin/clients/${id}`] = one.text;
      const failedJson = await cli(h, ['failed', id, '--json']);
      const failedText = await cli(h, ['failed', id]);
      failedListings[`lead-export failed ${id} --json`] = failedJson.out + failedJson.err;
      failedListings[`lead-export failed ${id}`] = failedText.out + failedText.err;
      failedListings[`GET /admin/clients/${id}/failed`] = (await httpGet(h, `/admin/clients/${id}/failed`, ADMIN_TOKEN)).text;
      const queue = new Queue<DeliveryJobData, DeliveryResult, string>(new Keys(h.prefix).deliveryQueue(id), { connection: redis, prefix: h.prefix });
      try {
        for (const job of await queue.getJobs(['wait', 'delayed', 'active', 'failed', 'completed', 'prioritized'])) {
          if (!job) continue;
          const { logs } = await queue.getJobLogs(job.id!, 0, 999);
          jobStories[`job ${job.id}`] = [job.failedReason ?? '', ...(job.stacktrace ?? []), ...logs].join('\n');
        }
      } finally {
        await queue.close();
      }
    }
  } finally {
    redis.disconnect();
  }
  return { clientLevel, failedListings, jobStories };
}
