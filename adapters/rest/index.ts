import type { AdapterConfig, AdapterContext, AdapterDefinition, CrmAdapter, CrmRequest, CrmResponse, OnlineCheckLine, OnlineCheckReport, PushItem, PushOutcome } from '../types';
import { DeliveryError, isDeliveryError } from '../../src/domain/errors';
import type { LeadV1 } from '../../src/domain/lead';
import { createRestAuth, type RestAuth } from './auth';
import { matchBatchResults } from './batch-results';
import { failureKind, reasonOf, throwForStatus } from './classify';
import { BodyMappingSchema, buildBody, readResponsePath, type BodyMapping } from './mapping';
import { RestSettingsSchema, type RestSettings } from './settings';

/**
 * The generic REST adapter: an interpreter of the client file's `settings` and `mapping`.
 * It creates leads one per request, or in batches when the CRM has a batch endpoint, and looks a lead
 * up by its HRDrom id (an exact match only) before re-creating it after an unknown outcome.
 */
export const restAdapter: AdapterDefinition<RestSettings, BodyMapping> = {
  kind: 'rest',
  settingsSchema: RestSettingsSchema,
  mappingSchema: BodyMappingSchema,
  capabilities: (s) => ({ maxBatchSize: s.batch?.maxSize ?? 1, statusPolling: 'none' }),
  baseUrl: (s) => s.baseUrl,
  timeoutMs: (s) => s.timeoutMs,
  create: (config, ctx) => new RestAdapter(config, ctx),
};

class RestAdapter implements CrmAdapter {
  readonly kind = 'rest';
  readonly capabilities;
  private readonly s: RestSettings;
  private readonly auth: RestAuth;

  constructor(
    private readonly config: AdapterConfig<RestSettings, BodyMapping>,
    private readonly ctx: AdapterContext,
  ) {
    this.s = config.settings;
    this.capabilities = restAdapter.capabilities(this.s);
    this.auth = createRestAuth(this.s.auth, ctx, this.s.timeoutMs ?? config.requestTimeoutMs);
    // Without a configured ping there is no request known to be cheap and harmless: the runtime then
    // lets the next delivery act as the probe instead of guessing a path that may answer 404 forever.
    if (!this.s.ping) this.ping = undefined;
  }

  async push(items: PushItem[]): Promise<PushOutcome[]> {
    const outcomes: PushOutcome[] = [];
    const toCreate: PushItem[] = [];
    for (const item of items) {
      if (item.uncertain && this.s.lookup) {
        const found = await this.findExisting(item.lead);
        if (found) {
          outcomes.push({ leadId: item.lead.leadId, status: 'delivered', crmId: found.crmId, existing: true });
          continue;
        }
      }
      toCreate.push(item);
    }
    if (toCreate.length === 0) return outcomes;
    if (this.s.batch && toCreate.length > 1) {
      for (let i = 0; i < toCreate.length; i += this.s.batch.maxSize) {
        outcomes.push(...(await this.createBatch(toCreate.slice(i, i + this.s.batch.maxSize))));
      }
    } else {
      for (const item of toCreate) outcomes.push(await this.createOne(item));
    }
    return outcomes;
  }

  async findExisting(lead: LeadV1): Promise<{ crmId: string } | null> {
    const lookup = this.s.lookup;
    if (!lookup) return null;
    const res = await this.send({ method: 'GET', path: lookup.path, query: { ...lookup.query, [lookup.queryParam]: lead.leadId }, purpose: 'lookup' });
    if (res.status === 404) return null;
    if (res.status >= 400 && failureKind(res.status) === 'rejected') {
      // The CRM refuses the lookup itself: the lookup config is wrong, and without it we cannot tell
      // whether the lead exists. Pause the client rather than reject (or duplicate) its leads.
      // The message reaches logs and status: the status only. The CRM's words (which may echo our
      // headers) go to crmDetail, kept on the lead's job.
      throw new DeliveryError('contract', `lookup refused by the CRM: HTTP ${res.status}; check settings.lookup`, { status: res.status, crmDetail: reasonOf(res) });
    }
    if (res.status < 200 || res.status >= 300) throwForStatus(res, 'lookup');
    const items = readResponsePath(res.body, lookup.itemsPath);
    if (!Array.isArray(items)) {
      throw new DeliveryError('contract', `lookup response has no array at '${lookup.itemsPath}'`, { status: res.status });
    }
    // A search may be a "contains" search (hh-7 also finds hh-77): only an exact match is this lead.
    const exact = items.filter((it) => String(readResponsePath(it, lookup.externalIdPath) ?? '') === lead.leadId);
    if (exact.length === 0) return null;
    const ids = exact.map((it) => readResponsePath(it, lookup.idPath));
    const id = ids.find(isId);
    if (id === undefined) throw new DeliveryError('contract', `lookup result has no id at '${lookup.idPath}'`, { status: res.status });
    return { crmId: String(id) };
  }

  ping?: () => Promise<void> = async () => {
    const res = await this.send({ method: 'GET', path: this.s.ping!.path, purpose: 'probe' });
    if (res.status >= 400) throwForStatus(res, 'ping');
  };

  /** `clients check --online`: the ping and the lookup answer as configured (read-only requests). */
  async checkOnline(): Promise<OnlineCheckReport> {
    const checks: OnlineCheckLine[] = [];
    if (this.s.ping) {
      const res = await this.send({ method: 'GET', path: this.s.ping.path, purpose: 'admin' });
      // The answer's status only: its body may quote our credentials back, and this goes to a terminal.
      checks.push({ level: res.status < 400 ? 'ok' : 'missing', what: `settings.ping ${this.s.ping.path}`, message: `HTTP ${res.status}` });
    } else checks.push({ level: 'warn', what: 'settings.ping', message: 'not configured: health probes use the next delivery instead' });
    if (this.s.lookup) {
      try {
        // An id that cannot exist: the answer must be an empty list (or 404), in the configured shape.
        await this.findExisting({ leadId: `lead-export-check-${Date.now()}` } as LeadV1);
        checks.push({ level: 'ok', what: `settings.lookup ${this.s.lookup.path}`, message: 'answers in the configured shape' });
      } catch (err) {
        if (!isDeliveryError(err) || (err.kind !== 'contract' && err.kind !== 'rejected')) throw err;
        // A person reads this report at a terminal: the CRM's own words help them fix the lookup.
        checks.push({ level: 'missing', what: `settings.lookup ${this.s.lookup.path}`, message: err.crmDetail ? `${err.message}: ${err.crmDetail}` : err.message });
      }
    } else checks.push({ level: 'warn', what: 'settings.lookup', message: 'not configured: a lead whose create timed out may be created twice' });
    return { description: [`REST CRM at ${this.s.baseUrl}`], checks };
  }

  async close(): Promise<void> {
    await this.auth.close();
  }

  private async createOne(item: PushItem): Promise<PushOutcome> {
    const c = this.s.create;
    const headers: Record<string, string> = {};
    if (c.idempotencyHeader) headers[c.idempotencyHeader] = item.idempotencyKey;
    const res = await this.send({ method: c.method, path: c.path, body: buildBody(this.config.mapping, item.lead), headers, purpose: 'push' });
    const leadId = item.lead.leadId;
    if (res.status >= 200 && res.status < 300) {
      const id = readResponsePath(res.body, c.idPath);
      if (!isId(id)) {
        // The CRM said yes but not in the shape we know: never count it as delivered.
        throw new DeliveryError('contract', `create answered ${res.status} without an id at '${c.idPath}' (the response shape changed?)`, {
          status: res.status,
          uncertain: true,
        });
      }
      return { leadId, status: 'delivered', crmId: String(id) };
    }
    const dup = c.duplicate;
    if (dup && res.status === dup.status && (!dup.match || String(readResponsePath(res.body, dup.match.path)) === String(dup.match.equals))) {
      const id = readResponsePath(res.body, dup.idPath);
      if (isId(id)) return { leadId, status: 'delivered', crmId: String(id), existing: true };
      // "Already exists" without saying which record: find it, so the lead is counted with its id.
      const found = await this.findExisting(item.lead);
      if (found) return { leadId, status: 'delivered', crmId: found.crmId, existing: true };
      throw new DeliveryError('contract', `create answered "already exists" (HTTP ${res.status}) but ${this.s.lookup ? 'the lookup does not find the lead' : 'settings.lookup is not configured to find it'}`, {
        status: res.status,
      });
    }
    const kind = failureKind(res.status);
    if (kind === 'rejected') return { leadId, status: 'rejected', reason: reasonOf(res, c.errorPath), httpStatus: res.status };
    throwForStatus(res, 'create', c.errorPath);
  }

  private async createBatch(items: PushItem[]): Promise<PushOutcome[]> {
    const b = this.s.batch!;
    const bodies = items.map((i) => buildBody(this.config.mapping, i.lead));
    const res = await this.send({ method: 'POST', path: b.path, body: b.itemsField ? { [b.itemsField]: bodies } : bodies, purpose: 'push' });
    if (res.status < 200 || res.status >= 300) {
      // A whole-batch rejection (e.g. 400/413) is not about one lead: fall back to one request per lead,
      // so each lead gets its own outcome and the good ones still arrive.
      if (res.status >= 400 && failureKind(res.status) === 'rejected') {
        this.ctx.log.warn({ clientId: this.ctx.clientId, status: res.status, size: items.length }, 'batch create rejected as a whole; sending one by one');
        const out: PushOutcome[] = [];
        for (const item of items) out.push(await this.createOne(item));
        return out;
      }
      throwForStatus(res, 'batch create', this.s.create.errorPath);
    }
    const results = readResponsePath(res.body, b.resultsPath);
    if (!Array.isArray(results) || results.length !== items.length) {
      throw new DeliveryError('contract', `batch create answered ${res.status} without ${items.length} results at '${b.resultsPath}' (the response shape changed?)`, {
        status: res.status,
        uncertain: true,
      });
    }
    const matched = matchBatchResults(
      items.map((i) => i.lead.leadId),
      results,
      b.resultKeyPath,
    );
    return items.map((item, i): PushOutcome => {
      const r = matched[i];
      const leadId = item.lead.leadId;
      const id = readResponsePath(r, b.resultIdPath);
      const err = readResponsePath(r, b.resultErrorPath);
      if (isId(id) && (err === undefined || err === null)) {
        const existing = b.resultStatusPath && b.duplicateValue !== undefined ? readResponsePath(r, b.resultStatusPath) === b.duplicateValue : false;
        return { leadId, status: 'delivered', crmId: String(id), existing };
      }
      if (err !== undefined && err !== null) {
        return { leadId, status: 'rejected', reason: `batch item rejected: ${typeof err === 'string' ? err : JSON.stringify(err)}`.slice(0, 600), httpStatus: res.status };
      }
      throw new DeliveryError('contract', `batch result for lead ${leadId} has neither an id at '${b.resultIdPath}' nor an error at '${b.resultErrorPath}'`, {
        status: res.status,
        uncertain: true,
      });
    });
  }

  /** Sends with auth (chosen after the rate limiter); after a 401, lets the auth session recover once and retries once. */
  private async send(req: Omit<CrmRequest, 'auth'>): Promise<CrmResponse> {
    let used: Record<string, string> = {};
    const withAuth = (): CrmRequest => ({
      ...req,
      auth: async () => {
        used = await this.auth.headers();
        return used;
      },
    });
    let res = await this.ctx.http.request(withAuth());
    if (res.status === 401 && (await this.auth.recover(used))) {
      this.ctx.log.info({ clientId: this.ctx.clientId }, 'crm answered 401; credentials renewed, retrying once');
      res = await this.ctx.http.request(withAuth());
    }
    if (res.status === 401) {
      // Never the CRM's words here: a client-level reason reaches logs and status output.
      throw new DeliveryError('auth', 'the CRM refused our credentials (HTTP 401)', { status: 401 });
    }
    return res;
  }
}

function isId(v: unknown): v is string | number {
  return (typeof v === 'string' && v.length > 0) || (typeof v === 'number' && Number.isFinite(v));
}
