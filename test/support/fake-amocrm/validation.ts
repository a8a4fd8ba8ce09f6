import type { AmoCustomFieldSeed, AmoCustomFieldValue, AmoCustomFieldValueItem } from './types';
import type { ValidationError, ValidationGroup } from './http';
import type { Catalog, FieldEntity, Pipeline } from './catalog';

/** The payload checks of amoCRM's lead endpoints, producing its `validation-errors` entries. */

export interface TagRef {
  id?: number;
  name?: string;
}

export interface NewContact {
  kind: 'new';
  name: string;
  first_name: string;
  last_name: string;
  cf: AmoCustomFieldValue[];
}

export type ContactRef = NewContact | { kind: 'existing'; id: number };

export interface LeadInput {
  requestId: string;
  name?: string;
  price?: number;
  pipelineId: number;
  statusId: number;
  createdAt?: number;
  updatedAt?: number;
  cf: AmoCustomFieldValue[];
  tags: TagRef[];
  contacts: ContactRef[];
}

export interface FieldUpdate {
  field: AmoCustomFieldSeed;
  /** null clears the field. */
  values: AmoCustomFieldValueItem[] | null;
}

export interface LeadPatch {
  requestId: string;
  id: number;
  name?: string;
  price?: number;
  pipelineId?: number;
  statusId?: number;
  closedAt?: number;
  updatedAt?: number;
  cf?: FieldUpdate[];
  tagsReplace?: TagRef[];
  tagsAdd?: TagRef[];
  tagsDelete?: TagRef[];
}

export interface ValidationEnv {
  catalog: Catalog;
  contactExists(id: number): boolean;
  tagExists(id: number): boolean;
  /** The current pipeline of an existing lead, undefined when there is no such lead. */
  leadPipeline(id: number): number | undefined;
}

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
const join = (base: string, key: string | number): string => (base ? `${base}.${key}` : String(key));

class Errors {
  readonly list: ValidationError[] = [];
  choice(path: string, detail = 'The value you selected is not a valid choice.'): void {
    this.list.push({ code: 'NotSupportedChoice', path, detail });
  }
  type(path: string, type: string): void {
    this.list.push({ code: 'InvalidType', path, detail: `This value should be of type ${type}.` });
  }
}

function requestIdOf(raw: unknown, index: number, errs: Errors): string {
  const rid = isObj(raw) ? raw.request_id : undefined;
  if (typeof rid === 'string') return rid;
  if (isInt(rid)) return String(rid);
  if (rid !== undefined && rid !== null) errs.type('request_id', 'string');
  return String(index);
}

function optInt(o: Obj, key: string, errs: Errors, path = key): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (!isInt(v)) {
    errs.type(path, 'int');
    return undefined;
  }
  return v;
}

function optString(o: Obj, key: string, errs: Errors, path = key): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') {
    errs.type(path, 'string');
    return undefined;
  }
  return v;
}

export function parseCustomFields(
  catalog: Catalog,
  entity: FieldEntity,
  raw: unknown,
  base: string,
  errs: Errors,
  allowClear: boolean,
): FieldUpdate[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    errs.type(base, 'array');
    return [];
  }
  const out: FieldUpdate[] = [];
  raw.forEach((item: unknown, i) => {
    const p = join(base, i);
    if (!isObj(item)) return errs.type(p, 'array');
    let field: AmoCustomFieldSeed | undefined;
    if (item.field_id !== undefined && item.field_id !== null) {
      if (!isInt(item.field_id)) return errs.type(join(p, 'field_id'), 'int');
      field = catalog.field(entity, { id: item.field_id });
      if (!field) return errs.choice(join(p, 'field_id'));
    } else if (item.field_code !== undefined && item.field_code !== null) {
      if (typeof item.field_code !== 'string') return errs.type(join(p, 'field_code'), 'string');
      field = catalog.field(entity, { code: item.field_code.toUpperCase() });
      if (!field) return errs.choice(join(p, 'field_code'));
    } else {
      return errs.choice(join(p, 'field_id'));
    }
    if (item.values === null && allowClear) return void out.push({ field, values: null });
    if (!Array.isArray(item.values)) return errs.type(join(p, 'values'), 'array');
    const values: AmoCustomFieldValueItem[] = [];
    item.values.forEach((v: unknown, j) => {
      const parsed = parseValue(field, v, join(join(p, 'values'), j), errs);
      if (parsed) values.push(parsed);
    });
    out.push({ field, values: values.length || !allowClear ? values : null });
  });
  return out;
}

function parseValue(field: AmoCustomFieldSeed, v: unknown, q: string, errs: Errors): AmoCustomFieldValueItem | undefined {
  if (!isObj(v)) {
    errs.type(q, 'array');
    return undefined;
  }
  const enums = field.enums ?? [];
  switch (field.type) {
    case 'numeric':
      if (typeof v.value === 'number' || (typeof v.value === 'string' && v.value.trim() !== '' && !Number.isNaN(Number(v.value)))) {
        return { value: String(v.value) };
      }
      return void errs.type(join(q, 'value'), 'numeric');
    case 'checkbox':
      if (typeof v.value === 'boolean') return { value: v.value };
      return void errs.type(join(q, 'value'), 'bool');
    case 'date':
    case 'date_time':
      if (isInt(v.value) || typeof v.value === 'string') return { value: v.value };
      return void errs.type(join(q, 'value'), 'int');
    case 'select':
    case 'multiselect':
    case 'radiobutton': {
      const e =
        v.enum_id !== undefined
          ? enums.find((x) => x.id === v.enum_id)
          : enums.find((x) => typeof v.value === 'string' && x.value === v.value);
      if (!e) return void errs.choice(join(q, v.enum_id !== undefined ? 'enum_id' : 'value'));
      return { value: e.value, enum_id: e.id };
    }
    case 'multitext': {
      if (typeof v.value !== 'string') return void errs.type(join(q, 'value'), 'string');
      let e = enums[0];
      if (v.enum_code !== undefined) {
        e = enums.find((x) => typeof v.enum_code === 'string' && x.value === v.enum_code.toUpperCase()) as typeof e;
        if (!e) return void errs.choice(join(q, 'enum_code'));
      } else if (v.enum_id !== undefined) {
        e = enums.find((x) => x.id === v.enum_id) as typeof e;
        if (!e) return void errs.choice(join(q, 'enum_id'));
      }
      return e ? { value: v.value, enum_id: e.id, enum: e.value } : { value: v.value };
    }
    default:
      if (typeof v.value === 'string') return { value: v.value };
      return void errs.type(join(q, 'value'), 'string');
  }
}

export function renderCustomField(u: FieldUpdate & { values: AmoCustomFieldValueItem[] }): AmoCustomFieldValue {
  return { field_id: u.field.id, field_name: u.field.name, field_code: u.field.code ?? null, field_type: u.field.type, values: u.values };
}

function toValues(updates: FieldUpdate[]): AmoCustomFieldValue[] {
  return updates.filter((u): u is FieldUpdate & { values: AmoCustomFieldValueItem[] } => u.values !== null && u.values.length > 0).map(renderCustomField);
}

function parseTags(raw: unknown, base: string, env: ValidationEnv, errs: Errors): TagRef[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!Array.isArray(raw)) return void errs.type(base, 'array');
  const tags: TagRef[] = [];
  raw.forEach((t: unknown, i) => {
    const p = join(base, i);
    if (!isObj(t)) return errs.type(p, 'array');
    if (t.id !== undefined && t.id !== null) {
      if (!isInt(t.id)) return errs.type(join(p, 'id'), 'int');
      if (!env.tagExists(t.id)) return errs.choice(join(p, 'id'));
      return void tags.push({ id: t.id });
    }
    if (typeof t.name !== 'string' || t.name.trim() === '') return errs.type(join(p, 'name'), 'string');
    tags.push({ name: t.name.trim() });
  });
  return tags;
}

function parseContacts(raw: unknown, mode: 'complex' | 'plain', env: ValidationEnv, errs: Errors): ContactRef[] {
  const base = '_embedded.contacts';
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    errs.type(base, 'array');
    return [];
  }
  if (mode === 'complex' && raw.length > 1) {
    errs.choice(base, 'This collection should contain 1 element or less.');
    return [];
  }
  const out: ContactRef[] = [];
  raw.forEach((c: unknown, i) => {
    const p = join(base, i);
    if (!isObj(c)) return errs.type(p, 'array');
    if (c.id !== undefined && c.id !== null) {
      if (!isInt(c.id)) return errs.type(join(p, 'id'), 'int');
      if (!env.contactExists(c.id)) return errs.choice(join(p, 'id'));
      return void out.push({ kind: 'existing', id: c.id });
    }
    if (mode === 'plain') return errs.choice(join(p, 'id'));
    const first = optString(c, 'first_name', errs, join(p, 'first_name')) ?? '';
    const last = optString(c, 'last_name', errs, join(p, 'last_name')) ?? '';
    const name = optString(c, 'name', errs, join(p, 'name')) ?? [first, last].filter(Boolean).join(' ');
    const cf = toValues(parseCustomFields(env.catalog, 'contacts', c.custom_fields_values, join(p, 'custom_fields_values'), errs, false));
    out.push({ kind: 'new', name, first_name: first, last_name: last, cf });
  });
  return out;
}

/** Picks pipeline and status the way amoCRM does; metadata (a form/call) sends the lead to Unsorted. */
function resolveStatus(
  o: Obj,
  env: ValidationEnv,
  errs: Errors,
  toUnsorted: boolean,
): { pipelineId: number; statusId: number } | undefined {
  const pid = optInt(o, 'pipeline_id', errs);
  const sid = optInt(o, 'status_id', errs);
  const { catalog } = env;
  let pipeline: Pipeline | undefined;
  if (pid !== undefined) {
    pipeline = catalog.pipeline(pid);
    if (!pipeline) return void errs.choice('pipeline_id');
  } else {
    pipeline = sid !== undefined ? (catalog.pipelineOfStatus(sid) ?? catalog.mainPipeline()) : catalog.mainPipeline();
  }
  if (sid !== undefined && !catalog.hasStatus(pipeline, sid)) return void errs.choice('status_id');
  if (toUnsorted) return { pipelineId: pipeline.id, statusId: catalog.unsortedStatus(pipeline) };
  return { pipelineId: pipeline.id, statusId: sid ?? catalog.defaultStatus(pipeline) };
}

export type Validated<T> = { ok: true; items: T[] } | { ok: false; groups: ValidationGroup[] };

export function validateNewLeads(raw: unknown[], mode: 'complex' | 'plain', env: ValidationEnv): Validated<LeadInput> {
  const items: LeadInput[] = [];
  const groups: ValidationGroup[] = [];
  raw.forEach((el, index) => {
    const errs = new Errors();
    const requestId = requestIdOf(el, index, errs);
    if (!isObj(el)) {
      errs.type('', 'array');
      groups.push({ request_id: requestId, errors: errs.list });
      return;
    }
    const embedded = el._embedded ?? {};
    if (!isObj(embedded)) errs.type('_embedded', 'array');
    const emb: Obj = isObj(embedded) ? embedded : {};
    const name = optString(el, 'name', errs);
    const price = optInt(el, 'price', errs);
    const createdAt = optInt(el, 'created_at', errs);
    const updatedAt = optInt(el, 'updated_at', errs);
    const toUnsorted = mode === 'complex' && isObj(emb.metadata);
    const status = resolveStatus(el, env, errs, toUnsorted);
    const cf = toValues(parseCustomFields(env.catalog, 'leads', el.custom_fields_values, 'custom_fields_values', errs, false));
    const tags = [...(parseTags(emb.tags, '_embedded.tags', env, errs) ?? []), ...(parseTags(el.tags_to_add, 'tags_to_add', env, errs) ?? [])];
    const contacts = parseContacts(emb.contacts, mode, env, errs);
    if (errs.list.length > 0 || !status) {
      groups.push({ request_id: requestId, errors: errs.list });
      return;
    }
    items.push({ requestId, name, price, createdAt, updatedAt, ...status, cf, tags, contacts });
  });
  return groups.length ? { ok: false, groups } : { ok: true, items };
}

export function validatePatches(raw: unknown[], env: ValidationEnv, fixedId?: number): Validated<LeadPatch> {
  const items: LeadPatch[] = [];
  const groups: ValidationGroup[] = [];
  raw.forEach((el, index) => {
    const errs = new Errors();
    const requestId = requestIdOf(el, index, errs);
    if (!isObj(el)) {
      errs.type('', 'array');
      groups.push({ request_id: requestId, errors: errs.list });
      return;
    }
    const id = fixedId ?? el.id;
    const current = isInt(id) ? env.leadPipeline(id) : undefined;
    if (!isInt(id)) errs.type('id', 'int');
    else if (current === undefined) errs.choice('id');
    const patch: LeadPatch = { requestId, id: isInt(id) ? id : 0 };
    patch.name = optString(el, 'name', errs);
    patch.price = optInt(el, 'price', errs);
    patch.closedAt = optInt(el, 'closed_at', errs);
    patch.updatedAt = optInt(el, 'updated_at', errs);
    const pid = optInt(el, 'pipeline_id', errs);
    const sid = optInt(el, 'status_id', errs);
    if (current !== undefined && (pid !== undefined || sid !== undefined)) {
      const pipeline = env.catalog.pipeline(pid ?? current);
      if (!pipeline) errs.choice('pipeline_id');
      else if (sid !== undefined && !env.catalog.hasStatus(pipeline, sid)) errs.choice('status_id');
      else {
        patch.pipelineId = pipeline.id;
        // Moving to another pipeline without a status lands in its first stage.
        patch.statusId = sid ?? (pipeline.id !== current ? env.catalog.defaultStatus(pipeline) : undefined);
      }
    }
    if (el.custom_fields_values !== undefined) {
      patch.cf = parseCustomFields(env.catalog, 'leads', el.custom_fields_values, 'custom_fields_values', errs, true);
    }
    const emb = isObj(el._embedded) ? el._embedded : {};
    patch.tagsReplace = parseTags(emb.tags, '_embedded.tags', env, errs);
    patch.tagsAdd = parseTags(el.tags_to_add, 'tags_to_add', env, errs);
    patch.tagsDelete = parseTags(el.tags_to_delete, 'tags_to_delete', env, errs);
    if (errs.list.length > 0) groups.push({ request_id: requestId, errors: errs.list });
    else items.push(patch);
  });
  return groups.length ? { ok: false, groups } : { ok: true, items };
}
