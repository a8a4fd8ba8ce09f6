import { parseLead, type LeadV1 } from '../../src/domain/lead';
import { BodyMappingSchema, buildBody, readResponsePath } from './mapping';

const lead = (() => {
  const r = parseLead({
    leadId: 'L-1',
    clientId: 'acme',
    createdAt: '2026-11-27T10:00:00Z',
    candidate: { firstName: 'Ivan', lastName: 'Petrov', phone: '8 912 345 67 89', city: 'Kazan' },
    vacancy: { title: 'Courier' },
    source: { channel: 'hh', utm: { campaign: 'w' } },
    consent: { given: true, at: '2026-11-27T09:00:00Z' },
    extra: { shift: 'night' },
  });
  if (!r.ok) throw new Error('fixture');
  return r.lead as LeadV1;
})();

describe('REST body mapping', () => {
  it('evaluates paths, value maps, constants and templates into nested targets', () => {
    const m = BodyMappingSchema.parse({
      external_id: 'leadId',
      'contact.phone': 'candidate.phone',
      'contact.name': { template: '{{candidate.lastName}} {{candidate.firstName}} {{candidate.middleName}}' },
      source: { from: 'source.channel', map: { hh: 'HeadHunter' }, default: 'Other' },
      medium: { from: 'source.utm.medium', default: 'none' },
      pipeline: { const: 'recruiting' },
      literal: { template: 'HRDrom', default: 'unused' },
      empty: { template: '{{candidate.middleName}}', default: null },
      shift: 'extra.shift',
      email: 'candidate.email',
    });
    expect(buildBody(m, lead)).toEqual({
      external_id: 'L-1',
      contact: { phone: '+79123456789', name: 'Petrov Ivan' },
      source: 'HeadHunter',
      medium: 'none',
      pipeline: 'recruiting',
      literal: 'HRDrom',
      empty: null,
      shift: 'night',
    });
  });

  it('refuses unknown lead paths and placeholders at load time', () => {
    const r = BodyMappingSchema.safeParse({ a: 'candidate.phon', b: { template: '{{vacancy.name}}' }, c: { from: 'x.y' } });
    expect(r.success).toBe(false);
    if (!r.success) expect(r.error.issues.map((i) => i.path.join('.'))).toEqual(['a', 'b.template', 'c.from']);
    expect(BodyMappingSchema.safeParse({}).success).toBe(false);
  });

  it('reads response paths', () => {
    expect(readResponsePath({ data: { id: 7 } }, 'data.id')).toBe(7);
    expect(readResponsePath({ data: null }, 'data.id')).toBeUndefined();
    expect(readResponsePath([1], '')).toEqual([1]);
  });
});
