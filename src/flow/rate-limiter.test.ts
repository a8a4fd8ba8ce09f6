import type { Redis } from 'ioredis';
import { maxInAnyWindow as maxInWindow } from '../../test/support/fake-amocrm/rate-limit';
import { cleanupPrefix, redisClient, testPrefix } from '../../test/support/redis';
import { DeliveryError } from '../domain/errors';
import { SharedRateLimiter, type LimitChange, type RateLimiterKeys } from './rate-limiter';

const limiterKeys = (client: string): RateLimiterKeys => ({
  rateLog: `${client}:flow:rl:log`,
  rateHold: `${client}:flow:rl:hold`,
  rateAdaptive: `${client}:flow:rl:adaptive`,
  pollLog: `${client}:flow:rl:poll`,
});

// Three connections stand in for three worker processes: they share nothing but Redis.
let conns: Redis[];
let prefix: string;
let client: string;

beforeEach(() => {
  conns = [redisClient(), redisClient(), redisClient()];
  prefix = testPrefix('rl');
  client = `${prefix}:{acme}`;
});

afterEach(async () => {
  await cleanupPrefix(conns[0], prefix);
  await Promise.all(conns.map((c) => c.quit()));
});


describe('SharedRateLimiter: sliding window across processes', () => {
  it('never lets more than 7 requests into any 1 s window, with 60 concurrent acquires from 3 processes', async () => {
    const limit = { requests: 7, perSeconds: 1 };
    const limiters = conns.map((c) => new SharedRateLimiter(c, limiterKeys(client), limit));
    const started = Date.now();
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        limiters[i % 3].acquire().then((r) => ({ at: r.at, doneAt: Date.now() })),
      ),
    );
    const elapsed = Date.now() - started;

    // Admission times come from Redis TIME, the clock the guarantee is stated in.
    expect(maxInWindow(results.map((r) => r.at), 1000)).toBeLessThanOrEqual(7);
    // ...and, looser, as the callers saw it: completions can only lag admissions, never batch them up.
    expect(maxInWindow(results.map((r) => r.doneAt), 1000 - 50)).toBeLessThanOrEqual(7);
    // 60 requests at 7/s: batches at 0, 1, ..., 8 s. Not slower than the limit implies, either.
    expect(elapsed).toBeGreaterThanOrEqual(7_950);
    expect(elapsed).toBeLessThan(9_000);
    // The log never outlives two windows (the second one only feeds the 429 rate estimate).
    expect(await conns[0].pttl(limiterKeys(client).rateLog)).toBeLessThanOrEqual(2001);
  });

  it('tryAcquire reports the wait until the oldest entry leaves the window', async () => {
    const limiter = new SharedRateLimiter(conns[0], limiterKeys(client), { requests: 2, perSeconds: 1 });
    expect((await limiter.tryAcquire()).ok).toBe(true);
    expect((await limiter.tryAcquire()).ok).toBe(true);
    const r = await limiter.tryAcquire();
    expect(r).toMatchObject({ ok: false, reason: 'limit' });
    if (r.ok) throw new Error('unreachable');
    expect(r.waitMs).toBeGreaterThan(900);
    expect(r.waitMs).toBeLessThanOrEqual(1001);
  });

  it('setLimit applies to the very next acquire and resets the adaptive state', async () => {
    const changes: LimitChange[] = [];
    const a = new SharedRateLimiter(conns[0], limiterKeys(client), { requests: 3, perSeconds: 1 }, { onLimitChange: (c) => changes.push(c) });
    for (let i = 0; i < 3; i++) await a.acquire();
    expect((await a.tryAcquire()).ok).toBe(false);

    a.setLimit({ requests: 5, perSeconds: 1 });
    const t0 = Date.now();
    await a.acquire();
    expect(Date.now() - t0).toBeLessThan(100);
    expect((await a.tryAcquire()).ok).toBe(true);
    expect((await a.tryAcquire()).ok).toBe(false);
    expect(await a.effectiveLimit()).toEqual({ requests: 5, perSeconds: 1 });
    expect(changes).toEqual([{ from: 3, to: 5, reason: 'config' }]);

    // A process still on the old config enforces the lower of the two (never more than either allows).
    const stale = new SharedRateLimiter(conns[1], limiterKeys(client), { requests: 3, perSeconds: 1 });
    expect((await stale.effectiveLimit()).requests).toBe(3);

    a.setLimit({ requests: 2, perSeconds: 1 });
    const r = await a.tryAcquire();
    expect(r).toMatchObject({ ok: false, reason: 'limit' });
    expect((await a.effectiveLimit()).requests).toBe(2);
  });

  it('guardMs spaces admissions by window + guard, and the guard follows setLimit', async () => {
    const limiter = new SharedRateLimiter(conns[0], limiterKeys(client), { requests: 2, perSeconds: 0.5 }, { guardMs: (l) => l.perSeconds * 200 });
    const a = await limiter.acquire();
    await limiter.acquire();
    const third = await limiter.acquire();
    // 500 ms window + 100 ms guard.
    expect(third.at - a.at).toBeGreaterThanOrEqual(600);
    expect(third.at - a.at).toBeLessThan(700);
    limiter.setLimit({ requests: 1, perSeconds: 0.25 });
    const fourth = await limiter.acquire();
    const fifth = await limiter.acquire();
    expect(fifth.at - fourth.at).toBeGreaterThanOrEqual(300); // 250 ms + 50 ms
    expect(fifth.at - fourth.at).toBeLessThan(400);
  });

  it('sent() moves the window of a request to when it left, never earlier', async () => {
    const limiter = new SharedRateLimiter(conns[0], limiterKeys(client), { requests: 1, perSeconds: 0.5 });
    const a = await limiter.acquire();
    await new Promise((r) => setTimeout(r, 200));
    await limiter.sent(a);
    await new Promise((r) => setTimeout(r, 350));
    // 550 ms after the admission but only 350 ms after it left: still inside the 500 ms window.
    const r = await limiter.tryAcquire();
    expect(r).toMatchObject({ ok: false, reason: 'limit' });
    if (r.ok) throw new Error('unreachable');
    expect(r.waitMs).toBeGreaterThan(100);
    await limiter.sent({ not: 'an admission' }); // ignored
  });

  it('readyInMs tells when a request could go, without recording one; own waiters count as ahead', async () => {
    const limiter = new SharedRateLimiter(conns[0], limiterKeys(client), { requests: 2, perSeconds: 1 });
    expect(await limiter.readyInMs()).toBe(0);
    expect(await limiter.readyInMs()).toBe(0); // peeking took nothing
    await limiter.acquire();
    await limiter.acquire();
    const wait = await limiter.readyInMs();
    expect(wait).toBeGreaterThan(900);
    expect(wait).toBeLessThanOrEqual(1001);
    const waiting = limiter.acquire();
    expect(await limiter.readyInMs()).toBeGreaterThan(0);
    await waiting;
    await limiter.holdFor(300, 'Retry-After');
    expect(await limiter.readyInMs()).toBeGreaterThan(200);
  });

  it('holdFor blocks every process for the hold, and extends but never shortens it', async () => {
    const [a, b, c] = conns.map((conn) => new SharedRateLimiter(conn, limiterKeys(client), { requests: 100, perSeconds: 1 }));
    await a.holdFor(400, '429 from CRM');
    const r = await b.tryAcquire();
    expect(r).toMatchObject({ ok: false, reason: 'hold' });

    await b.holdFor(50, 'shorter');
    expect(await c.holdRemainingMs()).toBeGreaterThan(300);

    await c.holdFor(700, 'longer');
    const remaining = await a.holdRemainingMs();
    expect(remaining).toBeGreaterThan(600);
    expect(await conns[0].get(limiterKeys(client).rateHold)).toBe('longer');

    const t0 = Date.now();
    const waited = await Promise.all([a, b, c].map(async (l) => {
      await l.acquire();
      return Date.now() - t0;
    }));
    for (const w of waited) expect(w).toBeGreaterThanOrEqual(remaining - 10);
    expect(await a.holdRemainingMs()).toBe(0);
  });

  it('acquire rejects with AbortError when the signal aborts, and the line behind it moves on', async () => {
    const limiter = new SharedRateLimiter(conns[0], limiterKeys(client), { requests: 1, perSeconds: 0.6 });
    await limiter.acquire();

    const ac = new AbortController();
    const t0 = Date.now();
    const aborted = limiter.acquire({ signal: ac.signal });
    const behind = limiter.acquire();
    setTimeout(() => ac.abort(), 50);
    await expect(aborted).rejects.toMatchObject({ name: 'AbortError' });
    expect(Date.now() - t0).toBeLessThan(300);
    await behind;
    expect(Date.now() - t0).toBeGreaterThanOrEqual(500);

    const pre = new AbortController();
    pre.abort();
    await expect(limiter.acquire({ signal: pre.signal })).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('rejects with DeliveryError(rate_limited) instead of waiting past maxWaitMs', async () => {
    const limiter = new SharedRateLimiter(conns[0], limiterKeys(client), { requests: 5, perSeconds: 1 }, { maxWaitMs: 200 });
    await limiter.holdFor(5_000, 'Retry-After: 5');
    const t0 = Date.now();
    const err: unknown = await limiter.acquire().catch((e: unknown) => e);
    expect(Date.now() - t0).toBeLessThan(100);
    expect(err).toBeInstanceOf(DeliveryError);
    expect(err).toMatchObject({ kind: 'rate_limited', details: { reason: 'hold' } });
    expect((err as DeliveryError).retryAfterMs).toBeGreaterThan(4_500);
  });
});
