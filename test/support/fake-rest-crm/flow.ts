/**
 * What stands between a request and the fake CRM's handlers: the queue of injected faults and the
 * sliding-window rate limiter.
 */
import type { FakeRestCrmRateLimit, FaultSpec, InjectFaultOptions } from './types';

/** Without an explicit match, faults hit the create/lookup traffic, never auth or ping. */
const DEFAULT_FAULT_PATH = /^\/api\/candidates(\/|$)/;

const FAULT_TYPES: ReadonlySet<string> = new Set<FaultSpec['type']>([
  'status',
  'timeout',
  'reset',
  'rate-limit',
  'rate-limit-body',
  'shape',
  'create-then-delay',
  'unauthorized',
  'write-after',
  'slow-headers',
  'slow-body',
  'endless-body',
]);

/** An unknown type or a bad delay would otherwise leave the request hanging without a word. */
function checkFault(fault: FaultSpec): void {
  if (!FAULT_TYPES.has(fault.type)) throw new Error(`injectFault(): unknown fault type '${String(fault.type)}'`);
  const needsMs = ['create-then-delay', 'write-after', 'slow-headers', 'slow-body'].includes(fault.type);
  if (needsMs || (fault.type === 'timeout' && fault.ms !== undefined)) {
    const ms = (fault as { ms?: unknown }).ms;
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) throw new Error(`injectFault(): '${fault.type}' needs ms >= 0, got ${String(ms)}`);
  }
}

interface QueuedFault {
  fault: FaultSpec;
  remaining: number;
  method?: string;
  path: RegExp;
}

export class FaultQueue {
  private queue: QueuedFault[] = [];

  add(fault: FaultSpec, opts: InjectFaultOptions = {}): void {
    checkFault(fault);
    const times = opts.times ?? 1;
    if (!Number.isInteger(times) || times < 1) throw new Error(`injectFault(): times must be a positive integer, got ${times}`);
    this.queue.push({
      fault,
      remaining: times,
      method: opts.match?.method?.toUpperCase(),
      path: opts.match?.path ?? DEFAULT_FAULT_PATH,
    });
  }

  clear(): void {
    this.queue = [];
  }

  /** Consumes one use of the first queued fault matching the request, in injection order. */
  take(method: string, path: string): FaultSpec | undefined {
    for (let i = 0; i < this.queue.length; i++) {
      const q = this.queue[i];
      if (q.method && q.method !== method) continue;
      // A /g or /y RegExp keeps lastIndex between calls and would then match every other request.
      q.path.lastIndex = 0;
      if (!q.path.test(path)) continue;
      if (--q.remaining === 0) this.queue.splice(i, 1);
      return q.fault;
    }
    return undefined;
  }
}

/**
 * A strict sliding window: a request is accepted only if fewer than `requests` requests were
 * accepted in the `perSeconds` before it. Rejected requests do not count, as with most gateways,
 * so a client hammering through 429s is not locked out for longer than the window.
 */
export class SlidingWindow {
  private stamps: number[] = [];
  private head = 0;

  constructor(private config: FakeRestCrmRateLimit) {
    SlidingWindow.check(config);
  }

  static check(rl: FakeRestCrmRateLimit): void {
    if (!(rl.requests >= 0) || !(rl.perSeconds > 0)) {
      throw new Error(`rateLimit needs requests >= 0 and perSeconds > 0, got ${rl.requests}/${rl.perSeconds}s`);
    }
  }

  get retryAfterSeconds(): number {
    return this.config.retryAfterSeconds ?? 1;
  }

  /** Keeps the timestamps already accepted, so tightening a limit mid-test takes effect at once. */
  reconfigure(config: FakeRestCrmRateLimit): void {
    SlidingWindow.check(config);
    this.config = config;
  }

  tryAccept(at: number): boolean {
    const windowStart = at - this.config.perSeconds * 1000;
    while (this.head < this.stamps.length && this.stamps[this.head] <= windowStart) this.head++;
    // Compact now and then instead of shift()ing, which is O(n) per request under benchmark load.
    if (this.head > 1024 && this.head * 2 > this.stamps.length) {
      this.stamps = this.stamps.slice(this.head);
      this.head = 0;
    }
    if (this.stamps.length - this.head >= this.config.requests) return false;
    this.stamps.push(at);
    return true;
  }
}
