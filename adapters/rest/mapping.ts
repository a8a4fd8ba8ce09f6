import { z } from 'zod';
import type { LeadV1 } from '../../src/domain/lead';
import { isReservedName, reservedNameMessage, reservedSegment } from '../../src/domain/reserved-names';

/**
 * The mapping language of the REST adapter: how a lead becomes a request body. Ops write it in the
 * client file; it is validated at load time, so an unknown lead field is a config error, not a
 * silently empty value in production.
 *
 *   body field: candidate.phone                          # a dot path into the lead
 *   body field: { from: source.channel, map: { hh: HeadHunter }, default: Other }
 *   body field: { const: recruiting }
 *   body field: { template: "{{candidate.lastName}} {{candidate.firstName}}" }
 *
 * Target keys may be dot paths too (`contact.phone` builds nested objects). No key or path segment
 * may be `__proto__`, `constructor` or `prototype` (src/domain/reserved-names.ts).
 */

/** Every path a mapping may read. `extra.<key>` reads HRDrom's free-form string map. */
export const LEAD_PATHS = [
  'leadId',
  'clientId',
  'createdAt',
  'candidate.firstName',
  'candidate.lastName',
  'candidate.middleName',
  'candidate.phone',
  'candidate.phoneExtension',
  'candidate.otherPhones',
  'candidate.email',
  'candidate.city',
  'vacancy.id',
  'vacancy.title',
  'vacancy.city',
  'source.channel',
  'source.campaign',
  'source.utm.source',
  'source.utm.medium',
  'source.utm.campaign',
  'source.utm.term',
  'source.utm.content',
  'comment',
  'consent.given',
  'consent.at',
] as const;

const EXTRA_PATH = /^extra\.[^.]+$/;

export function isLeadPath(p: string): boolean {
  return (LEAD_PATHS as readonly string[]).includes(p) || (EXTRA_PATH.test(p) && reservedSegment(p) === undefined);
}

const leadPath = z.string().superRefine((p, ctx) => {
  const reserved = reservedSegment(p);
  if (reserved !== undefined) ctx.addIssue({ code: 'custom', message: reservedNameMessage(reserved, 'a lead path segment') });
  else if (!isLeadPath(p)) ctx.addIssue({ code: 'custom', message: `'${p}' is not a lead field; use one of ${LEAD_PATHS.join(', ')} or extra.<key>` });
});

const TEMPLATE_VAR = /\{\{\s*([^}]+?)\s*\}\}/g;

const template = z.string().superRefine((t, ctx) => {
  for (const m of t.matchAll(TEMPLATE_VAR)) {
    const reserved = reservedSegment(m[1]);
    if (reserved !== undefined) ctx.addIssue({ code: 'custom', message: `template placeholder {{${m[1]}}}: ${reservedNameMessage(reserved, 'a lead path segment')}` });
    else if (!isLeadPath(m[1])) ctx.addIssue({ code: 'custom', message: `template placeholder {{${m[1]}}} is not a lead field` });
  }
});

const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);

/** A key of a value map or a const object: any text but a reserved name. */
const dataKey = z.string().superRefine((k, ctx) => {
  if (isReservedName(k)) ctx.addIssue({ code: 'custom', message: reservedNameMessage(k, 'a key') });
});

export const ValueSpecSchema = z.union([
  leadPath,
  z.object({ from: leadPath, map: z.record(dataKey, scalar).optional(), default: scalar.optional() }).strict(),
  z.object({ const: z.union([scalar, z.array(scalar), z.record(dataKey, scalar)]) }).strict(),
  z.object({ template, default: scalar.optional() }).strict(),
]);
export type ValueSpec = z.infer<typeof ValueSpecSchema>;

const targetKey = z
  .string()
  .regex(/^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$/, 'target keys are dot paths of letters, digits, _ $ -')
  .superRefine((k, ctx) => {
    const reserved = reservedSegment(k);
    if (reserved !== undefined) ctx.addIssue({ code: 'custom', message: reservedNameMessage(reserved, 'a target key segment') });
  });

export const BodyMappingSchema = z
  .record(targetKey, ValueSpecSchema)
  .refine((m) => Object.keys(m).length > 0, { message: 'the mapping must produce at least one field' });
export type BodyMapping = z.infer<typeof BodyMappingSchema>;

/**
 * Follows a dot path through own properties only, so a path can never read from a prototype
 * (`constructor` on a plain object is undefined here, not the Object function).
 */
function readOwnPath(root: unknown, path: string): unknown {
  let cur: unknown = root;
  for (const seg of path.split('.')) {
    if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, seg)) return undefined;
    cur = (cur as Record<string, unknown>)[seg];
  }
  return cur;
}

export function readPath(lead: LeadV1, path: string): unknown {
  return readOwnPath(lead, path);
}

function evaluate(spec: ValueSpec, lead: LeadV1): unknown {
  if (typeof spec === 'string') return readPath(lead, spec);
  if ('const' in spec) return spec.const;
  if ('from' in spec) {
    const v = readPath(lead, spec.from);
    if (spec.map) {
      const key = v === undefined || v === null ? '' : String(v);
      if (Object.hasOwn(spec.map, key)) return spec.map[key];
      return spec.default;
    }
    return v === undefined ? spec.default : v;
  }
  // "Empty" means every placeholder was empty; a template with no placeholders is a literal.
  let empty = TEMPLATE_VAR.test(spec.template);
  TEMPLATE_VAR.lastIndex = 0;
  const out = spec.template
    .replace(TEMPLATE_VAR, (_m, p: string) => {
      const v = readPath(lead, p.trim());
      if (v === undefined || v === null) return '';
      empty = false;
      return String(v);
    })
    .replace(/\s{2,}/g, ' ')
    .trim();
  return empty && spec.default !== undefined ? spec.default : out;
}

type BodyObject = Record<string, unknown>;

/**
 * The body is built from null-prototype objects, written with defineProperty: whatever a target key
 * says, a write creates an own property and never runs the `__proto__` setter or any other.
 */
function newBodyObject(from?: object): BodyObject {
  const o = Object.create(null) as BodyObject;
  if (from) for (const [k, v] of Object.entries(from)) defineOwn(o, k, v);
  return o;
}

function defineOwn(target: BodyObject, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function setPath(target: BodyObject, path: string, value: unknown, built: WeakSet<object>): void {
  const segs = path.split('.');
  let cur = target;
  for (const seg of segs.slice(0, -1)) {
    const next = Object.hasOwn(cur, seg) ? cur[seg] : undefined;
    if (next !== null && typeof next === 'object' && built.has(next)) {
      cur = next as BodyObject;
      continue;
    }
    // A const object from the mapping is copied before fields are added to it: the mapping is shared
    // by every lead of the client and must not change.
    const child = newBodyObject(next !== null && typeof next === 'object' && !Array.isArray(next) ? next : undefined);
    built.add(child);
    defineOwn(cur, seg, child);
    cur = child;
  }
  defineOwn(cur, segs[segs.length - 1], value);
}

/** Builds the JSON body for one lead. Fields that evaluate to undefined are left out. */
export function buildBody(mapping: BodyMapping, lead: LeadV1): Record<string, unknown> {
  const body = newBodyObject();
  const built = new WeakSet<object>([body]);
  for (const [target, spec] of Object.entries(mapping)) {
    const v = evaluate(spec, lead);
    if (v !== undefined) setPath(body, target, v, built);
  }
  return body;
}

/** Reads a dot path (`data.id`, `results`) from a CRM response; `''` means the body itself. */
export function readResponsePath(body: unknown, path: string): unknown {
  if (!path) return body;
  return readOwnPath(body, path);
}
