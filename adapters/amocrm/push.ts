import type { AdapterContext, PushItem, PushOutcome } from '../types';
import { DeliveryError, isDeliveryError } from '../../src/domain/errors';
import { fieldValues, type AmoApi, type ComplexResult } from './api';
import type { ValidationErrors } from './classify';
import { toComplexBatch } from './mapping';
import type { AmoMapping, AmoSettings } from './settings';

/**
 * Delivery of one batch into amoCRM, lead by lead in outcome, request by request on the wire:
 *
 *  1. leads whose earlier attempt had an unknown outcome are looked up by their external id first;
 *     found ones are delivered (existing) and never created again;
 *  2. the rest go in complex requests of at most the batch size;
 *  3. a 400 with validation-errors names the bad leads by request_id: they are rejected with
 *     amoCRM's code, path and detail, and the others are sent again (a 400 creates nothing);
 *  4. a 504 from amoCRM's gateway may or may not have created the batch: the leads are looked up,
 *     and the ones not found are sent again in halves (amoCRM's advice for 504: smaller batches).
 *
 * Whole-request problems are thrown as DeliveryError for the runtime (pause, retry). Once a request
 * of this batch has created leads, a later failure no longer throws — the created leads must keep
 * their outcome — and the remaining leads come back as `transient` (their retry looks them up).
 */

/** After a 504, batches stay smaller for this long before trying the configured size again. */
const SHRINK_FOR_MS = 10 * 60_000;
/** Lookup URLs stay well under the 8 KB request-line limit of common gateways. */
const MAX_LOOKUP_CHARS = 3_000;

export class AmoPusher {
  private sizeCap: number;
  private capUntil = 0;
  /** Set when the account ignores filter[custom_fields_values] (filters are not on every account). */
  private filterUnavailable = false;

  constructor(
    private readonly api: AmoApi,
    private readonly settings: AmoSettings,
    private readonly mapping: AmoMapping,
    private readonly batchSize: number,
    private readonly ctx: AdapterContext,
  ) {
    this.sizeCap = batchSize;
  }

  async push(items: PushItem[]): Promise<PushOutcome[]> {
    const out = new Map<string, PushOutcome>();
    const run = { created: false };
    try {
      let toCreate = items;
      const uncertain = items.filter((i) => i.uncertain);
      if (uncertain.length > 0) {
        const found = await this.lookup(uncertain.map((i) => i.lead.leadId));
        for (const item of uncertain) {
          const crmId = found.get(item.lead.leadId);
          if (crmId !== undefined) out.set(item.lead.leadId, { leadId: item.lead.leadId, status: 'delivered', crmId, existing: true });
        }
        toCreate = items.filter((i) => !out.has(i.lead.leadId));
        if (found.size > 0) this.ctx.log.info({ clientId: this.ctx.clientId, found: found.size, lookedUp: uncertain.length }, 'leads with an unknown earlier outcome were already in amoCRM');
      }
      const cap = this.currentCap();
      for (let i = 0; i < toCreate.length; i += cap) await this.create(toCreate.slice(i, i + cap), out, run);
    } catch (err) {
      if (!isDeliveryError(err)) throw err;
      if (!run.created) {
        // Nothing was created by this call: the runtime decides (pause, retry). Leads that were
        // uncertain stay so on their jobs, so their retry looks them up again.
        throw err;
      }
      for (const item of items) {
        if (out.has(item.lead.leadId)) continue;
        out.set(item.lead.leadId, {
          leadId: item.lead.leadId,
          status: 'transient',
          reason: err.message,
          ...(err.retryAfterMs !== undefined ? { retryAfterMs: err.retryAfterMs } : {}),
          ...(err.status !== undefined ? { httpStatus: err.status } : {}),
        });
      }
    }
    return items.map((i) => out.get(i.lead.leadId) as PushOutcome);
  }

  /** External id → amoCRM lead id, for the leads that exist. */
  async lookup(leadIds: string[]): Promise<Map<string, string>> {
    const fieldId = this.mapping.fields.externalId;
    const found = new Map<string, number>();
    const note = (leadId: string, crmId: number) => {
      const prev = found.get(leadId);
      // Several leads with one external id (made by hand, or before this adapter): the oldest is the original.
      if (prev === undefined || crmId < prev) found.set(leadId, crmId);
    };
    let pending = [...new Set(leadIds)];
    if (!this.filterUnavailable) {
      const left: string[] = [];
      for (const chunk of lookupChunks(pending)) {
        const leads = this.filterUnavailable ? null : await this.api.leadsByFieldFilter(fieldId, chunk);
        if (leads === null) {
          if (!this.filterUnavailable) {
            this.filterUnavailable = true;
            this.ctx.log.warn({ clientId: this.ctx.clientId, fieldId }, 'amoCRM ignores filter[custom_fields_values] on this account; looking leads up with query= and an exact check instead');
          }
          left.push(...chunk);
          continue;
        }
        const wanted = new Set(chunk);
        for (const lead of leads) for (const v of fieldValues(lead, fieldId)) if (wanted.has(v)) note(v, lead.id);
      }
      pending = left;
    }
    for (const leadId of pending) {
      // Full-text search is fuzzy ("lead-1" also finds "lead-10"): only an exact field value counts.
      for (const lead of await this.api.leadsByQuery(leadId)) if (fieldValues(lead, fieldId).includes(leadId)) note(leadId, lead.id);
    }
    return new Map([...found].map(([k, v]) => [k, String(v)]));
  }

  private currentCap(): number {
    if (this.sizeCap < this.batchSize && this.ctx.now() >= this.capUntil) this.sizeCap = this.batchSize;
    return this.sizeCap;
  }

  private async create(chunk: PushItem[], out: Map<string, PushOutcome>, run: { created: boolean }): Promise<void> {
    const body = toComplexBatch(
      chunk.map((i) => i.lead),
      this.settings,
      this.mapping,
    );
    const r = await this.api.createComplex(body);
    switch (r.kind) {
      case 'created': {
        const byIndex = matchResults(r.results, chunk.length);
        run.created = true;
        chunk.forEach((item, i) => {
          const res = byIndex[i];
          out.set(item.lead.leadId, {
            leadId: item.lead.leadId,
            status: 'delivered',
            crmId: String(res.id),
            ...(res.merged ? { existing: true } : {}),
            ...(res.contact_id ? { refs: { contactId: String(res.contact_id) } } : {}),
          });
        });
        return;
      }
      case 'invalid': {
        const bad = rejectedByIndex(r.groups, chunk.length);
        const rest: PushItem[] = [];
        chunk.forEach((item, i) => {
          const errors = bad.get(i);
          if (!errors) return void rest.push(item);
          out.set(item.lead.leadId, rejection(item.lead.leadId, errors));
        });
        this.ctx.log.warn({ clientId: this.ctx.clientId, rejected: bad.size, resent: rest.length }, 'amoCRM rejected leads of a batch; sending the others again');
        // The 400 created nothing, so the others go again, without the rejected ones.
        if (rest.length > 0) await this.create(rest, out, run);
        return;
      }
      case 'gateway-timeout': {
        this.ctx.log.warn({ clientId: this.ctx.clientId, size: chunk.length }, 'amoCRM answered 504 to a batch; looking its leads up, then sending the rest in halves');
        const found = await this.lookup(chunk.map((i) => i.lead.leadId));
        const rest: PushItem[] = [];
        for (const item of chunk) {
          const crmId = found.get(item.lead.leadId);
          if (crmId !== undefined) out.set(item.lead.leadId, { leadId: item.lead.leadId, status: 'delivered', crmId, existing: true });
          else rest.push(item);
        }
        if (found.size > 0) run.created = true;
        if (rest.length === 0) return;
        if (chunk.length === 1) {
          // The gateway's words go to crmDetail (kept on the job), never into the message that reaches logs and status.
          throw new DeliveryError('transient', 'POST /api/v4/leads/complex failed: HTTP 504 (even for a single lead)', { status: 504, uncertain: true, crmDetail: r.reason });
        }
        const half = Math.ceil(chunk.length / 2);
        this.sizeCap = Math.min(this.sizeCap, half);
        this.capUntil = this.ctx.now() + SHRINK_FOR_MS;
        for (let i = 0; i < rest.length; i += half) await this.create(rest.slice(i, i + half), out, run);
        return;
      }
    }
  }
}

/** The batch index a request_id names: exactly the strings we sent ('0'…'49'). */
function indexOf(requestId: string, size: number): number | undefined {
  const i = Number(requestId);
  return Number.isInteger(i) && i >= 0 && i < size && String(i) === requestId ? i : undefined;
}

/** Result of each batch index; anything that does not cover the batch exactly once is a contract breach. */
export function matchResults(results: ComplexResult[], size: number): ComplexResult[] {
  const byIndex: Array<ComplexResult | undefined> = new Array(size).fill(undefined);
  for (const r of results) {
    for (const rid of r.request_id) {
      const i = indexOf(rid, size);
      if (i === undefined || byIndex[i]) {
        throw new DeliveryError('contract', `POST /api/v4/leads/complex answered with request_id '${shown(rid)}', which does not match one of the ${size} leads sent`, {
          uncertain: true,
        });
      }
      byIndex[i] = r;
    }
  }
  const missing = byIndex.findIndex((r) => r === undefined);
  if (missing >= 0) {
    throw new DeliveryError('contract', `POST /api/v4/leads/complex answered without a result for request_id '${missing}' (${results.length} results for ${size} leads)`, {
      uncertain: true,
    });
  }
  return byIndex as ComplexResult[];
}

type Groups = ValidationErrors['validation-errors'];

export function rejectedByIndex(groups: Groups, size: number): Map<number, Groups[number]['errors']> {
  const bad = new Map<number, Groups[number]['errors']>();
  for (const g of groups) {
    const i = indexOf(g.request_id, size);
    if (i === undefined) {
      // We cannot tell which lead amoCRM means: never guess, never resend blindly.
      throw new DeliveryError('contract', `amoCRM answered 400 with validation-errors for request_id '${shown(g.request_id)}', which is not one of the ${size} leads sent`, {
        status: 400,
      });
    }
    bad.set(i, [...(bad.get(i) ?? []), ...g.errors]);
  }
  return bad;
}

export function rejection(leadId: string, errors: Groups[number]['errors']): PushOutcome {
  const first = errors[0];
  const reason = errors.length
    ? errors.map((e) => `${e.path || '(lead)'}: ${e.detail} (${e.code})`).join('; ')
    : 'amoCRM rejected the lead without naming a field';
  return {
    leadId,
    status: 'rejected',
    reason: reason.slice(0, 1_000),
    ...(first ? { code: first.code, path: first.path } : {}),
    httpStatus: 400,
  };
}

/**
 * A value amoCRM sent back, as a client-level message may quote it: ours are '0'…'49', and anything
 * else (which could be any text the CRM chose to echo) is cut to a few plain characters.
 */
function shown(v: string): string {
  const plain = v.replace(/[^\w.-]/g, '?');
  return plain.length > 20 ? `${plain.slice(0, 20)}…` : plain;
}

/** Splits lead ids so each filter URL stays short. */
export function lookupChunks(ids: string[]): string[][] {
  const chunks: string[][] = [];
  let cur: string[] = [];
  let len = 0;
  for (const id of ids) {
    const cost = id.length + 45; // `&filter[custom_fields_values][NNNNNN][]=` once encoded
    if (cur.length > 0 && len + cost > MAX_LOOKUP_CHARS) {
      chunks.push(cur);
      cur = [];
      len = 0;
    }
    cur.push(id);
    len += cost;
  }
  if (cur.length) chunks.push(cur);
  return chunks;
}
