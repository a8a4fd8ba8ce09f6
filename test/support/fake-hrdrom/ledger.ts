/**
 * What the fake HRDrom has recorded: accepted events, the eventIds it will answer `duplicate` for,
 * and the questions tests ask about a sender's behaviour (order per lead, one change sent twice).
 */
import { leadJobId } from '../../../src/domain/lead';
import type { ProgressEvent, ProgressResult } from '../../../src/domain/progress';
import type { ContentDuplicate, ReceivedEvent, RejectPredicate } from './types';

export interface LedgerCounts {
  accepted: number;
  duplicates: number;
  rejected: number;
  conflictingDuplicates: number;
}

/** Offsets differ between senders, so changes are compared as instants, never as strings. */
const instant = (iso: string): number => Date.parse(iso);

/** Two events describe the same change. observedAt may differ on a resend and is left out. */
const sameChange = (a: ProgressEvent, b: ProgressEvent): boolean =>
  a.clientId === b.clientId && a.leadId === b.leadId && a.stage === b.stage && instant(a.changedAt) === instant(b.changedAt);

export class Ledger {
  private readonly received: ReceivedEvent[] = [];
  private readonly byEventId = new Map<string, ReceivedEvent>();
  readonly counts: LedgerCounts = { accepted: 0, duplicates: 0, rejected: 0, conflictingDuplicates: 0 };

  get size(): number {
    return this.received.length;
  }

  /**
   * Answers every event of a valid batch, in order, and records the accepted ones. All or nothing:
   * if the predicate throws, nothing is recorded and the error propagates (the server answers 500).
   */
  apply(events: ReadonlyArray<ProgressEvent>, receivedAt: number, rejectWhen: RejectPredicate | undefined): ProgressResult[] {
    const results: ProgressResult[] = [];
    const fresh: ReceivedEvent[] = [];
    const inBatch = new Map<string, ProgressEvent>();
    let conflicts = 0;
    for (const event of events) {
      const earlier = this.byEventId.get(event.eventId) ?? inBatch.get(event.eventId);
      if (earlier) {
        if (!sameChange(earlier, event)) conflicts++;
        results.push({ eventId: event.eventId, status: 'duplicate' });
        continue;
      }
      const reason = rejectWhen?.(event);
      if (typeof reason === 'string' && reason !== '') {
        results.push({ eventId: event.eventId, status: 'rejected', reason });
        continue;
      }
      inBatch.set(event.eventId, event);
      fresh.push({ ...event, receivedAt });
      results.push({ eventId: event.eventId, status: 'accepted' });
    }
    for (const e of fresh) {
      this.received.push(e);
      this.byEventId.set(e.eventId, e);
    }
    for (const r of results) {
      if (r.status === 'accepted') this.counts.accepted++;
      else if (r.status === 'duplicate') this.counts.duplicates++;
      else this.counts.rejected++;
    }
    this.counts.conflictingDuplicates += conflicts;
    return results;
  }

  events(): ReceivedEvent[] {
    return structuredClone(this.received);
  }

  eventsFor(clientId: string, leadId: string): ReceivedEvent[] {
    return structuredClone(this.received.filter((e) => e.clientId === clientId && e.leadId === leadId));
  }

  outOfOrderLeads(): string[] {
    const latest = new Map<string, number>();
    const out = new Set<string>();
    for (const e of this.received) {
      const key = leadJobId(e.clientId, e.leadId);
      const at = instant(e.changedAt);
      const seen = latest.get(key);
      if (seen !== undefined && at < seen) out.add(key);
      else latest.set(key, Math.max(seen ?? at, at));
    }
    return [...out];
  }

  duplicatesByContent(): ContentDuplicate[] {
    const groups = new Map<string, ContentDuplicate>();
    for (const e of this.received) {
      // clientId has no '.' or '|', and leadId no '|', so the key cannot be ambiguous.
      const key = `${e.clientId}|${e.leadId}|${e.stage}|${instant(e.changedAt)}`;
      const group = groups.get(key);
      if (group) group.eventIds.push(e.eventId);
      else groups.set(key, { clientId: e.clientId, leadId: e.leadId, stage: e.stage, changedAt: e.changedAt, eventIds: [e.eventId] });
    }
    return [...groups.values()].filter((g) => g.eventIds.length > 1);
  }
}
