/**
 * The fake REST CRM is itself the yardstick of the generic REST adapter's tests and benchmarks, so
 * it is tested here over real HTTP with the global fetch a client would use: no mocks.
 */
import net from 'node:net';
import { startFakeRestCrm, type FakeRestCrm, type FakeRestCrmOptions } from '../support/fake-rest-crm';

const started: FakeRestCrm[] = [];

async function start(opts?: FakeRestCrmOptions): Promise<FakeRestCrm> {
  const crm = await startFakeRestCrm(opts);
  started.push(crm);
  return crm;
}

afterEach(async () => {
  await Promise.all(started.splice(0).map((crm) => crm.close()));
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface CallOptions {
  body?: unknown;
  /** Sent verbatim, for malformed bodies. */
  raw?: string;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

interface CallResult<T> {
  status: number;
  headers: Headers;
  body: T;
}

async function call<T = Record<string, unknown>>(crm: FakeRestCrm, method: string, path: string, opts: CallOptions = {}): Promise<CallResult<T>> {
  const headers: Record<string, string> = { ...opts.headers };
  let body: string | undefined = opts.raw;
  if (body === undefined && opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers['content-type'] = 'application/json';
  }
  const res = await fetch(`${crm.url}${path}`, { method, headers, body, signal: opts.signal });
  const text = await res.text();
  let parsed: unknown = undefined;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
  }
  return { status: res.status, headers: res.headers, body: parsed as T };
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

/** Server-side bookkeeping of an aborted request lands a moment after the client gave up. */
async function waitFor(cond: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(10);
  }
}

const basic = (user: string, pass: string): string => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
const lead = (externalId: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  external_id: externalId,
  first_name: 'Test',
  phone: '+79160000000',
  ...extra,
});

interface TokenPair {
  access_token: string;
  refresh_token: string;
  expires_in: number;
  token_type: string;
}

describe('auth modes', () => {
  it('none: every /api request is accepted', async () => {
    const crm = await start();
    expect(await call(crm, 'GET', '/api/ping')).toMatchObject({ status: 200, body: { ok: true } });
    // The auth endpoints only exist in login mode.
    expect((await call(crm, 'POST', '/auth/login', { body: { username: 'u', password: 'p' } })).status).toBe(404);
  });

  it('header: only the exact header value passes', async () => {
    const crm = await start({ auth: { mode: 'header', header: 'X-Api-Key', value: 'k-123' } });
    expect((await call(crm, 'GET', '/api/ping', { headers: { 'x-api-key': 'k-123' } })).status).toBe(200);
    expect(await call(crm, 'GET', '/api/ping', { headers: { 'x-api-key': 'k-124' } })).toMatchObject({ status: 401, body: { error: 'unauthorized' } });
    expect(await call(crm, 'GET', '/api/ping')).toMatchObject({ status: 401, body: { error: 'unauthorized' } });
  });

  it('bearer: only the configured token passes', async () => {
    const crm = await start({ auth: { mode: 'bearer', token: 'tok' } });
    expect((await call(crm, 'GET', '/api/ping', { headers: { authorization: 'Bearer tok' } })).status).toBe(200);
    const wrong = await call(crm, 'GET', '/api/ping', { headers: { authorization: 'Bearer nope' } });
    expect(wrong).toMatchObject({ status: 401, body: { error: 'unauthorized' } });
    expect(wrong.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect((await call(crm, 'GET', '/api/ping', { headers: { authorization: 'tok' } })).status).toBe(401);
    expect((await call(crm, 'GET', '/api/ping')).status).toBe(401);
  });

  it('basic: user and password must both match; setCredentials switches them', async () => {
    const crm = await start({ auth: { mode: 'basic', username: 'api', password: 's3cret' } });
    expect((await call(crm, 'GET', '/api/ping', { headers: { authorization: basic('api', 's3cret') } })).status).toBe(200);
    const wrong = await call(crm, 'GET', '/api/ping', { headers: { authorization: basic('api', 'nope') } });
    expect(wrong).toMatchObject({ status: 401, body: { error: 'unauthorized' } });
    expect(wrong.headers.get('www-authenticate')).toMatch(/^Basic/);
    expect((await call(crm, 'GET', '/api/ping', { headers: { authorization: 'Bearer s3cret' } })).status).toBe(401);
    crm.setCredentials('api', 'rotated');
    expect((await call(crm, 'GET', '/api/ping', { headers: { authorization: basic('api', 's3cret') } })).status).toBe(401);
    expect((await call(crm, 'GET', '/api/ping', { headers: { authorization: basic('api', 'rotated') } })).status).toBe(200);
  });

  it('setCredentials refuses modes without credentials instead of silently doing nothing', async () => {
    const crm = await start({ auth: { mode: 'bearer', token: 'tok' } });
    expect(() => crm.setCredentials('a', 'b')).toThrow(/login/);
  });
});

describe('login mode', () => {
  const login = (crm: FakeRestCrm, username = 'robot', password = 'pw'): Promise<CallResult<TokenPair>> =>
    call<TokenPair>(crm, 'POST', '/auth/login', { body: { username, password } });
  const ping = (crm: FakeRestCrm, token?: string): Promise<CallResult<Record<string, unknown>>> =>
    call(crm, 'GET', '/api/ping', token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
  const refresh = (crm: FakeRestCrm, token: string): Promise<CallResult<TokenPair>> =>
    call<TokenPair>(crm, 'POST', '/auth/refresh', { body: { refresh_token: token } });

  it('login -> expiry -> token_expired -> refresh works once, the spent refresh token is refused', async () => {
    const crm = await start({ auth: { mode: 'login', username: 'robot', password: 'pw', accessTtlMs: 500 } });
    expect(await login(crm, 'robot', 'wrong')).toMatchObject({ status: 401, body: { error: 'invalid_credentials' } });

    const first = await login(crm);
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ access_token: expect.any(String), refresh_token: expect.any(String), expires_in: 0, token_type: 'Bearer' });
    expect((await ping(crm, first.body.access_token)).status).toBe(200);
    expect(await ping(crm)).toMatchObject({ status: 401, body: { error: 'unauthorized' } });
    expect(await ping(crm, 'made-up')).toMatchObject({ status: 401, body: { error: 'invalid_token' } });

    // Long enough that the refreshed token below outlives a busy machine, short enough to wait out.
    await sleep(550);
    expect(await ping(crm, first.body.access_token)).toMatchObject({ status: 401, body: { error: 'token_expired' } });

    const second = await refresh(crm, first.body.refresh_token);
    expect(second.status).toBe(200);
    expect(second.body.access_token).not.toBe(first.body.access_token);
    expect(second.body.refresh_token).not.toBe(first.body.refresh_token);
    expect((await ping(crm, second.body.access_token)).status).toBe(200);

    expect(await refresh(crm, first.body.refresh_token)).toMatchObject({ status: 401, body: { error: 'invalid_refresh_token' } });
    expect(await refresh(crm, 'never-issued')).toMatchObject({ status: 401, body: { error: 'invalid_refresh_token' } });
    expect(crm.stats()).toMatchObject({ logins: 1, refreshes: 1, revokes: 0 });
  });

  it('logout revokes the access token and its refresh token', async () => {
    const crm = await start({ auth: { mode: 'login', username: 'robot', password: 'pw' } });
    const pair = (await login(crm)).body;
    expect(pair.expires_in).toBe(3600);
    const out = await call(crm, 'POST', '/auth/logout', { headers: { authorization: `Bearer ${pair.access_token}` } });
    expect(out.status).toBe(204);
    expect(await ping(crm, pair.access_token)).toMatchObject({ status: 401, body: { error: 'invalid_token' } });
    expect((await refresh(crm, pair.refresh_token)).status).toBe(401);
    expect((await call(crm, 'POST', '/auth/logout', { headers: { authorization: `Bearer ${pair.access_token}` } })).status).toBe(401);
    expect(crm.stats().revokes).toBe(1);
  });

  it('expireTokens, revokeRefreshTokens and setCredentials force each recovery path', async () => {
    const crm = await start({ auth: { mode: 'login', username: 'robot', password: 'pw' } });
    const a = (await login(crm)).body;
    crm.expireTokens();
    expect(await ping(crm, a.access_token)).toMatchObject({ status: 401, body: { error: 'token_expired' } });
    const b = (await refresh(crm, a.refresh_token)).body;
    // Tokens issued after expireTokens() are live.
    expect((await ping(crm, b.access_token)).status).toBe(200);

    crm.revokeRefreshTokens();
    expect(await refresh(crm, b.refresh_token)).toMatchObject({ status: 401, body: { error: 'invalid_refresh_token' } });
    expect((await ping(crm, b.access_token)).status).toBe(200);

    crm.setCredentials('robot2', 'pw2');
    expect((await login(crm)).status).toBe(401);
    const c = await login(crm, 'robot2', 'pw2');
    expect(c.status).toBe(200);
    expect((await ping(crm, c.body.access_token)).status).toBe(200);
    expect(crm.stats()).toMatchObject({ logins: 2, refreshes: 1 });
  });

  it('malformed auth bodies get 400, not a crash', async () => {
    const crm = await start({ auth: { mode: 'login', username: 'robot', password: 'pw' } });
    expect(await call(crm, 'POST', '/auth/login', { raw: '{"username":', headers: { 'content-type': 'application/json' } })).toMatchObject({
      status: 400,
      body: { error: 'invalid_json' },
    });
    expect(await call(crm, 'POST', '/auth/refresh', { body: ['x'] })).toMatchObject({ status: 400, body: { error: 'bad_request' } });
    expect((await call(crm, 'GET', '/auth/login')).status).toBe(405);
  });
});

describe('candidates', () => {
  it('creates, answers 409 with the existing id for a duplicate, and replays an Idempotency-Key', async () => {
    const crm = await start();
    const created = await call(crm, 'POST', '/api/candidates', { body: lead('L1') });
    expect(created).toMatchObject({ status: 201, body: { id: 'cand-1', external_id: 'L1', status: 'new' } });

    expect(await call(crm, 'POST', '/api/candidates', { body: lead('L1', { first_name: 'Other' }) })).toMatchObject({
      status: 409,
      body: { error: 'duplicate', id: 'cand-1' },
    });

    const keyed = await call(crm, 'POST', '/api/candidates', { body: lead('L2'), headers: { 'idempotency-key': 'job-2' } });
    expect(keyed).toMatchObject({ status: 201, body: { id: 'cand-2' } });
    const replay = await call(crm, 'POST', '/api/candidates', { body: lead('L2'), headers: { 'idempotency-key': 'job-2' } });
    expect(replay.status).toBe(201);
    expect(replay.body).toEqual(keyed.body);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');

    expect(crm.stats()).toMatchObject({ created: 2, duplicates: 1 });
    const all = crm.candidates();
    expect(all.map((c) => c.id)).toEqual(['cand-1', 'cand-2']);
    expect(all[0]).toEqual({ id: 'cand-1', body: lead('L1'), createdAt: expect.any(String), status: 'new' });
    expect(Number.isNaN(Date.parse(all[0]!.createdAt))).toBe(false);
  });

  it('rejects invalid candidates with 422 / 400 and creates nothing', async () => {
    const crm = await start({ requiredFields: ['external_id', 'phone'] });
    expect(await call(crm, 'POST', '/api/candidates', { body: { first_name: 'X' } })).toMatchObject({
      status: 422,
      body: {
        error: 'validation_failed',
        errors: [
          { field: 'external_id', message: 'is required' },
          { field: 'phone', message: 'is required' },
        ],
      },
    });
    expect(await call(crm, 'POST', '/api/candidates', { body: lead('L1', { phone: '8 916 000-00-00' }) })).toMatchObject({
      status: 422,
      body: { error: 'validation_failed', errors: [{ field: 'phone', message: 'must be E.164' }] },
    });
    expect(await call(crm, 'POST', '/api/candidates', { body: [lead('L1')] })).toMatchObject({ status: 400, body: { error: 'bad_request' } });
    expect(await call(crm, 'POST', '/api/candidates')).toMatchObject({ status: 400, body: { error: 'bad_request' } });
    expect(await call(crm, 'POST', '/api/candidates', { raw: '{"external_id":', headers: { 'content-type': 'application/json' } })).toMatchObject({
      status: 400,
      body: { error: 'invalid_json' },
    });
    expect(crm.candidates()).toEqual([]);
  });

  it('the default required field is external_id, and idPrefix shapes the ids', async () => {
    const crm = await start({ idPrefix: 'c_' });
    expect((await call(crm, 'POST', '/api/candidates', { body: { first_name: 'X' } })).status).toBe(422);
    // Phone is validated only when present.
    expect(await call(crm, 'POST', '/api/candidates', { body: { external_id: 7 } })).toMatchObject({ status: 201, body: { id: 'c_1', external_id: 7 } });
  });

  it('a batch answers per item, in order: created, duplicate, error', async () => {
    const crm = await start({ batchMaxSize: 5 });
    await call(crm, 'POST', '/api/candidates', { body: lead('L1') });
    const res = await call(crm, 'POST', '/api/candidates/batch', {
      body: { items: [lead('L2'), lead('L1'), { first_name: 'no id' }, lead('L3', { phone: '123' }), lead('L2')] },
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      results: [
        { external_id: 'L2', id: 'cand-2', status: 'created' },
        { external_id: 'L1', id: 'cand-1', status: 'duplicate' },
        { external_id: null, status: 'error', errors: [{ field: 'external_id', message: 'is required' }] },
        { external_id: 'L3', status: 'error', errors: [{ field: 'phone', message: 'must be E.164' }] },
        // A repeat inside one batch is a duplicate of the item created a moment earlier.
        { external_id: 'L2', id: 'cand-2', status: 'duplicate' },
      ],
    });
    expect(crm.stats()).toMatchObject({ created: 2, duplicates: 2 });

    const tooBig = await call(crm, 'POST', '/api/candidates/batch', { body: { items: ['a', 'b', 'c', 'd', 'e', 'f'].map((x) => lead(x)) } });
    expect(tooBig).toMatchObject({ status: 413, body: { error: 'batch_too_large', max: 5 } });
    expect(await call(crm, 'POST', '/api/candidates/batch', { body: { items: 'nope' } })).toMatchObject({ status: 400, body: { error: 'bad_request' } });
    const odd = await call<{ results: unknown[] }>(crm, 'POST', '/api/candidates/batch', { body: { items: [42] } });
    expect(odd.body.results).toEqual([{ external_id: null, status: 'error', errors: [{ field: 'item', message: 'must be an object' }] }]);
    expect(crm.candidates()).toHaveLength(2);
  });

  it('refuses an oversized body with 413 and keeps serving', async () => {
    const crm = await start();
    const huge = { external_id: 'L1', notes: 'x'.repeat(6 * 1024 * 1024) };
    expect(await call(crm, 'POST', '/api/candidates', { body: huge })).toMatchObject({ status: 413, body: { error: 'payload_too_large' } });
    expect(crm.candidates()).toEqual([]);
    expect((await call(crm, 'GET', '/api/ping')).status).toBe(200);
  });

  it('looks candidates up by external_id and by id', async () => {
    const crm = await start();
    await call(crm, 'POST', '/api/candidates', { body: lead('L1', { vacancy: 'driver' }) });
    await call(crm, 'POST', '/api/candidates', { body: lead('L2') });

    const found = await call(crm, 'GET', '/api/candidates?external_id=L2');
    expect(found).toMatchObject({ status: 200, body: { items: [{ id: 'cand-2', external_id: 'L2', status: 'new', first_name: 'Test' }] } });
    expect(await call(crm, 'GET', '/api/candidates?external_id=nope')).toMatchObject({ status: 200, body: { items: [] } });

    const one = await call(crm, 'GET', '/api/candidates/cand-1');
    expect(one).toMatchObject({ status: 200, body: { id: 'cand-1', external_id: 'L1', status: 'new', vacancy: 'driver', phone: '+79160000000' } });
    expect(await call(crm, 'GET', '/api/candidates/cand-99')).toMatchObject({ status: 404, body: { error: 'not_found' } });
  });

  it('answers 404 for unknown paths and 405 with Allow for wrong methods', async () => {
    const crm = await start();
    expect(await call(crm, 'GET', '/nowhere')).toMatchObject({ status: 404, body: { error: 'not_found' } });
    expect(await call(crm, 'GET', '/api/nowhere')).toMatchObject({ status: 404, body: { error: 'not_found' } });
    const wrong = await call(crm, 'DELETE', '/api/ping');
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('GET');
    expect((await call(crm, 'GET', '/api/candidates/batch')).status).toBe(405);
  });
});

describe('changes feed', () => {
  it('pages status changes by cursor and keeps the cursor when nothing is new', async () => {
    const crm = await start();
    await call(crm, 'POST', '/api/candidates/batch', { body: { items: [lead('L1'), lead('L2')] } });

    const empty = await call(crm, 'GET', '/api/changes');
    expect(empty).toMatchObject({ status: 200, body: { changes: [], next_cursor: '0' } });

    crm.setStatus('cand-1', 'screening');
    crm.setStatus('cand-2', 'hired');
    crm.setStatus('cand-1', 'offer');

    type Page = { changes: Array<Record<string, unknown>>; next_cursor: string };
    const p1 = await call<Page>(crm, 'GET', '/api/changes?since=0&limit=2');
    expect(p1.body.changes).toEqual([
      { change_id: expect.any(String), candidate_id: 'cand-1', external_id: 'L1', status: 'screening', changed_at: expect.any(String) },
      { change_id: expect.any(String), candidate_id: 'cand-2', external_id: 'L2', status: 'hired', changed_at: expect.any(String) },
    ]);
    expect(new Date(p1.body.changes[0]!.changed_at as string).toISOString()).toBe(p1.body.changes[0]!.changed_at);

    const p2 = await call<Page>(crm, 'GET', `/api/changes?since=${encodeURIComponent(p1.body.next_cursor)}`);
    expect(p2.body.changes.map((c) => c.status)).toEqual(['offer']);
    expect(p2.body.next_cursor).not.toBe(p1.body.next_cursor);

    const p3 = await call<Page>(crm, 'GET', `/api/changes?since=${encodeURIComponent(p2.body.next_cursor)}`);
    expect(p3.body).toEqual({ changes: [], next_cursor: p2.body.next_cursor });

    const ids = [...p1.body.changes, ...p2.body.changes].map((c) => c.change_id);
    expect(new Set(ids).size).toBe(3);
    expect((await call(crm, 'GET', '/api/candidates/cand-1')).body).toMatchObject({ status: 'offer' });
    expect(crm.candidates()[1]!.status).toBe('hired');

    expect((await call(crm, 'GET', '/api/changes?since=garbage')).status).toBe(400);
    expect((await call(crm, 'GET', '/api/changes?limit=0')).status).toBe(400);
    expect((await call<Page>(crm, 'GET', '/api/changes?limit=100000')).body.changes).toHaveLength(3);
    expect(() => crm.setStatus('cand-404', 'hired')).toThrow();
  });
});

describe('faults', () => {
  it('status: served `times` times, in injection order, then normal service', async () => {
    const crm = await start();
    crm.injectFault({ type: 'status', status: 503, headers: { 'Retry-After': '3' } }, { times: 2 });
    crm.injectFault({ type: 'status', status: 502, body: '<html><body>Bad Gateway</body></html>', headers: { 'Content-Type': 'text/html' } });
    const a = await call(crm, 'POST', '/api/candidates', { body: lead('L1') });
    expect(a).toMatchObject({ status: 503, body: { error: 'service_unavailable' } });
    expect(a.headers.get('retry-after')).toBe('3');
    expect((await call(crm, 'POST', '/api/candidates', { body: lead('L1') })).status).toBe(503);
    const html = await call(crm, 'POST', '/api/candidates', { body: lead('L1') });
    expect(html.status).toBe(502);
    expect(html.headers.get('content-type')).toBe('text/html');
    expect(html.body).toContain('Bad Gateway');
    // Infrastructure faults stop the request before the CRM: nothing was created so far.
    expect(crm.candidates()).toHaveLength(0);
    expect((await call(crm, 'POST', '/api/candidates', { body: lead('L1') })).status).toBe(201);
  });

  it('match narrows a fault; by default faults skip /api/ping; clearFaults drops the rest', async () => {
    const crm = await start();
    crm.injectFault({ type: 'status', status: 500 });
    expect((await call(crm, 'GET', '/api/ping')).status).toBe(200);
    expect((await call(crm, 'GET', '/api/candidates?external_id=x')).status).toBe(500);

    crm.injectFault({ type: 'status', status: 400 }, { match: { method: 'get', path: /^\/api\/ping$/ } });
    expect((await call(crm, 'POST', '/api/candidates', { body: lead('L1') })).status).toBe(201);
    expect((await call(crm, 'GET', '/api/ping')).status).toBe(400);

    crm.injectFault({ type: 'status', status: 500 }, { times: 10 });
    crm.clearFaults();
    expect((await call(crm, 'GET', '/api/candidates/cand-1')).status).toBe(200);
  });

  it('timeout: the request is held, the client times out, nothing is created', async () => {
    const crm = await start();
    crm.injectFault({ type: 'timeout' });
    const err = await failure(call(crm, 'POST', '/api/candidates', { body: lead('L1'), signal: AbortSignal.timeout(200) }));
    expect(err.name).toBe('TimeoutError');
    expect(crm.candidates()).toHaveLength(0);
    // The server sees the client hang up and records the request as never answered.
    await waitFor(() => crm.requests[0]!.durationMs > 0);
    expect(crm.requests[0]).toMatchObject({ path: '/api/candidates', status: 0 });
    expect((await call(crm, 'POST', '/api/candidates', { body: lead('L1') })).status).toBe(201);
  });

  it('timeout with ms: a gateway 504 after ms, still nothing created', async () => {
    const crm = await start();
    crm.injectFault({ type: 'timeout', ms: 150 });
    const t0 = Date.now();
    const res = await call(crm, 'POST', '/api/candidates', { body: lead('L1') });
    expect(res).toMatchObject({ status: 504, body: { error: 'gateway_timeout' } });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    expect(crm.candidates()).toHaveLength(0);
  });

  it('reset: the socket is destroyed without a response and fetch rejects', async () => {
    const crm = await start();
    crm.injectFault({ type: 'reset' });
    const err = await failure(call(crm, 'POST', '/api/candidates', { body: lead('L1') }));
    // Checked by name: undici's TypeError comes from another realm than jest's sandbox.
    expect(err.name).toBe('TypeError');
    expect(err.cause?.code).toBe('ECONNRESET');
    expect(crm.candidates()).toHaveLength(0);
    expect((await call(crm, 'POST', '/api/candidates', { body: lead('L1') })).status).toBe(201);
  });

  it('rate-limit: 429 with the exact Retry-After value; rate-limit-body: the delay in the body only', async () => {
    const crm = await start();
    const date = 'Wed, 21 Oct 2015 07:28:00 GMT';
    crm.injectFault({ type: 'rate-limit', retryAfter: date });
    crm.injectFault({ type: 'rate-limit-body', retryAfterSeconds: 7 });
    const a = await call(crm, 'POST', '/api/candidates', { body: lead('L1') });
    expect(a).toMatchObject({ status: 429, body: { error: 'rate_limited' } });
    expect(a.headers.get('retry-after')).toBe(date);
    const b = await call(crm, 'POST', '/api/candidates', { body: lead('L1') });
    expect(b).toMatchObject({ status: 429, body: { error: 'rate_limited', retry_after: 7 } });
    expect(b.headers.get('retry-after')).toBeNull();
    expect(crm.stats().rateLimited).toBe(2);
  });

  it('shape: a 2xx with a different shape, and the candidate is created', async () => {
    const crm = await start();
    crm.injectFault({ type: 'shape' });
    const res = await call(crm, 'POST', '/api/candidates', { body: lead('L1') });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ data: { candidate: { uuid: 'cand-1', external_id: 'L1', status: 'new' } } });
    expect(crm.candidates().map((c) => c.id)).toEqual(['cand-1']);
  });

  it('create-then-delay: the client times out although the candidate exists', async () => {
    const crm = await start();
    crm.injectFault({ type: 'create-then-delay', ms: 1000 });
    const err = await failure(call(crm, 'POST', '/api/candidates', { body: lead('L1'), signal: AbortSignal.timeout(150) }));
    expect(err.name).toBe('TimeoutError');
    expect(crm.candidates().map((c) => c.body.external_id)).toEqual(['L1']);
    // What a careful client does next: look up before re-creating.
    expect((await call(crm, 'GET', '/api/candidates?external_id=L1')).body).toMatchObject({ items: [{ id: 'cand-1' }] });
    expect(await call(crm, 'POST', '/api/candidates', { body: lead('L1') })).toMatchObject({ status: 409, body: { id: 'cand-1' } });
  });

  it('unauthorized: 401 token_expired even with valid credentials', async () => {
    const crm = await start({ auth: { mode: 'bearer', token: 'tok' } });
    crm.injectFault({ type: 'unauthorized' });
    const headers = { authorization: 'Bearer tok' };
    expect(await call(crm, 'POST', '/api/candidates', { body: lead('L1'), headers })).toMatchObject({ status: 401, body: { error: 'token_expired' } });
    expect((await call(crm, 'POST', '/api/candidates', { body: lead('L1'), headers })).status).toBe(201);
  });
});

describe('rate limit', () => {
  it('never accepts more than the limit in any sliding window; the excess gets 429 + Retry-After', async () => {
    const limit = { requests: 5, perSeconds: 1, retryAfterSeconds: 2 };
    const crm = await start({ rateLimit: limit });
    const statuses: number[] = [];
    const ping = async (): Promise<void> => {
      const res = await call(crm, 'GET', '/api/ping');
      statuses.push(res.status);
      if (res.status === 429) {
        expect(res.headers.get('retry-after')).toBe('2');
        expect(res.body).toEqual({ error: 'rate_limited' });
      }
    };

    // A burst: exactly the limit gets through.
    await Promise.all(Array.from({ length: 8 }, ping));
    expect(statuses.filter((s) => s === 200)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(3);

    // Then a steady trickle across more than one window, so the window has to slide.
    for (let i = 0; i < 13; i++) {
      await ping();
      await sleep(100);
    }
    const accepted = crm.requests.filter((r) => r.status === 200).map((r) => r.at);
    const windowMs = limit.perSeconds * 1000;
    for (const at of accepted) {
      expect(accepted.filter((t) => t > at - windowMs && t <= at).length).toBeLessThanOrEqual(limit.requests);
    }
    // The window slid: more than one window's worth was accepted overall, and the trickle was also limited.
    expect(accepted.length).toBeGreaterThan(limit.requests);
    expect(statuses.slice(8)).toContain(429);
    expect(crm.stats().rateLimited).toBe(statuses.filter((s) => s === 429).length);
    expect(crm.requests.map((r) => r.status)).toEqual(expect.arrayContaining([200, 429]));
    expect(crm.requests.filter((r) => r.status !== 200 && r.status !== 429)).toEqual([]);

    crm.setRateLimit(undefined);
    expect((await Promise.all(Array.from({ length: 10 }, () => call(crm, 'GET', '/api/ping')))).map((r) => r.status)).toEqual(Array(10).fill(200));
  });

  it('is checked before auth, so rejected credentials still use up the window', async () => {
    const crm = await start({ auth: { mode: 'bearer', token: 'tok' }, rateLimit: { requests: 1, perSeconds: 5 } });
    expect((await call(crm, 'GET', '/api/ping')).status).toBe(401);
    const limited = await call(crm, 'GET', '/api/ping', { headers: { authorization: 'Bearer tok' } });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('1');
  });
});

describe('lifecycle, latency and recording', () => {
  it('down() refuses connections and up() serves again on the same port', async () => {
    const crm = await start();
    const port = crm.port;
    expect((await call(crm, 'GET', '/api/ping')).status).toBe(200);
    crm.injectFault({ type: 'timeout' });
    const held = failure(call(crm, 'GET', '/api/candidates'));
    await waitFor(() => crm.requests.length === 2);

    await crm.down();
    // The request held open by the fault dies with its socket.
    expect((await held).name).toBe('TypeError');
    const refused = await failure(call(crm, 'GET', '/api/ping'));
    expect(refused.cause?.code).toBe('ECONNREFUSED');

    await crm.up();
    expect(crm.port).toBe(port);
    expect((await call(crm, 'GET', '/api/ping')).status).toBe(200);
    await crm.close();
    await crm.close();
    await expect(crm.up()).rejects.toThrow(/closed/);
  });

  it('listens on a given port', async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (probe.address() as net.AddressInfo).port;
        probe.close(() => resolve(p));
      });
    });
    const crm = await start({ port });
    expect(crm.url).toBe(`http://127.0.0.1:${port}`);
    expect((await call(crm, 'GET', '/api/ping')).status).toBe(200);
  });

  it('adds latency to every response', async () => {
    const crm = await start({ latencyMs: 120 });
    const t0 = Date.now();
    expect((await call(crm, 'GET', '/api/ping')).status).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(110);
    crm.setLatency(0);
    await call(crm, 'GET', '/api/ping');
    // Server-side durations, so a busy test machine cannot blur the difference.
    await waitFor(() => crm.requests[1]!.status !== 0);
    // A little slack: libuv measures timers against a loop time that may lag the real clock.
    expect(crm.requests[0]!.durationMs).toBeGreaterThanOrEqual(110);
    expect(crm.requests[1]!.durationMs).toBeLessThan(100);
  });

  it('records every request, auth ones included, in arrival order', async () => {
    const crm = await start({ auth: { mode: 'login', username: 'robot', password: 'pw' } });
    const pair = (await call<TokenPair>(crm, 'POST', '/auth/login', { body: { username: 'robot', password: 'pw' } })).body;
    const headers = { authorization: `Bearer ${pair.access_token}`, 'x-request-id': 'r-1' };
    await call(crm, 'GET', '/api/ping?probe=1&probe=2&x=y', { headers });
    await call(crm, 'POST', '/api/candidates', { body: lead('L1'), headers });
    await call(crm, 'POST', '/api/candidates', { raw: 'not json', headers });
    await call(crm, 'GET', '/missing');
    await waitFor(() => crm.requests.every((r) => r.status !== 0));

    expect(crm.requests.map((r) => [r.method, r.path, r.status])).toEqual([
      ['POST', '/auth/login', 200],
      ['GET', '/api/ping', 200],
      ['POST', '/api/candidates', 201],
      ['POST', '/api/candidates', 400],
      ['GET', '/missing', 404],
    ]);
    const [loginReq, pingReq, createReq, badReq] = crm.requests;
    expect(loginReq!.body).toEqual({ username: 'robot', password: 'pw' });
    expect(pingReq!.query).toEqual({ probe: '1', x: 'y' });
    expect(pingReq!.headers).toMatchObject({ authorization: `Bearer ${pair.access_token}`, 'x-request-id': 'r-1' });
    expect(pingReq!.body).toBeUndefined();
    expect(createReq!.body).toEqual(lead('L1'));
    expect(badReq!.body).toBe('not json');
    for (let i = 0; i < crm.requests.length; i++) {
      const r = crm.requests[i]!;
      expect(r.durationMs).toBeGreaterThan(0);
      if (i > 0) expect(r.at).toBeGreaterThanOrEqual(crm.requests[i - 1]!.at);
    }
  });
});
