import { clientEffect, decide, type AttemptFailure, type DeliveryPolicy, type LeadState } from './decide';

const policy: DeliveryPolicy = {
  backoff: { initialDelayMs: 5_000, maxDelayMs: 30 * 60_000, jitter: 0 },
  maxDeliveryAgeMs: 72 * 3_600_000,
  uncertainGraceMs: 30_000,
  notSentHoldMs: 1_000,
  pauseHoldMs: 5_000,
  defaultHoldMs: 2_000,
};
const NOW = 1_000_000_000_000;
const fresh: LeadState = { attemptsMade: 0, acceptedAt: NOW - 1_000 };
const old: LeadState = { attemptsMade: 9, acceptedAt: NOW - 73 * 3_600_000 };
const zero = () => 0;
const fail = (over: Partial<AttemptFailure>): AttemptFailure => ({ kind: 'transient', uncertain: false, pushSent: true, ...over });

describe('decide: what happens to the lead', () => {
  it.each<[string, AttemptFailure, LeadState, ReturnType<typeof decide>]>([
    ['a rejected lead fails at once', fail({ kind: 'rejected' }), fresh, { action: 'fail', reason: 'rejected' }],
    ['a 429 holds for the wait the CRM named', fail({ kind: 'rate_limited', retryAfterMs: 3_000 }), fresh, { action: 'hold', delayMs: 3_000, why: 'rate_limited' }],
    ['a 429 without a wait holds for the default', fail({ kind: 'rate_limited' }), fresh, { action: 'hold', delayMs: 2_000, why: 'rate_limited' }],
    ['an open circuit holds until the probe', fail({ kind: 'circuit_open', retryAfterMs: 4_000 }), fresh, { action: 'hold', delayMs: 4_000, why: 'circuit_open' }],
    ['auth holds while the client is paused', fail({ kind: 'auth' }), fresh, { action: 'hold', delayMs: 5_000, why: 'auth' }],
    ['config holds while the client is paused', fail({ kind: 'config' }), fresh, { action: 'hold', delayMs: 5_000, why: 'config' }],
    ['blocked holds', fail({ kind: 'blocked' }), fresh, { action: 'hold', delayMs: 5_000, why: 'blocked' }],
    ['account holds', fail({ kind: 'account' }), fresh, { action: 'hold', delayMs: 5_000, why: 'account' }],
    ['contract holds', fail({ kind: 'contract', uncertain: true }), fresh, { action: 'hold', delayMs: 5_000, why: 'contract' }],
    ['a pause past the maximum age fails with its reason', fail({ kind: 'auth' }), old, { action: 'fail', reason: 'auth' }],
    ['a transient failure before anything left holds the whole batch alike', fail({ pushSent: false }), fresh, { action: 'hold', delayMs: 1_000, why: 'not_sent' }],
    ['… and honours a longer Retry-After', fail({ pushSent: false, retryAfterMs: 30_000 }), fresh, { action: 'hold', delayMs: 30_000, why: 'not_sent' }],
    ['a transient failure of a sent create retries with backoff', fail({}), fresh, { action: 'retry', delayMs: 5_000 }],
    ['… growing with the attempts', fail({}), { ...fresh, attemptsMade: 3 }, { action: 'retry', delayMs: 40_000 }],
    ['… never sooner than Retry-After (a 503 with Retry-After: 30)', fail({ retryAfterMs: 30_000 }), fresh, { action: 'retry', delayMs: 30_000 }],
    ['an uncertain create waits out the lookup grace', fail({ uncertain: true }), fresh, { action: 'retry', delayMs: 30_000 }],
    ['… counted from when it became uncertain', fail({ uncertain: true }), { ...fresh, uncertainSince: NOW - 20_000 }, { action: 'retry', delayMs: 10_000 }],
    ['… but never less than the backoff', fail({ uncertain: true }), { ...fresh, uncertainSince: NOW - 60_000 }, { action: 'retry', delayMs: 5_000 }],
    ['a retry past the maximum age expires', fail({}), old, { action: 'fail', reason: 'expired' }],
    ['a not-sent hold past the maximum age expires', fail({ pushSent: false }), old, { action: 'fail', reason: 'expired' }],
  ])('%s', (_name, f, lead, expected) => {
    expect(decide(f, lead, policy, NOW, zero)).toEqual(expected);
  });

  it('spreads holds of a rate limit a little, so processes do not come back in lockstep', () => {
    const d = decide(fail({ kind: 'rate_limited', retryAfterMs: 1_000 }), fresh, policy, NOW, () => 0.99);
    expect(d).toEqual({ action: 'hold', delayMs: 1_247, why: 'rate_limited' });
  });

  it('expires exactly at the boundary, not before', () => {
    const edge: LeadState = { attemptsMade: 0, acceptedAt: NOW - (policy.maxDeliveryAgeMs - 5_000) };
    expect(decide(fail({}), edge, policy, NOW, zero)).toEqual({ action: 'retry', delayMs: 5_000 });
    expect(decide(fail({}), { ...edge, acceptedAt: edge.acceptedAt - 1 }, policy, NOW, zero)).toEqual({ action: 'fail', reason: 'expired' });
  });
});

describe('clientEffect: what happens to the client', () => {
  it.each([
    ['transient', { type: 'count_failure' }],
    ['auth', { type: 'pause', reason: 'auth' }],
    ['config', { type: 'pause', reason: 'config' }],
    ['blocked', { type: 'pause', reason: 'blocked' }],
    ['account', { type: 'pause', reason: 'account' }],
    ['contract', { type: 'pause', reason: 'contract' }],
    ['rate_limited', { type: 'none' }],
    ['circuit_open', { type: 'none' }],
    ['rejected', { type: 'none' }],
  ] as const)('%s → %j', (kind, effect) => {
    expect(clientEffect(kind)).toEqual(effect);
  });
});
