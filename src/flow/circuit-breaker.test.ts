import type { Redis } from 'ioredis';
import { setTimeout as delay } from 'node:timers/promises';
import { cleanupPrefix, redisClient, testPrefix } from '../../test/support/redis';
import { CircuitBreaker, type CircuitOptions, type CircuitTransition } from './circuit-breaker';

const circuitKey = (client: string) => `${client}:flow:circuit`;

// Four connections stand in for four worker processes.
let conns: Redis[];
let prefix: string;
let client: string;
let transitions: CircuitTransition[];

const fast: CircuitOptions = { failureThreshold: 5, cooldownMs: 40, maxCooldownMs: 250, blockedCooldownMs: 120, probeTimeoutMs: 10_000 };

function breakers(opts: Partial<CircuitOptions> = fast): CircuitBreaker[] {
  return conns.map((c) => new CircuitBreaker(c, circuitKey(client), opts, { onTransition: (t) => transitions.push(t) }));
}

beforeEach(() => {
  conns = [redisClient(), redisClient(), redisClient(), redisClient()];
  prefix = testPrefix('cb');
  client = `${prefix}:{acme}`;
  transitions = [];
});

afterEach(async () => {
  await cleanupPrefix(conns[0], prefix);
  await Promise.all(conns.map((c) => c.quit()));
});

describe('CircuitBreaker', () => {
  it('opens exactly once when several processes report failures concurrently', async () => {
    const all = breakers();
    const results = await Promise.all(Array.from({ length: 24 }, (_, i) => all[i % 4].recordFailure(`HTTP 503 #${i}`)));

    expect(results.filter((r) => r.opened)).toHaveLength(1);
    expect(transitions).toEqual([{ from: 'closed', to: 'open', reason: 'transient', detail: expect.stringMatching(/^HTTP 503/) }]);
    const state = await all[3].read();
    expect(state).toMatchObject({ state: 'open', reason: 'transient', opens: 1, consecutiveFailures: 24 });
    expect(state.probeAt! - state.openedAt!).toBe(40);
  });

  it('does not open below the threshold, and a success resets the count', async () => {
    const [a, b] = breakers();
    for (let i = 0; i < 4; i++) expect((await a.recordFailure('timeout')).opened).toBe(false);
    expect(await b.recordSuccess()).toEqual({ closed: false });
    for (let i = 0; i < 4; i++) expect((await b.recordFailure('timeout')).opened).toBe(false);
    expect(await a.read()).toEqual({ state: 'closed', consecutiveFailures: 4, opens: 0 });
    expect((await a.recordFailure('timeout')).opened).toBe(true);
  });

  it('probes every cooldown during the fast-probe window, then doubles the interval as the outage ages, up to the cap', async () => {
    const W = 120;
    const [a, b] = breakers({ ...fast, fastProbeWindowMs: W });
    await a.open('transient', 'HTTP 502');
    const seen: Array<{ age: number; cooldown: number }> = [];
    for (let i = 0; i < 7; i++) {
      const s = await a.read();
      seen.push({ age: s.openedAt! - s.outageSince!, cooldown: s.probeAt! - s.openedAt! });
      expect(await b.tryStartProbe()).toBe(false); // not due yet
      await delay(s.probeAt! - s.openedAt! + 5);
      expect(await b.tryStartProbe()).toBe(true);
      expect((await a.read()).state).toBe('half-open');
      await b.probeFailed(`probe ${i} failed`);
    }
    // The interval is a function of the outage's age alone: short while young, doubling with age, capped.
    for (const { age, cooldown } of seen) {
      const expected = age < W ? 40 : Math.min(250, 40 * 2 ** (Math.floor(Math.log2(age / W)) + 1));
      expect(cooldown).toBe(expected);
    }
    expect(seen[0]).toEqual({ age: 0, cooldown: 40 });
    expect(seen.filter((x) => x.cooldown === 40).length).toBeGreaterThanOrEqual(2);
    expect(seen[seen.length - 1].cooldown).toBeGreaterThan(40);
    expect((await a.read()).opens).toBe(8);

    // A successful probe closes it and resets the outage: the next one starts fast again.
    const last = await a.read();
    await delay(last.probeAt! - Date.now() + 10);
    expect(await a.tryStartProbe()).toBe(true);
    expect(await b.recordSuccess()).toEqual({ closed: true });
    expect(await a.read()).toEqual({ state: 'closed', consecutiveFailures: 0, opens: 0 });
    await a.open('transient', 'again');
    const s = await a.read();
    expect(s.probeAt! - s.openedAt!).toBe(40);

    expect(transitions.slice(0, 4)).toEqual([
      { from: 'closed', to: 'open', reason: 'transient', detail: 'HTTP 502' },
      { from: 'open', to: 'half-open', reason: 'probe' },
      { from: 'half-open', to: 'open', reason: 'transient', detail: 'probe 0 failed' },
      { from: 'open', to: 'half-open', reason: 'probe' },
    ]);
    expect(transitions.slice(-3)).toEqual([
      { from: 'open', to: 'half-open', reason: 'probe' },
      { from: 'half-open', to: 'closed', reason: 'recovered' },
      { from: 'closed', to: 'open', reason: 'transient', detail: 'again' },
    ]);
  });

  it('lets exactly one of many concurrent callers start the probe', async () => {
    const all = breakers();
    await all[0].open('transient', 'HTTP 500');
    await delay(50);
    const wins = await Promise.all(Array.from({ length: 20 }, (_, i) => all[i % 4].tryStartProbe()));
    expect(wins.filter(Boolean)).toHaveLength(1);
    expect(transitions.filter((t) => t.to === 'half-open')).toHaveLength(1);
  });

  it('lets another process take over a probe whose owner died', async () => {
    const [a, b] = breakers({ ...fast, probeTimeoutMs: 100 });
    await a.open('transient', 'HTTP 500');
    await delay(50);
    expect(await a.tryStartProbe()).toBe(true);
    expect(await b.tryStartProbe()).toBe(false);
    await delay(110);
    expect(await b.tryStartProbe()).toBe(true);
  });

  it('keeps an auth open without probeAt until close(), even past any cooldown and on a stray success', async () => {
    const [a, b] = breakers();
    const r = await a.open('auth', 'refresh token revoked');
    expect(r.opened).toBe(true);
    expect(r.state.probeAt).toBeUndefined();
    expect(r.state).toMatchObject({ state: 'open', reason: 'auth', detail: 'refresh token revoked', opens: 1 });

    await delay(300); // longer than maxCooldownMs
    expect(await b.tryStartProbe()).toBe(false);
    expect(await b.recordSuccess()).toEqual({ closed: false });
    expect((await b.open('auth', 'again')).opened).toBe(false);
    expect((await b.read()).state).toBe('open');

    expect(await b.close('manual')).toEqual({ closed: true });
    expect(await b.close('manual')).toEqual({ closed: false });
    expect(await a.read()).toEqual({ state: 'closed', consecutiveFailures: 0, opens: 0 });
    expect(transitions).toEqual([
      { from: 'closed', to: 'open', reason: 'auth', detail: 'refresh token revoked' },
      { from: 'open', to: 'closed', reason: 'manual' },
    ]);
  });

  it('gives blocked its own long cooldown, and lets a more severe reason replace a transient one', async () => {
    const [a] = breakers();
    const blocked = await a.open('blocked', 'amoCRM 403 HTML');
    expect(blocked.state.probeAt! - blocked.state.openedAt!).toBe(120);
    await a.close('config');

    await a.open('transient', 'HTTP 503');
    const escalated = await a.open('account', 'HTTP 402');
    expect(escalated.opened).toBe(false);
    expect(escalated.state).toMatchObject({ state: 'open', reason: 'account', detail: 'HTTP 402' });
    expect(escalated.state.probeAt).toBeUndefined();
    // A milder reason does not downgrade it.
    expect((await a.open('transient', 'HTTP 503')).state.reason).toBe('account');
  });

  it('closes an open transient circuit on a success and reports it', async () => {
    const [a, b] = breakers({ ...fast, failureThreshold: 2 });
    await a.recordFailure('timeout');
    await b.recordFailure('timeout');
    expect(await a.recordSuccess()).toEqual({ closed: true });
    expect(transitions.map((t) => `${t.from}>${t.to}:${t.reason}`)).toEqual(['closed>open:transient', 'open>closed:recovered']);
  });

  it('survives a restart: a new instance on a new connection reads the same state', async () => {
    const [a] = breakers();
    await a.open('contract', 'unexpected response shape');
    const fresh = redisClient();
    try {
      const s = await new CircuitBreaker(fresh, circuitKey(client), fast).read();
      expect(s).toMatchObject({ state: 'open', reason: 'contract', detail: 'unexpected response shape', opens: 1 });
      expect(await conns[0].ttl(circuitKey(client))).toBe(-1);
    } finally {
      await fresh.quit();
    }
  });
});
