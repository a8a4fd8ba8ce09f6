import type { QueryParams } from '../../adapters/types';

/**
 * Serializes a request's query exactly as the adapter wrote it: every key verbatim, and an array
 * value repeats its key verbatim once per element.
 *
 * Why not a library's default: CRMs parse queries differently. amoCRM is PHP, where a repeated key
 * without `[]` keeps only its LAST value (`f=A&f=B` is `f=B`), so a filter over several values must
 * be written `f[]=A&f[]=B`; other servers want the bare repeated key. axios' serializer rewrote keys
 * (it strips a trailing `[]` before repeating), which silently turned a lookup of N leads into a
 * lookup of the last one. Here the adapter decides the form, and what it writes is what is sent.
 */
export function serializeQuery(query: QueryParams): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined) continue;
    const k = encodeURIComponent(key);
    for (const v of Array.isArray(value) ? value : [value]) parts.push(`${k}=${encodeURIComponent(String(v))}`);
  }
  return parts.join('&');
}
