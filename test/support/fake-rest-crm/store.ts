/**
 * The fake CRM's data: candidates, their validation, the lookup, and the status-change feeds. Pure
 * and synchronous, so every HTTP request mutates it atomically and concurrent requests cannot race.
 */
import { formatTime, toSecond } from './time-format';
import type { StoredCandidate, TimeFormat } from './types';

export interface FieldError {
  field: string;
  message: string;
}

export interface ChangeRecord {
  change_id: string;
  candidate_id: string;
  external_id: string | number | null;
  status: string;
  changed_at: string;
}

export type CreateResult =
  | { kind: 'created'; candidate: StoredCandidate }
  | { kind: 'duplicate'; existing: StoredCandidate }
  | { kind: 'invalid'; errors: FieldError[] };

/** A position in the updated-at order: what a keyset cursor encodes. */
export interface FeedPosition {
  updatedMs: number;
  seq: number;
}

export interface StoreOptions {
  requiredFields: string[];
  idPrefix: string;
  lookupMatch: 'contains' | 'exact';
  acceptedPhonePrefixes?: string[];
  clock: () => number;
}

interface Row extends FeedPosition {
  c: StoredCandidate;
  /** Lookup key of the external id, if it has one. */
  key: string | undefined;
}

const E164 = /^\+\d{10,15}$/;

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Lookup key of an external id. Numbers and strings share one key space because a query string
 * cannot tell `42` from `"42"`, and a real CRM column would not either.
 */
function externalKey(v: unknown): string | undefined {
  return typeof v === 'string' || typeof v === 'number' ? String(v) : undefined;
}

function isMissing(v: unknown): boolean {
  return v === undefined || v === null || (typeof v === 'string' && v.trim() === '');
}

const compareFeed = (a: FeedPosition, b: FeedPosition): number => a.updatedMs - b.updatedMs || a.seq - b.seq;

export class CandidateStore {
  private readonly rows: Row[] = [];
  private readonly byId = new Map<string, Row>();
  private readonly byExternal = new Map<string, Row>();
  private readonly changes: Array<ChangeRecord & { seq: number }> = [];
  private nextId = 1;
  private nextSeq = 1;
  created = 0;
  duplicates = 0;

  constructor(private readonly opts: StoreOptions) {}

  validate(body: Record<string, unknown>): FieldError[] {
    const errors: FieldError[] = [];
    for (const field of this.opts.requiredFields) {
      if (isMissing(body[field])) errors.push({ field, message: 'is required' });
    }
    const ext = body.external_id;
    if (!isMissing(ext) && externalKey(ext) === undefined) {
      errors.push({ field: 'external_id', message: 'must be a string or a number' });
    }
    const phone = body.phone;
    const prefixes = this.opts.acceptedPhonePrefixes;
    // A missing phone was already reported above when it is required; do not report it twice.
    if (!isMissing(phone)) {
      if (typeof phone !== 'string' || !E164.test(phone)) errors.push({ field: 'phone', message: 'must be E.164' });
      else if (prefixes && !prefixes.some((p) => phone.startsWith(p))) {
        errors.push({ field: 'phone', message: `must start with ${prefixes.join(' or ')}` });
      }
    }
    return errors;
  }

  create(body: Record<string, unknown>): CreateResult {
    const errors = this.validate(body);
    if (errors.length) return { kind: 'invalid', errors };
    const key = externalKey(body.external_id);
    const existing = key === undefined ? undefined : this.byExternal.get(key);
    if (existing) {
      this.duplicates++;
      return { kind: 'duplicate', existing: existing.c };
    }
    const now = this.opts.clock();
    const seq = this.nextId++;
    const row: Row = {
      c: {
        id: `${this.opts.idPrefix}${seq}`,
        body,
        createdAt: new Date(now).toISOString(),
        status: 'new',
        updatedAt: String(formatTime(now, 'iso-seconds')),
      },
      key,
      seq,
      updatedMs: toSecond(now),
    };
    this.rows.push(row);
    this.byId.set(row.c.id, row);
    if (key !== undefined) this.byExternal.set(key, row);
    this.created++;
    return { kind: 'created', candidate: row.c };
  }

  get(id: string): StoredCandidate | undefined {
    return this.byId.get(id)?.c;
  }

  /** In creation order. 'contains' is a substring match, so one lookup may find several candidates. */
  findByExternalId(externalId: string): StoredCandidate[] {
    if (this.opts.lookupMatch === 'exact') {
      const row = this.byExternal.get(externalId);
      return row ? [row.c] : [];
    }
    return this.rows.filter((r) => r.key !== undefined && r.key.includes(externalId)).map((r) => r.c);
  }

  all(): StoredCandidate[] {
    return this.rows.map((r) => r.c);
  }

  setStatus(candidateId: string, status: string): void {
    const row = this.byId.get(candidateId);
    if (!row) throw new Error(`setStatus(): no candidate with id ${candidateId}`);
    const now = this.opts.clock();
    row.c.status = status;
    row.updatedMs = toSecond(now);
    row.c.updatedAt = String(formatTime(now, 'iso-seconds'));
    const seq = this.nextSeq++;
    this.changes.push({
      seq,
      change_id: `chg-${seq}`,
      candidate_id: row.c.id,
      external_id: externalOf(row.c),
      status,
      changed_at: new Date(now).toISOString(),
    });
  }

  /**
   * The cursor is the sequence number of the last change returned. Changes are appended in
   * sequence order, so a binary search would do; a linear scan is plenty for test volumes.
   */
  changesSince(since: number, limit: number): { changes: ChangeRecord[]; nextCursor: number } {
    const page = this.changes.filter((c) => c.seq > since).slice(0, limit);
    const last = page[page.length - 1];
    return {
      changes: page.map(({ seq: _seq, ...rest }) => rest),
      nextCursor: last ? last.seq : since,
    };
  }

  /**
   * Candidates updated after `afterMs` (or at it, when inclusive) and past the keyset position
   * `from`, ordered by updated_at then id. Computed afresh on every call, like a SQL query, so an
   * update between two page requests moves a candidate to the end and shifts the later pages.
   */
  updatedSince(afterMs: number | undefined, inclusive: boolean, from?: FeedPosition): Array<{ c: StoredCandidate; pos: FeedPosition }> {
    return this.rows
      .filter((r) => afterMs === undefined || (inclusive ? r.updatedMs >= afterMs : r.updatedMs > afterMs))
      .filter((r) => from === undefined || compareFeed(r, from) > 0)
      .sort(compareFeed)
      .map((r) => ({ c: r.c, pos: { updatedMs: r.updatedMs, seq: r.seq } }));
  }
}

export function externalOf(c: StoredCandidate): string | number | null {
  const v = c.body.external_id;
  return typeof v === 'string' || typeof v === 'number' ? v : null;
}

/**
 * The API view of a candidate. Server-owned fields win over same-named body fields, as they would
 * in a CRM whose columns `id`, `status` and the timestamps belong to the CRM.
 */
export function candidateView(c: StoredCandidate, timeFormat: TimeFormat): Record<string, unknown> {
  const { id: _id, external_id: _ext, status: _status, ...rest } = c.body;
  return {
    id: c.id,
    external_id: externalOf(c),
    status: c.status,
    ...rest,
    created_at: c.createdAt,
    updated_at: formatTime(Date.parse(c.updatedAt), timeFormat),
  };
}
