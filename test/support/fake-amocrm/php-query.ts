import type { QueryObject, QueryValue } from './types';

/**
 * PHP's `parse_str` (amoCRM is PHP), rule for rule, so the fake reads a query string or a form body
 * exactly as amoCRM does rather than as our client hopes. A client that relies on any other
 * reading (repeated keys meaning a list, above all) fails against the fake as it would in production.
 * `qs` and friends are not used: they merge repeated keys, keep dots and treat depth differently.
 *
 * The rules (php-src main/php_variables.c `php_register_variable_ex`, PHP 8.3):
 * - Pairs are split on `&` (empty pairs skipped), then on the first `=`; `+` and `%XX` are decoded in
 *   names and values. A pair without `=` has the value ''. Only the first `maxVars` pairs count
 *   (`max_input_vars`, 1000); PHP drops the rest with a warning.
 * - The name is cut at a NUL byte; leading spaces are dropped. In the top-level name (before the
 *   first `[`) every ` ` and `.` becomes `_`. An empty top-level name drops the pair.
 * - `[key]` goes one level down, `[]` (or `[ ]`) appends at the next integer index. A key that is a
 *   canonical integer (`0`, `17`, `-3`; not `01`, `+1`, `-0`) is an integer key, which moves the
 *   next append index past it: `a[5]=x&a[]=y` gives a = {5: x, 6: y}.
 * - A repeated name assigns again: the LAST value wins (`a=1&a=2` → a = '2'), and so does a scalar
 *   written over an array (`a[]=1&a=2` → '2'). An array path through a scalar replaces the scalar
 *   with an empty array (`a=1&a[x]=2` → a = {x: '2'}).
 * - Parsing stops at the first `]` that is not followed by `[`: `a[b]c=1` → a = {b: '1'}.
 * - A `[` without a closing `]`: on the first level it becomes `_` and the rest of the name is made
 *   a plain name (` `, `.` and `[` → `_`): `a[b.c=1` → a_b_c = '1'. Deeper down the unclosed part is
 *   dropped and the value lands on the last complete key: `a[x][y=1` → a = {x: '1'}.
 * - More than `maxDepth` bracket levels (`max_input_nesting_level`, 64) drop the pair AND delete
 *   whatever the top-level name already held.
 *
 * Output: a PHP array whose keys are exactly 0..n-1 in order becomes a JS array (`a[]=1&a[]=2` →
 * ['1', '2']); any other becomes a plain object. JS lists integer keys of an object first, in
 * ascending order, so the order of a non-list array is not PHP's; nothing here depends on it.
 */
export interface PhpQueryLimits {
  maxDepth?: number;
  maxVars?: number;
}

export function parseQuery(raw: string, limits: PhpQueryLimits = {}): QueryObject {
  const maxDepth = limits.maxDepth ?? 64;
  const maxVars = limits.maxVars ?? 1000;
  // URLSearchParams splits and decodes as PHP does, but would drop a leading `?`, which PHP keeps in
  // the name; a leading `&` only adds an empty pair, which both skip.
  const params = new URLSearchParams(`&${raw}`);
  const root = new PhpArray();
  let count = 0;
  for (const [name, value] of params) {
    if (++count > maxVars) break;
    register(root, name, value, maxDepth);
  }
  return toObject(root);
}

type PhpValue = string | PhpArray;

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** The integer a key string stands for in a PHP array, or undefined for a string key. */
function intKey(key: string): bigint | undefined {
  if (!/^(0|-?[1-9][0-9]*)$/.test(key)) return undefined;
  const n = BigInt(key);
  return n >= INT64_MIN && n <= INT64_MAX ? n : undefined;
}

/** An ordered PHP hash table with its next free integer index. */
class PhpArray {
  readonly items = new Map<string, PhpValue>();
  private nextFree: bigint | undefined;

  get(key: string): PhpValue | undefined {
    return this.items.get(key);
  }

  set(key: string, v: PhpValue): void {
    const n = intKey(key);
    if (n !== undefined && (this.nextFree === undefined || n >= this.nextFree)) this.nextFree = n < INT64_MAX ? n + 1n : INT64_MAX;
    this.items.set(key, v);
  }

  /** false when the next index is taken (it is INT64_MAX): PHP then drops the value. */
  append(v: PhpValue): boolean {
    const key = String(this.nextFree ?? 0n);
    if (this.items.has(key)) return false;
    this.set(key, v);
    return true;
  }

  delete(key: string): void {
    this.items.delete(key);
  }
}

function register(root: PhpArray, rawName: string, value: string, maxDepth: number): void {
  const nul = rawName.indexOf('\0');
  const name = (nul >= 0 ? rawName.slice(0, nul) : rawName).replace(/^ +/, '');
  const bracket = name.indexOf('[');
  const top = (bracket >= 0 ? name.slice(0, bracket) : name).replace(/[ .]/g, '_');
  if (top === '') return;
  if (bracket < 0) return root.set(top, value);

  let table = root;
  // null: the next step appends (`[]`) instead of naming a key.
  let index: string | null = top;
  let pos = bracket; // at a '['
  for (let level = 1; ; level++) {
    if (level > maxDepth) return root.delete(top);
    const start = pos + 1;
    const afterSpace = name[start] === ' ' ? start + 1 : start;
    let segment: string | null;
    let close: number;
    if (name[afterSpace] === ']') {
      segment = null;
      close = afterSpace;
    } else {
      close = name.indexOf(']', afterSpace);
      if (close < 0) {
        // On the first level the name becomes a plain one; deeper down the unclosed rest is dropped.
        if (level === 1) index = `${top}_${name.slice(start).replace(/[ .[]/g, '_')}`;
        break;
      }
      segment = name.slice(start, close);
    }
    const child: PhpArray | undefined = descend(table, index);
    if (!child) return;
    table = child;
    index = segment;
    pos = close + 1;
    if (name[pos] !== '[') break;
  }
  if (index === null) table.append(value);
  else table.set(index, value);
}

/** The array at `index` of `table`, created (over a scalar, if need be) when missing. */
function descend(table: PhpArray, index: string | null): PhpArray | undefined {
  if (index === null) {
    const fresh = new PhpArray();
    return table.append(fresh) ? fresh : undefined;
  }
  const existing = table.get(index);
  if (existing instanceof PhpArray) return existing;
  const fresh = new PhpArray();
  table.set(index, fresh);
  return fresh;
}

function toValue(v: PhpValue): QueryValue {
  if (typeof v === 'string') return v;
  const keys = [...v.items.keys()];
  if (keys.every((k, i) => k === String(i))) return [...v.items.values()].map(toValue);
  return toObject(v);
}

function toObject(a: PhpArray): QueryObject {
  // fromEntries defines own properties, so a key like `__proto__` stays a plain key.
  return Object.fromEntries([...a.items].map(([k, v]) => [k, toValue(v)]));
}
