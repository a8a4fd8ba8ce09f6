import { assertLead, type LeadV1 } from '../../src/domain/lead';
import { contactOf, leadFieldValues, leadName, leadTags, toComplexBatch, toComplexLead, unixSeconds } from './mapping';
import { AmoMappingSchema, type AmoMapping } from './settings';

function lead(over: Record<string, unknown> = {}): LeadV1 {
  return assertLead({
    leadId: 'lead-42',
    clientId: 'acme',
    createdAt: '2026-11-27T10:00:00Z',
    candidate: { firstName: 'Иван', lastName: 'Петров', middleName: 'Сергеевич', phone: '8 (912) 345-67-89', email: 'ivan@example.org', city: 'Казань' },
    vacancy: { id: 'v-7', title: 'Курьер', city: 'Москва' },
    source: { channel: 'hh', campaign: 'winter', utm: { source: 'hh', medium: 'cpc', campaign: 'winter' } },
    consent: { given: true, at: '2026-11-27T09:59:00Z' },
    ...over,
  });
}

const mapping: AmoMapping = AmoMappingSchema.parse({
  fields: { externalId: 500, vacancy: 501, city: 502, source: 503, utmSource: 510, utmMedium: 511, utmCampaign: 512, utmTerm: 513 },
  tags: ['hrdrom', { from: 'source.channel' }, 'HRDROM'],
});
const settings = { pipelineId: 1000, statusId: 1002 };

describe('amoCRM mapping', () => {
  test('a lead becomes one complex-lead element', () => {
    expect(toComplexLead(lead(), 3, { ...settings, responsibleUserId: 77 }, mapping)).toEqual({
      request_id: '3',
      name: 'Курьер — Иван Петров',
      pipeline_id: 1000,
      status_id: 1002,
      responsible_user_id: 77,
      created_at: 1795773600,
      custom_fields_values: [
        { field_id: 500, values: [{ value: 'lead-42' }] },
        { field_id: 501, values: [{ value: 'Курьер' }] },
        { field_id: 502, values: [{ value: 'Москва' }] },
        { field_id: 503, values: [{ value: 'hh' }] },
        { field_id: 510, values: [{ value: 'hh' }] },
        { field_id: 511, values: [{ value: 'cpc' }] },
        { field_id: 512, values: [{ value: 'winter' }] },
      ],
      _embedded: {
        contacts: [
          {
            first_name: 'Иван Сергеевич',
            last_name: 'Петров',
            custom_fields_values: [
              { field_code: 'PHONE', values: [{ value: '+79123456789', enum_code: 'WORK' }] },
              { field_code: 'EMAIL', values: [{ value: 'ivan@example.org', enum_code: 'WORK' }] },
            ],
          },
        ],
        tags: [{ name: 'hrdrom' }, { name: 'hh' }],
      },
    });
  });

  test('created_at is Unix seconds', () => {
    expect(unixSeconds('2026-11-27T10:00:00.900+03:00')).toBe(Math.floor(Date.parse('2026-11-27T07:00:00.900Z') / 1000));
  });

  test('request_id is the index in the batch; no responsible user unless configured', () => {
    const batch = toComplexBatch([lead({ leadId: 'a' }), lead({ leadId: 'b' })], settings, mapping);
    expect(batch.map((b) => b.request_id)).toEqual(['0', '1']);
    expect(batch[0]).not.toHaveProperty('responsible_user_id');
  });

  test('unset optional fields and empty values are left out', () => {
    const l = lead({ vacancy: { title: 'Кладовщик' }, source: { channel: 'avito' } });
    const m = AmoMappingSchema.parse({ fields: { externalId: 500, city: 502, utmSource: 510 } });
    // No vacancy city: the candidate's city is used; no UTM: no UTM field.
    expect(leadFieldValues(l, m.fields)).toEqual([
      { field_id: 500, values: [{ value: 'lead-42' }] },
      { field_id: 502, values: [{ value: 'Казань' }] },
    ]);
    const noCity = lead({ candidate: { firstName: 'A', phone: '+79123456789' }, vacancy: { title: 'X' }, source: { channel: 'hh' } });
    expect(leadFieldValues(noCity, m.fields)).toEqual([{ field_id: 500, values: [{ value: 'lead-42' }] }]);
  });

  test('contact without email, last or middle name', () => {
    const l = lead({ candidate: { firstName: 'Анна', phone: '+7 912 000-00-01' } });
    const m = AmoMappingSchema.parse({ fields: { externalId: 500 }, phoneEnum: 'MOB' });
    expect(contactOf(l, m)).toEqual({ first_name: 'Анна', custom_fields_values: [{ field_code: 'PHONE', values: [{ value: '+79120000001', enum_code: 'MOB' }] }] });
    expect(leadName(l)).toBe('Курьер — Анна');
  });

  test('tags: constants and lead values, deduplicated case-insensitively, missing values skipped; none → no tags key', () => {
    const m = AmoMappingSchema.parse({ fields: { externalId: 500 }, tags: [{ from: 'source.campaign' }, { from: 'vacancy.city' }, 'Winter'] });
    expect(leadTags(lead(), m)).toEqual([{ name: 'winter' }, { name: 'Москва' }]);
    const bare = AmoMappingSchema.parse({ fields: { externalId: 500 } });
    expect(toComplexLead(lead(), 0, settings, bare)._embedded).not.toHaveProperty('tags');
  });

  test('long names are cut to amoCRM’s limit', () => {
    const l = lead({ vacancy: { title: 'В'.repeat(256) } });
    expect(leadName(l)).toHaveLength(255);
  });
});
