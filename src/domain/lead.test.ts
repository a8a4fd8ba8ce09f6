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
    // An extra value of the wrong type is an optional field that cannot be read: left out, with a warning.
    const r3 = parseLead({ ...base, extra: { n: 1, shift: 'night' } });
    expect(r3.ok && r3.lead.extra).toEqual({ shift: 'night' });
    expect(r3.warnings).toEqual([{ path: 'extra.n', message: expect.stringMatching(/expected string.*left out/) }]);
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

describe('dates (field report: consent given in the future was accepted)', () => {
  const now = () => Date.parse('2026-11-27T12:00:00Z');

  it('accepts dates up to 5 minutes ahead of the clock (sender clock skew), in any time zone', () => {
    const r = parseLead({ ...base, createdAt: '2026-11-27T15:04:59+03:00', consent: { given: true, at: '2026-11-27T12:05:00Z' } }, { now });
    expect(r.ok).toBe(true);
  });

  it('refuses createdAt and consent.at further in the future, saying why', () => {
    const r = parseLead({ ...base, createdAt: '2026-11-27T12:05:01Z', consent: { given: true, at: '2027-01-01T00:00:00+03:00' } }, { now });
    expect(!r.ok && r.issues).toEqual([
      { path: 'createdAt', message: 'is in the future (more than 5 minutes ahead of the server clock): a lead cannot be created after it is sent' },
      { path: 'consent.at', message: 'is in the future (more than 5 minutes ahead of the server clock): consent given in the future is not consent' },
    ]);
  });

  it('refuses dates before 1970', () => {
    const r = parseLead({ ...base, createdAt: '1969-12-31T23:59:59Z', consent: { given: true, at: '0001-01-01T00:00:00Z' } }, { now });
    expect(!r.ok && r.issues.map((i) => [i.path, i.message])).toEqual([
      ['createdAt', 'is before 1970-01-01, which is not a real date for a lead'],
      ['consent.at', 'is before 1970-01-01, which is not a real date for a lead'],
    ]);
  });

  it('reads the clock at every parse, not once', () => {
    let t = Date.parse('2026-11-27T00:00:00Z');
    const clock = () => t;
    expect(parseLead(base, { now: clock }).ok).toBe(false);
    t = Date.parse('2026-11-28T00:00:00Z');
    expect(parseLead(base, { now: clock }).ok).toBe(true);
  });
});

describe('text (field report: control and bidi characters stored in names)', () => {
  const now = () => Date.parse('2026-11-30T00:00:00Z');

  it.each([
    ['a C0 control', 'Iv\u0007an', 'contains a control character (U+0007) at position 3; remove it'],
    ['a C1 control', 'Ivan\u0085', 'contains a control character (U+0085) at position 5; remove it'],
    ['a tab inside', 'Iv\tan', 'contains a control character (U+0009) at position 3; remove it'],
    ['a right-to-left override', '\u202Evonaволод', 'contains a bidirectional-text control (U+202E) at position 1, which can disguise the text; remove it'],
    ['a first-strong isolate', 'Iv\u2068an', 'contains a bidirectional-text control (U+2068) at position 3, which can disguise the text; remove it'],
    ['a lone surrogate', 'Iv\uD800an', 'contains a broken character, a lone UTF-16 surrogate (U+D800) at position 3; remove it'],
  ])('refuses %s in a required name, naming the field and the character', (_what, firstName, message) => {
    const r = parseLead({ ...base, candidate: { ...base.candidate, firstName } }, { now });
    expect(!r.ok && r.issues).toEqual([{ path: 'candidate.firstName', message }]);
  });

  it('keeps a well-formed surrogate pair (emoji) and trims surrounding line breaks', () => {
    const r = parseLead({ ...base, candidate: { ...base.candidate, firstName: '\nИван 🙂\n' } }, { now });
    expect(r.ok && r.lead.candidate.firstName).toBe('Иван 🙂');
  });

  it('leaves out an optional single-line field that carries them, with a warning', () => {
    const r = parseLead({ ...base, candidate: { ...base.candidate, lastName: 'Pet\u202Erov' }, vacancy: { title: 'Courier', city: 'Mo\u0000scow' } }, { now });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.lead.candidate.lastName).toBeUndefined();
    expect(r.warnings.map((w) => w.path)).toEqual(['candidate.lastName', 'vacancy.city']);
  });

  it('strips them from free text (comment, extra values), keeping tabs and line breaks, and says which', () => {
    const r = parseLead({ ...base, comment: 'line 1\r\nline\t2\u0007\u202E\r', extra: { note: 'a\u0000b\nc', plain: 'ok' } }, { now });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.lead.comment).toBe('line 1\nline\t2\n');
    expect(r.lead.extra).toEqual({ note: 'ab\nc', plain: 'ok' });
    expect(r.warnings).toEqual([
      { path: 'comment', message: 'invisible control characters (U+0007, U+202E) were removed' },
      { path: 'extra.note', message: 'invisible control characters (U+0000) were removed' },
    ]);
  });

  it('normalises text to NFC, so the same name is stored the same way however it was typed', () => {
    const decomposed = 'Йосиф'.normalize('NFD');
    expect(decomposed).not.toBe('Йосиф');
    const r = parseLead({ ...base, candidate: { ...base.candidate, firstName: decomposed }, comment: 'е\u0308ж' }, { now });
    expect(r.ok && r.lead.candidate.firstName).toBe('Йосиф');
    expect(r.ok && r.lead.comment).toBe('ёж');
  });
});
