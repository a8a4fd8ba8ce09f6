import type { CrmResponse } from '../types';
import { DeliveryError } from '../../src/domain/errors';
import { badShape, describe as describeRes, failure, kindOfStatus, validationErrorsOf } from './classify';

function res(status: number, body: unknown, contentType = 'application/problem+json'): CrmResponse {
  const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
  return { status, headers: {}, body, text, contentType, durationMs: 1 };
}

const NGINX_403 = '<html>\r\n<head><title>403 Forbidden</title></head>\r\n<body>\r\n<center><h1>403 Forbidden</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n';

describe('amoCRM response classification', () => {
  test('status → kind', () => {
    expect(kindOfStatus(401)).toBe('auth');
    expect(kindOfStatus(402)).toBe('account');
    expect(kindOfStatus(403)).toBe('blocked');
    expect(kindOfStatus(429)).toBe('rate_limited');
    for (const s of [408, 500, 502, 503, 504]) expect(kindOfStatus(s)).toBe('transient');
    for (const s of [400, 404, 405, 422]) expect(kindOfStatus(s)).toBe('contract');
  });

  test("5xx: transient, uncertain for creates only; amoCRM's words (with the trace_id) kept apart from the message", () => {
    const r = res(500, { title: 'ErrInternalServer', status: 500, detail: 'Internal server error', trace_id: 'abc123' });
    const create = failure(r, 'POST /api/v4/leads/complex', { uncertain: true });
    expect(create).toBeInstanceOf(DeliveryError);
    expect(create.kind).toBe('transient');
    expect(create.message).toBe('POST /api/v4/leads/complex failed: HTTP 500');
    expect(create.crmDetail).toContain('trace_id abc123');
    expect(create.uncertain).toBe(true);
    expect(create.details).toEqual({ traceId: 'abc123' });
    expect(failure(r, 'GET /api/v4/leads', { uncertain: false }).uncertain).toBe(false);
  });

  test('403 nginx HTML → blocked, described by its title; 402 → account; never uncertain', () => {
    const b = failure(res(403, NGINX_403, 'text/html'), 'POST x', { uncertain: true });
    expect(b.kind).toBe('blocked');
    expect(b.crmDetail).toContain('HTTP 403 403 Forbidden (HTML page from nginx)');
    expect(b.message).toMatch(/^POST x failed: HTTP 403 — amoCRM blocked/);
    expect(b.uncertain).toBe(false);
    const a = failure(res(402, { title: 'Payment Required', type: 'https://httpstatus.es/402', status: 402, detail: 'Payment required' }), 'POST x', { uncertain: true });
    expect(a.kind).toBe('account');
    expect(a.crmDetail).toContain('Payment Required: Payment required');
  });

  test('an empty body and plain text are described safely', () => {
    expect(describeRes(res(502, undefined, ''))).toBe('HTTP 502 (empty body)');
    expect(describeRes(res(418, 'short and stout', 'text/plain'))).toBe('HTTP 418 short and stout');
  });

  test('validation-errors are read from a 400 only, request_id as string', () => {
    const body = {
      'validation-errors': [
        { request_id: 3, errors: [{ code: 'NotSupportedChoice', path: 'custom_fields_values.1.value', detail: 'The value you selected is not a valid choice.' }] },
      ],
      title: 'Bad Request',
      type: 'https://httpstatus.es/400',
      status: 400,
      detail: 'Request validation failed',
    };
    expect(validationErrorsOf(res(400, body))).toEqual([
      { request_id: '3', errors: [{ code: 'NotSupportedChoice', path: 'custom_fields_values.1.value', detail: 'The value you selected is not a valid choice.' }] },
    ]);
    expect(validationErrorsOf(res(400, { title: 'Bad Request', status: 400, detail: 'Request data can not be empty' }))).toBeUndefined();
    expect(validationErrorsOf(res(422, body))).toBeUndefined();
    expect(validationErrorsOf(res(400, { 'validation-errors': [{ request_id: '0', errors: [{ code: 1 }] }] }))).toBeUndefined();
  });

  test('a 2xx of the wrong shape is a contract error, uncertain for creates', () => {
    const e = badShape(res(200, { _embedded: { items: [] } }, 'application/hal+json'), 'POST /api/v4/leads/complex', '(root): expected array', { uncertain: true });
    expect(e.kind).toBe('contract');
    expect(e.uncertain).toBe(true);
  });

  test('withUncertain keeps kind, message and status', () => {
    const e = new DeliveryError('auth', 'nope', { status: 401 }).withUncertain(true);
    expect([e.kind, e.message, e.status, e.uncertain]).toEqual(['auth', 'nope', 401, true]);
  });
});
