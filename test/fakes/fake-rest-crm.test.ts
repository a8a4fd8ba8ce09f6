/**
 * The fake REST CRM is itself the yardstick of the generic REST adapter's tests and benchmarks, so
 * it is tested here over real HTTP with the global fetch a client would use: no mocks.
 */
import http from 'node:http';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { startFakeRestCrm, type FakeRestCrm, type FakeRestCrmOptions, type FaultSpec } from '../support/fake-rest-crm';

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

interface RawResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** Whether the agent sent this request on a kept-alive socket from an earlier one. */
  reused: boolean;
  socket: net.Socket;
  /** Client-side times, ms from the call: status line received, each body chunk, end. */
  headersAt: number;
  chunkAt: number[];
  endAt: number;
}

/** node:http with a given Agent, for what fetch hides: socket reuse and chunk timing. */
function raw(crm: FakeRestCrm, method: string, path: string, opts: { agent?: http.Agent; body?: unknown } = {}): Promise<RawResult> {
  const t0 = performance.now();
  const since = (): number => performance.now() - t0;
  const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  return new Promise((resolve, reject) => {
    const req = http.request(`${crm.url}${path}`, {
      method,
      agent: opts.agent,
      headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
    });
    req.on('error', (err: NodeJS.ErrnoException) => reject(Object.assign(err, { reused: req.reusedSocket })));
    req.on('response', (res) => {
      const headersAt = since();
      const chunkAt: number[] = [];
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        chunkAt.push(since());
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, reused: req.reusedSocket, socket: req.socket!, headersAt, chunkAt, endAt: since() }));
      res.on('error', reject);
    });
    req.end(payload);
  });
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
    expect(all[0]).toEqual({ id: 'cand-1', body: lead('L1'), createdAt: expect.any(String), status: 'new', updatedAt: expect.any(String) });
    expect(Number.isNaN(Date.parse(all[0]!.createdAt))).toBe(false);
    // The server keeps whole seconds only: updatedAt is the second the candidate was created in.
    expect(all[0]!.updatedAt).toBe(all[0]!.createdAt.replace(/\.\d{3}Z$/, 'Z'));
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

describe('options', () => {
  it('a bad option fails at start with its name, not with a fake that quietly uses the default', async () => {
    await expect(startFakeRestCrm({ updatedFeed: { pageSize: 0 } })).rejects.toThrow(/updatedFeed\.pageSize/);
    await expect(startFakeRestCrm({ lookupMatch: 'fuzzy' } as unknown as FakeRestCrmOptions)).rejects.toThrow(/lookupMatch/);
    await expect(startFakeRestCrm({ lookupmatch: 'exact' } as unknown as FakeRestCrmOptions)).rejects.toThrow(/lookupmatch/);
    await expect(startFakeRestCrm({ acceptedPhonePrefixes: ['7'] })).rejects.toThrow(/acceptedPhonePrefixes/);
    await expect(startFakeRestCrm({ updatedFeed: { path: '/api/candidates' } })).rejects.toThrow(/updatedFeed\.path/);
    await expect(startFakeRestCrm({ keepAliveTimeoutMs: -1 })).rejects.toThrow(/keepAliveTimeoutMs/);
  });
});

describe('lookup, as real search endpoints do it', () => {
  it("is a 'contains' search by default: hh-7 also finds hh-77, in creation order", async () => {
    const crm = await start();
    for (const id of ['hh-77', 'hh-7', 'hh-8', 'xhh-7y']) await call(crm, 'POST', '/api/candidates', { body: lead(id) });
    type Items = { items: Array<{ external_id: string }> };
    const found = await call<Items>(crm, 'GET', '/api/candidates?external_id=hh-7');
    // The exact match is not first: a client that takes items[0] picks someone else's candidate.
    expect(found.body.items.map((i) => i.external_id)).toEqual(['hh-77', 'hh-7', 'xhh-7y']);

    const exact = await start({ lookupMatch: 'exact' });
    for (const id of ['hh-77', 'hh-7']) await call(exact, 'POST', '/api/candidates', { body: lead(id) });
    expect((await call<Items>(exact, 'GET', '/api/candidates?external_id=hh-7')).body.items.map((i) => i.external_id)).toEqual(['hh-7']);
    expect((await call<Items>(exact, 'GET', '/api/candidates?external_id=hh')).body.items).toEqual([]);
  });

  it('may refuse a lookup without its required parameters, and then returns only the listed fields', async () => {
    const crm = await start({ lookupRequiredParams: { fields: 'id,external_id,status', limit: '50' } });
    await call(crm, 'POST', '/api/candidates', { body: lead('L1', { vacancy: 'driver' }) });
    expect(await call(crm, 'GET', '/api/candidates?external_id=L1')).toMatchObject({ status: 400, body: { error: 'missing_parameter', parameter: 'fields' } });
    expect(await call(crm, 'GET', '/api/candidates?external_id=L1&fields=id,external_id,status')).toMatchObject({
      status: 400,
      body: { error: 'missing_parameter', parameter: 'limit' },
    });
    expect(await call(crm, 'GET', '/api/candidates?external_id=L1&fields=id,external_id,status&limit=10')).toMatchObject({
      status: 400,
      body: { error: 'missing_parameter', parameter: 'limit', message: "must be '50'" },
    });
    const ok = await call(crm, 'GET', '/api/candidates?external_id=L1&fields=id,external_id,status&limit=50');
    expect(ok).toMatchObject({ status: 200 });
    expect(ok.body).toEqual({ items: [{ id: 'cand-1', external_id: 'L1', status: 'new' }] });
  });

  it('honours limit (so a contains search can cut off the exact match) and refuses a bad one', async () => {
    const crm = await start();
    for (const id of ['hh-71', 'hh-7']) await call(crm, 'POST', '/api/candidates', { body: lead(id) });
    const one = await call<{ items: Array<{ external_id: string }> }>(crm, 'GET', '/api/candidates?external_id=hh-7&limit=1');
    expect(one.body.items.map((i) => i.external_id)).toEqual(['hh-71']);
    expect(await call(crm, 'GET', '/api/candidates?limit=0')).toMatchObject({ status: 400, body: { error: 'invalid_parameter', parameter: 'limit' } });
  });
});

describe('creates: batch order, phone rule, duplicates without an id', () => {
  it("errors-first lists refused items first, each naming its external_id; the phone prefix rule refuses '+1'", async () => {
    const crm = await start({ batchResultOrder: 'errors-first', acceptedPhonePrefixes: ['+7'] });
    const res = await call(crm, 'POST', '/api/candidates/batch', {
      body: { items: [lead('A'), lead('B', { phone: '+12025550123' }), lead('C'), { first_name: 'no id' }] },
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      results: [
        { external_id: 'B', status: 'error', errors: [{ field: 'phone', message: 'must start with +7' }] },
        { external_id: null, status: 'error', errors: [{ field: 'external_id', message: 'is required' }] },
        { external_id: 'A', id: 'cand-1', status: 'created' },
        { external_id: 'C', id: 'cand-2', status: 'created' },
      ],
    });
    expect(await call(crm, 'POST', '/api/candidates', { body: lead('D', { phone: '+12025550123' }) })).toMatchObject({
      status: 422,
      body: { error: 'validation_failed', errors: [{ field: 'phone', message: 'must start with +7' }] },
    });
    expect(crm.candidates().map((c) => c.body.external_id)).toEqual(['A', 'C']);
  });

  it("duplicateReply '400-not-unique': a GraphQL-style 400 with no id, single and in a batch", async () => {
    const crm = await start({ duplicateReply: '400-not-unique' });
    expect((await call(crm, 'POST', '/api/candidates', { body: lead('L1') })).status).toBe(201);
    const dup = await call(crm, 'POST', '/api/candidates', { body: lead('L1') });
    expect(dup).toMatchObject({ status: 400 });
    expect(dup.body).toEqual({ errors: [{ message: 'external_id has to be unique', extensions: { code: 'RECORD_NOT_UNIQUE' } }] });
    const batch = await call(crm, 'POST', '/api/candidates/batch', { body: { items: [lead('L1'), lead('L2')] } });
    expect(batch.body).toEqual({
      results: [
        { external_id: 'L1', status: 'error', errors: [{ message: 'external_id has to be unique', extensions: { code: 'RECORD_NOT_UNIQUE' } }] },
        { external_id: 'L2', id: 'cand-2', status: 'created' },
      ],
    });
    expect(crm.stats()).toMatchObject({ created: 2, duplicates: 2 });
  });
});

describe('late writes and a slow wire', () => {
  it('write-after: held, then written although the client gave up; a lookup in between finds nothing', async () => {
    const crm = await start();
    crm.injectFault({ type: 'write-after', ms: 1500 });
    const err = await failure(call(crm, 'POST', '/api/candidates', { body: lead('L1'), signal: AbortSignal.timeout(100) }));
    expect(err.name).toBe('TimeoutError');
    expect(await call(crm, 'GET', '/api/candidates?external_id=L1')).toMatchObject({ status: 200, body: { items: [] } });
    await waitFor(() => crm.candidates().length === 1, 5000);
    expect((await call(crm, 'GET', '/api/candidates?external_id=L1')).body).toMatchObject({ items: [{ id: 'cand-1' }] });
    // Nobody was left to answer.
    expect(crm.requests[0]).toMatchObject({ path: '/api/candidates', status: 0 });
  });

  it('write-after: a client that waits long enough gets the normal answer; down() cuts it, the write still lands', async () => {
    const crm = await start();
    crm.injectFault({ type: 'write-after', ms: 200 }, { times: 2 });
    expect(await call(crm, 'POST', '/api/candidates', { body: lead('L1') })).toMatchObject({ status: 201, body: { id: 'cand-1' } });
    expect(crm.requests[0]!.durationMs).toBeGreaterThanOrEqual(190);

    const held = failure(call(crm, 'POST', '/api/candidates', { body: lead('L2') }));
    await waitFor(() => crm.requests.length === 2);
    await crm.down();
    expect((await held).name).toBe('TypeError');
    await waitFor(() => crm.candidates().length === 2);
    await crm.up();
    expect((await call(crm, 'GET', '/api/candidates?external_id=L2')).body).toMatchObject({ items: [{ id: 'cand-2' }] });
  });

  it('slow-headers: silence, then the normal answer; the create happened on arrival', async () => {
    const crm = await start();
    crm.injectFault({ type: 'slow-headers', ms: 300 }, { times: 2 });
    const res = await raw(crm, 'POST', '/api/candidates', { body: lead('L1') });
    expect(res.status).toBe(201);
    expect(res.headersAt).toBeGreaterThanOrEqual(290);
    const err = await failure(call(crm, 'POST', '/api/candidates', { body: lead('L2'), signal: AbortSignal.timeout(100) }));
    expect(err.name).toBe('TimeoutError');
    await waitFor(() => crm.candidates().length === 2);
  });

  it('slow-body: status and headers at once, the body trickles in over ms and is whole at the end', async () => {
    const crm = await start();
    for (const id of ['L1', 'L2', 'L3']) await call(crm, 'POST', '/api/candidates', { body: lead(id) });
    const normal = await call(crm, 'GET', '/api/candidates');
    crm.injectFault({ type: 'slow-body', ms: 400 });
    const res = await raw(crm, 'GET', '/api/candidates');
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual(normal.body);
    // Timers only ever fire late, so these lower bounds hold on a busy machine too.
    expect(res.endAt - res.headersAt).toBeGreaterThanOrEqual(300);
    expect(res.chunkAt.length).toBeGreaterThan(2);
    await waitFor(() => crm.requests.at(-1)!.status === 200);
    expect(crm.requests.at(-1)!.broken).toBeUndefined();
  });

  it('endless-body: headers and half a body, until the client gives up or down() ends it', async () => {
    const crm = await start();
    await call(crm, 'POST', '/api/candidates', { body: lead('L1') });
    crm.injectFault({ type: 'endless-body' }, { times: 2 });

    const controller = new AbortController();
    const res = await fetch(`${crm.url}/api/candidates/cand-1`, { signal: controller.signal });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(first.done).toBe(false);
    expect(Number(res.headers.get('content-length'))).toBeGreaterThan(first.value!.length);
    controller.abort();
    await waitFor(() => crm.requests.at(-1)!.durationMs > 0);
    expect(crm.requests.at(-1)).toMatchObject({ status: 200, broken: 'body-unfinished' });

    const second = await fetch(`${crm.url}/api/candidates/cand-1`);
    const text = second.text();
    await crm.down();
    expect((await failure(text)).name).toBe('TypeError');
    await waitFor(() => crm.requests.at(-1)!.durationMs > 0);
    expect(crm.requests.at(-1)).toMatchObject({ status: 200, broken: 'body-unfinished' });
  });

  it('injectFault refuses an unknown type or a bad delay instead of leaving a request hanging', async () => {
    const crm = await start();
    expect(() => crm.injectFault({ type: 'slow-body', ms: -1 })).toThrow(/'slow-body' needs ms >= 0/);
    expect(() => crm.injectFault({ type: 'write-after' } as unknown as FaultSpec)).toThrow(/'write-after' needs ms/);
    expect(() => crm.injectFault({ type: 'slow' } as unknown as FaultSpec)).toThrow(/unknown fault type 'slow'/);
    crm.injectFault({ type: 'timeout' });
    crm.clearFaults();
  });

  it('status faults send the given headers: Retry-After on a 503 and on other statuses', async () => {
    const crm = await start();
    crm.injectFault({ type: 'status', status: 503, headers: { 'Retry-After': '30' } }, { match: { method: 'GET' } });
    crm.injectFault({ type: 'status', status: 429, headers: { 'Retry-After': '2', 'X-RateLimit-Remaining': '0' } });
    const a = await call(crm, 'GET', '/api/candidates?external_id=x');
    expect(a).toMatchObject({ status: 503, body: { error: 'service_unavailable' } });
    expect(a.headers.get('retry-after')).toBe('30');
    const b = await call(crm, 'POST', '/api/candidates', { body: lead('L1') });
    expect(b.status).toBe(429);
    expect(b.headers.get('retry-after')).toBe('2');
    expect(b.headers.get('x-ratelimit-remaining')).toBe('0');
  });
});

describe('login mode, as real servers do it', () => {
  const creds = { username: 'robot', password: 'pw' };
  const login = (crm: FakeRestCrm): Promise<CallResult<TokenPair>> => call<TokenPair>(crm, 'POST', '/auth/login', { body: creds });
  const refresh = (crm: FakeRestCrm, token: string, signal?: AbortSignal): Promise<CallResult<TokenPair>> =>
    call<TokenPair>(crm, 'POST', '/auth/refresh', { body: { refresh_token: token }, signal });
  const bearer = (t: string): Record<string, string> => ({ authorization: `Bearer ${t}` });

  it("expiresInUnit 'ms': expires_in in milliseconds on login and refresh; 's' is the default", async () => {
    const ms = await start({ auth: { mode: 'login', ...creds, accessTtlMs: 90_000, expiresInUnit: 'ms' } });
    const pair = (await login(ms)).body;
    expect(pair.expires_in).toBe(90_000);
    expect((await refresh(ms, pair.refresh_token)).body.expires_in).toBe(90_000);
    const s = await start({ auth: { mode: 'login', ...creds, accessTtlMs: 90_000 } });
    expect((await login(s)).body.expires_in).toBe(90);
  });

  it('logoutRequiresRefreshToken: without the current refresh token the logout is refused and the session stays open', async () => {
    const crm = await start({ auth: { mode: 'login', ...creds, logoutRequiresRefreshToken: true } });
    const first = (await login(crm)).body;
    expect(crm.openSessions()).toEqual([{ id: expect.any(String), openedAt: expect.any(Number), refreshes: 0 }]);

    expect(await call(crm, 'POST', '/auth/logout', { headers: bearer(first.access_token) })).toMatchObject({
      status: 400,
      body: { error: 'missing_parameter', parameter: 'refresh_token' },
    });
    const second = (await refresh(crm, first.refresh_token)).body;
    // The refresh token of the login was spent by the refresh: it no longer names the session.
    expect(await call(crm, 'POST', '/auth/logout', { headers: bearer(second.access_token), body: { refresh_token: first.refresh_token } })).toMatchObject({
      status: 400,
      body: { error: 'invalid_refresh_token' },
    });
    expect((await call(crm, 'GET', '/api/ping', { headers: bearer(second.access_token) })).status).toBe(200);
    expect(crm.openSessions()).toEqual([expect.objectContaining({ refreshes: 1 })]);

    const out = await call(crm, 'POST', '/auth/logout', { headers: bearer(second.access_token), body: { refresh_token: second.refresh_token } });
    expect(out.status).toBe(204);
    expect(crm.openSessions()).toEqual([]);
    // Logout ends the whole session, older access tokens included.
    expect(await call(crm, 'GET', '/api/ping', { headers: bearer(first.access_token) })).toMatchObject({ status: 401, body: { error: 'invalid_token' } });
    expect((await refresh(crm, second.refresh_token)).status).toBe(401);
  });

  it('openSessions() drops a session once its access and refresh tokens are both dead', async () => {
    const crm = await start({ auth: { mode: 'login', ...creds, accessTtlMs: 200, refreshTtlMs: 800 } });
    await login(crm);
    await login(crm);
    expect(crm.openSessions()).toHaveLength(2);
    await waitFor(() => crm.openSessions().length === 0, 5000);
  });

  it('a refresh token is single-use: of two concurrent refreshes with it, exactly one wins', async () => {
    const crm = await start({ auth: { mode: 'login', ...creds } });
    const pair = (await login(crm)).body;
    const both = await Promise.all([refresh(crm, pair.refresh_token), refresh(crm, pair.refresh_token)]);
    expect(both.map((r) => r.status).sort()).toEqual([200, 401]);
    const winner = both.find((r) => r.status === 200)!.body;
    expect(winner.refresh_token).not.toBe(pair.refresh_token);
    expect((await refresh(crm, winner.refresh_token)).status).toBe(200);
    expect((await refresh(crm, winner.refresh_token)).status).toBe(401);
  });

  it('faults can target /auth/refresh: a proxy 503 spends nothing; a lost answer spends the token', async () => {
    const crm = await start({ auth: { mode: 'login', ...creds } });
    const pair = (await login(crm)).body;
    crm.injectFault({ type: 'status', status: 503, headers: { 'Retry-After': '1' } }, { match: { method: 'POST', path: /^\/auth\/refresh$/ } });
    const refused = await refresh(crm, pair.refresh_token);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    const next = await refresh(crm, pair.refresh_token);
    expect(next.status).toBe(200);

    // The server rotates, then the answer is late and the client gives up: its old token is dead.
    crm.injectFault({ type: 'slow-headers', ms: 1000 }, { match: { path: /^\/auth\/refresh$/ } });
    expect((await failure(refresh(crm, next.body.refresh_token, AbortSignal.timeout(100)))).name).toBe('TimeoutError');
    await waitFor(() => crm.stats().refreshes === 2);
    expect(await refresh(crm, next.body.refresh_token)).toMatchObject({ status: 401, body: { error: 'invalid_refresh_token' } });
  });
});

describe('idle keep-alive connections', () => {
  const agents: http.Agent[] = [];
  const agent = (): http.Agent => {
    const a = new http.Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(a);
    return a;
  };
  afterEach(() => agents.splice(0).forEach((a) => a.destroy()));

  it('by default answers carry the Keep-Alive hint of a Node server with its 5 s default', async () => {
    const crm = await start();
    const res = await fetch(`${crm.url}/api/ping`);
    expect(res.headers.get('keep-alive')).toBe('timeout=5');
  });

  it('keepAliveTimeoutMs: the server closes an idle kept-alive connection after that long', async () => {
    // No hint, or Node's agent would itself drop the socket a second before the server's timeout.
    const crm = await start({ keepAliveTimeoutMs: 500, keepAliveHeader: false });
    const a = agent();
    const first = await raw(crm, 'GET', '/api/ping', { agent: a });
    const second = await raw(crm, 'GET', '/api/ping', { agent: a });
    expect(second.reused).toBe(true);
    expect(second.socket).toBe(first.socket);
    expect(second.headers).toMatchObject({ connection: 'keep-alive' });
    expect(second.headers['keep-alive']).toBeUndefined();

    let closedAt = 0;
    first.socket.once('close', () => (closedAt = performance.timeOrigin + performance.now()));
    await waitFor(() => closedAt > 0 && crm.requests[1]!.durationMs > 0, 3000);
    // Measured from the server's own end of the answer, the same clock, so a busy test process
    // cannot shorten the interval.
    const answeredAt = crm.requests[1]!.at + crm.requests[1]!.durationMs;
    expect(closedAt - answeredAt).toBeGreaterThanOrEqual(480);
    const third = await raw(crm, 'GET', '/api/ping', { agent: a });
    expect(third.reused).toBe(false);
    expect(crm.requests.map((r) => r.status)).toEqual([200, 200, 200]);
  });

  it('dropIdleConnectionsAfterMs: a request on a connection idle too long gets a TCP reset and is never processed', async () => {
    const crm = await start({ dropIdleConnectionsAfterMs: 400 });
    const a = agent();
    const first = await raw(crm, 'GET', '/api/ping', { agent: a });
    const soon = await raw(crm, 'GET', '/api/ping', { agent: a });
    expect(soon).toMatchObject({ status: 200, reused: true });

    // Idleness is the behaviour under test, so this waits out the threshold itself.
    await sleep(600);
    const err = (await failure(raw(crm, 'POST', '/api/candidates', { agent: a, body: lead('L1') }))) as Error & { code?: string; reused?: boolean };
    expect(err.code).toBe('ECONNRESET');
    expect(err.reused).toBe(true);
    expect(first.socket.destroyed).toBe(true);
    expect(crm.requests.at(-1)).toMatchObject({ method: 'POST', path: '/api/candidates', status: 0, broken: 'idle-reset' });
    expect(crm.candidates()).toEqual([]);

    // A fresh connection works at once.
    expect(await raw(crm, 'POST', '/api/candidates', { agent: a, body: lead('L1') })).toMatchObject({ status: 201, reused: false });
  });
});

describe('updated feed for progress polling', () => {
  const T0 = Date.UTC(2026, 0, 31, 12, 0, 0);
  type Item = { id: string; external_id: string; status: string; updated_at: string | number };
  type Feed = { items: Item[] } & Record<string, unknown>;

  /** A fake whose clock the test moves, with `n` candidates created at T0 + 100 ms. */
  async function feedCrm(n: number, updatedFeed: FakeRestCrmOptions['updatedFeed'] = {}): Promise<{ crm: FakeRestCrm; at: (ms: number) => void }> {
    let now = T0 + 100;
    const crm = await start({ updatedFeed, clock: () => now });
    const items = Array.from({ length: n }, (_, i) => lead(`L${i + 1}`));
    if (n) await call(crm, 'POST', '/api/candidates/batch', { body: { items } });
    return { crm, at: (ms) => (now = T0 + ms) };
  }
  const ids = (f: Feed): string[] => f.items.map((i) => i.id);

  it('iso-seconds: changes inside one second share updated_at; strictly-after loses the same-second one, inclusive does not', async () => {
    const { crm, at } = await feedCrm(3);
    at(5_200);
    crm.setStatus('cand-1', 'screening');
    const p1 = await call<Feed>(crm, 'GET', '/api/candidates/updated?updated_after=2026-01-31T12:00:00Z');
    expect(p1.body.items).toEqual([{ id: 'cand-1', external_id: 'L1', status: 'screening', updated_at: '2026-01-31T12:00:05Z' }]);

    // Same second, after the poll: a poller whose cursor is the last updated_at seen never gets it.
    at(5_900);
    crm.setStatus('cand-2', 'hired');
    const cursor = encodeURIComponent(String(p1.body.items[0]!.updated_at));
    expect((await call<Feed>(crm, 'GET', `/api/candidates/updated?updated_after=${cursor}`)).body.items).toEqual([]);

    const inclusive = (await feedCrm(3, { updatedAfterInclusive: true })).crm;
    inclusive.setStatus('cand-2', 'hired');
    const all = await call<Feed>(inclusive, 'GET', '/api/candidates/updated?updated_after=2026-01-31T12:00:00Z');
    expect(ids(all.body)).toEqual(['cand-1', 'cand-2', 'cand-3']);

    // The by-id read carries the same status and time.
    expect((await call(crm, 'GET', '/api/candidates/cand-2')).body).toMatchObject({ status: 'hired', updated_at: '2026-01-31T12:00:05Z' });
    expect(crm.candidates()[1]!.updatedAt).toBe('2026-01-31T12:00:05Z');
    expect(await call(crm, 'GET', '/api/candidates/updated?updated_after=2026-01-31T12:00:00')).toMatchObject({
      status: 400,
      body: { error: 'invalid_parameter', parameter: 'updated_after' },
    });
  });

  it('unix-seconds and unix-ms, with a renamed parameter and path', async () => {
    const { crm, at } = await feedCrm(2, { timeFormat: 'unix-seconds', updatedAfterParam: 'since', path: '/api/v2/changed' });
    at(61_999);
    crm.setStatus('cand-2', 'offer');
    const secs = T0 / 1000;
    const res = await call<Feed>(crm, 'GET', `/api/v2/changed?since=${secs}`);
    expect(res.body.items).toEqual([{ id: 'cand-2', external_id: 'L2', status: 'offer', updated_at: secs + 61 }]);
    expect((await call(crm, 'GET', '/api/candidates/cand-1')).body).toMatchObject({ updated_at: secs });
    expect((await call(crm, 'GET', `/api/v2/changed?since=${T0}.5`)).body).toMatchObject({ error: 'invalid_parameter', parameter: 'since' });

    const ms = await feedCrm(2, { timeFormat: 'unix-ms' });
    ms.at(1_700);
    ms.crm.setStatus('cand-1', 'offer');
    const m = await call<Feed>(ms.crm, 'GET', `/api/candidates/updated?updated_after=${T0 + 999}`);
    // Whole seconds even in ms: 12:00:01.700 is written as 12:00:01.000.
    expect(m.body.items).toEqual([{ id: 'cand-1', external_id: 'L1', status: 'offer', updated_at: T0 + 1_000 }]);
    expect(ids((await call<Feed>(ms.crm, 'GET', '/api/candidates/updated')).body)).toEqual(['cand-2', 'cand-1']);
  });

  it('orders by updated_at, then id numerically', async () => {
    const { crm, at } = await feedCrm(11);
    at(2_000);
    crm.setStatus('cand-3', 'screening');
    const all = await call<Feed>(crm, 'GET', '/api/candidates/updated');
    expect(ids(all.body)).toEqual(['cand-1', 'cand-2', 'cand-4', 'cand-5', 'cand-6', 'cand-7', 'cand-8', 'cand-9', 'cand-10', 'cand-11', 'cand-3']);
  });

  it('page: page/page_size/total/total_pages; an update between pages shifts the list and an item is skipped', async () => {
    const { crm, at } = await feedCrm(5, { pagination: 'page', pageSize: 2 });
    const p1 = await call<Feed>(crm, 'GET', '/api/candidates/updated');
    expect(p1.body).toMatchObject({ page: 1, page_size: 2, total: 5, total_pages: 3 });
    expect(ids(p1.body)).toEqual(['cand-1', 'cand-2']);
    expect(ids((await call<Feed>(crm, 'GET', '/api/candidates/updated?page=3')).body)).toEqual(['cand-5']);
    expect((await call<Feed>(crm, 'GET', '/api/candidates/updated?page=4')).body.items).toEqual([]);

    at(3_000);
    crm.setStatus('cand-1', 'hired');
    // cand-1 moved to the end: page 2 now starts at cand-4, and cand-3 is never seen.
    expect(ids((await call<Feed>(crm, 'GET', '/api/candidates/updated?page=2')).body)).toEqual(['cand-4', 'cand-5']);
    expect(await call(crm, 'GET', '/api/candidates/updated?page=0')).toMatchObject({ status: 400, body: { parameter: 'page' } });
  });

  it('offset: offset/limit/total, with limit capped at the page size', async () => {
    const { crm } = await feedCrm(5, { pagination: 'offset', pageSize: 2 });
    const a = await call<Feed>(crm, 'GET', '/api/candidates/updated?offset=1&limit=10');
    expect(a.body).toMatchObject({ offset: 1, limit: 2, total: 5 });
    expect(ids(a.body)).toEqual(['cand-2', 'cand-3']);
    expect(ids((await call<Feed>(crm, 'GET', '/api/candidates/updated?offset=4')).body)).toEqual(['cand-5']);
    expect(await call(crm, 'GET', '/api/candidates/updated?offset=-1')).toMatchObject({ status: 400, body: { parameter: 'offset' } });
  });

  it('cursor: an opaque keyset cursor that never skips, next_cursor null on the last page', async () => {
    const { crm, at } = await feedCrm(5, { pagination: 'cursor', pageSize: 2 });
    const p1 = await call<Feed>(crm, 'GET', '/api/candidates/updated');
    expect(ids(p1.body)).toEqual(['cand-1', 'cand-2']);
    at(3_000);
    crm.setStatus('cand-1', 'hired');
    const seen = [...ids(p1.body)];
    let cursor = p1.body.next_cursor as string | null;
    while (cursor !== null) {
      const page = await call<Feed>(crm, 'GET', `/api/candidates/updated?cursor=${encodeURIComponent(cursor)}`);
      seen.push(...ids(page.body));
      cursor = page.body.next_cursor as string | null;
    }
    expect(seen).toEqual(['cand-1', 'cand-2', 'cand-3', 'cand-4', 'cand-5', 'cand-1']);
    expect(await call(crm, 'GET', '/api/candidates/updated?cursor=nope')).toMatchObject({ status: 400, body: { parameter: 'cursor' } });
  });

  it('next-link: an absolute next URL that keeps the query, null on the last page', async () => {
    const { crm } = await feedCrm(5, { pagination: 'next-link', pageSize: 2 });
    let url: string | null = `${crm.url}/api/candidates/updated?updated_after=2026-01-31T11:00:00Z`;
    const seen: string[] = [];
    while (url !== null) {
      expect(url.startsWith(`${crm.url}/api/candidates/updated?`)).toBe(true);
      expect(new URL(url).searchParams.get('updated_after')).toBe('2026-01-31T11:00:00Z');
      const res = await call<Feed>(crm, 'GET', url.slice(crm.url.length));
      seen.push(...ids(res.body));
      url = res.body.next as string | null;
    }
    expect(seen).toEqual(['cand-1', 'cand-2', 'cand-3', 'cand-4', 'cand-5']);
  });

  it('is authenticated and rate limited like every API path', async () => {
    const crm = await start({ auth: { mode: 'bearer', token: 'tok' } });
    expect((await call(crm, 'GET', '/api/candidates/updated')).status).toBe(401);
    expect(await call(crm, 'GET', '/api/candidates/updated', { headers: { authorization: 'Bearer tok' } })).toMatchObject({
      status: 200,
      body: { items: [], page: 1, total: 0, total_pages: 0 },
    });
  });
});
