/**
 * The fake CRM's data: candidates, their validation, and the status-change feed. Pure and
 * synchronous, so every HTTP request mutates it atomically and concurrent requests cannot race.
 */
import type { StoredCandidate } from './types';

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

export class CandidateStore {
  private readonly list: StoredCandidate[] = [];
  private readonly byId = new Map<string, StoredCandidate>();
  private readonly byExternal = new Map<string, StoredCandidate>();
  private readonly changes: Array<ChangeRecord & { seq: number }> = [];
  private nextId = 1;
  private nextSeq = 1;
  created = 0;
  duplicates = 0;

  constructor(
    private readonly requiredFields: string[],
    private readonly idPrefix: string,
  ) {}

  validate(body: Record<string, unknown>): FieldError[] {
    const errors: FieldError[] = [];
    for (const field of this.requiredFields) {
      if (isMissing(body[field])) errors.push({ field, message: 'is required' });
    }
    const ext = body.external_id;
    if (!isMissing(ext) && externalKey(ext) === undefined) {
      errors.push({ field: 'external_id', message: 'must be a string or a number' });
    }
    const phone = body.phone;
    // A missing phone was already reported above when it is required; do not report it twice.
    if (!isMissing(phone) && (typeof phone !== 'string' || !E164.test(phone))) {
      errors.push({ field: 'phone', message: 'must be E.164' });
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
      return { kind: 'duplicate', existing };
    }
    const candidate: StoredCandidate = {
      id: `${this.idPrefix}${this.nextId++}`,
      body,
      createdAt: new Date().toISOString(),
      status: 'new',
    };
    this.list.push(candidate);
    this.byId.set(candidate.id, candidate);
    if (key !== undefined) this.byExternal.set(key, candidate);
    this.created++;
    return { kind: 'created', candidate };
  }

  get(id: string): StoredCandidate | undefined {
    return this.byId.get(id);
  }

  findByExternalId(externalId: string): StoredCandidate[] {
    const c = this.byExternal.get(externalId);
    return c ? [c] : [];
  }

  all(): StoredCandidate[] {
    return this.list;
  }

  setStatus(candidateId: string, status: string): void {
    const c = this.byId.get(candidateId);
    if (!c) throw new Error(`setStatus(): no candidate with id ${candidateId}`);
    c.status = status;
    const seq = this.nextSeq++;
    this.changes.push({
      seq,
      change_id: `chg-${seq}`,
      candidate_id: c.id,
      external_id: externalOf(c),
      status,
      changed_at: new Date().toISOString(),
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
}

export function externalOf(c: StoredCandidate): string | number | null {
  const v = c.body.external_id;
  return typeof v === 'string' || typeof v === 'number' ? v : null;
}

/**
 * The API view of a candidate. Server-owned fields win over same-named body fields, as they would
 * in a CRM whose columns `id` and `status` belong to the CRM.
 */
export function candidateView(c: StoredCandidate): Record<string, unknown> {
  const { id: _id, external_id: _ext, status: _status, ...rest } = c.body;
  return { id: c.id, external_id: externalOf(c), status: c.status, ...rest, created_at: c.createdAt };
}
