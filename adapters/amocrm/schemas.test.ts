import { AccountSchema, ComplexResponseSchema, CustomFieldsPageSchema, LeadsPageSchema, PipelinesSchema, fieldValues } from './api';
import { TokenResponseSchema } from './oauth';
import { StoredSessionSchema } from '../kit/token-session';
import { lookupChunks, matchResults, rejectedByIndex, rejection } from './push';
import { DeliveryError } from '../../src/domain/errors';

describe('amoCRM response schemas', () => {
  test('complex response: request_id arrays, merged, nullable contact', () => {
    const parsed = ComplexResponseSchema.parse([
      { id: 9774766, contact_id: 12117258, company_id: null, request_id: ['0'], merged: false },
      { id: 9774767, contact_id: null, request_id: ['1', '2'], merged: true, extra: 'ignored' },
      { id: 9774768, request_id: 3 },
    ]);
    expect(parsed.map((r) => [r.id, r.request_id, r.merged])).toEqual([
      [9774766, ['0'], false],
      [9774767, ['1', '2'], true],
      [9774768, ['3'], false],
    ]);
    // HAL instead of an array, a missing id, an empty answer: refused.
    expect(ComplexResponseSchema.safeParse({ _embedded: { items: [] } }).success).toBe(false);
    expect(ComplexResponseSchema.safeParse([{ request_id: ['0'] }]).success).toBe(false);
    expect(ComplexResponseSchema.safeParse([]).success).toBe(false);
  });

  test('leads page, custom field values as strings', () => {
    const page = LeadsPageSchema.parse({
      _page: 1,
      _links: { self: { href: 'x' } },
      _embedded: {
        leads: [{ id: 1, name: 'n', custom_fields_values: [{ field_id: 500, field_name: 'External ID', values: [{ value: 'lead-1' }] }, { field_id: 9, values: [{ value: 7 }] }] }, { id: 2, custom_fields_values: null }],
      },
    });
    expect(fieldValues(page._embedded.leads[0], 500)).toEqual(['lead-1']);
    expect(fieldValues(page._embedded.leads[0], 9)).toEqual(['7']);
    expect(fieldValues(page._embedded.leads[1], 500)).toEqual([]);
    expect(LeadsPageSchema.safeParse({ _embedded: { items: [] } }).success).toBe(false);
  });

  test('account, pipelines, custom fields', () => {
    expect(AccountSchema.safeParse({ id: 1, name: 'A', subdomain: 'a', currency: 'RUB' }).success).toBe(true);
    expect(AccountSchema.safeParse({ id: '1', name: 'A', subdomain: 'a' }).success).toBe(false);
    expect(PipelinesSchema.safeParse({ _embedded: { pipelines: [{ id: 1, name: 'P', _embedded: { statuses: [{ id: 2, name: 'S', type: 1 }] } }] } }).success).toBe(true);
    expect(CustomFieldsPageSchema.safeParse({ _embedded: { custom_fields: [{ id: 1, name: 'Phone', type: 'multitext', code: 'PHONE', enums: [{ id: 3, value: 'WORK', sort: 2 }] }] } }).success).toBe(true);
  });

  test('token response and the stored pair', () => {
    expect(TokenResponseSchema.safeParse({ token_type: 'Bearer', expires_in: 86400, access_token: 'a', refresh_token: 'r', server_time: 1 }).success).toBe(true);
    expect(TokenResponseSchema.safeParse({ token_type: 'Bearer', expires_in: 86400, access_token: 'a' }).success).toBe(false);
    expect(StoredSessionSchema.safeParse({ v: 1, owner: 'c', accessToken: 'a', refreshToken: 'r', expiresAt: 2, obtainedAt: 1 }).success).toBe(true);
    expect(StoredSessionSchema.safeParse({ v: 2, owner: 'c', accessToken: 'a', refreshToken: 'r', expiresAt: 2, obtainedAt: 1 }).success).toBe(false);
  });
});

describe('matching results and errors to the batch', () => {
  const r = (id: number, request_id: string[], merged = false) => ({ id, request_id, merged, contact_id: null });

  test('every index exactly once; merged results may cover several', () => {
    const byIndex = matchResults([r(10, ['1']), r(11, ['0', '2'], true)], 3);
    expect(byIndex.map((x) => x.id)).toEqual([11, 10, 11]);
  });

  test('a missing, repeated or foreign request_id is a contract breach (uncertain: the leads may exist)', () => {
    for (const results of [[r(1, ['0'])], [r(1, ['0']), r(2, ['0'])], [r(1, ['0']), r(2, ['x'])], [r(1, ['0']), r(2, ['01'])]]) {
      let err: unknown;
      try {
        matchResults(results, 2);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(DeliveryError);
      expect((err as DeliveryError).kind).toBe('contract');
      expect((err as DeliveryError).uncertain).toBe(true);
    }
  });

  test('validation groups by index; an unknown request_id is refused', () => {
    const e = { code: 'InvalidType', path: 'name', detail: 'This value should be of type string.' };
    expect([...rejectedByIndex([{ request_id: '1', errors: [e] }, { request_id: '1', errors: [e] }], 2)]).toEqual([[1, [e, e]]]);
    expect(() => rejectedByIndex([{ request_id: '2', errors: [e] }], 2)).toThrow(/not one of the 2 leads/);
  });

  test('a rejection keeps amoCRM’s code, path and detail', () => {
    expect(
      rejection('l1', [
        { code: 'NotSupportedChoice', path: 'custom_fields_values.1.value', detail: 'The value you selected is not a valid choice.' },
        { code: 'InvalidType', path: 'status_id', detail: 'This value should be of type int.' },
      ]),
    ).toEqual({
      leadId: 'l1',
      status: 'rejected',
      code: 'NotSupportedChoice',
      path: 'custom_fields_values.1.value',
      reason: 'custom_fields_values.1.value: The value you selected is not a valid choice. (NotSupportedChoice); status_id: This value should be of type int. (InvalidType)',
      httpStatus: 400,
    });
  });

  test('lookup chunks keep URLs short', () => {
    const ids = Array.from({ length: 50 }, (_, i) => `${'x'.repeat(120)}-${i}`);
    const chunks = lookupChunks(ids);
    expect(chunks.flat()).toEqual(ids);
    expect(chunks.length).toBeGreaterThan(1);
    for (const c of chunks) expect(c.reduce((n, id) => n + id.length + 45, 0)).toBeLessThanOrEqual(3_000);
    expect(lookupChunks(['a', 'b'])).toEqual([['a', 'b']]);
  });
});
