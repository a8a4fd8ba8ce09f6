/**
 * The fake HRDrom is the yardstick of the progress write-back's tests, so it is tested here over
 * real HTTP with the global fetch a sender would use: no mocks.
 */
import { parseProgressAnswer, ProgressErrorSchema, type ProgressEvent } from '../../src/domain/progress';
import { startFakeHrdrom, type FakeHrdrom, type FakeHrdromOptions } from '../support/fake-hrdrom';
import { eventually } from '../support/harness';

const TOKEN = 'hrdrom-test-token-0123456789';
const started: FakeHrdrom[] = [];

async function start(opts: Partial<FakeHrdromOptions> = {}): Promise<FakeHrdrom> {
  const h = await startFakeHrdrom({ token: TOKEN, ...opts });
  started.push(h);
  return h;
}

afterEach(async () => {
  await Promise.all(started.splice(0).map((h) => h.close()));
});

let seq = 0;
function ev(overrides: Partial<ProgressEvent> = {}): ProgressEvent {
  seq += 1;
  return {
    eventId: `ev-${seq}`,
    clientId: 'acme',
    leadId: `lead-${seq}`,
    crmLeadId: String(9_774_000 + seq),
    stage: 'contacted',
    crmStatus: 'pipeline 3383152 / status 1003',
    changedAt: '2026-11-30T10:00:00.000Z',
    observedAt: '2026-11-30T10:00:04.512Z',
    ...overrides,
  };
}

interface PostOptions {
  token?: string | null;
  contentType?: string | null;
  /** Sent verbatim instead of JSON.stringify(body). */
  raw?: string;
  signal?: AbortSignal;
  path?: string;
  method?: string;
}

interface Answer {
  status: number;
  headers: Headers;
  body: any;
  ms: number;
}

async function post(h: FakeHrdrom, body: unknown, opts: PostOptions = {}): Promise<Answer> {
  const headers: Record<string, string> = {};
  const token = opts.token === undefined ? TOKEN : opts.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const contentType = opts.contentType === undefined ? 'application/json' : opts.contentType;
  if (contentType !== null) headers['content-type'] = contentType;
  const t0 = performance.now();
  const res = await fetch(`${h.url}${opts.path ?? '/v1/lead-progress'}`, {
    method: opts.method ?? 'POST',
    headers,
    body: opts.raw ?? (body === undefined ? undefined : JSON.stringify(body)),
    signal: opts.signal,
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // Not JSON: keep the text (an injected HTML page).
  }
  return { status: res.status, headers: res.headers, body: parsed, ms: performance.now() - t0 };
}

/** What fetch rejected with, for asserting on network-level failures. */
async function failure(p: Promise<unknown>): Promise<Error & { cause?: { code?: string } }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { cause?: { code?: string } };
  }
  throw new Error('expected the request to fail');
}

const statuses = (a: Answer): string[] => (a.body.results as Array<{ status: string }>).map((r) => r.status);

describe('the write-back contract', () => {
  it('accepts a batch: one result per event in request order, recorded with arrival times', async () => {
    const h = await start();
    const batch = [ev(), ev({ stage: 'interview' }), ev({ stage: 'not_reached' })];
    const before = performance.timeOrigin + performance.now();
    const a = await post(h, { events: batch });
    expect(a.status).toBe(200);
    expect(a.headers.get('content-type')).toMatch(/^application\/json/);
    expect(parseProgressAnswer(batch, a.body)).toEqual({ ok: true, value: { results: batch.map((e) => ({ eventId: e.eventId, status: 'accepted' })) } });
    expect(h.accepted).toBe(3);
    const events = h.events();
    expect(events.map(({ receivedAt: _r, ...e }) => e)).toEqual(batch);
    for (const e of events) expect(e.receivedAt).toBeGreaterThanOrEqual(before);
    expect(h.eventsFor('acme', batch[1].leadId).map((e) => e.stage)).toEqual(['interview']);
    expect(h.eventsFor('other', batch[1].leadId)).toEqual([]);
    expect(h.stats()).toMatchObject({ requests: 1, accepted: 3, duplicates: 0, rejected: 0, refused: 0, faults: 0 });
  });

  it('is idempotent by eventId: a resend, or a repeat inside one request, is a duplicate and recorded once', async () => {
    const h = await start();
    const [a, b] = [ev(), ev()];
    expect(statuses(await post(h, { events: [a, b] }))).toEqual(['accepted', 'accepted']);
    const c = ev();
    const again = await post(h, { events: [b, c, c, a] });
    expect(statuses(again)).toEqual(['duplicate', 'accepted', 'duplicate', 'duplicate']);
    expect(parseProgressAnswer([b, c, c, a], again.body).ok).toBe(true);
    expect(h.events().map((e) => e.eventId)).toEqual([a.eventId, b.eventId, c.eventId]);
    expect(h.accepted).toBe(3);
    expect(h.stats()).toMatchObject({ accepted: 3, duplicates: 3, conflictingDuplicates: 0 });
  });

  it('counts an eventId reused for a different change as a conflicting duplicate', async () => {
    const h = await start();
    const a = ev();
    await post(h, { events: [a] });
    // A resend that was rebuilt later differs in observedAt only: not a conflict.
    expect(statuses(await post(h, { events: [{ ...a, observedAt: '2026-11-30T11:00:00Z' }] }))).toEqual(['duplicate']);
    expect(statuses(await post(h, { events: [{ ...a, stage: 'hired' }] }))).toEqual(['duplicate']);
    expect(h.stats()).toMatchObject({ duplicates: 2, conflictingDuplicates: 1 });
    expect(h.events().map((e) => e.stage)).toEqual(['contacted']);
  });

  it('rejectWhen answers rejected with the reason, records nothing, and does not remember the id', async () => {
    const h = await start();
    h.rejectWhen((e) => (e.leadId === 'ghost' ? 'unknown lead' : undefined));
    const ghost = ev({ leadId: 'ghost' });
    const ok = ev();
    const a = await post(h, { events: [ok, ghost] });
    expect(a.body).toEqual({ results: [{ eventId: ok.eventId, status: 'accepted' }, { eventId: ghost.eventId, status: 'rejected', reason: 'unknown lead' }] });
    expect(parseProgressAnswer([ok, ghost], a.body).ok).toBe(true);
    expect(h.events().map((e) => e.eventId)).toEqual([ok.eventId]);
    expect(h.stats()).toMatchObject({ accepted: 1, rejected: 1 });
    // An empty reason is no reason.
    h.rejectWhen(() => '');
    expect(statuses(await post(h, { events: [ghost] }))).toEqual(['accepted']);
    h.rejectWhen(undefined);
    expect(statuses(await post(h, { events: [ghost] }))).toEqual(['duplicate']);
  });

  it('a rejectWhen that throws gives a 500 naming the cause, and records nothing of the batch', async () => {
    const h = await start();
    h.rejectWhen((e) => {
      if (e.stage === 'hired') throw new Error('test predicate broke');
      return undefined;
    });
    const a = await post(h, { events: [ev(), ev({ stage: 'hired' })] });
    expect(a.status).toBe(500);
    expect(a.body).toEqual({ error: 'internal_error', message: 'rejectWhen threw: test predicate broke' });
    expect(h.accepted).toBe(0);
    expect(h.stats()).toMatchObject({ accepted: 0, internalErrors: 1 });
    expect(() => h.rejectWhen('no' as unknown as undefined)).toThrow(/expected a function/);
  });

  it('serves concurrent requests without mixing them up', async () => {
    const h = await start();
    const batches = Array.from({ length: 20 }, () => Array.from({ length: 25 }, () => ev()));
    const answers = await Promise.all(batches.map((events) => post(h, { events })));
    answers.forEach((a, i) => expect(parseProgressAnswer(batches[i], a.body).ok).toBe(true));
    expect(answers.flatMap(statuses).every((s) => s === 'accepted')).toBe(true);
    expect(h.accepted).toBe(500);
    const received = h.events().map((e) => e.receivedAt);
    expect(received).toEqual([...received].sort((x, y) => x - y));
    expect(new Set(h.events().map((e) => e.eventId)).size).toBe(500);
  });
});

describe('whole-request answers', () => {
  it.each([
    ['no Authorization header', null],
    ['a wrong token', 'wrong-token'],
    ['the right token with a suffix', `${TOKEN}x`],
  ])('401 for %s, nothing recorded', async (_what, token) => {
    const h = await start();
    const a = await post(h, { events: [ev()] }, { token });
    expect(a.status).toBe(401);
    expect(a.body).toEqual({ error: 'unauthorized' });
    expect(a.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(h.accepted).toBe(0);
  });

  it('401 for a token without the Bearer scheme; the scheme itself is case-insensitive', async () => {
    const h = await start();
    const raw = (authorization: string) =>
      fetch(`${h.url}/v1/lead-progress`, { method: 'POST', headers: { authorization, 'content-type': 'application/json' }, body: JSON.stringify({ events: [ev()] }) });
    expect((await raw(TOKEN)).status).toBe(401);
    expect((await raw(`Basic ${TOKEN}`)).status).toBe(401);
    expect((await raw(`bearer ${TOKEN}`)).status).toBe(200);
  });

  it.each([
    ['no Content-Type', null],
    ['text/plain', 'text/plain'],
    ['form data', 'application/x-www-form-urlencoded'],
    ['a json-like type', 'application/jsonx'],
  ])('415 for %s', async (_what, contentType) => {
    const h = await start();
    const a = await post(h, { events: [ev()] }, { contentType });
    expect(a.status).toBe(415);
    expect(a.body).toEqual({ error: 'unsupported_media_type' });
    expect(h.accepted).toBe(0);
  });

  it('takes application/json with parameters and in any case', async () => {
    const h = await start();
    expect((await post(h, { events: [ev()] }, { contentType: 'application/json; charset=utf-8' })).status).toBe(200);
    expect((await post(h, { events: [ev()] }, { contentType: 'Application/JSON' })).status).toBe(200);
  });

  it.each([
    ['a body that is not JSON', '{"events": [', '', /not valid JSON/],
    ['an empty body', '', '', /empty/],
    ['no events array', '{"event": []}', '', /'event'/],
    ['events that is not an array', '{"events": {}}', 'events', /expected array/],
    ['an empty events array', '{"events": []}', 'events', /at least one/],
    ['a bare array', '[]', '', /expected object/],
  ])('400 for %s, naming where', async (_what, raw, path, message) => {
    const h = await start();
    const a = await post(h, undefined, { raw });
    expect(a.status).toBe(400);
    expect(a.body).toEqual({ error: 'invalid_body', details: expect.arrayContaining([{ path, message: expect.stringMatching(message) }]) });
  });

  it('400 names every bad field of every event, and records none of the batch', async () => {
    const h = await start();
    const good = ev();
    const { crmLeadId: _dropped, ...noCrmId } = ev();
    const a = await post(h, { events: [good, ev({ stage: 'won' as ProgressEvent['stage'] }), ev({ changedAt: '2026-11-30T10:00:00' }), noCrmId] });
    expect(a.status).toBe(400);
    expect(ProgressErrorSchema.parse(a.body).error).toBe('invalid_body');
    expect(a.body.details).toEqual([
      { path: 'events[1].stage', message: expect.stringContaining('must be one of new, in_progress') },
      { path: 'events[2].changedAt', message: expect.stringContaining('time zone') },
      { path: 'events[3].crmLeadId', message: 'Required' },
    ]);
    expect(h.accepted).toBe(0);
    expect(h.stats()).toMatchObject({ refused: 1, accepted: 0 });
    expect(h.requests[0]).toMatchObject({ status: 400, eventCount: 4, eventIds: [] });
  });

  it('413 for more than 500 events (before looking at the fields); exactly 500 is fine', async () => {
    const h = await start();
    const tooMany = await post(h, { events: Array.from({ length: 501 }, () => ({ eventId: 'not even valid' })) });
    expect(tooMany.status).toBe(413);
    expect(tooMany.body).toEqual({ error: 'too_many_events', max: 500 });
    expect(h.requests[0].eventCount).toBe(501);
    const full = await post(h, { events: Array.from({ length: 500 }, () => ev()) });
    expect(full.status).toBe(200);
    expect(h.accepted).toBe(500);
  });

  it('maxEventsPerRequest lowers the limit, within the contract', async () => {
    const h = await start({ maxEventsPerRequest: 3 });
    expect((await post(h, { events: [ev(), ev(), ev()] })).status).toBe(200);
    expect(await post(h, { events: [ev(), ev(), ev(), ev()] })).toMatchObject({ status: 413, body: { error: 'too_many_events', max: 3 } });
    expect(h.accepted).toBe(3);
  });

  it('413 for a body over 5 MiB', async () => {
    const h = await start();
    const a = await post(h, undefined, { raw: JSON.stringify({ events: [ev({ crmStatus: 'x'.repeat(5 * 1024 * 1024) })] }) });
    expect(a.status).toBe(413);
    expect(a.body).toEqual({ error: 'payload_too_large', max: 5 * 1024 * 1024 });
  });

  it('checks in order: token, then content type, then JSON', async () => {
    const h = await start();
    expect((await post(h, undefined, { raw: 'nope', token: 'bad', contentType: 'text/plain' })).status).toBe(401);
    expect((await post(h, undefined, { raw: 'nope', contentType: 'text/plain' })).status).toBe(415);
    expect((await post(h, undefined, { raw: 'nope' })).status).toBe(400);
    expect(h.stats()).toMatchObject({ requests: 3, refused: 3 });
  });

  it('serves /healthz without a token; other paths and methods are 404 and 405', async () => {
    const h = await start();
    expect(await post(h, undefined, { method: 'GET', path: '/healthz', token: null, contentType: null })).toMatchObject({ status: 200, body: { ok: true } });
    const get = await post(h, undefined, { method: 'GET' });
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    expect((await post(h, { events: [ev()] }, { path: '/v1/lead-progres' })).status).toBe(404);
    expect(h.stats()).toMatchObject({ requests: 3, refused: 0, accepted: 0 });
  });
});

describe('recorded requests', () => {
  it('hold arrival time, status, event count and ids, headers, and the fault served', async () => {
    const h = await start();
    const batch = [ev(), ev()];
    await post(h, { events: batch });
    h.injectFault({ type: 'status', status: 503 });
    await post(h, { events: batch });
    expect(h.requests).toHaveLength(2);
    const [first, second] = h.requests;
    expect(first).toMatchObject({ method: 'POST', path: '/v1/lead-progress', status: 200, eventCount: 2, eventIds: batch.map((e) => e.eventId) });
    expect(first.fault).toBeUndefined();
    expect(first.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(first.headers['content-type']).toBe('application/json');
    expect(second).toMatchObject({ status: 503, fault: 'status', eventCount: 2 });
    expect(second.at).toBeGreaterThanOrEqual(first.at);
    expect(first.durationMs).toBeGreaterThan(0);
  });
});

describe('faults', () => {
  it('status: answered instead of HRDrom, with headers and body, for `times` requests, nothing recorded', async () => {
    const h = await start();
    h.injectFault({ type: 'status', status: 429, headers: { 'Retry-After': '3' } }, { times: 2 });
    const e = ev();
    for (let i = 0; i < 2; i++) {
      const a = await post(h, { events: [e] });
      expect(a).toMatchObject({ status: 429, body: { error: 'rate_limited' } });
      expect(a.headers.get('retry-after')).toBe('3');
    }
    expect(h.accepted).toBe(0);
    expect(statuses(await post(h, { events: [e] }))).toEqual(['accepted']);
    expect(h.stats()).toMatchObject({ faults: 2, accepted: 1 });
  });

  it('status: default body per status, or the one given (an HTML page from a proxy)', async () => {
    const h = await start();
    h.injectFault({ type: 'status', status: 502 });
    h.injectFault({ type: 'status', status: 503, body: '<html>maintenance</html>' });
    expect((await post(h, { events: [ev()] })).body).toEqual({ error: 'bad_gateway' });
    const html = await post(h, { events: [ev()] });
    expect(html).toMatchObject({ status: 503, body: '<html>maintenance</html>' });
    expect(html.headers.get('content-type')).toMatch(/^text\/html/);
  });

  it('status faults stand in front of HRDrom: they answer even a request HRDrom would refuse', async () => {
    const h = await start();
    h.injectFault({ type: 'status', status: 500 });
    expect((await post(h, { events: [ev()] }, { token: 'bad' })).status).toBe(500);
    expect((await post(h, { events: [ev()] }, { token: 'bad' })).status).toBe(401);
  });

  it('timeout: never answered, nothing recorded; the next request is served', async () => {
    const h = await start();
    h.injectFault({ type: 'timeout' });
    const e = ev();
    const err = await failure(post(h, { events: [e] }, { signal: AbortSignal.timeout(300) }));
    expect(err.name).toBe('TimeoutError');
    await eventually(() => h.requests[0].durationMs > 0, 'the server to see the caller give up');
    expect(h.requests[0]).toMatchObject({ status: 0, fault: 'timeout' });
    expect(h.accepted).toBe(0);
    expect(statuses(await post(h, { events: [e] }))).toEqual(['accepted']);
  });

  it('reset: the connection is reset once the body is in, nothing recorded', async () => {
    const h = await start();
    h.injectFault({ type: 'reset' });
    const err = await failure(post(h, { events: [ev()] }));
    expect(err.cause?.code).toBe('ECONNRESET');
    expect(h.accepted).toBe(0);
    await eventually(() => h.requests[0].durationMs > 0, 'the reset request to close');
    expect(h.requests[0]).toMatchObject({ status: 0, fault: 'reset' });
  });

  it('accept-then-status: records the events, answers 5xx; the resend gets duplicate', async () => {
    const h = await start();
    h.injectFault({ type: 'accept-then-status', status: 503, headers: { 'Retry-After': '1' } });
    const batch = [ev(), ev()];
    const first = await post(h, { events: batch });
    expect(first).toMatchObject({ status: 503, body: { error: 'service_unavailable' } });
    expect(first.headers.get('retry-after')).toBe('1');
    expect(h.accepted).toBe(2);
    const resend = await post(h, { events: [...batch, ev()] });
    expect(statuses(resend)).toEqual(['duplicate', 'duplicate', 'accepted']);
    expect(h.stats()).toMatchObject({ accepted: 3, duplicates: 2, faults: 1 });
  });

  it('accept-then-status waits for a valid request: a refused one passes it by', async () => {
    const h = await start();
    h.injectFault({ type: 'accept-then-status', status: 500 });
    expect((await post(h, { events: [ev({ stage: 'won' as ProgressEvent['stage'] })] })).status).toBe(400);
    expect((await post(h, { events: [ev()] }, { token: 'bad' })).status).toBe(401);
    expect((await post(h, { events: [ev()] })).status).toBe(500);
    expect(h.accepted).toBe(1);
    expect((await post(h, { events: [ev()] })).status).toBe(200);
  });

  it('latency: the answer comes at least that much later, and the events are recorded before it', async () => {
    const h = await start();
    h.injectFault({ type: 'latency', ms: 400 });
    const slow = post(h, { events: [ev()] });
    await eventually(() => h.accepted === 1, 'the event to be recorded');
    const a = await slow;
    expect(a.status).toBe(200);
    // A timer may fire a millisecond early against performance.now(); allow for it, not more.
    expect(a.ms).toBeGreaterThanOrEqual(398);
    // The option and setLatency add to every answer.
    h.setLatency(200);
    expect((await post(h, undefined, { method: 'GET', path: '/healthz' })).ms).toBeGreaterThanOrEqual(198);
    expect(() => h.setLatency(-1)).toThrow(/latency/);
  });

  it('match: only requests carrying a chosen client, lead or event get the fault', async () => {
    const h = await start();
    h.injectFault({ type: 'status', status: 502 }, { match: { clientId: 'beta' }, times: 5 });
    h.injectFault({ type: 'status', status: 500 }, { match: { eventId: 'special' } });
    expect((await post(h, { events: [ev()] })).status).toBe(200);
    expect((await post(h, { events: [ev(), ev({ clientId: 'beta' })] })).status).toBe(502);
    expect((await post(h, { events: [ev({ eventId: 'special' })] })).status).toBe(500);
    expect((await post(h, { events: [ev({ eventId: 'special' })] })).status).toBe(200);
    h.clearFaults();
    expect((await post(h, { events: [ev({ clientId: 'beta' })] })).status).toBe(200);
  });

  it('match: by default only POST /v1/lead-progress; a path reaches /healthz', async () => {
    const h = await start();
    h.injectFault({ type: 'status', status: 503 }, { match: { method: 'get', path: /^\/healthz$/ } });
    h.injectFault({ type: 'status', status: 500 });
    expect((await post(h, undefined, { method: 'GET', path: '/healthz' })).status).toBe(503);
    expect((await post(h, undefined, { method: 'GET', path: '/healthz' })).status).toBe(200);
    expect((await post(h, { events: [ev()] })).status).toBe(500);
  });

  it.each([
    ['a status outside the catalogue', { type: 'status', status: 404 }, /status must be one of/],
    ['accept-then-status with 429', { type: 'accept-then-status', status: 429 }, /needs a 5xx/],
    ['a negative latency', { type: 'latency', ms: -5 }, /ms >= 0/],
    ['an unknown type', { type: 'hang' }, /unknown fault type "hang"/],
    ['non-string headers', { type: 'status', status: 503, headers: { 'Retry-After': 3 } }, /headers/],
  ])('refuses a fault with %s', async (_what, spec, message) => {
    const h = await start();
    expect(() => h.injectFault(spec as never)).toThrow(message);
  });

  it('refuses times that is not a positive integer', async () => {
    const h = await start();
    expect(() => h.injectFault({ type: 'reset' }, { times: 0 })).toThrow(/times must be a positive integer/);
  });
});

describe('down and up', () => {
  it('down refuses connections; up listens on the same port and keeps what was recorded', async () => {
    const h = await start();
    const e = ev();
    await post(h, { events: [e] });
    const port = h.port;
    await h.down();
    expect((await failure(post(h, { events: [e] }))).cause?.code).toBe('ECONNREFUSED');
    await h.up();
    expect(h.port).toBe(port);
    expect(statuses(await post(h, { events: [e] }))).toEqual(['duplicate']);
  });

  it('down drops a held request and a pending answer; events recorded before it stay recorded', async () => {
    const h = await start();
    h.injectFault({ type: 'timeout' });
    const held = failure(post(h, { events: [ev()] }));
    await eventually(() => h.requests.length === 1, 'the held request to arrive');
    h.setLatency(60_000);
    const slow = failure(post(h, { events: [ev()] }));
    await eventually(() => h.accepted === 1, 'the slow request to be recorded');
    await h.down();
    expect((await held).message).toMatch(/fetch failed/);
    expect((await slow).message).toMatch(/fetch failed/);
    expect(h.accepted).toBe(1);
  });

  it('close is final', async () => {
    const h = await start();
    await h.close();
    await expect(h.up()).rejects.toThrow(/closed/);
  });
});

describe('order helpers', () => {
  it('outOfOrderLeads lists leads whose events did not arrive in changedAt order, comparing instants', async () => {
    const h = await start();
    const lead = (leadId: string, stage: ProgressEvent['stage'], changedAt: string) => ev({ leadId, stage, changedAt });
    await post(h, { events: [lead('l-1', 'contacted', '2026-11-30T10:00:00Z'), lead('l-2', 'contacted', '2026-11-30T10:00:00Z')] });
    // Same instant as 10:00Z written with an offset: not out of order.
    await post(h, { events: [lead('l-2', 'interview', '2026-11-30T13:00:00+03:00'), lead('l-1', 'interview', '2026-11-30T09:59:59Z')] });
    await post(h, { events: [lead('l-2', 'hired', '2026-11-30T12:00:00Z')] });
    expect(h.outOfOrderLeads()).toEqual(['acme.l-1']);
    // A later event does not make an earlier inversion go away.
    await post(h, { events: [lead('l-1', 'hired', '2026-12-01T00:00:00Z')] });
    expect(h.outOfOrderLeads()).toEqual(['acme.l-1']);
  });

  it('outOfOrderLeads keeps clients apart', async () => {
    const h = await start();
    await post(h, { events: [ev({ clientId: 'a', leadId: 'x', changedAt: '2026-11-30T10:00:00Z' })] });
    await post(h, { events: [ev({ clientId: 'b', leadId: 'x', changedAt: '2026-11-30T09:00:00Z' })] });
    expect(h.outOfOrderLeads()).toEqual([]);
  });

  it('duplicatesByContent finds one change accepted under two eventIds', async () => {
    const h = await start();
    const change = { leadId: 'l-9', stage: 'interview' as const, changedAt: '2026-11-30T10:00:00Z' };
    await post(h, { events: [ev({ ...change, eventId: 'first' }), ev({ ...change, stage: 'offer' })] });
    expect(h.duplicatesByContent()).toEqual([]);
    await post(h, { events: [ev({ ...change, eventId: 'second', changedAt: '2026-11-30T13:00:00+03:00', observedAt: '2026-11-30T12:00:00Z' })] });
    expect(h.duplicatesByContent()).toEqual([{ clientId: 'acme', leadId: 'l-9', stage: 'interview', changedAt: '2026-11-30T10:00:00Z', eventIds: ['first', 'second'] }]);
  });
});

describe('options', () => {
  it.each([
    ['an empty token', { token: '' }, /token/],
    ['a token with a space', { token: 'a b' }, /token/],
    ['maxEventsPerRequest above the contract', { token: 't', maxEventsPerRequest: 501 }, /maxEventsPerRequest must be an integer 1-500/],
    ['maxEventsPerRequest 0', { token: 't', maxEventsPerRequest: 0 }, /maxEventsPerRequest/],
    ['a negative latency', { token: 't', latencyMs: -1 }, /latency/],
    ['a bad port', { token: 't', port: 70000 }, /port/],
  ])('refuses %s', async (_what, opts, message) => {
    await expect(startFakeHrdrom(opts as FakeHrdromOptions)).rejects.toThrow(message);
  });
});
