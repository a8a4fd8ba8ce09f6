import { nextRetryDelay, shouldGiveUp, type BackoffPolicy } from './backoff';

const exact: BackoffPolicy = { initialDelayMs: 1_000, maxDelayMs: 60_000, jitter: 0 };

describe('nextRetryDelay', () => {
  it.each([
    [1, 1_000],
    [2, 2_000],
    [3, 4_000],
    [6, 32_000],
    [7, 60_000], // 64 s capped
    [50, 60_000],
    [5_000, 60_000], // 2^4999 is Infinity; still the cap
    [0, 1_000], // nonsense attempt counts act as the first
    [-3, 1_000],
  ])('attempt %i without jitter → %i ms', (attempt, expected) => {
    expect(nextRetryDelay(attempt, exact, () => 0.5)).toBe(expected);
  });

  it.each<[number, number, number]>([
    // jitter, random, expected for attempt 3 (base 4000)
    [1, 0, 0],
    [1, 0.5, 2_000],
    [1, 0.999, 3_996],
    [0.5, 0, 2_000],
    [0.5, 1, 4_000],
    [0.2, 0.5, 3_600],
    [2, 0, 0], // jitter above 1 acts as 1
    [-1, 0, 4_000], // below 0 acts as 0
  ])('jitter %d with random %d → %i ms', (jitter, r, expected) => {
    expect(nextRetryDelay(3, { ...exact, jitter }, () => r)).toBe(expected);
  });

  it('spreads retries of many leads that failed together', () => {
    const delays = Array.from({ length: 200 }, () => nextRetryDelay(4, { ...exact, jitter: 1 }));
    for (const d of delays) {
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThanOrEqual(8_000);
    }
    expect(new Set(delays).size).toBeGreaterThan(100);
  });

  it('never exceeds the cap, even with jitter', () => {
    for (let attempt = 1; attempt < 40; attempt++) {
      expect(nextRetryDelay(attempt, { ...exact, jitter: 0.3 }, () => 1)).toBeLessThanOrEqual(60_000);
    }
  });
});

describe('shouldGiveUp', () => {
  const first = Date.parse('2026-11-27T10:00:00Z');
  const day = 24 * 60 * 60 * 1000;
  it.each<[string, number, number, boolean]>([
    ['fresh lead, short delay', first + 1_000, 5_000, false],
    ['next try lands exactly at the max age', first + day - 5_000, 5_000, false],
    ['next try would land 1 ms after the max age', first + day - 4_999, 5_000, true],
    ['already older than the max age', first + day + 1, 0, true],
  ])('%s', (_name, now, nextDelay, expected) => {
    expect(shouldGiveUp(first, now, day, nextDelay)).toBe(expected);
  });
});
