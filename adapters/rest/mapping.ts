import { z } from 'zod';
import type { LeadV1 } from '../../src/domain/lead';

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
 * Target keys may be dot paths too (`contact.phone` builds nested objects).
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
  return (LEAD_PATHS as readonly string[]).includes(p) || EXTRA_PATH.test(p);
}

const leadPath = z.string().superRefine((p, ctx) => {
  if (!isLeadPath(p)) ctx.addIssue({ code: 'custom', message: `'${p}' is not a lead field; use one of ${LEAD_PATHS.join(', ')} or extra.<key>` });
});

const TEMPLATE_VAR = /\{\{\s*([^}]+?)\s*\}\}/g;

const template = z.string().superRefine((t, ctx) => {
  for (const m of t.matchAll(TEMPLATE_VAR)) {
    if (!isLeadPath(m[1])) ctx.addIssue({ code: 'custom', message: `template placeholder {{${m[1]}}} is not a lead field` });
  }
});

const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);

export const ValueSpecSchema = z.union([
  leadPath,
  z.object({ from: leadPath, map: z.record(z.string(), scalar).optional(), default: scalar.optional() }).strict(),
  z.object({ const: z.union([scalar, z.array(scalar), z.record(z.string(), scalar)]) }).strict(),
  z.object({ template, default: scalar.optional() }).strict(),
]);
export type ValueSpec = z.infer<typeof ValueSpecSchema>;

export const BodyMappingSchema = z
  .record(z.string().regex(/^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$/, 'target keys are dot paths of letters, digits, _ $ -'), ValueSpecSchema)
  .refine((m) => Object.keys(m).length > 0, { message: 'the mapping must produce at least one field' });
export type BodyMapping = z.infer<typeof BodyMappingSchema>;

export function readPath(lead: LeadV1, path: string): unknown {
  let cur: unknown = lead;
  for (const seg of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[seg];
  }
  return cur;
}

function evaluate(spec: ValueSpec, lead: LeadV1): unknown {
  if (typeof spec === 'string') return readPath(lead, spec);
  if ('const' in spec) return spec.const;
  if ('from' in spec) {
    const v = readPath(lead, spec.from);
    if (spec.map) {
      const key = v === undefined || v === null ? '' : String(v);
      if (Object.prototype.hasOwnProperty.call(spec.map, key)) return spec.map[key];
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

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const segs = path.split('.');
  let cur = target;
  for (const seg of segs.slice(0, -1)) {
    const next = cur[seg];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) cur[seg] = {};
    cur = cur[seg] as Record<string, unknown>;
  }
  cur[segs[segs.length - 1]] = value;
}

/** Builds the JSON body for one lead. Fields that evaluate to undefined are left out. */
export function buildBody(mapping: BodyMapping, lead: LeadV1): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const [target, spec] of Object.entries(mapping)) {
    const v = evaluate(spec, lead);
    if (v !== undefined) setPath(body, target, v);
  }
  return body;
}

/** Reads a dot path (`data.id`, `results`) from a CRM response; `''` means the body itself. */
export function readResponsePath(body: unknown, path: string): unknown {
  if (!path) return body;
  let cur: unknown = body;
  for (const seg of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[seg];
  }
  return cur;
}
