import type { z } from 'zod';
import type { FieldIssue } from './errors';
import { MAX_OTHER_PHONES } from './lead-limits';
import { MAX_PHONE_INPUT_LENGTH, parsePhone, splitPhoneList } from './phone';
import { cleanFreeText } from './text';
import { formatPath, toFieldIssue } from './zod-issues';

/**
 * The lenient door in front of the strict LeadV1 schema. A lead is a person waiting for a call, so
 * it is not thrown away for what can be fixed without guessing:
 *
 *  1. repairs that lose nothing a recruiter could read, each reported as a warning: several numbers
 *     in `candidate.phone` (the first valid one stays, the rest go to `otherPhones`); invisible
 *     control characters removed from free text (`comment`, `extra` values);
 *  2. an OPTIONAL field that cannot be read (wrong type, bad format, forbidden characters) is left
 *     out, with a warning naming it and why.
 *
 * Never dropped, always fatal: a problem in a required field, a size limit exceeded anywhere (the
 * sender must shrink the lead, not have it cut), and unknown fields (a typo must be noticed).
 */

export type RepairResult<T> = { ok: true; lead: T; warnings: FieldIssue[] } | { ok: false; issues: FieldIssue[]; warnings: FieldIssue[] };

type Parse<T> = (value: unknown) => z.ZodSafeParseResult<T>;
type Obj = Record<string, unknown>;

/** Optional fields, as path patterns (`*` = any key or index); the longest match says what to drop. */
const DROPPABLE: ReadonlyArray<readonly string[]> = [
  ['candidate', 'lastName'],
  ['candidate', 'middleName'],
  ['candidate', 'email'],
  ['candidate', 'city'],
  ['candidate', 'phoneExtension'],
  ['candidate', 'otherPhones'],
  ['candidate', 'otherPhones', '*'],
  ['vacancy', 'id'],
  ['vacancy', 'city'],
  ['source', 'campaign'],
  ['source', 'utm'],
  ['source', 'utm', '*'],
  ['comment'],
  ['extra'],
  ['extra', '*'],
];

/** Size limits and unknown fields are the sender's to fix: never dropped. */
const ALWAYS_FATAL = new Set<string>(['too_big', 'unrecognized_keys']);

const REMOVED = Symbol('removed');
/**
 * zod reports in layers — fields first, then an object's own checks (the phone extension
 * conflict), then the lead's total size — so a lead may need a round per layer. The cap only
 * guards against a loop.
 */
const MAX_ROUNDS = 8;

export function repairAndParse<T>(input: unknown, parse: Parse<T>): RepairResult<T> {
  const warnings: FieldIssue[] = [];
  try {
    const working = copyContainers(input);
    if (isObj(working)) repair(working, warnings);
    const dropped: FieldIssue[] = [];
    for (let round = 0; ; round++) {
      const res = parse(working);
      if (res.success) {
        return { ok: true, lead: res.data, warnings: [...warnings, ...dropped.map((d) => ({ path: d.path, message: `${d.message}; the field was left out and the lead accepted without it` }))] };
      }
      const targets = res.error.issues.map((issue) => (ALWAYS_FATAL.has(issue.code) ? null : droppableTarget(issue.path)));
      if (round >= MAX_ROUNDS || targets.some((t) => t === null) || !isObj(working)) {
        return { ok: false, issues: capped([...dropped, ...res.error.issues.map((i) => toFieldIssue(i))]), warnings };
      }
      res.error.issues.forEach((issue) => dropped.push(toFieldIssue(issue)));
      for (const t of targets) if (t) removeAt(working, t);
      compactOtherPhones(working);
    }
  } catch (err) {
    // Only a hostile object (a throwing getter or proxy) from a library caller gets here.
    return { ok: false, issues: [{ path: '', message: `the lead could not be read (${(err as Error)?.message ?? String(err)})` }], warnings };
  }
}

/** A lead with thousands of bad entries gets a readable answer, not thousands of lines. */
export const MAX_ISSUES_PER_LEAD = 50;

function capped(issues: FieldIssue[]): FieldIssue[] {
  if (issues.length <= MAX_ISSUES_PER_LEAD) return issues;
  return [...issues.slice(0, MAX_ISSUES_PER_LEAD - 1), { path: '', message: `… and ${issues.length - MAX_ISSUES_PER_LEAD + 1} more problems` }];
}

function droppableTarget(path: ReadonlyArray<PropertyKey>): PropertyKey[] | null {
  let best: readonly string[] | null = null;
  for (const pattern of DROPPABLE) {
    if (pattern.length > path.length || (best && pattern.length <= best.length)) continue;
    if (pattern.every((seg, i) => seg === '*' || seg === path[i])) best = pattern;
  }
  return best ? path.slice(0, best.length) : null;
}

function removeAt(root: Obj, path: PropertyKey[]): void {
  let cur: unknown = root;
  for (const seg of path.slice(0, -1)) {
    if (!isObj(cur) || !Object.hasOwn(cur, seg)) return;
    cur = cur[seg as string];
  }
  const last = path[path.length - 1];
  if (Array.isArray(cur) && typeof last === 'number') cur[last] = REMOVED;
  else if (isObj(cur) && Object.hasOwn(cur, last)) delete cur[last as string];
}

function compactOtherPhones(root: Obj): void {
  const c = root.candidate;
  if (isObj(c) && Array.isArray(c.otherPhones)) c.otherPhones = c.otherPhones.filter((p) => p !== REMOVED);
}

/**
 * Copies every container the repair may change (root, candidate, vacancy, source, utm, extra,
 * otherPhones), so the caller's object is never modified. Spread copies own keys as own data
 * properties, so a `__proto__` key stays a plain key and cannot reach Object.prototype.
 */
function copyContainers(input: unknown): unknown {
  if (!isObj(input)) return input;
  const root: Obj = { ...input };
  for (const k of ['candidate', 'vacancy', 'source', 'extra']) if (Object.hasOwn(root, k) && isObj(root[k])) root[k] = { ...(root[k] as Obj) };
  const source = root.source;
  if (isObj(source) && Object.hasOwn(source, 'utm') && isObj(source.utm)) source.utm = { ...source.utm };
  const c = root.candidate;
  if (isObj(c) && Array.isArray(c.otherPhones)) c.otherPhones = [...(c.otherPhones as unknown[])];
  return root;
}

function repair(lead: Obj, warnings: FieldIssue[]): void {
  const c = lead.candidate;
  if (isObj(c) && Object.hasOwn(c, 'phone') && typeof c.phone === 'string') splitPhones(c, warnings);
  if (Object.hasOwn(lead, 'comment') && typeof lead.comment === 'string') {
    lead.comment = cleanText(lead.comment, 'comment', warnings);
  }
  const extra = lead.extra;
  if (isObj(extra)) {
    // zod skips a `__proto__` key in a record without a word; say it.
    if (Object.hasOwn(extra, '__proto__')) {
      delete extra['__proto__'];
      warnings.push({ path: 'extra.__proto__', message: 'is a reserved name; the entry was left out' });
    }
    for (const [k, v] of Object.entries(extra)) if (typeof v === 'string') extra[k] = cleanText(v, formatPath(['extra', k]), warnings);
  }
}

function cleanText(text: string, path: string, warnings: FieldIssue[]): string {
  const { text: out, removed } = cleanFreeText(text);
  if (removed.length) warnings.push({ path, message: `invisible control characters (${removed.join(', ')}) were removed` });
  return out;
}

/** `+7 916 123 45 67 / 8 903 123 45 67`: the first valid number stays in phone, the rest go to otherPhones. */
function splitPhones(c: Obj, warnings: FieldIssue[]): void {
  const raw = c.phone as string;
  if (!/[/,;]/.test(raw) || raw.length > MAX_PHONE_INPUT_LENGTH || parsePhone(raw.trim()).ok) return;
  const parts = splitPhoneList(raw);
  if (parts.length < 2) return;
  const parsed = parts.map((p) => parsePhone(p));
  const firstAt = parsed.findIndex((p) => p.ok);
  const first = parsed[firstAt];
  if (!first?.ok) return; // nothing readable: the schema says why

  c.phone = first.ext ? `${first.e164} ext. ${first.ext}` : first.e164;
  const existing = Array.isArray(c.otherPhones) ? (c.otherPhones as unknown[]) : [];
  const found: string[] = [];
  parsed.forEach((p, i) => {
    if (i === firstAt) return;
    const at = `part ${i + 1} of ${parts.length}`;
    if (!p.ok) warnings.push({ path: 'candidate.phone', message: `${at} ${p.reason}; it was left out` });
    else {
      if (p.ext) warnings.push({ path: 'candidate.phone', message: `${at} had an extension, which was left out (candidate.otherPhones hold numbers only)` });
      if (p.e164 !== first.e164 && !found.includes(p.e164)) found.push(p.e164);
    }
  });
  const room = Math.max(0, MAX_OTHER_PHONES - existing.length);
  if (found.length > room) warnings.push({ path: 'candidate.otherPhones', message: `${found.length - room} further number(s) did not fit (at most ${MAX_OTHER_PHONES}) and were left out` });
  const kept = found.slice(0, room);
  if (kept.length) {
    if (Object.hasOwn(c, 'otherPhones') && !Array.isArray(c.otherPhones)) {
      warnings.push({ path: 'candidate.otherPhones', message: 'was not a list of numbers; replaced by the further numbers found in candidate.phone' });
    }
    c.otherPhones = [...existing, ...kept];
  }
  warnings.push({
    path: 'candidate.phone',
    message: `held ${parts.length} numbers: part ${firstAt + 1} is kept as the phone${kept.length ? `, ${kept.length} more in candidate.otherPhones` : ''}`,
  });
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
