import type { AmoLead } from './types';
import {
  hal,
  halPage,
  inRange,
  isReply,
  noContent,
  paging,
  qEntries,
  qGet,
  qInt,
  qList,
  qRange,
  qSplitList,
  type QueryValueOrUndef,
  type Reply,
  type RequestContext,
} from './http';
import { fieldText } from './contacts';
import type { LeadStore } from './leads';

type Predicate = (l: AmoLead) => boolean;

export function renderLead(lead: AmoLead, withContacts: boolean): object {
  const copy = structuredClone(lead);
  if (withContacts) return copy;
  const { tags, companies } = copy._embedded;
  return { ...copy, _embedded: { tags, companies } };
}

export function getLead(store: LeadStore, ctx: RequestContext, id: number): Reply {
  const lead = store.get(id);
  return lead ? hal(renderLead(lead, qSplitList(ctx.query.with).includes('contacts'))) : noContent;
}

export function listLeads(store: LeadStore, ctx: RequestContext, customFieldFilter: boolean): Reply {
  const p = paging(ctx.query, 50, 250);
  if (isReply(p)) return p;
  const f = qGet(ctx.query, 'filter');
  const preds: Predicate[] = [];

  const ids = qSplitList(qGet(f, 'id')).map(Number);
  if (ids.length) preds.push((l) => ids.includes(l.id));
  const names = qList(qGet(f, 'name'));
  if (names.length) preds.push((l) => names.includes(l.name));
  const pipelines = qSplitList(qGet(f, 'pipeline_id')).map(Number);
  if (pipelines.length) preds.push((l) => pipelines.includes(l.pipeline_id));
  // A pair needs both halves; incomplete pairs are dropped, as the PHP library does before sending.
  const pairs = qEntries(qGet(f, 'statuses'))
    .map((e) => ({ pipeline: qInt(qGet(e, 'pipeline_id')), status: qInt(qGet(e, 'status_id')) }))
    .filter((x) => x.pipeline !== undefined && x.status !== undefined);
  if (pairs.length) preds.push((l) => pairs.some((x) => x.pipeline === l.pipeline_id && x.status === l.status_id));
  for (const key of ['created_at', 'updated_at', 'closed_at', 'price'] as const) {
    const r = qRange(qGet(f, key));
    if (r) preds.push((l) => inRange(l[key], r));
  }
  // Accounts outside the filters alpha silently ignore this filter and return everything.
  if (customFieldFilter) preds.push(...customFieldPredicates(qGet(f, 'custom_fields_values')));

  const query = typeof ctx.query.query === 'string' ? ctx.query.query.trim().toLowerCase() : '';
  if (query) preds.push((l) => searchText(store, l).includes(query));

  const found = store.all().filter((l) => preds.every((pr) => pr(l)));
  sortLeads(found, qGet(ctx.query, 'order'));
  const withContacts = qSplitList(ctx.query.with).includes('contacts');
  return halPage(ctx, p, found.map((l) => renderLead(l, withContacts)), 'leads');
}

function customFieldPredicates(v: QueryValueOrUndef): Predicate[] {
  if (v === undefined || typeof v === 'string' || Array.isArray(v)) return [];
  return Object.entries(v).map(([fieldId, spec]): Predicate => {
    const id = Number(fieldId);
    const values = (l: AmoLead): string[] =>
      (l.custom_fields_values ?? []).filter((x) => x.field_id === id).flatMap((x) => x.values.map((y) => String(y.value)));
    const range = typeof spec === 'object' && !Array.isArray(spec) ? qRange(spec) : undefined;
    if (range) return (l) => values(l).some((s) => inRange(Number(s), range));
    const wanted = qList(spec);
    return (l) => values(l).some((s) => wanted.includes(s));
  });
}

function searchText(store: LeadStore, l: AmoLead): string {
  const own = [l.name, ...fieldText(l.custom_fields_values)].join('\n').toLowerCase();
  const contacts = l._embedded.contacts
    .map((c) => store.contacts.get(c.id))
    .map((c) => (c ? store.contacts.searchText(c) : ''));
  return [own, ...contacts].join('\n');
}

function sortLeads(leads: AmoLead[], order: QueryValueOrUndef): void {
  const [key, dir] = Object.entries(typeof order === 'object' && !Array.isArray(order) ? order : {})[0] ?? ['id', 'asc'];
  const field = key === 'created_at' || key === 'updated_at' ? key : 'id';
  const sign = dir === 'desc' ? -1 : 1;
  leads.sort((a, b) => sign * (a[field] - b[field] || a.id - b.id));
}
