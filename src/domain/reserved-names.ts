/**
 * Property names that reach JavaScript's object machinery instead of data: `obj.__proto__ = x`
 * replaces a prototype, and `constructor` / `prototype` lead from any object to shared built-ins.
 * A client file is text that becomes keys and paths in code, so these names are refused anywhere in
 * it, and code that walks config-given paths never follows anything but an object's own properties.
 */
export const RESERVED_NAMES = ['__proto__', 'constructor', 'prototype'] as const;

const RESERVED: ReadonlySet<string> = new Set(RESERVED_NAMES);

export function isReservedName(name: string): boolean {
  return RESERVED.has(name);
}

/** The first segment of a dot path that is a reserved name, if any (`a.__proto__.b` → `__proto__`). */
export function reservedSegment(path: string): string | undefined {
  return path.split('.').find(isReservedName);
}

export function reservedNameMessage(name: string, where: string): string {
  return `'${name}' is not allowed as ${where}: ${RESERVED_NAMES.join(', ')} are reserved names in a client file`;
}
