import type { AmoContact, AmoCustomFieldValue } from './types';
import { halPage, hal, isReply, noContent, paging, qGet, qSplitList, unixNow, type Reply, type RequestContext } from './http';
import type { NewContact } from './validation';

/** Phone and email keys duplicate control compares; phones in RU formats (8…, 7…, bare 10 digits) collapse. */
export function duplicateKeys(cf: AmoCustomFieldValue[] | null): string[] {
  const keys: string[] = [];
  for (const f of cf ?? []) {
    for (const v of f.values) {
      if (typeof v.value !== 'string') continue;
      if (f.field_code === 'PHONE') {
        let d = v.value.replace(/\D/g, '');
        if (d.length === 11 && d.startsWith('8')) d = `7${d.slice(1)}`;
        if (d.length === 10) d = `7${d}`;
        if (d) keys.push(`phone:${d}`);
      } else if (f.field_code === 'EMAIL') {
        const e = v.value.trim().toLowerCase();
        if (e) keys.push(`email:${e}`);
      }
    }
  }
  return keys;
}

export function fieldText(cf: AmoCustomFieldValue[] | null): string[] {
  return (cf ?? []).flatMap((f) => f.values.map((v) => String(v.value)));
}

export class ContactStore {
  private items = new Map<number, AmoContact>();
  private nextId = 50_000_001;

  constructor(
    private readonly accountId: number,
    private readonly entityBase: string,
  ) {}

  all(): AmoContact[] {
    return [...this.items.values()];
  }

  get(id: number): AmoContact | undefined {
    return this.items.get(id);
  }

  create(input: NewContact, nowMs: number): AmoContact {
    const id = this.nextId++;
    const now = unixNow(nowMs);
    const c: AmoContact = {
      id,
      name: input.name,
      first_name: input.first_name,
      last_name: input.last_name,
      responsible_user_id: 1,
      group_id: 0,
      created_by: 0,
      updated_by: 0,
      created_at: now,
      updated_at: now,
      closest_task_at: null,
      is_deleted: false,
      custom_fields_values: input.cf.length ? input.cf : null,
      account_id: this.accountId,
      _links: { self: { href: `${this.entityBase}/api/v4/contacts/${id}` } },
      _embedded: { tags: [], companies: [], leads: [] },
    };
    this.items.set(id, c);
    return c;
  }

  linkLead(contactId: number, leadId: number): void {
    const c = this.items.get(contactId);
    if (c && !c._embedded.leads.some((l) => l.id === leadId)) c._embedded.leads.push({ id: leadId });
  }

  /** Phone/email → contact id over the contacts that exist right now (duplicate control never looks at the same request). */
  duplicateIndex(): Map<string, number> {
    const index = new Map<string, number>();
    for (const c of this.items.values()) for (const k of duplicateKeys(c.custom_fields_values)) if (!index.has(k)) index.set(k, c.id);
    return index;
  }

  searchText(c: AmoContact): string {
    return [c.name, c.first_name, c.last_name, ...fieldText(c.custom_fields_values)].join('\n').toLowerCase();
  }

  render(c: AmoContact, withLeads: boolean): object {
    const copy = structuredClone(c);
    if (withLeads) return copy;
    const { tags, companies } = copy._embedded;
    return { ...copy, _embedded: { tags, companies } };
  }

  list(ctx: RequestContext): Reply {
    const p = paging(ctx.query, 50, 250);
    if (isReply(p)) return p;
    const withLeads = qSplitList(ctx.query.with).includes('leads');
    const query = typeof ctx.query.query === 'string' ? ctx.query.query.toLowerCase() : '';
    const ids = new Set(qSplitList(qGet(ctx.query, 'filter', 'id')).map(Number));
    const found = this.all().filter((c) => (ids.size === 0 || ids.has(c.id)) && (!query || this.searchText(c).includes(query)));
    if (qGet(ctx.query, 'order', 'id') === 'desc') found.reverse();
    return halPage(ctx, p, found.map((c) => this.render(c, withLeads)), 'contacts');
  }

  getOne(ctx: RequestContext, id: number): Reply {
    const c = this.items.get(id);
    return c ? hal(this.render(c, qSplitList(ctx.query.with).includes('leads'))) : noContent;
  }
}
