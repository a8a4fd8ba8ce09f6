import { parseClientFile } from '../../src/config/client-loader';
import { AmoMappingSchema, AmoSettingsSchema, amoBaseUrl } from './settings';
import { amocrmAdapter } from './index';

const base = {
  subdomain: 'acme',
  auth: { type: 'oauth', clientId: 'cid', clientSecret: 'env:AMO_SECRET', redirectUri: 'https://hrdrom.ru/cb' },
  pipelineId: 1000,
  statusId: 1002,
};

function issues(schema: { safeParse(v: unknown): { success: boolean; error?: { issues: Array<{ path: PropertyKey[]; message: string }> } } }, v: unknown): string[] {
  const r = schema.safeParse(v);
  return r.success ? [] : (r.error?.issues ?? []).map((i) => `${i.path.map(String).join('.')}: ${i.message}`);
}

describe('amoCRM settings and mapping schemas', () => {
  test('defaults and base URL', () => {
    const s = AmoSettingsSchema.parse(base);
    expect(s.batchSize).toBe(50);
    expect(amoBaseUrl(s)).toBe('https://acme.amocrm.ru');
    expect(amoBaseUrl(AmoSettingsSchema.parse({ ...base, subdomain: undefined, baseUrl: 'http://127.0.0.1:4000/' }))).toBe('http://127.0.0.1:4000');
    const m = AmoMappingSchema.parse({ fields: { externalId: 1 } });
    expect(m).toEqual({ fields: { externalId: 1 }, tags: [], phoneEnum: 'WORK', emailEnum: 'WORK' });
  });

  test('capabilities: batch ≤ 50, events polling, 7 rps', () => {
    expect(amocrmAdapter.capabilities(AmoSettingsSchema.parse({ ...base, batchSize: 20 }))).toEqual({
      maxBatchSize: 20,
      statusPolling: 'events',
      knownRateLimit: { requests: 7, perSeconds: 1 },
    });
  });

  test('clear errors naming the field', () => {
    expect(issues(AmoSettingsSchema, { ...base, subdomain: undefined })).toEqual([expect.stringMatching(/^subdomain: give the account/)]);
    expect(issues(AmoSettingsSchema, { ...base, baseUrl: 'https://acme.amocrm.ru' })).toEqual([expect.stringMatching(/^baseUrl: give either/)]);
    expect(issues(AmoSettingsSchema, { ...base, batchSize: 51 })).toEqual([expect.stringMatching(/^batchSize: must be at most 50/)]);
    expect(issues(AmoSettingsSchema, { ...base, auth: { ...base.auth, clientSecret: 'plain-secret' } })).toEqual([expect.stringMatching(/^auth.clientSecret: inline secrets/)]);
    expect(issues(AmoSettingsSchema, { ...base, auth: { type: 'long-lived', token: 'eyJ...' } })).toEqual([expect.stringMatching(/^auth.token: inline secrets/)]);
    expect(issues(AmoSettingsSchema, { ...base, auth: { type: 'password' } })[0]).toMatch(/auth.type must be 'oauth'/);
    expect(issues(AmoSettingsSchema, { ...base, pipelineId: 'main' })[0]).toMatch(/^pipelineId: pipelineId must be a number/);
    expect(issues(AmoMappingSchema, { fields: {} })[0]).toMatch(/^fields.externalId/);
    expect(issues(AmoMappingSchema, { fields: { externalId: 5, vacancy: 5 } })).toEqual(['fields.vacancy: field id 5 is already used for externalId']);
    expect(issues(AmoMappingSchema, { fields: { externalId: 5 }, phoneEnum: 'CELL' })[0]).toMatch(/^phoneEnum: must be one of WORK/);
    expect(issues(AmoMappingSchema, { fields: { externalId: 5 }, tags: [{ from: 'candidate.phone' }] })[0]).toMatch(/tags can be taken from/);
    expect(issues(AmoMappingSchema, { fields: { externalId: 5, phone: 7 } })[0]).toMatch(/^fields: Unrecognized key/);
  });

  test('a client file is validated by these schemas, with the path in the message', () => {
    const file = (settings: unknown) =>
      parseClientFile('acme.yaml', JSON.stringify({ id: 'acme', name: 'Acme', adapter: 'amocrm', settings, mapping: { fields: { externalId: 500 } }, batch: { size: 50 } }));
    expect(file(base).ok).toBe(true);
    const bad = file({ ...base, statusId: -1 });
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.errors.map((e) => e.path)).toEqual(['settings.statusId']);
    const big = parseClientFile('acme.yaml', JSON.stringify({ id: 'acme', name: 'A', adapter: 'amocrm', settings: { ...base, batchSize: 20 }, mapping: { fields: { externalId: 1 } }, batch: { size: 30 } }));
    expect(big.ok).toBe(false);
    if (!big.ok) expect(big.errors[0].message).toMatch(/at most 20/);
  });
});
