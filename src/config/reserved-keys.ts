import { isAlias, isCollection, isMap, isScalar, isSeq, type Document, type Pair } from 'yaml';
import type { FieldIssue } from '../domain/errors';
import { isReservedName, reservedNameMessage } from '../domain/reserved-names';
import { formatPath } from '../domain/zod-issues';

/**
 * Finds every mapping key named `__proto__`, `constructor` or `prototype` anywhere in a parsed YAML
 * document, before it is turned into JavaScript objects: in plain blocks, in records the schemas
 * accept freely (statusMap, value maps, const objects), inside `<<` merge sources and anchored
 * nodes. Works on the syntax tree with an explicit stack, so a deeply nested file cannot overflow it.
 */
export function findReservedKeys(doc: Document): FieldIssue[] {
  const issues: FieldIssue[] = [];
  type Entry = { node: unknown; path: Array<string | number> } | { pair: Pair; path: Array<string | number> };
  const stack: Entry[] = [{ node: doc.contents, path: [] }];
  // Children are pushed last-first, so entries are visited (and problems reported) in file order.
  while (stack.length > 0) {
    const entry = stack.pop()!;
    if ('pair' in entry) {
      const key = keyText(doc, entry.pair.key);
      const keyPath = [...entry.path, key ?? '?'];
      if (key !== null && isReservedName(key)) issues.push({ path: formatPath(keyPath), message: reservedNameMessage(key, 'a key') });
      stack.push({ node: entry.pair.value, path: keyPath });
      // A collection used as a key (`? {a: 1} : x`) may hide a reserved key of its own.
      if (isCollection(entry.pair.key)) stack.push({ node: entry.pair.key, path: keyPath });
    } else if (isMap(entry.node)) {
      for (let i = entry.node.items.length - 1; i >= 0; i--) stack.push({ pair: entry.node.items[i], path: entry.path });
    } else if (isSeq(entry.node)) {
      for (let i = entry.node.items.length - 1; i >= 0; i--) stack.push({ node: entry.node.items[i], path: [...entry.path, i] });
    }
    // An alias is not followed: the node it points to is checked where its anchor is defined.
  }
  return issues;
}

/** The text a key becomes in JavaScript, for scalar keys and aliases of scalars; null otherwise. */
function keyText(doc: Document, key: unknown): string | null {
  const node = isAlias(key) ? key.resolve(doc) : key;
  // A merge key (`<<` in a YAML 1.1 file) is held as a symbol; name it as written.
  if (isScalar(node)) return typeof node.value === 'symbol' ? (node.value.description ?? '') : String(node.value);
  return null;
}
