import type { z } from 'zod';
import type { FieldIssue } from './errors';

/** Turns zod issues into `path: message` pairs, with paths written the way ops and HRDrom read them. */
export function toFieldIssues(error: z.ZodError, prefix = ''): FieldIssue[] {
  return error.issues.map((issue) => toFieldIssue(issue, prefix));
}

export function toFieldIssue(issue: z.core.$ZodIssue, prefix = ''): FieldIssue {
  return { path: joinPath(prefix, formatPath(issue.path)), message: humanMessage(issue) };
}

/** A path segment comes from the input and may be anything: long ones are cut so an answer stays small. */
const MAX_SEGMENT = 64;

export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else {
      const s = String(seg);
      const shown = s.length > MAX_SEGMENT ? `${s.slice(0, MAX_SEGMENT)}…` : s;
      out += out ? `.${shown}` : shown;
    }
  }
  return out;
}

function joinPath(prefix: string, path: string): string {
  if (!prefix) return path;
  if (!path) return prefix;
  return path.startsWith('[') ? `${prefix}${path}` : `${prefix}.${path}`;
}

/** zod's default for a missing field reads "expected string, received undefined"; ops expect "Required". */
function humanMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type' && /received undefined/.test(issue.message)) return 'Required';
  if (issue.code === 'unrecognized_keys') return `unknown field(s) ${issue.keys.map((k) => `'${k.length > MAX_SEGMENT ? `${k.slice(0, MAX_SEGMENT)}…` : k}'`).join(', ')}: check the spelling`;
  // zod says only "Invalid key in record"; the reason is in the nested issue.
  if (issue.code === 'invalid_key' && issue.issues.length > 0) return issue.issues.map((i) => i.message).join('; ');
  return issue.message;
}
