import { MAX_OTHER_PHONES, parseLead, type LeadParseResult, type LeadV1 } from './lead';

const base = {
  leadId: 'L-1',
  clientId: 'acme',
  createdAt: '2026-11-27T10:00:00+03:00',
  candidate: { firstName: 'Ivan', phone: '+79123456789' },
  vacancy: { title: 'Courier' },
  source: { channel: 'hh' },
  consent: { given: true, at: '2026-11-27T09:00:00Z' },
};
const now = () => Date.parse('2026-11-30T00:00:00Z');
const withCandidate = (c: Record<string, unknown>) => parseLead({ ...base, candidate: { ...base.candidate, ...c } }, { now });

function accepted(r: LeadParseResult): { lead: LeadV1; warnings: Array<{ path: string; message: string }> } {
  if (!r.ok) throw new Error(`expected the lead to be accepted, got ${JSON.stringify(r.issues)}`);
  return r;
}

describe('e-mail (field report: an optional e-mail cost the whole lead)', () => {
  it.each([
    ['иван@пример.рф', 'иван@пример.рф'],
    ['ivan@xn--e1afmkfd.xn--p1ai', 'ivan@xn--e1afmkfd.xn--p1ai'],
    ['ivan@example.org ', 'ivan@example.org'],
    ['  Ivan.Petrov+hh@Example.ORG\t', 'Ivan.Petrov+hh@Example.ORG'],
    ['ivan@почта.example.com', 'ivan@почта.example.com'],
  ])('accepts %p and keeps it as written, trimmed: %p', (raw, kept) => {
    const r = accepted(withCandidate({ email: raw }));
    expect(r.lead.candidate.email).toBe(kept);
    expect(r.warnings).toEqual([]);
  });

  it.each(['nope', 'ivan@', '@example.org', 'ivan@example', 'iv an@example.org', 'ivan@exa_mple.org', 'ivan@-example.org', 'ivan..p@example.org', 'ivan@example.123', 'ivan@@example.org'])(
    'leaves out the unreadable address %p with a warning, and accepts the lead',
    (raw) => {
      const r = accepted(withCandidate({ email: raw }));
      expect(r.lead.candidate).toEqual({ firstName: 'Ivan', phone: '+79123456789' });
      expect(r.warnings).toEqual([{ path: 'candidate.email', message: expect.stringMatching(/^is not a valid email address.*the field was left out/) }]);
    },
  );
});

describe('optional fields that cannot be read are left out, with a warning', () => {
  it('a garbage city, middle name, vacancy city, utm value and campaign: the lead keeps the rest', () => {
    const r = accepted(
      parseLead(
        {
          ...base,
          candidate: { ...base.candidate, lastName: 'Petrov', city: { name: 'Moscow' }, middleName: 42 },
          vacancy: { title: 'Courier', city: ['x'] },
          source: { channel: 'hh', campaign: '', utm: { source: 'hh', medium: 7 } },
        },
        { now },
      ),
    );
    expect(r.lead.candidate).toEqual({ firstName: 'Ivan', lastName: 'Petrov', phone: '+79123456789' });
    expect(r.lead.vacancy).toEqual({ title: 'Courier' });
    expect(r.lead.source).toEqual({ channel: 'hh', utm: { source: 'hh' } });
    expect(r.warnings.map((w) => w.path).sort()).toEqual(['candidate.city', 'candidate.middleName', 'source.campaign', 'source.utm.medium', 'vacancy.city']);
    for (const w of r.warnings) expect(w.message).toMatch(/the field was left out and the lead accepted without it$/);
  });

  it('an extra that is not an object is left out; the lead gets an empty extra', () => {
    const r = accepted(parseLead({ ...base, extra: 'shift=night' }, { now }));
    expect(r.lead.extra).toEqual({});
    expect(r.warnings).toEqual([{ path: 'extra', message: expect.stringContaining('expected record') }]);
  });

  it('required fields stay fatal, and the errors list the unreadable optional ones too', () => {
    const r = parseLead({ ...base, candidate: { phone: '+79123456789', email: 'nope' } }, { now });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.issues.map((i) => i.path).sort()).toEqual(['candidate.email', 'candidate.firstName']);
  });

  it('unknown fields stay fatal, in optional objects too', () => {
    const r = parseLead({ ...base, source: { channel: 'hh', utm: { sorce: 'hh' } } }, { now });
    expect(!r.ok && r.issues).toEqual([{ path: 'source.utm', message: expect.stringContaining("'sorce'") }]);
  });

  it('a size limit in an optional field stays fatal: the sender must shorten, not have it cut', () => {
    const r = withCandidate({ lastName: 'x'.repeat(129) });
    expect(!r.ok && r.issues).toEqual([{ path: 'candidate.lastName', message: 'must be at most 128 characters' }]);
  });

  it('never changes the caller’s object', () => {
    const input = { ...base, candidate: { ...base.candidate, email: 'nope', phone: '+7 916 123 45 67 / 8 903 123 45 67' }, comment: 'a\u0007' };
    const before = JSON.stringify(input);
    accepted(parseLead(input, { now }));
    expect(JSON.stringify(input)).toBe(before);
  });

  it('a __proto__ key is refused or left out, never reaches Object.prototype', () => {
    const raw = JSON.parse(
      '{"leadId":"L-1","clientId":"acme","createdAt":"2026-11-27T10:00:00Z","candidate":{"firstName":"Ivan","phone":"+79123456789"},"vacancy":{"title":"C"},"source":{"channel":"hh"},"consent":{"given":true,"at":"2026-11-27T09:00:00Z"},"extra":{"__proto__":{"polluted":"yes"},"a":"b"}}',
    ) as unknown;
    const r = accepted(parseLead(raw, { now }));
    expect(r.lead.extra).toEqual({ a: 'b' });
    expect(Object.getPrototypeOf(r.lead.extra)).toBe(Object.prototype);
    expect(r.warnings).toEqual([{ path: 'extra.__proto__', message: 'is a reserved name; the entry was left out' }]);
    const inCandidate = JSON.parse(JSON.stringify(base).replace('"firstName"', '"__proto__":{"polluted":"yes"},"firstName"')) as unknown;
    const r2 = parseLead(inCandidate, { now });
    expect(!r2.ok && r2.issues).toEqual([{ path: 'candidate', message: expect.stringContaining("'__proto__'") }]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('phones (field report: extensions dropped, impossible numbers accepted, two numbers refused)', () => {
  it.each([
    ['+7 495 555-12-34 доб. 4321', '+74955551234', '4321'],
    ['8 (495) 555-12-34 ext. 12', '+74955551234', '12'],
    ['+7 495 555-12-34, доб. 77', '+74955551234', '77'],
    ['+7 495 555 12 34 x5', '+74955551234', '5'],
  ])('keeps the extension of %p: phone %p, phoneExtension %p', (raw, e164, ext) => {
    const r = accepted(withCandidate({ phone: raw }));
    expect(r.lead.candidate.phone).toBe(e164);
    expect(r.lead.candidate.phoneExtension).toBe(ext);
  });

  it('accepts phoneExtension sent on its own; a conflicting one is left out in favour of the one in phone', () => {
    expect(accepted(withCandidate({ phone: '+74955551234', phoneExtension: '12' })).lead.candidate.phoneExtension).toBe('12');
    const r = accepted(withCandidate({ phone: '+7 495 555-12-34 доб. 4321', phoneExtension: '12' }));
    expect(r.lead.candidate.phoneExtension).toBe('4321');
    expect(r.warnings).toEqual([{ path: 'candidate.phoneExtension', message: expect.stringContaining('differs from the extension written in candidate.phone') }]);
    const bad = accepted(withCandidate({ phoneExtension: 'доб 12' }));
    expect(bad.lead.candidate.phoneExtension).toBeUndefined();
    expect(bad.warnings).toEqual([{ path: 'candidate.phoneExtension', message: expect.stringContaining('must be 1-10 digits') }]);
  });

  it.each(['+7 300 123-45-67', '+7 (000) 000-00-00', '8 (100) 123-45-67'])('refuses %p: the right length, but no such number range exists', (raw) => {
    const r = withCandidate({ phone: raw });
    expect(!r.ok && r.issues).toEqual([{ path: 'candidate.phone', message: expect.stringMatching(/^is not a valid phone number: no such number range/) }]);
  });

  it.each([
    ['+7 916 123 45 67 / 8 903 123 45 67', ['+79031234567']],
    ['+7 916 123 45 67, 8 903 123 45 67', ['+79031234567']],
    ['+7 916 123 45 67; +7 903 123-45-67; 8 495 555 12 34', ['+79031234567', '+74955551234']],
  ])('keeps the first of several numbers in %p as the phone, the rest in otherPhones, with a warning', (raw, others) => {
    const r = accepted(withCandidate({ phone: raw }));
    expect(r.lead.candidate.phone).toBe('+79161234567');
    expect(r.lead.candidate.otherPhones).toEqual(others);
    expect(r.warnings).toEqual([{ path: 'candidate.phone', message: `held ${others.length + 1} numbers: part 1 is kept as the phone, ${others.length} more in candidate.otherPhones` }]);
  });

  it('skips an unreadable first part, and says what was left out', () => {
    const r = accepted(withCandidate({ phone: '12345 / 8 903 123 45 67 доб. 5 / +7 916 123 45 67 доб. 9' }));
    expect(r.lead.candidate).toEqual(expect.objectContaining({ phone: '+79031234567', phoneExtension: '5', otherPhones: ['+79161234567'] }));
    expect(r.warnings.map((w) => w.message)).toEqual([
      expect.stringMatching(/^part 1 of 3 is not a valid phone number.*left out$/),
      'part 3 of 3 had an extension, which was left out (candidate.otherPhones hold numbers only)',
      'held 3 numbers: part 2 is kept as the phone, 1 more in candidate.otherPhones',
    ]);
  });

  it('refuses a field of several numbers none of which is valid', () => {
    const r = withCandidate({ phone: '123 / 456' });
    expect(!r.ok && r.issues).toEqual([{ path: 'candidate.phone', message: expect.stringContaining('is not a valid phone number') }]);
  });

  it(`keeps at most ${MAX_OTHER_PHONES} further numbers, says so, and drops repeats of the phone silently`, () => {
    const list = ['+79161234567', '8 916 123 45 67', ...Array.from({ length: 7 }, (_, i) => `+7 903 123 45 6${i}`)].join(' / ');
    const r = accepted(withCandidate({ phone: list }));
    expect(r.lead.candidate.otherPhones).toEqual(['+79031234560', '+79031234561', '+79031234562', '+79031234563', '+79031234564']);
    expect(r.warnings.map((w) => w.message)).toContain(`2 further number(s) did not fit (at most ${MAX_OTHER_PHONES}) and were left out`);
  });

  it('accepts otherPhones sent as a list, normalised to E.164; an invalid entry is left out with a warning', () => {
    const r = accepted(withCandidate({ otherPhones: ['8 903 123-45-67', '+7 300 123 45 67', '+79123456789'] }));
    expect(r.lead.candidate.otherPhones).toEqual(['+79031234567']);
    expect(r.warnings).toEqual([{ path: 'candidate.otherPhones[1]', message: expect.stringContaining('no such number range') }]);
  });
});
