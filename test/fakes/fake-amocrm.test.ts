import { startFakeAmo, type FakeAmo, type FakeAmoOptions } from '../support/fake-amocrm';
import { maxInAnyWindow } from '../support/fake-amocrm/rate-limit';
import { eventually } from '../support/harness';
import { call, candidate, CLIENT, login, manualClock, OAUTH_TYPE, refresh, useFakeAmo, type Res } from './amocrm-client';

const { start, startWithToken } = useFakeAmo();

const OAUTH_REVOKED = {
  hint: 'Token has been revoked',
  title: 'Некорректный запрос',
  type: OAUTH_TYPE,
  status: 401,
  detail: 'В запросе отсутствует ряд параметров или параметры невалидны',
};
const OAUTH_EXPIRED = { ...OAUTH_REVOKED, hint: 'Token has expired' };
const UNAUTHORIZED = { title: 'Unauthorized', type: 'https://httpstatus.es/401', status: 401, detail: 'Invalid user name or password' };

describe('OAuth', () => {
  test('code exchange, rotating single-use refresh, wrong client', async () => {
    const f = await start({ clientId: 'cid', clientSecret: 'secret', accessTtlSeconds: 3600 });
    const code = f.issueCode();
    const first = await call(f, 'POST', '/oauth2/access_token', { body: { ...CLIENT, grant_type: 'authorization_code', code } });
    expect(first.status).toBe(200);
    expect(Object.keys(first.json).sort()).toEqual(['access_token', 'expires_in', 'refresh_token', 'server_time', 'token_type']);
    expect(first.json).toMatchObject({ token_type: 'Bearer', expires_in: 3600 });
    expect(first.json.access_token.split('.')).toHaveLength(3);
    const payload = JSON.parse(Buffer.from(first.json.access_token.split('.')[1], 'base64url').toString());
    expect(payload.exp - payload.iat).toBe(3600);

    // The code is single-use.
    const again = await call(f, 'POST', '/oauth2/access_token', { body: { ...CLIENT, grant_type: 'authorization_code', code } });
    expect(again.status).toBe(400);
    expect(again.json.hint).toBe('Authorization code has been revoked');

    // Form-encoded refresh rotates the pair.
    const refreshed = await call(f, 'POST', '/oauth2/access_token', {
      form: { ...CLIENT, grant_type: 'refresh_token', refresh_token: first.json.refresh_token },
    });
    expect(refreshed.status).toBe(200);
    expect(refreshed.json.refresh_token).not.toBe(first.json.refresh_token);
    expect(refreshed.json.access_token).not.toBe(first.json.access_token);

    const reused = await call(f, 'POST', '/oauth2/access_token', {
      body: { ...CLIENT, grant_type: 'refresh_token', refresh_token: first.json.refresh_token },
    });
    expect(reused.status).toBe(401);
    expect(reused.json).toEqual(OAUTH_REVOKED);
    expect(reused.headers.get('content-type')).toBe('application/problem+json');

    const wrong = await call(f, 'POST', '/oauth2/access_token', {
      body: { ...CLIENT, client_secret: 'nope', grant_type: 'refresh_token', refresh_token: refreshed.json.refresh_token },
    });
    expect(wrong.status).toBe(401);
    expect(wrong.json).toEqual({
      title: 'Некорректный клиент',
      type: 'https://developers.amocrm.ru/v3/errors/OAuthProblemJson',
      status: 401,
      detail: 'Авторизация клиента не прошла',
    });
    // The failed attempt did not spend the refresh token.
    const ok = await call(f, 'POST', '/oauth2/access_token', {
      body: { ...CLIENT, grant_type: 'refresh_token', refresh_token: refreshed.json.refresh_token },
    });
    expect(ok.status).toBe(200);
    expect(f.stats()).toMatchObject({ codeExchanges: 2, refreshes: 4 });
  });

  test('concurrent refresh with one token: exactly one wins', async () => {
    const { f } = await startWithToken();
    const { refresh } = await login(f);
    const body = { ...CLIENT, grant_type: 'refresh_token', refresh_token: refresh };
    const results = await Promise.all([1, 2, 3].map(() => call(f, 'POST', '/oauth2/access_token', { body })));
    expect(results.map((r) => r.status).sort()).toEqual([200, 401, 401]);
  });

  test('revokeAllTokens kills access and refresh tokens', async () => {
    const { f } = await startWithToken();
    const { access, refresh } = await login(f);
    f.revokeAllTokens();
    expect((await call(f, 'GET', '/api/v4/account', { token: access })).status).toBe(401);
    const r = await call(f, 'POST', '/oauth2/access_token', { body: { ...CLIENT, grant_type: 'refresh_token', refresh_token: refresh } });
    expect(r.json).toEqual(OAUTH_REVOKED);
  });
});

describe('refresh-token lifetime', () => {
  test('90 days by default: a day short of it the refresh token works, past it 401 "Token has expired"', async () => {
    const clock = manualClock();
    const f = await start({ clientId: CLIENT.client_id, clientSecret: CLIENT.client_secret, clock: clock.now });
    const first = await login(f);
    clock.advance(89 * 86400_000);
    const r = await refresh(f, first.refresh);
    expect(r.status).toBe(200);
    clock.advance(90 * 86400_000);
    const late = await refresh(f, r.json.refresh_token);
    expect(late.status).toBe(401);
    expect(late.headers.get('content-type')).toBe('application/problem+json');
    expect(late.json).toEqual(OAUTH_EXPIRED);
  });

  test('by the real clock: a refresh token of a 1 s lifetime is refused once that second has passed', async () => {
    const f = await start({ clientId: CLIENT.client_id, clientSecret: CLIENT.client_secret, refreshTtlSeconds: 1 });
    const issuedBefore = Date.now();
    const { refresh: token } = await login(f);
    // Waits on the clock, not on the token: a refresh attempt would spend it while still valid.
    await eventually(() => Date.now() > issuedBefore + 1_100, 'the refresh lifetime to pass', 5_000);
    expect((await refresh(f, token)).json).toEqual(OAUTH_EXPIRED);
  });

  test('a refresh before expiry rotates, and the new refresh token gets a full lifetime of its own', async () => {
    const clock = manualClock();
    const f = await start({ clientId: CLIENT.client_id, clientSecret: CLIENT.client_secret, refreshTtlSeconds: 10, clock: clock.now });
    const first = await login(f);
    clock.advance(9_000);
    const second = await refresh(f, first.refresh);
    expect(second.status).toBe(200);
    expect(second.json.refresh_token).not.toBe(first.refresh);
    // 18 s after the first pair: past its lifetime, inside the second's (issued at 9 s, good until 19 s).
    clock.advance(9_000);
    expect((await refresh(f, first.refresh)).json).toEqual(OAUTH_EXPIRED);
    const third = await refresh(f, second.json.refresh_token);
    expect(third.status).toBe(200);
    clock.advance(10_000);
    expect((await refresh(f, third.json.refresh_token)).json).toEqual(OAUTH_EXPIRED);
  });

  test('a spent refresh token that has also expired is reported expired, as league/oauth2-server checks expiry first', async () => {
    const clock = manualClock();
    const f = await start({ clientId: CLIENT.client_id, clientSecret: CLIENT.client_secret, refreshTtlSeconds: 10, clock: clock.now });
    const first = await login(f);
    expect((await refresh(f, first.refresh)).status).toBe(200);
    expect((await refresh(f, first.refresh)).json).toEqual(OAUTH_REVOKED);
    clock.advance(10_000);
    expect((await refresh(f, first.refresh)).json).toEqual(OAUTH_EXPIRED);
  });
});

describe('bearer check', () => {
  test('401 problem+json without, with a bad and with an expired token; long-lived tokens until exp', async () => {
    const { f, token } = await startWithToken();
    const none = await call(f, 'GET', '/api/v4/leads');
    expect(none.status).toBe(401);
    expect(none.json).toEqual(UNAUTHORIZED);
    expect(none.headers.get('content-type')).toBe('application/problem+json');
    expect((await call(f, 'GET', '/api/v4/account', { token: 'garbage' })).status).toBe(401);

    const acc = await call(f, 'GET', '/api/v4/account', { token });
    expect(acc.status).toBe(200);
    expect(acc.json).toMatchObject({ subdomain: 'testco' });
    expect(acc.headers.get('content-type')).toBe('application/hal+json');

    const longLived = f.issueLongLivedToken(3600);
    expect((await call(f, 'GET', '/api/v4/account', { token: longLived })).status).toBe(200);
    const stale = f.issueLongLivedToken(0);
    expect((await call(f, 'GET', '/api/v4/account', { token: stale })).json).toEqual(UNAUTHORIZED);

    f.expireAccessTokens();
    expect((await call(f, 'GET', '/api/v4/account', { token })).status).toBe(401);
    expect((await call(f, 'GET', '/api/v4/account', { token: longLived })).status).toBe(401);
  });

  test('short accessTtlSeconds expires by the clock', async () => {
    const clock = manualClock();
    const { f, token } = await startWithToken({ accessTtlSeconds: 0.2, clock: clock.now });
    clock.advance(199);
    expect((await call(f, 'GET', '/api/v4/account', { token })).status).toBe(200);
    clock.advance(1);
    expect((await call(f, 'GET', '/api/v4/account', { token })).status).toBe(401);
  });
});

describe('POST /api/v4/leads/complex', () => {
  test('50 leads: exact response shape, contacts, stored fields and lead_added events', async () => {
    const { f, token } = await startWithToken();
    const batch = Array.from({ length: 50 }, (_, i) => candidate(i));
    const r = await call(f, 'POST', '/api/v4/leads/complex', { token, body: batch });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/hal+json');
    expect(r.json).toHaveLength(50);
    for (const [i, item] of r.json.entries()) {
      expect(Object.keys(item).sort()).toEqual(['company_id', 'contact_id', 'id', 'merged', 'request_id']);
      expect(item).toMatchObject({ company_id: null, request_id: [`req-${i}`], merged: false });
      expect(typeof item.id).toBe('number');
      expect(typeof item.contact_id).toBe('number');
    }
    expect(f.leads()).toHaveLength(50);
    expect(f.contacts()).toHaveLength(50);
    expect(f.stats().leadsCreated).toBe(50);
    const events = f.events();
    expect(events).toHaveLength(50);
    expect(events.every((e) => e.type === 'lead_added' && e.entity_type === 'lead')).toBe(true);
    expect(events.map((e) => e.id)).toEqual([...events.map((e) => e.id)].sort());

    const lead = f.leads()[7];
    expect(lead).toMatchObject({ name: 'Отклик 7', created_at: 1767225607, pipeline_id: 1000, status_id: 1002 });
    expect(lead.custom_fields_values).toEqual([
      { field_id: 500, field_name: 'External ID', field_code: null, field_type: 'text', values: [{ value: 'ext-7' }] },
      { field_id: 501, field_name: 'Вакансия', field_code: null, field_type: 'text', values: [{ value: 'Курьер' }] },
      { field_id: 510, field_name: 'utm_source', field_code: 'UTM_SOURCE', field_type: 'tracking_data', values: [{ value: 'hh' }] },
    ]);
    expect(lead._embedded.tags[0].name).toBe('hh.ru');
    const contact = f.contacts().find((c) => c.id === r.json[7].contact_id);
    expect(contact?.custom_fields_values?.[0]).toEqual({
      field_id: 600,
      field_name: 'Телефон',
      field_code: 'PHONE',
      field_type: 'multitext',
      values: [{ value: '+79120000007', enum_id: 6001, enum: 'WORK' }],
    });
  });

  test('metadata sends the lead to Unsorted; defaults without request_id', async () => {
    const { f, token } = await startWithToken();
    const r = await call(f, 'POST', '/api/v4/leads/complex', {
      token,
      body: [{ name: 'form', status_id: 1003, _embedded: { metadata: { category: 'forms', form_id: 1 } } }, {}],
    });
    expect(r.json).toEqual([
      { id: expect.any(Number), contact_id: null, company_id: null, request_id: ['0'], merged: false },
      { id: expect.any(Number), contact_id: null, company_id: null, request_id: ['1'], merged: false },
    ]);
    expect(f.leads().map((l) => l.status_id)).toEqual([1001, 1002]);
  });

  test('51 leads are refused and nothing is created', async () => {
    const { f, token } = await startWithToken();
    const r = await call(f, 'POST', '/api/v4/leads/complex', { token, body: Array.from({ length: 51 }, (_, i) => candidate(i)) });
    expect(r.status).toBe(422);
    expect(r.json).toEqual({ title: 'Unprocessable Entity', type: 'https://httpstatus.es/422', status: 422, detail: 'Limit 50 per page' });
    expect(f.leads()).toHaveLength(0);
    const empty = await call(f, 'POST', '/api/v4/leads/complex', { token, body: [] });
    expect(empty.json).toEqual({ title: 'Bad Request', type: 'https://httpstatus.es/400', status: 400, detail: 'Request data can not be empty' });
  });

  test('validation-errors: every failing element, whole request rejected', async () => {
    const { f, token } = await startWithToken();
    const bad1 = candidate(1, { custom_fields_values: [{ field_id: 500, values: [{ value: 'x' }] }, { field_id: 999, values: [{ value: 'y' }] }] });
    const bad2 = candidate(2, { request_id: undefined, price: 'много', pipeline_id: 1000, status_id: 2002 });
    const contact = (bad2._embedded as { contacts: Array<{ custom_fields_values: Array<{ values: Array<{ enum_code: string }> }> }> }).contacts[0];
    contact.custom_fields_values[1].values[0].enum_code = 'HOME';
    const r = await call(f, 'POST', '/api/v4/leads/complex', { token, body: [candidate(0), bad1, bad2] });
    expect(r.status).toBe(400);
    expect(r.headers.get('content-type')).toBe('application/problem+json');
    const choice = 'The value you selected is not a valid choice.';
    expect(r.json).toEqual({
      'validation-errors': [
        { request_id: 'req-1', errors: [{ code: 'NotSupportedChoice', path: 'custom_fields_values.1.field_id', detail: choice }] },
        {
          request_id: '2',
          errors: [
            { code: 'InvalidType', path: 'price', detail: 'This value should be of type int.' },
            { code: 'NotSupportedChoice', path: 'status_id', detail: choice },
            { code: 'NotSupportedChoice', path: '_embedded.contacts.0.custom_fields_values.1.values.0.enum_code', detail: choice },
          ],
        },
      ],
      title: 'Bad Request',
      type: 'https://httpstatus.es/400',
      status: 400,
      detail: 'Request validation failed',
    });
    expect(f.leads()).toHaveLength(0);
    expect(f.contacts()).toHaveLength(0);
    expect(f.events()).toHaveLength(0);
  });

  test('duplicate control merges into existing leads only, never within the request', async () => {
    const { f, token } = await startWithToken({ duplicateControl: true });
    const seed = await call(f, 'POST', '/api/v4/leads/complex', { token, body: [candidate(1)] });
    const existingId = seed.json[0].id;
    const samePhone = (rid: string, phone: string, email: string): Record<string, unknown> =>
      candidate(9, {
        request_id: rid,
        _embedded: {
          contacts: [
            {
              first_name: 'Дубль',
              custom_fields_values: [
                { field_code: 'PHONE', values: [{ value: phone }] },
                { field_code: 'EMAIL', values: [{ value: email }] },
              ],
            },
          ],
        },
      });
    const r = await call(f, 'POST', '/api/v4/leads/complex', {
      token,
      body: [
        samePhone('a', '8 (912) 000-00-01', 'x@example.com'),
        samePhone('b', '+7 912 000 0001', 'y@example.com'),
        samePhone('c', '+79995550000', 'C1@EXAMPLE.COM'), // same e-mail as the seed, other phone
        samePhone('d', '+79990000000', 'new@example.com'),
        samePhone('e', '+79990000000', 'new@example.com'), // duplicate of "d", which is not existing yet
      ],
    });
    expect(r.status).toBe(200);
    expect(r.json).toHaveLength(3);
    expect(r.json[0]).toEqual({ id: existingId, contact_id: seed.json[0].contact_id, company_id: null, request_id: ['a', 'b', 'c'], merged: true });
    expect(r.json[1]).toMatchObject({ request_id: ['d'], merged: false });
    expect(r.json[2]).toMatchObject({ request_id: ['e'], merged: false });
    expect(r.json[1].id).not.toBe(r.json[2].id);
    expect(f.leads()).toHaveLength(3);
    expect(f.stats()).toMatchObject({ merged: 3, leadsCreated: 3 });

    f.setDuplicateControl(false);
    const off = await call(f, 'POST', '/api/v4/leads/complex', { token, body: [samePhone('z', '+79120000001', 'q@example.com')] });
    expect(off.json[0].merged).toBe(false);
    expect(f.leads()).toHaveLength(4);
  });
});

describe('leads: plain create, patch, GET', () => {
  async function seeded(opts: FakeAmoOptions = {}): Promise<{ f: FakeAmo; token: string; ids: number[] }> {
    const { f, token } = await startWithToken(opts);
    const r = await call(f, 'POST', '/api/v4/leads/complex', {
      token,
      body: [
        candidate(0),
        candidate(1, { status_id: 1003 }),
        candidate(2, { pipeline_id: 2000 }),
        candidate(3, { created_at: 1700000000 }),
        candidate(4, { status_id: 1004, pipeline_id: 1000 }),
      ],
    });
    return { f, token, ids: r.json.map((x: { id: number }) => x.id) };
  }

  test('filters, query, with=contacts, order, pagination and 204', async () => {
    const { f, token, ids } = await seeded();
    const get = async (qs: string): Promise<Res> => call(f, 'GET', `/api/v4/leads${qs}`, { token });
    const idsOf = (r: Res): number[] => r.json._embedded.leads.map((l: { id: number }) => l.id);

    const all = await get('');
    expect(all.json._page).toBe(1);
    expect(idsOf(all)).toEqual(ids);
    expect(all.json._embedded.leads[0]._embedded.contacts).toBeUndefined();

    expect(idsOf(await get(`?filter[id][]=${ids[1]}&filter[id][]=${ids[3]}`))).toEqual([ids[1], ids[3]]);
    expect(idsOf(await get('?filter[pipeline_id]=2000'))).toEqual([ids[2]]);
    expect(idsOf(await get('?filter[statuses][0][pipeline_id]=1000&filter[statuses][0][status_id]=1003&filter[statuses][1][pipeline_id]=1000&filter[statuses][1][status_id]=1004'))).toEqual([
      ids[1],
      ids[4],
    ]);
    expect(idsOf(await get('?filter[created_at][to]=1700000001'))).toEqual([ids[3]]);
    expect(idsOf(await get('?filter[created_at][from]=1767225601&filter[created_at][to]=1767225602'))).toEqual([ids[1], ids[2]]);
    const now = Math.floor(Date.now() / 1000);
    expect(idsOf(await get(`?filter[updated_at][from]=${now - 60}`))).toHaveLength(5);
    expect((await get(`?filter[updated_at][from]=${now + 3600}`)).status).toBe(204);

    // Full text: lead fields, contact phone substrings, contact names.
    expect(idsOf(await get('?query=ext-3'))).toEqual([ids[3]]);
    expect(idsOf(await get('?query=79120000004'))).toEqual([ids[4]]);
    expect(idsOf(await get(`?query=${encodeURIComponent('петров2')}`))).toEqual([ids[2]]);
    expect((await get('?query=89120000004')).status).toBe(204); // formats must match textually

    const withContacts = await get(`?filter[id]=${ids[0]}&with=contacts`);
    expect(withContacts.json._embedded.leads[0]._embedded.contacts).toEqual([{ id: expect.any(Number), is_main: true }]);
    expect(idsOf(await get('?order[id]=desc'))).toEqual([...ids].reverse());

    const p1 = await get('?limit=2');
    expect(idsOf(p1)).toEqual(ids.slice(0, 2));
    const next = new URL(p1.json._links.next.href);
    expect(next.origin).toBe(f.url);
    const p2 = await call(f, 'GET', next.pathname + next.search, { token });
    expect(p2.json._page).toBe(2);
    expect(idsOf(p2)).toEqual(ids.slice(2, 4));
    const p3 = await get('?limit=2&page=3');
    expect(idsOf(p3)).toEqual([ids[4]]);
    expect(p3.json._links.next).toBeUndefined();
    const empty = await get('?limit=2&page=4');
    expect(empty.status).toBe(204);
    expect(empty.text).toBe('');
    expect((await get('?limit=251')).status).toBe(422);

    expect((await call(f, 'GET', `/api/v4/leads/${ids[0]}?with=contacts`, { token })).json.id).toBe(ids[0]);
    const missing = await call(f, 'GET', '/api/v4/leads/1', { token });
    expect(missing.status).toBe(204);
    expect(missing.text).toBe('');
  });

  test('custom field filter works when enabled and is ignored otherwise', async () => {
    const on = await seeded();
    const r = await call(on.f, 'GET', '/api/v4/leads?filter[custom_fields_values][500][]=ext-2', { token: on.token });
    expect(r.json._embedded.leads.map((l: { id: number }) => l.id)).toEqual([on.ids[2]]);
    expect((await call(on.f, 'GET', '/api/v4/leads?filter[custom_fields_values][500][]=nope', { token: on.token })).status).toBe(204);
    await on.f.close();

    const off = await seeded({ customFieldFilter: false });
    const ignored = await call(off.f, 'GET', '/api/v4/leads?filter[custom_fields_values][500][]=ext-2', { token: off.token });
    expect(ignored.json._embedded.leads).toHaveLength(5);
  });

  test('POST /leads (≤ 250) and PATCH with status events', async () => {
    const { f, token } = await startWithToken();
    const tooMany = await call(f, 'POST', '/api/v4/leads', { token, body: Array.from({ length: 251 }, () => ({ name: 'x' })) });
    expect(tooMany.status).toBe(422);
    expect(tooMany.json.detail).toBe('Limit 250 per page');

    const created = await call(f, 'POST', '/api/v4/leads', { token, body: [{ name: 'a', request_id: 'one' }, { name: 'b', price: 5 }] });
    expect(created.status).toBe(200);
    const [a, b] = created.json._embedded.leads;
    expect(a).toMatchObject({ id: expect.any(Number), request_id: 'one' });
    expect(b.request_id).toBe('1');

    const patched = await call(f, 'PATCH', '/api/v4/leads', { token, body: [{ id: a.id, status_id: 142 }, { id: b.id, pipeline_id: 2000 }] });
    expect(patched.status).toBe(200);
    expect(patched.json._embedded.leads.map((l: { id: number }) => l.id)).toEqual([a.id, b.id]);
    const leads = f.leads();
    expect(leads[0]).toMatchObject({ status_id: 142, pipeline_id: 1000, closed_at: expect.any(Number) });
    expect(leads[1]).toMatchObject({ status_id: 2002, pipeline_id: 2000 });
    const changes = f.events().filter((e) => e.type === 'lead_status_changed');
    expect(changes.map((e) => [e.entity_id, e.value_before, e.value_after])).toEqual([
      [a.id, [{ lead_status: { id: 1002, pipeline_id: 1000 } }], [{ lead_status: { id: 142, pipeline_id: 1000 } }]],
      [b.id, [{ lead_status: { id: 1002, pipeline_id: 1000 } }], [{ lead_status: { id: 2002, pipeline_id: 2000 } }]],
    ]);

    const bad = await call(f, 'PATCH', '/api/v4/leads', { token, body: [{ id: 1, name: 'x' }] });
    expect(bad.json['validation-errors'][0].errors[0]).toMatchObject({ code: 'NotSupportedChoice', path: 'id' });
    const single = await call(f, 'PATCH', `/api/v4/leads/${a.id}`, {
      token,
      body: { custom_fields_values: [{ field_id: 500, values: [{ value: 'ext' }] }] },
    });
    expect(single.json).toMatchObject({ id: a.id, updated_at: expect.any(Number) });
    expect(f.leads()[0].custom_fields_values?.[0].values).toEqual([{ value: 'ext' }]);
  });
});

describe('catalog', () => {
  test('pipelines with statuses, custom fields pages, account, 404 and 405', async () => {
    const { f, token } = await startWithToken({
      leadCustomFields: Array.from({ length: 60 }, (_, i) => ({ id: 800 + i, name: `f${i}`, type: 'text' as const })),
    });
    const p = await call(f, 'GET', '/api/v4/leads/pipelines', { token });
    expect(p.json._total_items).toBe(2);
    const main = p.json._embedded.pipelines[0];
    expect(main).toMatchObject({ id: 1000, is_main: true, is_unsorted_on: true, is_archive: false });
    expect(main._embedded.statuses.map((s: { id: number }) => s.id)).toEqual([1001, 1002, 1003, 1004, 142, 143]);
    expect(main._embedded.statuses[0]).toMatchObject({ type: 1, pipeline_id: 1000 });
    expect(p.json._embedded.pipelines[1]._embedded.statuses.map((s: { id: number }) => s.id)).toContain(142);
    expect((await call(f, 'GET', '/api/v4/leads/pipelines/2000', { token })).json.id).toBe(2000);
    expect((await call(f, 'GET', '/api/v4/leads/pipelines/3000', { token })).status).toBe(204);

    const page1 = await call(f, 'GET', '/api/v4/leads/custom_fields?limit=250', { token });
    expect(page1.json._embedded.custom_fields).toHaveLength(50);
    const page2 = await call(f, 'GET', '/api/v4/leads/custom_fields?page=2', { token });
    expect(page2.json._embedded.custom_fields).toHaveLength(10);
    expect((await call(f, 'GET', '/api/v4/leads/custom_fields?page=3', { token })).status).toBe(204);

    const cf = await call(f, 'GET', '/api/v4/contacts/custom_fields', { token });
    const phone = cf.json._embedded.custom_fields.find((x: { code: string }) => x.code === 'PHONE');
    expect(phone).toMatchObject({ id: 600, type: 'multitext', entity_type: 'contacts' });
    expect(phone.enums.map((e: { value: string }) => e.value)).toEqual(['WORK', 'MOB', 'OTHER']);

    const nf = await call(f, 'GET', '/api/v4/nothing', { token });
    expect(nf.status).toBe(404);
    expect(nf.json).toEqual({ title: 'Not Found', type: 'https://httpstatus.es/404', status: 404, detail: 'Cannot GET https://testco.amocrm.ru/api/v4/nothing' });
    const na = await call(f, 'DELETE', '/api/v4/leads', { token });
    expect(na.status).toBe(405);
    expect(na.headers.get('allow')).toBe('GET, POST, PATCH');
  });

  test('default lead fields and contacts endpoints', async () => {
    const { f, token } = await startWithToken();
    const lf = await call(f, 'GET', '/api/v4/leads/custom_fields', { token });
    expect(lf.json._embedded.custom_fields.map((x: { id: number }) => x.id)).toEqual([500, 501, 502, 503, 510, 511, 512, 513, 514]);
    expect(lf.json._embedded.custom_fields[4]).toMatchObject({ code: 'UTM_SOURCE', type: 'tracking_data' });
    const r = await call(f, 'POST', '/api/v4/leads/complex', { token, body: [candidate(0), candidate(1)] });
    const contacts = await call(f, 'GET', '/api/v4/contacts?query=c1%40example', { token });
    expect(contacts.json._embedded.contacts.map((c: { id: number }) => c.id)).toEqual([r.json[1].contact_id]);
    const one = await call(f, 'GET', `/api/v4/contacts/${r.json[0].contact_id}?with=leads`, { token });
    expect(one.json._embedded.leads).toEqual([{ id: r.json[0].id }]);
    expect((await call(f, 'GET', '/api/v4/contacts/1', { token })).status).toBe(204);
  });
});

describe('rate limiting and blocks', () => {
  const burst = (f: FakeAmo, token: string, n: number): Promise<Res[]> =>
    Promise.all(Array.from({ length: n }, () => call(f, 'GET', '/api/v4/account', { token })));

  test('HTML 429 by default, problem+json with retry_after when switched; sliding window', async () => {
    const clock = manualClock();
    const { f, token } = await startWithToken({ rateLimit: { requests: 7, windowMs: 1000 }, clock: clock.now });
    const first = await burst(f, token, 10);
    expect(first.filter((r) => r.status === 200)).toHaveLength(7);
    const limited = first.find((r) => r.status === 429) as Res;
    expect(limited.headers.get('content-type')).toBe('text/html');
    expect(limited.headers.get('retry-after')).toBeNull();
    expect(limited.text).toContain('<title>429 Too Many Requests</title>');

    f.setRateLimitBody('json');
    const json = await call(f, 'GET', '/api/v4/account', { token });
    expect(json.status).toBe(429);
    expect(json.json).toEqual({
      title: 'Too Many Requests',
      type: 'https://httpstatus.es/429',
      status: 429,
      detail: 'You have sent too many requests in a given amount of time. Please try again later.',
      retry_after: 1,
    });
    // OAuth is outside the API limit.
    expect((await call(f, 'POST', '/oauth2/access_token', { body: { ...CLIENT, grant_type: 'authorization_code', code: f.issueCode() } })).status).toBe(200);

    clock.advance(1050);
    const admitted = f.requests.filter((r) => r.path === '/api/v4/account' && r.status === 200);
    expect(maxInAnyWindow(admitted.map((r) => r.at), 1000)).toBe(7);
    expect(f.stats()).toMatchObject({ rateLimited: 4, maxRequestsInWindow: 11 });
    // A sliding window: half a window after a full burst there is still no room.
    expect((await burst(f, token, 7)).map((r) => r.status)).toEqual(Array(7).fill(200));
    clock.advance(999);
    expect((await call(f, 'GET', '/api/v4/account', { token })).status).toBe(429);
    clock.advance(1);
    expect((await call(f, 'GET', '/api/v4/account', { token })).status).toBe(200);
  });

  test('repeated 429s escalate to a 403 block of everything, until unblock()', async () => {
    const clock = manualClock();
    const { f, token } = await startWithToken({ rateLimit: { requests: 2, windowMs: 1000 }, blockAfterViolations: 3, clock: clock.now });
    // Concurrent requests may arrive in any order, so only the multiset of answers is fixed.
    const rs = await burst(f, token, 6);
    expect(rs.map((r) => r.status).sort()).toEqual([200, 200, 403, 429, 429, 429]);
    expect(f.isBlocked()).toBe(true);
    const blocked = rs.find((r) => r.status === 403) as Res;
    expect(blocked.headers.get('content-type')).toBe('text/html');
    expect(blocked.text).toContain('<title>403 Forbidden</title>');
    const oauth = await call(f, 'POST', '/oauth2/access_token', { body: { ...CLIENT, grant_type: 'authorization_code', code: f.issueCode() } });
    expect(oauth.status).toBe(403);
    expect(f.stats()).toMatchObject({ rateLimited: 3, blocked: 2 });
    f.unblock();
    clock.advance(1000);
    expect((await call(f, 'GET', '/api/v4/account', { token })).status).toBe(200);
  });

  test('block expires after blockDurationMs', async () => {
    const clock = manualClock();
    const { f, token } = await startWithToken({ rateLimit: { requests: 1, windowMs: 1000 }, blockAfterViolations: 1, blockDurationMs: 200, clock: clock.now });
    expect((await burst(f, token, 3)).map((r) => r.status).sort()).toEqual([200, 403, 429]);
    clock.advance(199);
    expect(f.isBlocked()).toBe(true);
    clock.advance(801);
    expect(f.isBlocked()).toBe(false);
    expect((await call(f, 'GET', '/api/v4/account', { token })).status).toBe(200);
  });

  test('maxInAnyWindow counts half-open windows', () => {
    expect(maxInAnyWindow([], 1000)).toBe(0);
    expect(maxInAnyWindow([0, 999, 1000, 1998, 1999], 1000)).toBe(3);
    expect(maxInAnyWindow([5, 0, 1000, 500], 1000)).toBe(3);
    expect(maxInAnyWindow([0, 1000, 2000], 1000)).toBe(1);
  });

  test('maxRequestsInAnyWindow reads the request log, with a filter', async () => {
    const clock = manualClock();
    const { f, token } = await startWithToken({ clock: clock.now });
    for (let i = 0; i < 3; i++) await call(f, 'GET', '/api/v4/account', { token });
    clock.advance(120);
    await burst(f, token, 4);
    expect(f.maxRequestsInAnyWindow(100)).toBe(4);
    expect(f.maxRequestsInAnyWindow(60_000)).toBe(7);
    expect(f.maxRequestsInAnyWindow(60_000, () => true)).toBe(8); // + the token exchange
  });
});

describe('request log and lifecycle', () => {
  test('every request is recorded with parsed query and body', async () => {
    const { f, token } = await startWithToken();
    await call(f, 'POST', '/api/v4/leads/complex', { token, body: [candidate(0)] });
    await call(f, 'GET', '/api/v4/leads?filter[statuses][0][pipeline_id]=1000&filter[id][]=5&filter[id][]=6', { token });
    const [oauth, post, get] = f.requests;
    expect(oauth).toMatchObject({ method: 'POST', path: '/oauth2/access_token', status: 200 });
    expect(post).toMatchObject({ method: 'POST', path: '/api/v4/leads/complex', status: 200, body: [candidate(0)] });
    expect(post.headers.authorization).toBe(`Bearer ${token}`);
    // PHP reads `[0]` as a list index, like `[]`.
    expect(get.query).toEqual({ filter: { statuses: [{ pipeline_id: '1000' }], id: ['5', '6'] } });
    expect(get.status).toBe(204);
    expect(get.durationMs).toBeGreaterThanOrEqual(0);
  });

  test('down() refuses connections, up() listens again on the same port with the same state', async () => {
    const { f, token } = await startWithToken();
    await call(f, 'POST', '/api/v4/leads/complex', { token, body: [candidate(0)] });
    const port = f.port;
    await f.down();
    await expect(call(f, 'GET', '/api/v4/account', { token })).rejects.toThrow();
    await f.up();
    expect(f.port).toBe(port);
    const r = await call(f, 'GET', '/api/v4/leads', { token });
    expect(r.json._embedded.leads).toHaveLength(1);
  });

  test('a fixed port is honoured', async () => {
    const probe = await startFakeAmo();
    const port = probe.port;
    await probe.close();
    const f = await start({ port });
    expect(f.url).toBe(`http://127.0.0.1:${port}`);
  });
});
