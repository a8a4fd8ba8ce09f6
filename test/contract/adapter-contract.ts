import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { stringify } from 'yaml';
import { findAdapter } from '../../adapters/registry';
import type { PushItem, PushOutcome } from '../../adapters/types';
import type { CrmChannel } from '../../src/channel/channel';
import { parseClientFile } from '../../src/config/client-loader';
import { DeliveryError, type DeliveryErrorKind } from '../../src/domain/errors';
import { assertLead, type LeadV1 } from '../../src/domain/lead';
import { clientConfig, testChannel } from '../support/channel';
import { eventually, LogCapture, makeLead } from '../support/harness';
import { cleanupPrefix, redisClient, testPrefix } from '../support/redis';

/**
 * The adapter contract suite: what every CRM kind must do, run against the kind's own fake CRM
 * (a real HTTP server on loopback), through the client's real channel (openChannel: limiter,
 * circuit, failure policy) on a real Redis. A kind joins by giving a kit (below) and calling
 * `adapterContract(kit)` from `test/contract/<kind>.contract.test.ts`.
 *
 * What it holds every adapter to (adapters/types.ts):
 *  - push: exactly one outcome per lead, matched by leadId whatever the order; delivered ones carry a
 *    CRM id the CRM really holds; a refused lead is `rejected` with the CRM's reason; a lead marked
 *    uncertain that is already in the CRM is found, never created twice;
 *  - findExisting: the exact HRDrom id only (`x-7` never finds `x-77`), null when absent;
 *  - errors: typed DeliveryErrors with the right kind and flags, the CRM's words in `crmDetail`
 *    and never in `message`;
 *  - ping and checkOnline when the kind has them; close() releases every socket, even a busy one.
 */

/** Where a fault is aimed: the create request, the lookup, or the ping. */
export type ContractTarget = 'create' | 'lookup' | 'ping';

export type ContractFault =
  /** A 5xx in the CRM's own dialect (its words are returned as `crmWords`), with Retry-After when given. */
  | { type: 'server-error'; status: 500 | 502 | 503 | 504; retryAfterSeconds?: number }
  /** A 400 in the CRM's own dialect: it refuses the request as we sent it (its words are returned as `crmWords`). */
  | { type: 'refused' }
  /** A 429 that asks for this wait. */
  | { type: 'rate-limit'; retryAfterSeconds: number }
  /** A 2xx answer in a shape the adapter cannot know (after the CRM did the work). */
  | { type: 'wrong-shape' }
  /** No answer at all, until the client gives up. */
  | { type: 'hang' };

/** One started fake CRM of the kind, and how to steer it. */
export interface ContractCrm {
  /** A client file (as its YAML would hold it) for this CRM. The suite sets `id` and `timeouts`. */
  clientFile(): Record<string, unknown>;
  /** The environment the file's secret references (env:NAME) read. */
  env: Record<string, string>;
  /** Makes a freshly opened channel ready to send (amoCRM: exchange an authorization code). */
  connect?(channel: CrmChannel): Promise<void>;
  /** CRM ids of the records that hold exactly this HRDrom lead id, as the fake stores them. */
  held(leadId: string): string[];
  /** The lead, changed so that this CRM refuses it (a value it does not accept). */
  rejectable(lead: LeadV1): LeadV1;
  /** How the CRM's reason for that refusal reads. */
  rejectionReason: RegExp;
  /** Creates a record holding this HRDrom id without lead-export (typed in by a person); its CRM id. */
  createOutOfBand(externalId: string): Promise<string>;
  /** Arms a fault for the next request of that kind. For `server-error` and `refused`, returns words the CRM's answer holds. */
  fault(on: ContractTarget, f: ContractFault): { crmWords?: string };
  /** How many requests of that kind the fake has received (to know one is on the wire). */
  arrived(on: ContractTarget): number;
  /** From now on the CRM refuses our credentials, and any renewal of them. */
  refuseCredentials(): void;
  /** Credential renewal requests the CRM has seen (token refresh, login), for kinds that can renew. */
  renewals?(): number;
  /** For the unreadable-secret test: the next request must read the secret (amoCRM: the access token must be refreshed). */
  needSecretNext?(): void;
  /** Kind-specific proof that close() let go of what it held at the CRM (REST login: logged out). */
  afterClose?(): void | Promise<unknown>;
  close(): Promise<void>;
}

export interface ContractKit {
  kind: string;
  start(): Promise<ContractCrm>;
}

const CLIENT = 'contract';
/** Generous for every request of a test, on a busy 2-core box. */
const TIMEOUT_MS = 5_000;
/** The client's timeout in the hang tests: the fake never answers, so this is how long each takes. */
const SHORT_TIMEOUT_MS = 1_000;

export function adapterContract(kit: ContractKit): void {
  describe(`adapter contract: ${kit.kind}`, () => {
    let crm: ContractCrm;
    let redis: Redis;
    let prefix: string;
    let logs: LogCapture;
    let channels: CrmChannel[] = [];
    const encryptionKey = randomBytes(32).toString('base64');

    beforeEach(async () => {
      crm = await kit.start();
      redis = redisClient();
      // Connected before any test counts open sockets (close() test), so the baseline holds its socket.
      await redis.ping();
      prefix = testPrefix('contract');
      logs = new LogCapture();
    });

    afterEach(async () => {
      await Promise.all(channels.map((c) => c.close()));
      channels = [];
      await crm.close();
      await cleanupPrefix(redis, prefix);
      redis.disconnect();
    });

    /** The client's channel as the service opens it; each call is another "process" on the same Redis. */
    function open(o: { env?: Record<string, string>; timeoutMs?: number } = {}): CrmChannel {
      const file = { ...crm.clientFile(), id: CLIENT, timeouts: { request: o.timeoutMs ?? TIMEOUT_MS } };
      const channel = testChannel(clientConfig(file), { redis, prefix, env: o.env ?? crm.env, encryptionKey, logs });
      channels.push(channel);
      return channel;
    }

    async function ready(o: { timeoutMs?: number } = {}): Promise<CrmChannel> {
      const channel = open(o);
      await crm.connect?.(channel);
      return channel;
    }

    /** The adapter's own answer, through the channel's failure policy (raw: not reordered or filled in). */
    const rawPush = (channel: CrmChannel, items: PushItem[]) => channel.call(() => channel.adapterParts().adapter.push(items));

    async function pushFailure(channel: CrmChannel, items: PushItem[]): Promise<{ error: DeliveryError; pushSent: boolean }> {
      const r = await channel.push(items);
      if (r.ok) throw new Error(`expected the push to fail, got ${JSON.stringify(r.outcomes.map((o) => o.status))}`);
      expect(r.error).toBeInstanceOf(DeliveryError);
      return r;
    }

    async function delivered(channel: CrmChannel, lead: LeadV1): Promise<string> {
      const r = await channel.push([item(lead)]);
      if (!r.ok) throw new Error(`expected a delivery, got ${r.error.kind}: ${r.error.message}`);
      const o = r.outcomes[0];
      if (o.status !== 'delivered') throw new Error(`expected a delivery, got ${o.status}`);
      return o.crmId;
    }

    test('the kind is registered, and the client-file schema knows it', () => {
      expect(findAdapter(kit.kind)?.kind).toBe(kit.kind);
      const file = { ...crm.clientFile(), id: CLIENT };
      const ok = parseClientFile(`${CLIENT}.yaml`, stringify(file));
      expect(ok.ok).toBe(true);
      const wrong = parseClientFile(`${CLIENT}.yaml`, stringify({ ...file, adapter: 'no-such-crm' }));
      expect(wrong.ok).toBe(false);
      if (!wrong.ok) expect(wrong.errors.map((e) => e.message).join('\n')).toContain(kit.kind);
    });

    test('push: exactly one outcome per lead, matched by leadId; CRM ids the CRM holds; a refused lead rejected with its reason', async () => {
      const channel = await ready();
      const good = leads(5);
      const bad = crm.rejectable(leads(1)[0]);
      const items = shuffle([...good, bad]).map((l) => item(l));
      const outcomes = await rawPush(channel, items);

      expect(outcomes).toHaveLength(items.length);
      expect(outcomes.map((o) => o.leadId).sort()).toEqual(items.map((i) => i.lead.leadId).sort());
      const byLead = new Map(outcomes.map((o) => [o.leadId, o]));
      for (const lead of good) {
        const o = byLead.get(lead.leadId)!;
        expect(o.status).toBe('delivered');
        // The CRM holds exactly one record for the lead, under the id the adapter reported.
        expect(crm.held(lead.leadId)).toEqual([(o as Extract<PushOutcome, { status: 'delivered' }>).crmId]);
      }
      const refused = byLead.get(bad.leadId)!;
      expect(refused.status).toBe('rejected');
      expect((refused as Extract<PushOutcome, { status: 'rejected' }>).reason).toMatch(crm.rejectionReason);
      expect(crm.held(bad.leadId)).toEqual([]);
    });

    test('push: a lead marked uncertain that the CRM already holds is found, not created again', async () => {
      const channel = await ready();
      const [lead, fresh] = leads(2);
      const crmId = await delivered(channel, lead);
      const outcomes = await rawPush(channel, [item(lead, true), item(fresh, true)]);
      const byLead = new Map(outcomes.map((o) => [o.leadId, o]));
      expect(byLead.get(lead.leadId)).toMatchObject({ status: 'delivered', crmId });
      expect(byLead.get(fresh.leadId)).toMatchObject({ status: 'delivered' });
      expect(crm.held(lead.leadId)).toEqual([crmId]);
      expect(crm.held(fresh.leadId)).toHaveLength(1);
    });

    test('findExisting: the exact HRDrom id, null when absent, never a near match', async () => {
      const channel = await ready();
      const [lead] = leads(1);
      const crmId = await delivered(channel, lead);
      expect(await channel.findExisting(lead)).toEqual({ crmId });
      expect(await channel.findExisting(withId(lead, `absent-${token()}`))).toBeNull();
      const base = `x-${token()}`;
      const typedIn = await crm.createOutOfBand(`${base}-77`);
      // A search that matches by prefix or substring finds x-77 for x-7: that is not the lead.
      expect(await channel.findExisting(withId(lead, `${base}-7`))).toBeNull();
      expect(await channel.findExisting(withId(lead, `${base}-77`))).toEqual({ crmId: typedIn });
    });

    describe('errors are typed DeliveryErrors', () => {
      test('refused credentials: auth (after one recovery where the kind can renew); the client pauses, nothing loops', async () => {
        const channel = await ready();
        await delivered(channel, leads(1)[0]);
        crm.refuseCredentials();
        const before = crm.renewals?.() ?? 0;
        const { error } = await pushFailure(channel, [item(leads(1)[0])]);
        expect(error.kind).toBe('auth');
        if (crm.renewals) {
          // One renewal of the session: a refresh, then a login when the refresh is refused.
          const tried = crm.renewals() - before;
          expect(tried).toBeGreaterThanOrEqual(1);
          expect(tried).toBeLessThanOrEqual(2);
        }
        expect(await channel.circuit()).toMatchObject({ state: 'open', reason: 'auth' });
        // Paused: the next push is not sent and renews nothing.
        const renewalsWhenPaused = crm.renewals?.() ?? 0;
        const again = await pushFailure(channel, [item(leads(1)[0])]);
        expect(again.error.kind).toBe('circuit_open');
        expect(again.pushSent).toBe(false);
        expect(crm.renewals?.() ?? 0).toBe(renewalsWhenPaused);
      });

      test.each([
        { status: 500 as const },
        { status: 503 as const, retryAfterSeconds: 2 },
        { status: 504 as const },
      ])('a $status on create: transient and uncertain; the CRM words go to crmDetail, never the message', async ({ status, retryAfterSeconds }) => {
        const channel = await ready();
        const { crmWords } = crm.fault('create', { type: 'server-error', status, retryAfterSeconds });
        const { error, pushSent } = await pushFailure(channel, [item(leads(1)[0])]);
        expectKind(error, 'transient', { uncertain: true });
        expect(pushSent).toBe(true);
        expect(error.status).toBe(status);
        expectCrmWordsKept(error, crmWords);
        // Retry-After on any status is obeyed (and said on the error, so the lead waits as long).
        if (retryAfterSeconds) expect(error.retryAfterMs).toBe(retryAfterSeconds * 1000);
      });

      test('a 5xx on a lookup: transient, not uncertain (a lookup creates nothing)', async () => {
        const channel = await ready();
        const { crmWords } = crm.fault('lookup', { type: 'server-error', status: 500 });
        const error = await rejection(channel.findExisting(leads(1)[0]));
        expectKind(error, 'transient', { uncertain: false });
        expectCrmWordsKept(error, crmWords);
      });

      test('a lookup the CRM refuses (400): contract, since nobody can tell whether the lead exists', async () => {
        const channel = await ready();
        const { crmWords } = crm.fault('lookup', { type: 'refused' });
        const error = await rejection(channel.findExisting(leads(1)[0]));
        expectKind(error, 'contract', { uncertain: false });
        expectCrmWordsKept(error, crmWords);
      });

      test('a 429: rate_limited with the wait the CRM asked for', async () => {
        const channel = await ready();
        crm.fault('create', { type: 'rate-limit', retryAfterSeconds: 2 });
        const { error } = await pushFailure(channel, [item(leads(1)[0])]);
        expectKind(error, 'rate_limited', { uncertain: false });
        expect(error.retryAfterMs).toBe(2_000);
      });

      test('a 2xx of the wrong shape on create: contract (maybe created, so uncertain), never delivered', async () => {
        const channel = await ready();
        crm.fault('create', { type: 'wrong-shape' });
        const { error } = await pushFailure(channel, [item(leads(1)[0])]);
        expectKind(error, 'contract', { uncertain: true });
        expect(await channel.circuit()).toMatchObject({ state: 'open', reason: 'contract' });
      });

      test('a 2xx of the wrong shape on a lookup: contract', async () => {
        const channel = await ready();
        crm.fault('lookup', { type: 'wrong-shape' });
        expectKind(await rejection(channel.findExisting(leads(1)[0])), 'contract', { uncertain: false });
      });

      test('a create that hangs past the timeout: transient and uncertain', async () => {
        const channel = await ready({ timeoutMs: SHORT_TIMEOUT_MS });
        crm.fault('create', { type: 'hang' });
        const { error } = await pushFailure(channel, [item(leads(1)[0])]);
        expectKind(error, 'transient', { uncertain: true });
      });

      test('a lookup that hangs past the timeout: transient, not uncertain', async () => {
        const channel = await ready({ timeoutMs: SHORT_TIMEOUT_MS });
        crm.fault('lookup', { type: 'hang' });
        expectKind(await rejection(channel.findExisting(leads(1)[0])), 'transient', { uncertain: false });
      });

      test('a secret that cannot be read: config, naming the reference; the client pauses', async () => {
        await ready();
        crm.needSecretNext?.();
        const channel = open({ env: {} });
        const { error } = await pushFailure(channel, [item(leads(1)[0])]);
        expectKind(error, 'config', { uncertain: false });
        expect(error.message).toMatch(/env:[A-Z_]+/);
        expect(await channel.circuit()).toMatchObject({ state: 'open', reason: 'config' });
      });
    });

    test('ping, if the kind has one: succeeds, and fails typed', async () => {
      const channel = await ready();
      if (!channel.canPing) return void console.warn(`${kit.kind}: no ping; health probes use the next delivery`);
      await expect(channel.ping()).resolves.toBeUndefined();
      const { crmWords } = crm.fault('ping', { type: 'server-error', status: 500 });
      const error = await rejection(channel.ping());
      expectKind(error, 'transient', { uncertain: false });
      expectCrmWordsKept(error, crmWords);
    });

    test('checkOnline, if the kind has one: a report in which the kit’s own file checks out', async () => {
      const channel = await ready();
      if (!channel.hasOnlineCheck) return void console.warn(`${kit.kind}: no online check`);
      const report = await channel.checkOnline();
      expect(report.description.length).toBeGreaterThan(0);
      expect(report.checks.length).toBeGreaterThan(0);
      for (const c of report.checks) expect(['ok', 'warn']).toContain(c.level);
    });

    test('close(): releases every socket, a busy one too, and ends what it holds at the CRM', async () => {
      const baseline = activeResources();
      // A long timeout: only close() can end the hanging lookup within the test.
      const channel = await ready({ timeoutMs: 60_000 });
      const [lead] = leads(1);
      await delivered(channel, lead);
      await channel.findExisting(lead);
      if (channel.canPing) await channel.ping();
      const seen = crm.arrived('lookup');
      crm.fault('lookup', { type: 'hang' });
      let ended: { err: unknown } | undefined;
      void channel.findExisting(lead).then(
        () => (ended = { err: new Error('the hanging lookup was answered') }),
        (err: unknown) => (ended = { err }),
      );
      await eventually(() => crm.arrived('lookup') > seen, 'the hanging lookup to reach the CRM');
      expect(activeResources().TCPSocketWrap).toBeGreaterThan(baseline.TCPSocketWrap);

      await channel.close();
      channels = channels.filter((c) => c !== channel);
      const { err } = await eventually(() => ended, 'the in-flight lookup to end when the channel closed', 10_000);
      expect(err).toBeInstanceOf(DeliveryError);
      await crm.afterClose?.();
      // Both ends of every connection are in this process: all of them must go, and no timer may stay.
      await eventually(() => {
        const now = activeResources();
        return now.TCPSocketWrap <= baseline.TCPSocketWrap && now.Timeout <= baseline.Timeout;
      }, `sockets and timers back to ${JSON.stringify(baseline)} (now ${JSON.stringify(activeResources())})`, 10_000);
    });
  });
}

// ---------------------------------------------------------------------------------------------

function leads(n: number): LeadV1[] {
  return Array.from({ length: n }, () => assertLead(makeLead(CLIENT)));
}

function withId(lead: LeadV1, leadId: string): LeadV1 {
  return { ...lead, leadId };
}

function item(lead: LeadV1, uncertain = false): PushItem {
  return { lead, idempotencyKey: `${CLIENT}.${lead.leadId}`, uncertain };
}

function token(): string {
  return randomBytes(4).toString('hex');
}

function shuffle<T>(xs: T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

async function rejection(p: Promise<unknown>): Promise<DeliveryError> {
  const err = await p.then(
    () => new Error('expected a rejection, the call succeeded'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DeliveryError);
  return err as DeliveryError;
}

function expectKind(err: DeliveryError, kind: DeliveryErrorKind, flags: { uncertain: boolean }): void {
  expect({ kind: err.kind, uncertain: err.uncertain, message: err.message }).toEqual({ kind, uncertain: flags.uncertain, message: expect.any(String) });
}

/** The CRM's words reach support through `crmDetail` (kept on the job), never through the message (logs, status). */
function expectCrmWordsKept(err: DeliveryError, crmWords: string | undefined): void {
  if (!crmWords) throw new Error('the kit must say which words its CRM answered with');
  expect(err.message).not.toContain(crmWords);
  expect(err.crmDetail).toContain(crmWords);
}

/** Handles and requests that keep the process alive, by type (unref'd timers and sockets are not listed). */
function activeResources(): { TCPSocketWrap: number; Timeout: number } {
  const all = process.getActiveResourcesInfo();
  return { TCPSocketWrap: all.filter((r) => r === 'TCPSocketWrap').length, Timeout: all.filter((r) => r === 'Timeout').length };
}
