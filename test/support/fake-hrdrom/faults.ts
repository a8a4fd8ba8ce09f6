/**
 * The queue of injected faults: which request gets which failure. Specs are checked when they are
 * injected, so a typo in a test fails at the line that made it, not as a puzzling answer later.
 */
import type { ProgressEvent } from '../../../src/domain/progress';
import type { FaultMatch, FaultSpec, InjectFaultOptions } from './types';

export const PROGRESS_PATH = '/v1/lead-progress';

const STATUS_FAULT = new Set([500, 502, 503, 504, 429]);
const ACCEPT_THEN_STATUS = new Set([500, 502, 503, 504]);

export function checkFault(fault: FaultSpec): void {
  const f = fault as { type?: unknown; status?: unknown; ms?: unknown; headers?: unknown };
  const bad = (why: string): never => {
    throw new Error(`injectFault(): ${why}`);
  };
  switch (f.type) {
    case 'status':
      if (!STATUS_FAULT.has(f.status as number)) bad(`status must be one of ${[...STATUS_FAULT].join(', ')}, got ${String(f.status)}`);
      break;
    case 'accept-then-status':
      if (!ACCEPT_THEN_STATUS.has(f.status as number)) bad(`accept-then-status needs a 5xx status (${[...ACCEPT_THEN_STATUS].join(', ')}), got ${String(f.status)}`);
      break;
    case 'latency':
      if (typeof f.ms !== 'number' || !Number.isFinite(f.ms) || f.ms < 0) bad(`latency needs ms >= 0, got ${String(f.ms)}`);
      break;
    case 'timeout':
    case 'reset':
      break;
    default:
      bad(`unknown fault type ${JSON.stringify(f.type)} (status, timeout, reset, accept-then-status, latency)`);
  }
  if (f.headers !== undefined) {
    const ok = typeof f.headers === 'object' && f.headers !== null && Object.values(f.headers).every((v) => typeof v === 'string');
    if (!ok) bad('headers must map header names to strings');
  }
}

/** What a fault is matched against, once the body is in. */
export interface FaultTarget {
  method: string;
  path: string;
  /** The events of a valid write-back; undefined when the request would be refused or is not one. */
  events: ReadonlyArray<ProgressEvent> | undefined;
}

interface QueuedFault {
  fault: FaultSpec;
  remaining: number;
  match: FaultMatch;
}

export class FaultQueue {
  private queue: QueuedFault[] = [];

  add(fault: FaultSpec, opts: InjectFaultOptions = {}): void {
    checkFault(fault);
    const times = opts.times ?? 1;
    if (!Number.isInteger(times) || times < 1) throw new Error(`injectFault(): times must be a positive integer, got ${times}`);
    this.queue.push({ fault: structuredClone(fault), remaining: times, match: { ...opts.match } });
  }

  clear(): void {
    this.queue = [];
  }

  /** Consumes one use of the first queued fault that matches, in injection order. */
  take(target: FaultTarget): FaultSpec | undefined {
    for (let i = 0; i < this.queue.length; i++) {
      const q = this.queue[i];
      if (!matches(q, target)) continue;
      if (--q.remaining === 0) this.queue.splice(i, 1);
      return q.fault;
    }
    return undefined;
  }
}

function matches({ fault, match }: QueuedFault, target: FaultTarget): boolean {
  if (target.method !== (match.method ?? 'POST').toUpperCase()) return false;
  if (match.path) {
    // A /g or /y RegExp keeps lastIndex between calls and would then skip every other request.
    match.path.lastIndex = 0;
    if (!match.path.test(target.path)) return false;
  } else if (target.path !== PROGRESS_PATH) return false;
  // "Records the events" needs events that can be recorded.
  if (fault.type === 'accept-then-status' && !target.events) return false;
  const byEvent = match.clientId !== undefined || match.leadId !== undefined || match.eventId !== undefined;
  if (!byEvent) return true;
  return (target.events ?? []).some(
    (e) =>
      (match.clientId === undefined || e.clientId === match.clientId) &&
      (match.leadId === undefined || e.leadId === match.leadId) &&
      (match.eventId === undefined || e.eventId === match.eventId),
  );
}
