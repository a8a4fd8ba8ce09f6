import { leadJobId, leadJsonSchema, parseLead } from './lead';

const base = {
  leadId: 'L-1',
  clientId: 'acme',
  createdAt: '2026-11-27T10:00:00+03:00',
  candidate: { firstName: 'Ivan', phone: '+79123456789' },
  vacancy: { title: 'Courier' },
  source: { channel: 'hh' },
  consent: { given: true, at: '2026-11-27T09:00:00Z' },
};

describe('LeadV1 validation', () => {
  it.each([
    ['8 (912) 345-67-89', '+79123456789'],
    ['+7 912 345 67 89', '+79123456789'],
    ['9123456789', '+79123456789'],
    ['+375 29 123-45-67', '+375291234567'],
    ['+1 (202) 555-0143', '+12025550143'],
  ])('normalises phone %s to E.164 %s', (raw, e164) => {
    const r = parseLead({ ...base, candidate: { ...base.candidate, phone: raw } });
    expect(r).toEqual(expect.objectContaining({ ok: true }));
    if (r.ok) expect(r.lead.candidate.phone).toBe(e164);
  });

  it.each(['12345', 'not a phone', '+7 912', ''])('rejects phone %p with a message naming the field', (raw) => {
    const r = parseLead({ ...base, candidate: { ...base.candidate, phone: raw } });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues.map((i) => i.path)).toContain('candidate.phone');
  });

  it('requires personal-data consent', () => {
    const r = parseLead({ ...base, consent: { given: false, at: '2026-11-27T09:00:00Z' } });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues).toEqual([{ path: 'consent.given', message: expect.stringContaining('consent is required') }]);
  });

  it('lists every bad field with its path, and says Required for missing ones', () => {
    const r = parseLead({ leadId: 'has space', clientId: 'ACME', candidate: { phone: '+79123456789', email: 'nope' }, consent: { given: true, at: 'yesterday' } });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const byPath = Object.fromEntries(r.issues.map((i) => [i.path, i.message]));
    expect(Object.keys(byPath).sort()).toEqual(
      ['candidate.email', 'candidate.firstName', 'clientId', 'consent.at', 'createdAt', 'leadId', 'source', 'vacancy'].sort(),
    );
    expect(byPath['candidate.firstName']).toBe('Required');
    expect(byPath['candidate.email']).toMatch(/email/);
  });

  it('refuses unknown fields instead of dropping them silently', () => {
    const r = parseLead({ ...base, candidate: { ...base.candidate, phoen: '1' } });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues[0]).toEqual({ path: 'candidate', message: expect.stringContaining("'phoen'") });
  });

  it('accepts utm and extra, and defaults extra to {}', () => {
    const r = parseLead({ ...base, source: { channel: 'hh', utm: { source: 'hh', campaign: 'w' } } });
    expect(r.ok && r.lead.extra).toEqual({});
    const r2 = parseLead({ ...base, extra: { shift: 'night' } });
    expect(r2.ok && r2.lead.extra).toEqual({ shift: 'night' });
    const r3 = parseLead({ ...base, extra: { n: 1 } });
    expect(r3.ok).toBe(false);
  });

  it('derives a BullMQ-safe job id from client and lead', () => {
    expect(leadJobId('acme', '123')).toBe('acme.123');
    expect(leadJobId('acme', 'a.b')).not.toContain(':');
  });

  it('publishes a JSON Schema with the required fields', () => {
    const s = leadJsonSchema() as { required: string[]; properties: Record<string, unknown> };
    expect(s.required).toEqual(expect.arrayContaining(['leadId', 'clientId', 'createdAt', 'candidate', 'vacancy', 'source', 'consent']));
    expect(Object.keys(s.properties)).toContain('extra');
  });
});
