/**
 * The candidate endpoints, with the quirks real home-made CRMs show:
 *
 *   POST /api/candidates         201 {id, external_id, status} | 422 validation_failed | duplicate (see below)
 *   POST /api/candidates/batch   {items:[…]} -> 200 {results:[{external_id, status:'created'|'duplicate'|'error', id?, errors?}]}
 *   GET  /api/candidates?external_id=X[&fields=a,b][&limit=n]   {items:[…]}
 *   GET  /api/candidates/:id
 *
 * - The lookup is a substring search by default (lookupMatch), so it can find several candidates.
 * - lookupRequiredParams: parameters the lookup refuses to run without (400 missing_parameter).
 * - `fields` keeps only the listed fields of each item; `limit` caps the number of items.
 * - A duplicate create answers 409 {error:'duplicate', id}, or with duplicateReply '400-not-unique'
 *   a GraphQL-style 400 without the id; in a batch that item is then an error result.
 * - batchResultOrder 'errors-first' lists refused items before the others (each result names its
 *   external_id, so only a client that matches by position is misled).
 */
import type { CandidateStore } from './store';
import { candidateView, externalOf, isPlainObject } from './store';
import { type Ctx, error, firstHeader, intParam, json, jsonObject, type Reply } from './reply';
import type { TimeFormat } from './types';

export interface CandidateRouteOptions {
  batchMaxSize: number;
  batchResultOrder: 'input' | 'errors-first';
  duplicateReply: '409-with-id' | '400-not-unique';
  lookupRequiredParams: Record<string, string>;
  timeFormat: TimeFormat;
}

const NOT_UNIQUE_ERROR = { message: 'external_id has to be unique', extensions: { code: 'RECORD_NOT_UNIQUE' } };

type BatchResult = { external_id: unknown; status: 'created' | 'duplicate' | 'error'; id?: string; errors?: unknown[] };

export class CandidateRoutes {
  /** Original 201 replies by Idempotency-Key. */
  private readonly idempotent = new Map<string, Reply>();

  constructor(
    private readonly store: CandidateStore,
    private readonly opts: CandidateRouteOptions,
  ) {}

  createOne(ctx: Ctx): Reply {
    const key = firstHeader(ctx.headers, 'idempotency-key');
    const previous = key ? this.idempotent.get(key) : undefined;
    if (previous) return { ...previous, headers: { ...previous.headers, 'Idempotent-Replayed': 'true' } };
    const body = jsonObject(ctx);
    if ('reply' in body) return body.reply;
    const result = this.store.create(body.value);
    switch (result.kind) {
      case 'invalid':
        return error(422, 'validation_failed', { errors: result.errors });
      case 'duplicate':
        return this.opts.duplicateReply === '400-not-unique'
          ? json(400, { errors: [NOT_UNIQUE_ERROR] })
          : error(409, 'duplicate', { id: result.existing.id });
      case 'created': {
        const c = result.candidate;
        const reply = json(201, { id: c.id, external_id: externalOf(c), status: c.status }, { Location: `/api/candidates/${encodeURIComponent(c.id)}` });
        if (key) this.idempotent.set(key, reply);
        return reply;
      }
    }
  }

  createBatch(ctx: Ctx): Reply {
    if (ctx.body.kind === 'invalid') return error(400, 'invalid_json');
    const body = ctx.body.kind === 'json' ? ctx.body.value : undefined;
    if (!isPlainObject(body) || !Array.isArray(body.items)) return error(400, 'bad_request');
    const items: unknown[] = body.items;
    if (items.length > this.opts.batchMaxSize) return error(413, 'batch_too_large', { max: this.opts.batchMaxSize });
    const results = items.map((item) => this.createItem(item));
    if (this.opts.batchResultOrder === 'errors-first') {
      return json(200, { results: [...results.filter((r) => r.status === 'error'), ...results.filter((r) => r.status !== 'error')] });
    }
    return json(200, { results });
  }

  private createItem(item: unknown): BatchResult {
    if (!isPlainObject(item)) return { external_id: null, status: 'error', errors: [{ field: 'item', message: 'must be an object' }] };
    const r = this.store.create(item);
    switch (r.kind) {
      case 'created':
        return { external_id: externalOf(r.candidate), id: r.candidate.id, status: 'created' };
      case 'duplicate':
        if (this.opts.duplicateReply === '400-not-unique') return { external_id: externalOf(r.existing), status: 'error', errors: [NOT_UNIQUE_ERROR] };
        return { external_id: externalOf(r.existing), id: r.existing.id, status: 'duplicate' };
      case 'invalid':
        return { external_id: item.external_id ?? null, status: 'error', errors: r.errors };
    }
  }

  list(ctx: Ctx): Reply {
    const q = ctx.query;
    for (const [parameter, expected] of Object.entries(this.opts.lookupRequiredParams)) {
      if (q[parameter] === undefined) return error(400, 'missing_parameter', { parameter });
      // Home-made servers tend to answer a wrong value with the same code as a missing one.
      if (q[parameter] !== expected) return error(400, 'missing_parameter', { parameter, message: `must be '${expected}'` });
    }
    const limit = intParam(q, 'limit', 1, Number.MAX_SAFE_INTEGER);
    if ('reply' in limit) return limit.reply;
    const found = q.external_id === undefined ? this.store.all() : this.store.findByExternalId(q.external_id);
    const fields = q.fields?.split(',').map((f) => f.trim()).filter(Boolean);
    const items = found.slice(0, limit.value).map((c) => {
      const view = candidateView(c, this.opts.timeFormat);
      return fields ? Object.fromEntries(fields.filter((f) => f in view).map((f) => [f, view[f]])) : view;
    });
    return json(200, { items });
  }

  getOne(ctx: Ctx): Reply {
    const c = ctx.id === undefined ? undefined : this.store.get(ctx.id);
    return c ? json(200, candidateView(c, this.opts.timeFormat)) : error(404, 'not_found');
  }
}
