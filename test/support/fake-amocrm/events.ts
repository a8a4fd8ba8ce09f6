import { randomBytes } from 'node:crypto';
import type { AmoEvent, AmoLeadStatusValue } from './types';
import {
  halPage,
  inRange,
  isReply,
  noContent,
  hal,
  paging,
  problem,
  qEntries,
  qGet,
  qInt,
  qRange,
  qSplitList,
  type Reply,
  type RequestContext,
} from './http';

const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz';

function encode(n: bigint, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) {
    out = CROCKFORD[Number(n & 31n)] + out;
    n >>= 5n;
  }
  return out;
}

/** Monotonic ULIDs (lower case, like amoCRM's event ids): string order is creation order. */
class UlidGenerator {
  private lastTime = 0;
  private lastRandom = 0n;

  next(nowMs: number): string {
    const t = Math.floor(nowMs);
    if (t <= this.lastTime) {
      this.lastRandom += 1n;
    } else {
      this.lastTime = t;
      this.lastRandom = BigInt(`0x${randomBytes(10).toString('hex')}`) >> 1n;
    }
    return encode(BigInt(this.lastTime), 10) + encode(this.lastRandom, 16);
  }
}

export type EventsOrder = 'asc' | 'desc' | 'shuffled';

/** Most ids `filter[entity_id]` and `filter[created_by]` take (amoCRM events docs). */
const MAX_FILTER_IDS = 10;

export class EventLog {
  private items: AmoEvent[] = [];
  /** The random sort key of each event for the 'shuffled' order, fixed at creation so pages agree. */
  private readonly sortKeys = new WeakMap<AmoEvent, number>();
  private ulid = new UlidGenerator();

  constructor(
    private readonly accountId: number,
    private readonly entityBase: string,
    private readonly order: EventsOrder,
  ) {}

  /** In creation order. */
  all(): AmoEvent[] {
    return this.items;
  }

  add(type: AmoEvent['type'], leadId: number, before: AmoLeadStatusValue[], after: AmoLeadStatusValue[], nowMs: number, createdBy = 0): AmoEvent {
    const id = this.ulid.next(nowMs);
    const ev: AmoEvent = {
      id,
      type,
      entity_id: leadId,
      entity_type: 'lead',
      created_by: createdBy,
      created_at: Math.floor(nowMs / 1000),
      value_before: before,
      value_after: after,
      account_id: this.accountId,
      _links: { self: { href: `${this.entityBase}/api/v4/events/${id}` } },
      _embedded: { entity: { id: leadId, _links: { self: { href: `${this.entityBase}/api/v4/leads/${leadId}` } } } },
    };
    this.items.push(ev);
    this.sortKeys.set(ev, randomBytes(6).readUIntBE(0, 6));
    return ev;
  }

  getOne(id: string): Reply {
    const ev = this.items.find((e) => e.id === id);
    return ev ? hal(ev) : noContent;
  }

  list(ctx: RequestContext): Reply {
    const p = paging(ctx.query, 50, 100);
    if (isReply(p)) return p;
    const f = qGet(ctx.query, 'filter');
    const ids = new Set(qSplitList(qGet(f, 'id')));
    const types = new Set(qSplitList(qGet(f, 'type')));
    const entities = new Set(qSplitList(qGet(f, 'entity')));
    const entityIds = new Set(qSplitList(qGet(f, 'entity_id')).map(Number));
    const createdBy = new Set(qSplitList(qGet(f, 'created_by')).map(Number));
    // Documented limits; what amoCRM answers when they are broken is not documented (a 400 here).
    if (entityIds.size > 0 && entities.size !== 1) return problem(400, 'Bad Request', 'filter[entity_id] needs exactly one filter[entity]');
    if (entityIds.size > MAX_FILTER_IDS) return problem(400, 'Bad Request', `filter[entity_id] takes at most ${MAX_FILTER_IDS} ids`);
    if (createdBy.size > MAX_FILTER_IDS) return problem(400, 'Bad Request', `filter[created_by] takes at most ${MAX_FILTER_IDS} ids`);
    const created = qRange(qGet(f, 'created_at'));
    const after = statusPairs(qGet(f, 'value_after', 'leads_statuses'));
    const before = statusPairs(qGet(f, 'value_before', 'leads_statuses'));
    const matches = (e: AmoEvent): boolean =>
      (ids.size === 0 || ids.has(e.id)) &&
      (types.size === 0 || types.has(e.type)) &&
      // Entity names are singular (`lead`); every event here is a lead's.
      (entities.size === 0 || entities.has(e.entity_type)) &&
      (entityIds.size === 0 || entityIds.has(e.entity_id)) &&
      (createdBy.size === 0 || createdBy.has(e.created_by)) &&
      inRange(e.created_at, created) &&
      matchesStatus(e.value_after, after, e.type) &&
      matchesStatus(e.value_before, before, e.type);
    const found = this.items.filter(matches);
    if (this.order === 'desc') found.reverse();
    if (this.order === 'shuffled') found.sort((a, b) => (this.sortKeys.get(a) ?? 0) - (this.sortKeys.get(b) ?? 0));
    return halPage(ctx, p, found, 'events');
  }
}

interface StatusPair {
  pipeline_id?: number;
  status_id?: number;
}

function statusPairs(v: ReturnType<typeof qGet>): StatusPair[] | undefined {
  const pairs = qEntries(v).map((e) => ({ pipeline_id: qInt(qGet(e, 'pipeline_id')), status_id: qInt(qGet(e, 'status_id')) }));
  return pairs.length ? pairs : undefined;
}

function matchesStatus(values: AmoLeadStatusValue[], pairs: StatusPair[] | undefined, type: AmoEvent['type']): boolean {
  if (!pairs) return true;
  // Status value filters only make sense for status changes, as on amoCRM.
  if (type !== 'lead_status_changed') return false;
  return values.some((v) =>
    pairs.some(
      (p) =>
        (p.pipeline_id === undefined || p.pipeline_id === v.lead_status.pipeline_id) &&
        (p.status_id === undefined || p.status_id === v.lead_status.id),
    ),
  );
}
