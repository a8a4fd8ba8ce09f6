import {
  FUNNEL_STAGE_DESCRIPTIONS,
  FUNNEL_STAGES,
  MAX_PROGRESS_EVENTS,
  parseProgressAnswer,
  parseProgressBatch,
  ProgressEventSchema,
  ProgressResultSchema,
  type ProgressEvent,
} from './progress';

const event = (overrides: Partial<Record<keyof ProgressEvent, unknown>> = {}): Record<string, unknown> => ({
  eventId: 'acme.lead-1.interview.1764496800000',
  clientId: 'acme',
  leadId: 'lead-1',
  crmLeadId: '9774766',
  stage: 'interview',
  crmStatus: 'pipeline 3383152 / status 142',
  changedAt: '2026-11-30T10:00:00.000Z',
  observedAt: '2026-11-30T10:00:04.512Z',
  ...overrides,
});

/** The issues of a one-event batch, as `path → message`. */
function issuesOf(e: Record<string, unknown>): Record<string, string> {
  const r = parseProgressBatch({ events: [e] });
  if (r.ok) throw new Error('expected the event to be refused');
  return Object.fromEntries(r.issues.map((i) => [i.path, i.message]));
}

describe('funnel stages', () => {
  it('are the contract list, in funnel order, each with a description', () => {
    expect(FUNNEL_STAGES).toEqual(['new', 'in_progress', 'contacted', 'not_reached', 'interview', 'offer', 'hired', 'rejected']);
    expect(Object.keys(FUNNEL_STAGE_DESCRIPTIONS).sort()).toEqual([...FUNNEL_STAGES].sort());
    for (const s of FUNNEL_STAGES) expect(FUNNEL_STAGE_DESCRIPTIONS[s].length).toBeGreaterThan(20);
    expect(FUNNEL_STAGE_DESCRIPTIONS.not_reached).toMatch(/could not reach/);
  });

  it.each(FUNNEL_STAGES)('accepts an event at stage %s', (stage) => {
    const r = parseProgressBatch({ events: [event({ stage })] });
    expect(r.ok && r.value.events[0].stage).toBe(stage);
  });

  it.each(['NEW', 'won', 'lost', '', 'in progress', 3])('refuses stage %p, listing the stages', (stage) => {
    expect(issuesOf(event({ stage }))).toEqual({ 'events[0].stage': expect.stringContaining('must be one of new, in_progress, contacted') });
  });
});

describe('ProgressEventSchema', () => {
  it('accepts the documented example unchanged', () => {
    expect(ProgressEventSchema.parse(event())).toEqual(event());
  });

  it.each(['2026-11-30T10:00:00Z', '2026-11-30T13:00:00+03:00', '2026-11-30T10:00:00.123456Z', '2024-02-29T00:00:00-05:30', '2026-11-30T10:00:00.123456789+03:00'])('accepts date-time %s', (d) => {
    expect(parseProgressBatch({ events: [event({ changedAt: d, observedAt: d })] }).ok).toBe(true);
  });

  it.each([
    ['no time zone', '2026-11-30T10:00:00'],
    ['no seconds', '2026-11-30T10:00Z'],
    ['a space for T', '2026-11-30 10:00:00Z'],
    ['a 30th of February', '2026-02-30T10:00:00Z'],
    ['a 29th of February in a common year', '2026-02-29T10:00:00Z'],
    ['month 13', '2026-13-01T10:00:00Z'],
    ['hour 25', '2026-11-30T25:00:00Z'],
    ['an offset without a colon', '2026-11-30T10:00:00+0300'],
    ['a date only', '2026-11-30'],
    ['epoch milliseconds', 1764496800000],
    ['an empty string', ''],
    ['50 fractional digits', `2026-11-30T10:00:00.${'0'.repeat(50)}Z`],
  ])('refuses a date with %s, naming the field', (_what, d) => {
    expect(issuesOf(event({ changedAt: d }))).toEqual({ 'events[0].changedAt': expect.any(String) });
    expect(issuesOf(event({ observedAt: d }))).toEqual({ 'events[0].observedAt': expect.any(String) });
  });

  it('says what a date must look like', () => {
    expect(issuesOf(event({ changedAt: 'yesterday' }))['events[0].changedAt']).toMatch(/ISO-8601 .*time zone/);
  });

  it('names every missing field with Required', () => {
    const r = parseProgressBatch({ events: [{}] });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.issues).toEqual(
      ['eventId', 'clientId', 'leadId', 'crmLeadId', 'stage', 'crmStatus', 'changedAt', 'observedAt'].map((f) => ({ path: `events[0].${f}`, message: 'Required' })),
    );
  });

  it('keeps eventId opaque but bounded: 1 to 300 characters of anything', () => {
    expect(parseProgressBatch({ events: [event({ eventId: 'x'.repeat(300) })] }).ok).toBe(true);
    expect(parseProgressBatch({ events: [event({ eventId: 'Ж:/ #?\u00e9' })] }).ok).toBe(true);
    expect(issuesOf(event({ eventId: 'x'.repeat(301) }))).toEqual({ 'events[0].eventId': 'must be at most 300 characters' });
    expect(issuesOf(event({ eventId: '' }))).toEqual({ 'events[0].eventId': 'must not be empty' });
    expect(issuesOf(event({ eventId: 42 }))).toEqual({ 'events[0].eventId': expect.stringMatching(/string/) });
  });

  it('checks ids the way LeadV1 does, and wants crmLeadId as a string', () => {
    expect(issuesOf(event({ clientId: 'ACME' }))).toEqual({ 'events[0].clientId': expect.stringMatching(/a-z 0-9/) });
    expect(issuesOf(event({ leadId: 'has space' }))).toEqual({ 'events[0].leadId': expect.stringMatching(/A-Z a-z 0-9/) });
    expect(issuesOf(event({ crmLeadId: 9774766 }))).toEqual({ 'events[0].crmLeadId': expect.stringMatching(/string/) });
    expect(issuesOf(event({ crmStatus: '' }))).toEqual({ 'events[0].crmStatus': 'must not be empty' });
  });

  it('refuses unknown fields instead of dropping them', () => {
    expect(issuesOf(event({ stag: 'hired' } as Record<string, unknown>))).toEqual({ 'events[0]': expect.stringContaining("'stag'") });
  });
});

describe('ProgressBatchSchema', () => {
  it(`takes 1 to ${MAX_PROGRESS_EVENTS} events`, () => {
    const many = (n: number) => ({ events: Array.from({ length: n }, (_, i) => event({ eventId: `e${i}` })) });
    expect(parseProgressBatch(many(1)).ok).toBe(true);
    expect(parseProgressBatch(many(MAX_PROGRESS_EVENTS)).ok).toBe(true);
    expect(parseProgressBatch(many(MAX_PROGRESS_EVENTS + 1))).toEqual({ ok: false, issues: [{ path: 'events', message: 'must hold at most 500 events' }] });
    expect(parseProgressBatch(many(0))).toEqual({ ok: false, issues: [{ path: 'events', message: 'must hold at least one event' }] });
  });

  it.each([
    ['no events', {}, 'events', 'Required'],
    ['events not an array', { events: event() }, 'events', 'expected array'],
    ['a bare array', [event()], '', 'expected object'],
    ['null', null, '', 'expected object'],
    ['an extra top-level field', { events: [event()], client: 'acme' }, '', "'client'"],
  ])('refuses %s, naming where', (_what, body, path, message) => {
    const r = parseProgressBatch(body);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues).toEqual([{ path, message: expect.stringContaining(message) }]);
  });

  it('lists the problems of every event, each under its own index', () => {
    const r = parseProgressBatch({ events: [event(), event({ stage: 'won' }), event({ changedAt: 'now', leadId: undefined })] });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues.map((i) => i.path).sort()).toEqual(['events[1].stage', 'events[2].changedAt', 'events[2].leadId']);
  });
});

describe('answers', () => {
  it('a rejected result needs a reason; the others do not', () => {
    expect(ProgressResultSchema.safeParse({ eventId: 'e', status: 'accepted' }).success).toBe(true);
    expect(ProgressResultSchema.safeParse({ eventId: 'e', status: 'duplicate' }).success).toBe(true);
    expect(ProgressResultSchema.safeParse({ eventId: 'e', status: 'rejected', reason: 'unknown lead' }).success).toBe(true);
    expect(ProgressResultSchema.safeParse({ eventId: 'e', status: 'rejected' }).success).toBe(false);
    expect(ProgressResultSchema.safeParse({ eventId: 'e', status: 'ok' }).success).toBe(false);
  });

  it('tolerates fields HRDrom may add later', () => {
    expect(parseProgressAnswer([{ eventId: 'a' }], { results: [{ eventId: 'a', status: 'accepted', at: 1 }], took: 3 }).ok).toBe(true);
  });

  it('must hold exactly one result per event, in request order', () => {
    const sent = [{ eventId: 'a' }, { eventId: 'b' }];
    const ok = { results: [{ eventId: 'a', status: 'accepted' }, { eventId: 'b', status: 'duplicate' }] };
    expect(parseProgressAnswer(sent, ok)).toEqual({ ok: true, value: ok });
    expect(parseProgressAnswer(sent, { results: ok.results.slice(0, 1) })).toEqual({ ok: false, issues: [{ path: 'results', message: 'has 1 results for 2 events' }] });
    const swapped = parseProgressAnswer(sent, { results: [...ok.results].reverse() });
    expect(swapped.ok === false && swapped.issues.map((i) => i.path)).toEqual(['results[0].eventId', 'results[1].eventId']);
    const garbage = parseProgressAnswer(sent, { results: [{ eventId: 'a', status: 'fine' }, { eventId: 'b', status: 'accepted' }] });
    expect(garbage.ok === false && garbage.issues[0].path).toBe('results[0].status');
    expect(parseProgressAnswer(sent, '<html>').ok).toBe(false);
  });
});
