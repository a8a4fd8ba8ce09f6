import { DeliveryError } from '../../src/domain/errors';
import { readResponsePath } from './mapping';

/**
 * Pairs a batch answer's results with the leads sent, one result per lead.
 *
 * With `keyPath` (where each result echoes the lead's HRDrom id) results are matched by that key, in
 * whatever order the CRM lists them — some list refused items first. Without it results are taken in
 * order, but never blindly: a result that echoes ANOTHER lead of the batch (in any top-level field)
 * means the order is not ours, and the answer fails as `contract`. Guessing would record one lead as
 * delivered under another's CRM id, and lose it.
 */
export function matchBatchResults(leadIds: string[], results: unknown[], keyPath: string | undefined): unknown[] {
  const breach = (why: string) => new DeliveryError('contract', `batch create answer cannot be matched to the leads sent: ${why}`, { uncertain: true });
  if (keyPath) {
    const byKey = new Map<string, unknown>();
    for (const r of results) {
      const key = readResponsePath(r, keyPath);
      if (typeof key !== 'string' && typeof key !== 'number') throw breach(`a result has no key at '${keyPath}'`);
      if (byKey.has(String(key))) throw breach(`two results name the same lead at '${keyPath}'`);
      byKey.set(String(key), r);
    }
    return leadIds.map((id) => {
      if (!byKey.has(id)) throw breach(`no result names lead ${id} at '${keyPath}'`);
      return byKey.get(id);
    });
  }
  const inBatch = new Set(leadIds);
  results.forEach((r, i) => {
    if (r === null || typeof r !== 'object') return;
    for (const v of Object.values(r as Record<string, unknown>)) {
      if (typeof v === 'string' && v !== leadIds[i] && inBatch.has(v)) {
        throw breach(`result ${i} names lead ${v}, not ${leadIds[i]}: configure settings.batch.resultKeyPath to match results by key`);
      }
    }
  });
  return results;
}
