import { timingSafeEqual, createHash } from 'node:crypto';

/**
 * Compares a presented bearer token with the expected one in constant time. Both sides are hashed
 * first, so neither the comparison time nor a length mismatch tells an attacker anything.
 */
export function bearerMatches(header: string | undefined, expected: string): boolean {
  if (!expected) return false;
  const m = /^Bearer\s+(.+)$/i.exec(header ?? '');
  const presented = m ? m[1].trim() : '';
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b) && presented.length > 0;
}
