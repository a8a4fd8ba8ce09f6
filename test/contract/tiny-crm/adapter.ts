import { z } from 'zod';
import type { AdapterConfig, AdapterContext, AdapterDefinition, CrmAdapter, CrmRequest, OnlineCheckReport, PushItem, PushOutcome } from '../../../adapters/types';
import { DeliveryError, isDeliveryError } from '../../../src/domain/errors';
import { httpUrl } from '../../../src/domain/http-url';
import type { LeadV1 } from '../../../src/domain/lead';
import { secretRef } from '../../../src/domain/secret-ref';
import { snippet } from '../../../src/domain/text';

/**
 * The "tiny" CRM kind: a JSON-RPC 2.0 CRM (fake-tiny-crm.ts) behind `POST /rpc`, API key in
 * `X-Api-Key`. It is the proof that a CRM kind is one folder plus one `registerAdapter(...)` call:
 * it imports only the adapter contract (adapters/types) and the domain (src/domain), exactly what a
 * folder under adapters/ may import.
 *
 * Client file:
 *   adapter: tiny
 *   settings: { url: https://crm.example, apiKey: env:TINY_KEY, batchSize?: 1..20, timeoutMs? }
 *   mapping:  { pipeline: new }
 */

const MAX_BATCH = 20;

export const TinySettingsSchema = z
  .object({
    url: httpUrl('must be the http(s) origin of the CRM, e.g. https://crm.example.com'),
    apiKey: secretRef,
    batchSize: z.number().int().min(1).max(MAX_BATCH, `must be at most ${MAX_BATCH}: lead.create takes no more`).default(MAX_BATCH),
    timeoutMs: z.number().int().positive().max(120_000).optional(),
  })
  .strict();
export type TinySettings = z.output<typeof TinySettingsSchema>;

export const TinyMappingSchema = z.object({ pipeline: z.string().trim().min(1, 'must name the pipeline new leads go to') }).strict();
export type TinyMapping = z.output<typeof TinyMappingSchema>;

// The answers we read; the fields we rely on must be there, the rest is ignored.
const Envelope = z.union([z.object({ result: z.unknown() }).refine((e) => e.result !== undefined), z.object({ error: z.object({ code: z.number(), message: z.string() }) })]);
const CreateResult = z.object({
  results: z.array(
    z.union([
      z.object({ external_id: z.string(), id: z.string().min(1), duplicate: z.boolean().optional() }),
      z.object({ external_id: z.string(), error: z.object({ code: z.string(), message: z.string() }) }),
    ]),
  ),
});
const FindResult = z.object({ leads: z.array(z.object({ id: z.string().min(1), external_id: z.string() })) });
const PingResult = z.object({ pong: z.literal(true) });
const PipelinesResult = z.object({ pipelines: z.array(z.string()) });

export const tinyAdapter: AdapterDefinition<TinySettings, TinyMapping> = {
  kind: 'tiny',
  settingsSchema: TinySettingsSchema,
  mappingSchema: TinyMappingSchema,
  capabilities: (s) => ({ maxBatchSize: s.batchSize, statusPolling: 'none' }),
  baseUrl: (s) => s.url,
  timeoutMs: (s) => s.timeoutMs,
  create: (config, ctx) => new TinyAdapter(config, ctx),
};

class TinyAdapter implements CrmAdapter {
  readonly kind = 'tiny';
  readonly capabilities;
  private seq = 0;

  constructor(
    private readonly config: AdapterConfig<TinySettings, TinyMapping>,
    private readonly ctx: AdapterContext,
  ) {
    this.capabilities = tinyAdapter.capabilities(config.settings);
  }

  async push(items: PushItem[]): Promise<PushOutcome[]> {
    const out: PushOutcome[] = [];
    const toCreate: PushItem[] = [];
    for (const item of items) {
      // An earlier attempt may have created it: look before creating again.
      const found = item.uncertain ? await this.findExisting(item.lead) : null;
      if (found) out.push({ leadId: item.lead.leadId, status: 'delivered', crmId: found.crmId, existing: true });
      else toCreate.push(item);
    }
    for (let i = 0; i < toCreate.length; i += this.config.batchSize) {
      const chunk = toCreate.slice(i, i + this.config.batchSize);
      try {
        out.push(...(await this.create(chunk)));
      } catch (err) {
        // Leads of earlier chunks are in the CRM and keep their outcome; the rest are retried (looked up first).
        if (!isDeliveryError(err) || !out.some((o) => o.status === 'delivered')) throw err;
        for (const item of toCreate.slice(i)) out.push({ leadId: item.lead.leadId, status: 'transient', reason: err.message, httpStatus: err.status });
        break;
      }
    }
    return out;
  }

  async findExisting(lead: LeadV1): Promise<{ crmId: string } | null> {
    const r = FindResult.safeParse(await this.rpc('lead.find', { external_id: lead.leadId }, 'lookup'));
    if (!r.success) throw shapeError('lead.find', false);
    // lead.find is a prefix search (x-7 also finds x-77): only an exact id is this lead.
    const hit = r.data.leads.find((l) => l.external_id === lead.leadId);
    return hit ? { crmId: hit.id } : null;
  }

  async ping(): Promise<void> {
    if (!PingResult.safeParse(await this.rpc('ping', {}, 'probe')).success) throw shapeError('ping', false);
  }

  async checkOnline(): Promise<OnlineCheckReport> {
    const r = PipelinesResult.safeParse(await this.rpc('pipelines.list', {}, 'admin'));
    if (!r.success) throw shapeError('pipelines.list', false);
    const wanted = this.config.mapping.pipeline;
    const ok = r.data.pipelines.includes(wanted);
    return {
      description: [`tiny CRM at ${this.config.settings.url}`, `pipelines (mapping.pipeline): ${r.data.pipelines.join(', ')}`],
      checks: [ok ? { level: 'ok', what: `mapping.pipeline ${wanted}`, message: 'exists' } : { level: 'missing', what: `mapping.pipeline ${wanted}`, message: 'no such pipeline' }],
    };
  }

  private async create(chunk: PushItem[]): Promise<PushOutcome[]> {
    const leads = chunk.map(({ lead }) => ({
      external_id: lead.leadId,
      name: [lead.candidate.firstName, lead.candidate.lastName].filter(Boolean).join(' '),
      phone: lead.candidate.phone,
      email: lead.candidate.email,
      vacancy: lead.vacancy?.title,
    }));
    const parsed = CreateResult.safeParse(await this.rpc('lead.create', { pipeline: this.config.mapping.pipeline, leads }, 'push'));
    if (!parsed.success) throw shapeError('lead.create', true);
    const byId = new Map(parsed.data.results.map((r) => [r.external_id, r]));
    if (byId.size !== chunk.length || chunk.some((i) => !byId.has(i.lead.leadId))) {
      throw new DeliveryError('contract', `lead.create answered ${parsed.data.results.length} results that do not match the ${chunk.length} leads sent`, { uncertain: true });
    }
    return chunk.map(({ lead }): PushOutcome => {
      const r = byId.get(lead.leadId)!;
      if ('error' in r) return { leadId: lead.leadId, status: 'rejected', reason: `${r.error.code}: ${r.error.message}`, code: r.error.code };
      return { leadId: lead.leadId, status: 'delivered', crmId: r.id, ...(r.duplicate ? { existing: true } : {}) };
    });
  }

  /** One JSON-RPC call; whole-request failures become typed errors, the CRM's words only in crmDetail. */
  private async rpc(method: string, params: Record<string, unknown>, purpose: CrmRequest['purpose']): Promise<unknown> {
    const res = await this.ctx.http.request({
      method: 'POST',
      path: '/rpc',
      body: { jsonrpc: '2.0', id: ++this.seq, method, params },
      auth: async () => ({ 'X-Api-Key': await this.apiKey() }),
      purpose,
    });
    const crmDetail = `HTTP ${res.status}: ${snippet(res.text || '(empty body)', 300)}`;
    const opts = { status: res.status, retryAfterMs: res.retryAfterMs, crmDetail };
    if (res.status === 401 || res.status === 403) throw new DeliveryError('auth', `${method}: the tiny CRM refused the API key (HTTP ${res.status})`, opts);
    if (res.status === 408 || res.status >= 500) throw new DeliveryError('transient', `${method} failed: HTTP ${res.status}`, { ...opts, uncertain: purpose === 'push' });
    if (res.status < 200 || res.status >= 300) throw new DeliveryError('contract', `${method} answered HTTP ${res.status}: the CRM does not accept the request as we send it`, opts);
    const env = Envelope.safeParse(res.body);
    if (!env.success) throw shapeError(method, purpose === 'push');
    if ('error' in env.data) {
      // A JSON-RPC error in a 200: the call was refused as a whole (bad method, bad params); nothing was created.
      throw new DeliveryError('contract', `${method} answered JSON-RPC error ${env.data.error.code}`, { ...opts, code: String(env.data.error.code) });
    }
    return env.data.result;
  }

  /** Read at every use, so a rotated secret is picked up; unreadable means the client's config is wrong. */
  private async apiKey(): Promise<string> {
    try {
      return await this.ctx.secrets.resolve(this.config.settings.apiKey);
    } catch (err) {
      throw new DeliveryError('config', `the API key cannot be read: ${(err as Error).message}`, { cause: err });
    }
  }
}

function shapeError(method: string, uncertain: boolean): DeliveryError {
  return new DeliveryError('contract', `${method} answered 2xx in a shape we do not know (the API may have changed)`, { uncertain });
}
