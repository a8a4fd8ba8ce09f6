import type { AmoLead, AmoTag, ForeignLeadOptions } from './types';
import { emptyRequest, hal, limitExceeded, validationFailed, unixNow, type Reply, type RequestContext } from './http';
import { LOST, WON, type Catalog } from './catalog';
import { ContactStore, duplicateKeys } from './contacts';
import type { EventLog } from './events';
import {
  renderCustomField,
  validateNewLeads,
  validatePatches,
  type LeadInput,
  type LeadPatch,
  type TagRef,
  type ValidationEnv,
} from './validation';

export interface ComplexResult {
  id: number;
  contact_id: number | null;
  company_id: number | null;
  request_id: string[];
  merged: boolean;
}

const COMPLEX_MAX = 50;
const BATCH_MAX = 250;

/** What a status change was, for the webhook emitter. */
export interface StatusChange {
  lead: AmoLead;
  oldStatusId: number;
  oldPipelineId: number;
}

export class LeadStore {
  private items = new Map<number, AmoLead>();
  private tags = new Map<string, AmoTag>();
  private nextLeadId = 30_000_001;
  private nextTagId = 70_001;
  created = 0;
  merged = 0;
  duplicateControl: boolean;
  /** Called after every status change, whoever made it (API PATCH or setStatus). */
  onStatusChanged: (change: StatusChange) => void = () => undefined;

  constructor(
    private readonly catalog: Catalog,
    readonly contacts: ContactStore,
    private readonly events: EventLog,
    duplicateControl: boolean,
  ) {
    this.duplicateControl = duplicateControl;
  }

  all(): AmoLead[] {
    return [...this.items.values()];
  }

  get(id: number): AmoLead | undefined {
    return this.items.get(id);
  }

  private get env(): ValidationEnv {
    return {
      catalog: this.catalog,
      contactExists: (id) => this.contacts.get(id) !== undefined,
      tagExists: (id) => [...this.tags.values()].some((t) => t.id === id),
      leadPipeline: (id) => this.items.get(id)?.pipeline_id,
    };
  }

  complex(ctx: RequestContext): Reply {
    const batch = batchOf(ctx, COMPLEX_MAX);
    if (!Array.isArray(batch)) return batch;
    const v = validateNewLeads(batch, 'complex', this.env);
    if (!v.ok) return validationFailed(v.groups);
    // Duplicate control compares with what existed before this request only.
    const existing = this.duplicateControl ? this.contacts.duplicateIndex() : undefined;
    const firstNewId = this.nextLeadId;
    const results: ComplexResult[] = [];
    const mergedInto = new Map<number, ComplexResult>();
    for (const input of v.items) {
      const ref = input.contacts[0];
      let contactId: number | null = ref?.kind === 'existing' ? ref.id : null;
      if (ref?.kind === 'new') {
        const match = existing && duplicateKeys(ref.cf).map((k) => existing.get(k)).find((id) => id !== undefined);
        const target = match !== undefined ? this.openLeadOf(match, firstNewId) : undefined;
        if (match !== undefined && target) {
          this.mergeInto(target, input, ctx.nowMs);
          const prev = mergedInto.get(target.id);
          if (prev) prev.request_id.push(input.requestId);
          else {
            const r: ComplexResult = { id: target.id, contact_id: match, company_id: null, request_id: [input.requestId], merged: true };
            mergedInto.set(target.id, r);
            results.push(r);
          }
          continue;
        }
        contactId = match ?? this.contacts.create(ref, ctx.nowMs).id;
      }
      const lead = this.insert(input, contactId === null ? [] : [contactId], ctx.nowMs);
      results.push({ id: lead.id, contact_id: contactId, company_id: null, request_id: [input.requestId], merged: false });
    }
    return hal(results);
  }

  createPlain(ctx: RequestContext): Reply {
    const batch = batchOf(ctx, BATCH_MAX);
    if (!Array.isArray(batch)) return batch;
    const v = validateNewLeads(batch, 'plain', this.env);
    if (!v.ok) return validationFailed(v.groups);
    const out = v.items.map((input) => {
      const lead = this.insert(input, input.contacts.map((c) => (c.kind === 'existing' ? c.id : 0)), ctx.nowMs);
      return { id: lead.id, request_id: input.requestId, _links: lead._links };
    });
    return hal({ _links: { self: { href: `${ctx.baseUrl}/api/v4/leads` } }, _embedded: { leads: out } });
  }

  patch(ctx: RequestContext, id?: number): Reply {
    let batch: unknown[];
    if (id !== undefined) {
      if (ctx.body === undefined || ctx.bodyKind === 'invalid-json') return emptyRequest();
      batch = [ctx.body];
    } else {
      const b = batchOf(ctx, BATCH_MAX);
      if (!Array.isArray(b)) return b;
      batch = b;
    }
    const v = validatePatches(batch, this.env, id);
    if (!v.ok) return validationFailed(v.groups);
    const out = v.items.map((p) => {
      const lead = this.applyPatch(p, ctx.nowMs);
      return { id: lead.id, updated_at: lead.updated_at, request_id: p.requestId, _links: lead._links };
    });
    if (id !== undefined) {
      const { request_id: _ignored, ...single } = out[0];
      return hal(single);
    }
    return hal({ _links: { self: { href: `${ctx.baseUrl}/api/v4/leads` } }, _embedded: { leads: out } });
  }

  /** Moves a lead like a manager would; a no-op move writes no event, as in amoCRM. */
  setStatus(leadId: number, statusId: number, pipelineId: number | undefined, nowMs: number): void {
    const lead = this.items.get(leadId);
    if (!lead) throw new Error(`fake amoCRM: no lead ${leadId}`);
    const current = this.catalog.pipeline(lead.pipeline_id);
    const pipeline =
      pipelineId !== undefined
        ? this.catalog.pipeline(pipelineId)
        : current && this.catalog.hasStatus(current, statusId)
          ? current
          : this.catalog.pipelineOfStatus(statusId);
    if (!pipeline || !this.catalog.hasStatus(pipeline, statusId)) {
      throw new Error(`fake amoCRM: status ${statusId} is not in pipeline ${pipelineId ?? '(any)'}`);
    }
    this.changeStatus(lead, pipeline.id, statusId, nowMs);
  }

  private changeStatus(lead: AmoLead, pipelineId: number, statusId: number, nowMs: number): void {
    if (lead.pipeline_id === pipelineId && lead.status_id === statusId) return;
    const before = [{ lead_status: { id: lead.status_id, pipeline_id: lead.pipeline_id } }];
    lead.pipeline_id = pipelineId;
    lead.status_id = statusId;
    lead.closed_at = statusId === WON || statusId === LOST ? unixNow(nowMs) : null;
    lead.updated_at = unixNow(nowMs);
    this.events.add('lead_status_changed', lead.id, before, [{ lead_status: { id: statusId, pipeline_id: pipelineId } }], nowMs);
    this.onStatusChanged({ lead, oldStatusId: before[0].lead_status.id, oldPipelineId: before[0].lead_status.pipeline_id });
  }

  /** A lead typed in by someone else; bad options throw with amoCRM's own validation errors. */
  createForeign(opts: ForeignLeadOptions, nowMs: number): AmoLead {
    const payload: Record<string, unknown> = {
      name: opts.name,
      pipeline_id: opts.pipelineId,
      status_id: opts.statusId,
      created_at: opts.createdAt,
      custom_fields_values: Object.entries(opts.fields ?? {}).map(([id, value]) => ({ field_id: Number(id), values: [{ value }] })),
    };
    const v = validateNewLeads([payload], 'plain', this.env);
    if (!v.ok) throw new Error(`fake amoCRM: createForeignLead: ${JSON.stringify(v.groups[0].errors)}`);
    return this.insert(v.items[0], [], nowMs, opts.createdBy ?? 1);
  }

  private insert(input: LeadInput, contactIds: number[], nowMs: number, createdBy = 0): AmoLead {
    const id = this.nextLeadId++;
    const now = unixNow(nowMs);
    const lead: AmoLead = {
      id,
      name: input.name ?? `Сделка #${id}`,
      price: input.price ?? 0,
      responsible_user_id: 1,
      group_id: 0,
      status_id: input.statusId,
      pipeline_id: input.pipelineId,
      loss_reason_id: null,
      created_by: createdBy,
      updated_by: createdBy,
      created_at: input.createdAt ?? now,
      updated_at: input.updatedAt ?? now,
      closed_at: input.statusId === WON || input.statusId === LOST ? now : null,
      closest_task_at: null,
      is_deleted: false,
      custom_fields_values: input.cf.length ? structuredClone(input.cf) : null,
      score: null,
      account_id: this.catalog.accountId,
      labor_cost: null,
      _links: { self: { href: `${this.catalog.entityBase}/api/v4/leads/${id}` } },
      _embedded: {
        tags: this.resolveTags(input.tags),
        companies: [],
        contacts: contactIds.map((cid, i) => ({ id: cid, is_main: i === 0 })),
      },
    };
    this.items.set(id, lead);
    for (const cid of contactIds) this.contacts.linkLead(cid, id);
    this.created++;
    this.events.add('lead_added', id, [], [{ lead_status: { id: lead.status_id, pipeline_id: lead.pipeline_id } }], nowMs, createdBy);
    return lead;
  }

  /** The lead duplicate control merges into: the contact's newest open lead that predates this request. */
  private openLeadOf(contactId: number, before: number): AmoLead | undefined {
    const ids = this.contacts.get(contactId)?._embedded.leads.map((l) => l.id).filter((id) => id < before) ?? [];
    return ids
      .map((id) => this.items.get(id))
      .filter((l): l is AmoLead => !!l && l.status_id !== WON && l.status_id !== LOST)
      .sort((a, b) => b.id - a.id)[0];
  }

  private mergeInto(lead: AmoLead, input: LeadInput, nowMs: number): void {
    // A merge fills gaps and never overwrites what the manager already has.
    const have = new Set((lead.custom_fields_values ?? []).map((f) => f.field_id));
    const added = input.cf.filter((f) => !have.has(f.field_id));
    if (added.length) lead.custom_fields_values = [...(lead.custom_fields_values ?? []), ...structuredClone(added)];
    lead._embedded.tags = uniqueTags([...lead._embedded.tags, ...this.resolveTags(input.tags)]);
    lead.updated_at = unixNow(nowMs);
    this.merged++;
  }

  private applyPatch(p: LeadPatch, nowMs: number): AmoLead {
    const lead = this.items.get(p.id) as AmoLead;
    if (p.name !== undefined) lead.name = p.name;
    if (p.price !== undefined) lead.price = p.price;
    if (p.pipelineId !== undefined) this.changeStatus(lead, p.pipelineId, p.statusId ?? lead.status_id, nowMs);
    if (p.closedAt !== undefined) lead.closed_at = p.closedAt;
    if (p.cf) {
      let cf = lead.custom_fields_values ?? [];
      for (const u of p.cf) {
        cf = cf.filter((f) => f.field_id !== u.field.id);
        if (u.values) cf.push(renderCustomField({ field: u.field, values: u.values }));
      }
      lead.custom_fields_values = cf.length ? cf : null;
    }
    // `_embedded.tags` on PATCH replaces the whole set — the pitfall §9 warns about.
    if (p.tagsReplace) lead._embedded.tags = this.resolveTags(p.tagsReplace);
    if (p.tagsAdd) lead._embedded.tags = uniqueTags([...lead._embedded.tags, ...this.resolveTags(p.tagsAdd)]);
    if (p.tagsDelete) {
      const del = this.resolveTags(p.tagsDelete).map((t) => t.id);
      lead._embedded.tags = lead._embedded.tags.filter((t) => !del.includes(t.id));
    }
    lead.updated_at = p.updatedAt ?? unixNow(nowMs);
    return lead;
  }

  private resolveTags(refs: TagRef[]): AmoTag[] {
    const out: AmoTag[] = [];
    for (const r of refs) {
      let tag = r.id !== undefined ? [...this.tags.values()].find((t) => t.id === r.id) : this.tags.get((r.name ?? '').toLowerCase());
      if (!tag && r.name !== undefined) {
        tag = { id: this.nextTagId++, name: r.name, color: null };
        this.tags.set(r.name.toLowerCase(), tag);
      }
      if (tag) out.push({ ...tag });
    }
    return uniqueTags(out);
  }
}

function uniqueTags(tags: AmoTag[]): AmoTag[] {
  return tags.filter((t, i) => tags.findIndex((x) => x.id === t.id) === i);
}

/** The request body as a batch array, or the error amoCRM gives for an empty or over-sized one. */
function batchOf(ctx: RequestContext, max: number): unknown[] | Reply {
  const body = ctx.body;
  if (body === undefined || ctx.bodyKind === 'invalid-json' || ctx.bodyKind === 'text') return emptyRequest();
  if (!Array.isArray(body)) return validationFailed([{ request_id: '0', errors: [{ code: 'InvalidType', path: '', detail: 'This value should be of type array.' }] }]);
  if (body.length === 0) return emptyRequest();
  if (body.length > max) return limitExceeded(max);
  return body;
}
