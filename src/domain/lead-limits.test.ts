import { MAX_EXTRA_KEYS, MAX_EXTRA_KEY_LENGTH, MAX_EXTRA_VALUE_LENGTH, MAX_LEAD_BYTES, parseLead } from './lead';
import { MAX_ISSUES_PER_LEAD } from './lead-repair';

const base = {
  leadId: 'L-1',
  clientId: 'acme',
  createdAt: '2026-11-27T10:00:00+03:00',
  candidate: { firstName: 'Ivan', lastName: 'Petrov', phone: '+7 912 345-67-89', email: 'ivan.petrov@example.org', city: 'Moscow' },
  vacancy: { id: 'v-1', title: 'Courier', city: 'Moscow' },
  source: { channel: 'hh', campaign: 'winter', utm: { source: 'hh', medium: 'cpc', campaign: 'winter' } },
  comment: 'Готов выйти в ночную смену',
  consent: { given: true, at: '2026-11-27T09:59:00Z' },
};
const now = () => Date.parse('2026-11-30T00:00:00Z');
const entries = (n: number, len: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'x'.repeat(len)]));

describe('lead size limits (field report: an 8.8 MB lead was accepted)', () => {
  it('refuses the reported lead: 3,500 extra entries of 2,000 characters, with a short answer', () => {
    const r = parseLead({ ...base, extra: entries(3_500, 2_000) }, { now });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.issues).toHaveLength(MAX_ISSUES_PER_LEAD);
    expect(r.issues[0]).toEqual({ path: 'extra.k0', message: `must be at most ${MAX_EXTRA_VALUE_LENGTH} characters` });
    expect(r.issues[r.issues.length - 1].message).toMatch(/and \d+ more problems/);
  });

  it(`refuses more than ${MAX_EXTRA_KEYS} extra keys, naming the field and the limit`, () => {
    expect(parseLead({ ...base, extra: entries(MAX_EXTRA_KEYS, 5) }, { now }).ok).toBe(true);
    const r = parseLead({ ...base, extra: entries(MAX_EXTRA_KEYS + 1, 5) }, { now });
    expect(r).toEqual({ ok: false, issues: [{ path: 'extra', message: `has more than ${MAX_EXTRA_KEYS} keys; at most ${MAX_EXTRA_KEYS} are allowed` }], warnings: [] });
  });

  it(`refuses an extra value over ${MAX_EXTRA_VALUE_LENGTH} characters, and a comment over 4000`, () => {
    expect(parseLead({ ...base, extra: { a: 'я'.repeat(MAX_EXTRA_VALUE_LENGTH) } }, { now }).ok).toBe(true);
    const r = parseLead({ ...base, extra: { a: 'я'.repeat(MAX_EXTRA_VALUE_LENGTH + 1) } }, { now });
    expect(!r.ok && r.issues).toEqual([{ path: 'extra.a', message: `must be at most ${MAX_EXTRA_VALUE_LENGTH} characters` }]);
    const c = parseLead({ ...base, comment: 'x'.repeat(4001) }, { now });
    expect(!c.ok && c.issues).toEqual([{ path: 'comment', message: 'must be at most 4000 characters' }]);
  });

  it('leaves out an extra key that is too long, has a dot or is reserved, and says why', () => {
    const r = parseLead({ ...base, extra: { ['k'.repeat(MAX_EXTRA_KEY_LENGTH + 1)]: 'v', 'a.b': 'v', constructor: 'v', ['k'.repeat(MAX_EXTRA_KEY_LENGTH)]: 'kept', shift_2: 'night' } }, { now });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.lead.extra).toEqual({ ['k'.repeat(MAX_EXTRA_KEY_LENGTH)]: 'kept', shift_2: 'night' });
    expect(r.warnings.map((w) => w.message)).toEqual([
      expect.stringContaining(`key must be at most ${MAX_EXTRA_KEY_LENGTH} characters`),
      expect.stringContaining('no dots'),
      expect.stringContaining('reserved'),
    ]);
    expect(r.warnings[0].path).toBe(`extra.${'k'.repeat(64)}…`);
  });

  it(`refuses a lead over ${MAX_LEAD_BYTES} bytes as stored, saying its size and the limit`, () => {
    // Each field is within its own limit; together they are not. Cyrillic is 2 bytes per character.
    const r = parseLead({ ...base, comment: 'ж'.repeat(4000), extra: entries(10, 900) }, { now });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.issues).toEqual([{ path: '', message: expect.stringMatching(new RegExp(`^the lead is \\d+ bytes as stored; at most ${MAX_LEAD_BYTES} \\(16 KB\\)`)) }]);
    const bytes = Number(/is (\d+) bytes/.exec(r.issues[0].message)?.[1]);
    expect(bytes).toBeGreaterThan(MAX_LEAD_BYTES);
    expect(bytes).toBeLessThan(MAX_LEAD_BYTES + 2_000);
  });

  it('a normal lead is far below the limit', () => {
    const r = parseLead(base, { now });
    expect(r.ok && Buffer.byteLength(JSON.stringify(r.lead))).toBeLessThan(MAX_LEAD_BYTES / 8);
  });
});
