/**
 * The fake REST CRM's `echo` option: every answer repeats the request back — all headers (the
 * credentials too), the query and the body — whatever the status, without changing what a client
 * parses. It is what the leak tests (test/integration/hostile-echo.test.ts) deliver through.
 */
import { startFakeRestCrm, type FakeRestCrm } from '../support/fake-rest-crm';

const started: FakeRestCrm[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((c) => c.close()));
});

async function start(opts: Parameters<typeof startFakeRestCrm>[0]): Promise<FakeRestCrm> {
  const crm = await startFakeRestCrm(opts);
  started.push(crm);
  return crm;
}

const SECRET_HEADERS = { authorization: 'Bearer tok-echo-123456789', cookie: 'sid=cookie-secret-42', 'x-api-key': 'key-secret-77' };
const BODY = { external_id: 'hh-1', first_name: 'Евлампия', phone: '+79125550101', comment: 'звонить после шести' };

async function call(crm: FakeRestCrm, method: string, path: string, body?: unknown): Promise<{ status: number; text: string; header: string | null }> {
  const res = await fetch(`${crm.url}${path}`, {
    method,
    headers: { ...SECRET_HEADERS, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, text: await res.text(), header: res.headers.get('x-echo-request') };
}

function expectEchoed(text: string, what: string[]): void {
  for (const w of what) expect(text).toContain(w);
}

describe('fake REST CRM echo option', () => {
  test('off by default: answers carry nothing of the request', async () => {
    const crm = await start({ auth: { mode: 'bearer', token: 'tok-echo-123456789' } });
    const r = await call(crm, 'POST', '/api/candidates', BODY);
    expect(r.status).toBe(201);
    expect(r.header).toBeNull();
    expect(r.text).not.toContain('tok-echo');
  });

  test('a 2xx object keeps its shape and gains an echo field with every header and the whole body', async () => {
    const crm = await start({ auth: { mode: 'bearer', token: 'tok-echo-123456789' }, echo: true });
    const r = await call(crm, 'POST', '/api/candidates?x=1', BODY);
    expect(r.status).toBe(201);
    const parsed = JSON.parse(r.text) as { id: string; echo: { method: string; path: string; query: Record<string, string>; headers: Record<string, string>; body: unknown } };
    expect(parsed.id).toMatch(/^cand-/);
    expect(parsed.echo.method).toBe('POST');
    expect(parsed.echo.query).toEqual({ x: '1' });
    expect(parsed.echo.headers).toMatchObject(SECRET_HEADERS);
    expect(parsed.echo.body).toEqual(BODY);
    // The header copy is plain ASCII (a header cannot carry Cyrillic) but reads back the same.
    expect(r.header).not.toBeNull();
    expect(/^[\x20-\x7e]*$/.test(r.header!)).toBe(true);
    expect(JSON.parse(r.header!)).toEqual(parsed.echo);
  });

  test('every error status echoes too: 401, 403/402/503 faults, 422 rejection, 429, a text body, an answer without a body', async () => {
    const crm = await start({ auth: { mode: 'bearer', token: 'tok-echo-123456789' }, echo: true, acceptedPhonePrefixes: ['+1'] });
    const wanted = ['tok-echo-123456789', 'cookie-secret-42', 'key-secret-77', 'Евлампия', 'звонить после шести'];

    const rejected = await call(crm, 'POST', '/api/candidates', BODY);
    expect(rejected.status).toBe(422);
    expectEchoed(rejected.text, wanted);

    for (const status of [403, 402, 503]) {
      crm.injectFault({ type: 'status', status });
      const r = await call(crm, 'POST', '/api/candidates', BODY);
      expect(r.status).toBe(status);
      expectEchoed(r.text, wanted);
    }
    crm.injectFault({ type: 'status', status: 500, body: '<html><title>500</title></html>' });
    const html = await call(crm, 'POST', '/api/candidates', BODY);
    expect(html.text.startsWith('<html><title>500</title></html>\n')).toBe(true);
    expectEchoed(html.text, wanted);

    crm.injectFault({ type: 'unauthorized' });
    expectEchoed((await call(crm, 'POST', '/api/candidates', BODY)).text, wanted);
    crm.injectFault({ type: 'rate-limit', retryAfter: '1' });
    const limited = await call(crm, 'POST', '/api/candidates', BODY);
    expect(limited.status).toBe(429);
    expectEchoed(limited.text, wanted);

    // A lookup's refusal echoes the query too.
    const lookup = await call(crm, 'GET', '/api/candidates/nope-1');
    expect(lookup.status).toBe(404);
    expectEchoed(lookup.text, ['tok-echo-123456789', '/api/candidates/nope-1']);
  });

  test('login mode: the login, refresh and logout bodies and tokens come back as well', async () => {
    const crm = await start({ auth: { mode: 'login', username: 'svc', password: 'pw-echo-secret-9' }, echo: true });
    const bad = await fetch(`${crm.url}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'svc', password: 'wrong-pw-echo' }) });
    expect(bad.status).toBe(401);
    expect(await bad.text()).toContain('wrong-pw-echo');
    const ok = await fetch(`${crm.url}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'svc', password: 'pw-echo-secret-9' }) });
    const pair = (await ok.json()) as { access_token: string; refresh_token: string; echo: { body: { password: string } } };
    expect(pair.access_token).toBeTruthy();
    expect(pair.echo.body.password).toBe('pw-echo-secret-9');
    const out = await fetch(`${crm.url}/auth/logout`, { method: 'POST', headers: { authorization: `Bearer ${pair.access_token}` } });
    expect(out.status).toBe(204);
    // 204 has no body; the header still repeats the request.
    expect(out.headers.get('x-echo-request')).toContain(pair.access_token);
  });

  test('a lookup answer keeps what a client reads (items) and repeats the query', async () => {
    const crm = await start({ echo: true });
    const r = await call(crm, 'GET', '/api/candidates?external_id=none');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text)).toMatchObject({ items: [], echo: { query: { external_id: 'none' } } });
    expect(JSON.parse(r.header!)).toMatchObject({ method: 'GET', query: { external_id: 'none' } });
  });
});
