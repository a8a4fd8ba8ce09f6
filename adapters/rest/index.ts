import type { AdapterConfig, AdapterContext, AdapterDefinition, CrmAdapter, CrmRequest, CrmResponse, PushItem, PushOutcome } from '../types';
import { DeliveryError } from '../../src/domain/errors';
import type { LeadV1 } from '../../src/domain/lead';
import { createRestAuth, type RestAuth } from './auth';
import { failureKind, reasonOf, throwForStatus } from './classify';
import { BodyMappingSchema, buildBody, readResponsePath, type BodyMapping } from './mapping';
import { RestSettingsSchema, type RestSettings } from './settings';

/**
 * The generic REST adapter: an interpreter of the client file's `settings` and `mapping`.
 * It creates leads one per request, or in batches when the CRM has a batch endpoint, and looks a lead
 * up by its HRDrom id before re-creating it after an unknown outcome.
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
    this.auth = createRestAuth(this.s.auth, ctx);
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
    const res = await this.send({ method: 'GET', path: lookup.path, query: { [lookup.queryParam]: lead.leadId }, purpose: 'lookup' });
    if (res.status === 404) return null;
    if (res.status >= 400 && failureKind(res.status) === 'rejected') {
      // The CRM refuses the lookup itself: the lookup config is wrong, and without it we cannot tell
      // whether the lead exists. Pause the client rather than reject (or duplicate) its leads.
      throw new DeliveryError('contract', `lookup refused by the CRM: ${reasonOf(res)}; check settings.lookup`, { status: res.status });
    }
    if (res.status < 200 || res.status >= 300) throwForStatus(res, 'lookup');
    const items = readResponsePath(res.body, lookup.itemsPath);
    if (!Array.isArray(items)) {
      throw new DeliveryError('contract', `lookup response has no array at '${lookup.itemsPath}'`, { status: res.status });
    }
    if (items.length === 0) return null;
    const id = readResponsePath(items[0], lookup.idPath);
    if (!isId(id)) throw new DeliveryError('contract', `lookup result has no id at '${lookup.idPath}'`, { status: res.status });
    return { crmId: String(id) };
  }

  ping?: () => Promise<void> = async () => {
    const res = await this.send({ method: 'GET', path: this.s.ping!.path, purpose: 'probe' });
    if (res.status >= 400) throwForStatus(res, 'ping');
  };

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
          details: { uncertain: true },
        });
      }
      return { leadId, status: 'delivered', crmId: String(id) };
    }
    if (c.duplicate && res.status === c.duplicate.status) {
      const id = readResponsePath(res.body, c.duplicate.idPath);
      if (isId(id)) return { leadId, status: 'delivered', crmId: String(id), existing: true };
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
      throw new DeliveryError(
        'contract',
        `batch create answered ${res.status} without ${items.length} results at '${b.resultsPath}' (the response shape changed?)`,
        { status: res.status, details: { uncertain: true } },
      );
    }
    return items.map((item, i): PushOutcome => {
      const r: unknown = results[i];
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
      throw new DeliveryError('contract', `batch result ${i} has neither an id at '${b.resultIdPath}' nor an error at '${b.resultErrorPath}'`, {
        status: res.status,
        details: { uncertain: true },
      });
    });
  }

  /** Sends with auth; after a 401, lets the auth session recover once and retries once. */
  private async send(req: Omit<CrmRequest, 'headers'> & { headers?: Record<string, string> }): Promise<CrmResponse> {
    const attempt = async () => this.ctx.http.request({ ...req, headers: { ...(req.headers ?? {}), ...(await this.auth.headers()) } });
    let res = await attempt();
    if (res.status === 401 && (await this.auth.recover())) {
      this.ctx.log.info({ clientId: this.ctx.clientId }, 'crm answered 401; credentials renewed, retrying once');
      res = await attempt();
    }
    if (res.status === 401) {
      throw new DeliveryError('auth', `the CRM refused our credentials (HTTP 401): ${reasonOf(res)}`, { status: 401 });
    }
    return res;
  }
}

function isId(v: unknown): v is string | number {
  return (typeof v === 'string' && v.length > 0) || (typeof v === 'number' && Number.isFinite(v));
}
