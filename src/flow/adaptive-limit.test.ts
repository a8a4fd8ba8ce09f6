import type { Redis } from 'ioredis';
import { setTimeout as delay } from 'node:timers/promises';
import { cleanupPrefix, redisClient, testPrefix } from '../../test/support/redis';
import { SharedRateLimiter, type LimitChange } from './rate-limiter';
import type { RateLimiterKeys } from './rate-limiter';

const limiterKeys = (client: string): RateLimiterKeys => ({
  rateLog: `${client}:flow:rl:log`,
  rateHold: `${client}:flow:rl:hold`,
  rateAdaptive: `${client}:flow:rl:adaptive`,
  pollLog: `${client}:flow:rl:poll`,
});

let conns: Redis[];
let prefix: string;
let client: string;

beforeEach(() => {
  conns = [redisClient(), redisClient(), redisClient()];
  prefix = testPrefix('adaptive');
  client = `${prefix}:{acme}`;
});

afterEach(async () => {
  await cleanupPrefix(conns[0], prefix);
  await Promise.all(conns.map((c) => c.quit()));
});

/** A CRM that really allows `allowed` requests per sliding second and answers 429 + Retry-After beyond it. */
class FakeCrm {
  private accepted: number[] = [];
  readonly log: { at: number; status: 200 | 429 }[] = [];
  constructor(private readonly allowed: number) {}

  call(): { status: 200 } | { status: 429; retryAfterMs: number } {
    const now = Date.now();
    this.accepted = this.accepted.filter((t) => now - t < 1000);
    if (this.accepted.length >= this.allowed) {
      this.log.push({ at: now, status: 429 });
      return { status: 429, retryAfterMs: this.accepted[0] + 1000 - now };
    }
    this.accepted.push(now);
    this.log.push({ at: now, status: 200 });
    return { status: 200 };
  }
}

describe('adaptive limit', () => {
  it('settles at or below what the CRM really allows (5/s) when config says 20/s, shared by 3 processes', async () => {
    const crm = new FakeCrm(5);
    const changes: LimitChange[] = [];
    const limiters = conns.map(
      (c) =>
        new SharedRateLimiter(c, limiterKeys(client), { requests: 20, perSeconds: 1 }, {
          adaptive: { quietMs: 2_000, memoryMs: 60_000 },
          onLimitChange: (ch) => changes.push(ch),
        }),
    );
    const runMs = 7_000;
    const end = Date.now() + runMs;
    const settledFrom = end - 2_500;
    let maxEffectiveLate = 0;

    // 3 processes × 4 concurrent workers, always more demand than the CRM takes.
    // Workers blocked in acquire() at the end are stopped the way a shutting-down worker would be.
    const stop = new AbortController();
    const stopTimer = setTimeout(() => stop.abort(), runMs);
    const worker = async (limiter: SharedRateLimiter) => {
      while (Date.now() < end) {
        try {
          await limiter.acquire({ signal: stop.signal });
        } catch (err) {
          if (err instanceof Error && err.name === 'AbortError') return;
          throw err;
        }
        const res = crm.call();
        await delay(5 + Math.random() * 10); // the HTTP round trip
        if (res.status === 429) {
          await limiter.onRateLimited();
          await limiter.holdFor(res.retryAfterMs, 'HTTP 429');
        } else {
          await limiter.onSuccess();
        }
        if (Date.now() >= settledFrom) maxEffectiveLate = Math.max(maxEffectiveLate, (await limiter.effectiveLimit()).requests);
      }
    };
    await Promise.all(limiters.flatMap((l) => [worker(l), worker(l), worker(l), worker(l)]));
    clearTimeout(stopTimer);

    const final = (await limiters[0].effectiveLimit()).requests;
    expect(final).toBeLessThanOrEqual(5);
    expect(final).toBeGreaterThan(1);
    expect(maxEffectiveLate).toBeLessThanOrEqual(5);
    // All three processes see the same shared value.
    for (const l of limiters) expect((await l.effectiveLimit()).requests).toBe(final);

    expect(changes.length).toBeGreaterThan(0);
    expect(changes[0]).toMatchObject({ from: 20, reason: 'rate_limited' });
    for (const c of changes) expect(['rate_limited', 'recovered']).toContain(c.reason);
    // Each change is reported once, by the process that made it: the reports chain from→to.
    for (let i = 1; i < changes.length; i++) expect(changes[i].from).toBe(changes[i - 1].to);

    // Once settled, the CRM is used (not starved) and rarely refuses.
    const late = crm.log.filter((e) => e.at >= settledFrom);
    const ok = late.filter((e) => e.status === 200).length;
    expect(ok / 2.5).toBeGreaterThanOrEqual(2);
    expect(late.length - ok).toBeLessThanOrEqual(2);
  });

  it('lowers multiplicatively once per gap, recovers +1 after quiet, and avoids the bad level for the memory period', async () => {
    const changes: LimitChange[] = [];
    const [a, b] = conns.map(
      (c) =>
        new SharedRateLimiter(c, limiterKeys(client), { requests: 20, perSeconds: 1 }, {
          adaptive: { quietMs: 300, memoryMs: 1_500, decreaseGapMs: 200 },
          onLimitChange: (ch) => changes.push(ch),
        }),
    );
    // 8 requests in the window when the 429 arrives: the CRM choked at 8, not at 20.
    for (let i = 0; i < 8; i++) await a.acquire();
    expect(await a.onRateLimited()).toEqual({ from: 20, to: 6, reason: 'rate_limited' });
    // Another 429 of the same burst, seen by another process: not a new decrease.
    expect(await b.onRateLimited()).toBeUndefined();
    expect((await b.effectiveLimit()).requests).toBe(6);
    expect(await b.onSuccess()).toBeUndefined(); // not quiet yet

    await delay(350);
    expect(await b.onSuccess()).toEqual({ from: 6, to: 7, reason: 'recovered' });
    expect(await a.onSuccess()).toBeUndefined(); // one raise per quiet period, whoever asks
    await delay(350);
    expect(await a.onSuccess()).toBeUndefined(); // 8 got a 429 recently: stay at 7
    expect((await a.effectiveLimit()).requests).toBe(7);

    await delay(1_500 - 700 + 100); // the memory of the bad level fades
    expect(await a.onSuccess()).toEqual({ from: 7, to: 8, reason: 'recovered' });

    a.setLimit({ requests: 10, perSeconds: 1 });
    expect(await a.effectiveLimit()).toEqual({ requests: 10, perSeconds: 1 });
    expect(changes.map((c) => c.reason)).toEqual(['rate_limited', 'recovered', 'recovered', 'config']);
    expect(changes[3]).toEqual({ from: 8, to: 10, reason: 'config' });
  });

  it('a 429 right after a burst is measured against the recent rate, not the near-empty last window', async () => {
    // 10 requests at once, then the next one a window later: the burst has just left the trailing
    // window, which now holds only the new request. Counting that window alone took 10 straight to 1.
    const limiter = new SharedRateLimiter(conns[0], limiterKeys(client), { requests: 10, perSeconds: 1 }, { guardMs: 50 });
    await Promise.all(Array.from({ length: 10 }, () => limiter.acquire()));
    await limiter.acquire();
    expect(await limiter.onRateLimited()).toEqual({ from: 10, to: 7, reason: 'rate_limited' });
  });

  it('never goes below 1', async () => {
    const limiter = new SharedRateLimiter(conns[0], limiterKeys(client), { requests: 2, perSeconds: 1 }, { adaptive: { decreaseGapMs: 1 } });
    await limiter.acquire();
    await limiter.onRateLimited();
    await delay(5);
    await limiter.onRateLimited();
    await delay(5);
    await limiter.onRateLimited();
    expect((await limiter.effectiveLimit()).requests).toBe(1);
    expect((await limiter.tryAcquire()).ok).toBe(false);
  });
});
