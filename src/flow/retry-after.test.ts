import { MAX_RETRY_AFTER_MS, parseRetryAfter } from './retry-after';

const NOW = Date.parse('2026-11-27T10:00:00Z');

describe('parseRetryAfter', () => {
  it.each<[string, Record<string, string>, unknown, number | undefined]>([
    ['seconds', { 'Retry-After': '120' }, undefined, 120_000],
    ['seconds, any header case, padded', { 'retry-after': ' 3 ' }, undefined, 3_000],
    ['fractional seconds', { 'Retry-After': '1.5' }, undefined, 1_500],
    ['sub-millisecond rounds up, never to an early retry', { 'Retry-After': '0.0001' }, undefined, 1],
    ['zero', { 'Retry-After': '0' }, undefined, 0],
    ['HTTP date in the future', { 'Retry-After': 'Fri, 27 Nov 2026 10:01:30 GMT' }, undefined, 90_000],
    ['HTTP date in the past clamps to 0', { 'Retry-After': 'Fri, 27 Nov 2026 09:59:00 GMT' }, undefined, 0],
    ['more than a day clamps to 24 h', { 'Retry-After': '999999' }, undefined, MAX_RETRY_AFTER_MS],
    ['negative seconds are garbage', { 'Retry-After': '-5' }, undefined, undefined],
    ['words are garbage', { 'Retry-After': 'soon' }, undefined, undefined],
    ['a bare year is not a date', { 'Retry-After': '1 2' }, undefined, undefined],
    ['units are garbage', { 'Retry-After': '10s' }, undefined, undefined],
    ['empty', { 'Retry-After': '' }, undefined, undefined],
    ['nothing at all', {}, undefined, undefined],
    ['body retry_after (seconds)', {}, { retry_after: 7 }, 7_000],
    ['body retryAfter (seconds, string)', {}, { retryAfter: '2.25' }, 2_250],
    ['body as a JSON string', {}, '{"retry_after": 4}', 4_000],
    ['body field nested is ignored', {}, { error: { retry_after: 4 } }, undefined],
    ['body negative is garbage', {}, { retry_after: -1 }, undefined],
    ['body NaN-ish is garbage', {}, { retry_after: 'later' }, undefined],
    ['body not JSON', {}, '<html>429</html>', undefined],
    ['body array', {}, [{ retry_after: 1 }], undefined],
    ['header wins over body', { 'Retry-After': '1' }, { retry_after: 60 }, 1_000],
    ['garbage header falls through to body', { 'Retry-After': 'soon' }, { retry_after: 60 }, 60_000],
    ['X-RateLimit-Reset as epoch seconds', { 'X-RateLimit-Reset': String(NOW / 1000 + 30) }, undefined, 30_000],
    ['X-RateLimit-Reset as delta seconds', { 'X-RateLimit-Reset': '12' }, undefined, 12_000],
    ['X-RateLimit-Reset as epoch ms', { 'X-RateLimit-Reset': String(NOW + 5_000) }, undefined, 5_000],
    ['RateLimit-Reset (delta seconds)', { 'RateLimit-Reset': '8' }, undefined, 8_000],
    ['X-RateLimit-Reset-After', { 'X-RateLimit-Reset-After': '0.5' }, undefined, 500],
    ['body wins over reset headers', { 'X-RateLimit-Reset': '12' }, { retryAfter: 1 }, 1_000],
  ])('%s', (_name, headers, body, expected) => {
    expect(parseRetryAfter({ headers, body, now: NOW })).toBe(expected);
  });

  it('uses the current time when now is omitted', () => {
    const inFive = new Date(Date.now() + 5 * 60_000).toUTCString();
    const ms = parseRetryAfter({ headers: { 'Retry-After': inFive }, body: undefined });
    expect(ms).toBeGreaterThan(4 * 60_000);
    expect(ms).toBeLessThanOrEqual(5 * 60_000);
  });
});
