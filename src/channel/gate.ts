import type { RequestPurpose } from '../../adapters/types';
import type { RequestGate } from '../http/crm-http';
import type { SharedRateLimiter } from '../flow/rate-limiter';

/**
 * The channel's door to the shared rate limiter: every request of every purpose passes it.
 *
 *  - `poll` requests may use at most `pollShare` of the budget (their own log, checked with the main
 *    one), and skip this process's queue of waiting deliveries, so a delivery backlog is never starved
 *    and a poll never waits behind a whole backlog;
 *  - the capacity probe admits its pings under its own step ceiling (`probeCeiling()`), which is never
 *    above the limit the CRM is known to enforce, so a probe during a delivery burst keeps every window
 *    within the limit;
 *  - everything else is admitted under the client's (adaptive) limit.
 */
export class ChannelGate implements RequestGate {
  constructor(
    private readonly limiter: SharedRateLimiter,
    private readonly opts: { pollShare: () => number; probeCeiling: () => number | undefined },
  ) {}

  acquire(purpose: RequestPurpose): Promise<unknown> {
    if (purpose === 'poll') {
      const limit = this.limiter.configuredLimit().requests;
      return this.limiter.acquire({ shareMax: Math.max(1, Math.floor(limit * this.opts.pollShare())), priority: true });
    }
    const ceiling = purpose === 'probe' ? this.opts.probeCeiling() : undefined;
    return this.limiter.acquire(ceiling === undefined ? {} : { fixedCeiling: ceiling });
  }

  sent(admission: unknown): Promise<void> {
    return this.limiter.sent(admission);
  }

  holdFor(ms: number, reason: string): Promise<void> {
    return this.limiter.holdFor(ms, reason);
  }

  /** A 429 the capacity probe provokes on purpose says nothing about the rate deliveries should use. */
  onRateLimited(): Promise<unknown> {
    if (this.opts.probeCeiling() !== undefined) return Promise.resolve(undefined);
    return this.limiter.onRateLimited();
  }

  onSuccess(): Promise<unknown> {
    return this.limiter.onSuccess();
  }
}
