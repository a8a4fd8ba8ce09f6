import { parseQuery } from '../support/fake-amocrm/php-query';
import { call, CLIENT, createLeads, candidate, useFakeAmo } from './amocrm-client';

const { start, startWithToken } = useFakeAmo();

describe('parseQuery reads a query string as PHP parse_str does', () => {
  // Each expectation is what PHP 8.3 gives for the input (php -r 'parse_str($argv[1], $r); var_export($r);').
  const table: Array<[string, unknown]> = [
    ['a=1&b=2', { a: '1', b: '2' }],
    ['', {}],
    ['a', { a: '' }],
    ['a=', { a: '' }],
    ['a=1&&b=2&', { a: '1', b: '2' }],
    // A repeated key without [] keeps only the last value.
    ['a=1&a=2', { a: '2' }],
    ['filter[custom_fields_values][55]=A&filter[custom_fields_values][55]=B', { filter: { custom_fields_values: { 55: 'B' } } }],
    ['filter[id]=1&filter[id]=2', { filter: { id: '2' } }],
    // [] appends; [0], [1]… in order is a list too.
    ['a[]=1&a[]=2', { a: ['1', '2'] }],
    ['filter[custom_fields_values][55][]=A&filter[custom_fields_values][55][]=B', { filter: { custom_fields_values: { 55: ['A', 'B'] } } }],
    ['a[0]=x', { a: ['x'] }],
    ['a[0]=x&a[1]=y', { a: ['x', 'y'] }],
    ['a[1]=x', { a: { 1: 'x' } }],
    ['a[k][j]=x', { a: { k: { j: 'x' } } }],
    ['a[k][j]=x&a[k][i]=y', { a: { k: { j: 'x', i: 'y' } } }],
    ['filter[statuses][0][pipeline_id]=1&filter[statuses][0][status_id]=2', { filter: { statuses: [{ pipeline_id: '1', status_id: '2' }] } }],
    // Integer keys move the append index; other keys do not.
    ['a[5]=x&a[]=y', { a: { 5: 'x', 6: 'y' } }],
    ['a[]=x&a[k]=y&a[]=z', { a: { 0: 'x', k: 'y', 1: 'z' } }],
    ['a[01]=x&a[]=y', { a: { '01': 'x', 0: 'y' } }],
    ['a[-3]=x&a[]=y', { a: { '-3': 'x', '-2': 'y' } }],
    // Scalar and array overwrite each other, whichever comes last.
    ['a=1&a[]=2', { a: ['2'] }],
    ['a[]=1&a=2', { a: '2' }],
    ['a=1&a[x]=2', { a: { x: '2' } }],
    ['a[x]=1&a[x][y]=2', { a: { x: { y: '2' } } }],
    ['a[x][y]=1&a[x]=2', { a: { x: '2' } }],
    // Top-level name: `.` and space become `_`; not inside brackets.
    ['a.b=1', { a_b: '1' }],
    ['a+b=1', { a_b: '1' }],
    ['a%20b=1', { a_b: '1' }],
    ['a.b[c.d]=1', { a_b: { 'c.d': '1' } }],
    ['%20%20a=1', { a: '1' }],
    ['a]b=1', { 'a]b': '1' }],
    // An unmatched `[`: first level → `_` and a plain name; deeper → the rest is dropped.
    ['a[b=1', { a_b: '1' }],
    ['a[b.c d=1', { a_b_c_d: '1' }],
    ['a[b[c=1', { a_b_c: '1' }],
    ['a[x][y=1', { a: { x: '1' } }],
    ['a[][y=1', { a: ['1'] }],
    // Parsing stops at a `]` not followed by `[`; a `[` inside a key is kept.
    ['a[b]c=1', { a: { b: '1' } }],
    ['a[b[c]=1', { a: { 'b[c': '1' } }],
    ['a[ ]=1&a[ ]=2', { a: ['1', '2'] }],
    ['a[ x]=1', { a: { ' x': '1' } }],
    // No top-level name: dropped.
    ['=1&[x]=2&b=3', { b: '3' }],
    // Decoding: + and %XX, also in names (so encoded brackets still nest); a NUL ends the name.
    ['a%5B0%5D=1&b=c+d%26e', { a: ['1'], b: 'c d&e' }],
    ['a%00b=1', { a: '1' }],
    ['?a=1', { '?a': '1' }],
  ];

  test.each(table)('%s', (input, expected) => {
    expect(parseQuery(input)).toEqual(expected);
  });

  test('keys like __proto__ stay plain data', () => {
    const r = parseQuery('__proto__=x&a[__proto__][polluted]=1');
    expect(Object.getPrototypeOf(r)).toBe(Object.prototype);
    expect(Object.keys(r)).toEqual(['__proto__', 'a']);
    expect(Object.keys(r.a as object)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  test('nesting deeper than max_input_nesting_level (64) drops the pair and deletes the variable', () => {
    const deep = (levels: number): string => `a${'[x]'.repeat(levels)}`;
    const ok = parseQuery(`${deep(64)}=1`);
    let node: unknown = ok.a;
    for (let i = 1; i < 64; i++) node = (node as Record<string, unknown>).x;
    expect(node).toEqual({ x: '1' });
    expect(parseQuery(`a=keep&b=2&${deep(65)}=1`)).toEqual({ b: '2' });
    expect(parseQuery('a[x][y]=1', { maxDepth: 1 })).toEqual({});
  });

  test('only the first max_input_vars (1000) pairs count', () => {
    const pairs = Array.from({ length: 1001 }, (_, i) => `v${i}=${i}`).join('&');
    const r = parseQuery(pairs);
    expect(Object.keys(r)).toHaveLength(1000);
    expect(r.v999).toBe('999');
    expect(r.v1000).toBeUndefined();
    expect(parseQuery('a=1&b=2&c=3', { maxVars: 2 })).toEqual({ a: '1', b: '2' });
  });
});

describe('the fake reads queries and form bodies PHP-style, end to end', () => {
  test('GET /api/v4/leads: a repeated custom-field filter keeps only the last value; the [] form takes all', async () => {
    const { f, token } = await startWithToken();
    const [a, b] = await createLeads(f, token, [candidate(1), candidate(2)]);
    const ids = async (qs: string): Promise<number[] | number> => {
      const r = await call(f, 'GET', `/api/v4/leads?${qs}`, { token });
      return r.status === 200 ? r.json._embedded.leads.map((l: { id: number }) => l.id) : r.status;
    };
    expect(await ids('filter[custom_fields_values][500]=ext-1&filter[custom_fields_values][500]=ext-2')).toEqual([b]);
    expect(await ids('filter[custom_fields_values][500][]=ext-1&filter[custom_fields_values][500][]=ext-2')).toEqual([a, b]);
    expect(await ids(`filter[id]=${a}&filter[id]=${b}`)).toEqual([b]);
    expect(await ids(`filter[id][]=${a}&filter[id][]=${b}`)).toEqual([a, b]);
    // As axios encodes it: brackets percent-encoded.
    expect(await ids(`filter%5Bid%5D%5B%5D=${a}&filter%5Bid%5D%5B%5D=${b}`)).toEqual([a, b]);
    // A dot in the top-level name is not `filter`: the filter is gone, so everything matches.
    expect(await ids(`filter.id=${a}`)).toEqual([a, b]);
  });

  test('GET /api/v4/events: repeated filter[type] and filter[entity_id] keep only the last value', async () => {
    const { f, token } = await startWithToken({ eventsOrder: 'asc' });
    const [a, b] = await createLeads(f, token, [candidate(1), candidate(2)]);
    f.setLeadStatus(a, 1003);
    f.setLeadStatus(b, 1003);
    const events = async (qs: string): Promise<Array<[string, number]> | number> => {
      const r = await call(f, 'GET', `/api/v4/events?${qs}`, { token });
      return r.status === 200 ? r.json._embedded.events.map((e: { type: string; entity_id: number }) => [e.type, e.entity_id]) : r.status;
    };
    expect(await events('filter[type]=lead_added&filter[type]=lead_status_changed')).toEqual([
      ['lead_status_changed', a],
      ['lead_status_changed', b],
    ]);
    expect(await events('filter[type][]=lead_added&filter[type][]=lead_status_changed')).toHaveLength(4);
    expect(await events(`filter[entity]=lead&filter[entity_id]=${a}&filter[entity_id]=${b}`)).toEqual([
      ['lead_added', b],
      ['lead_status_changed', b],
    ]);
    expect(await events(`filter[entity]=lead&filter[entity_id][]=${a}&filter[entity_id][]=${b}`)).toHaveLength(4);
  });

  test('token endpoint, form body: a repeated field keeps only its last value', async () => {
    const f = await start({ clientId: CLIENT.client_id, clientSecret: CLIENT.client_secret });
    const form: Array<[string, string]> = [
      ['client_id', CLIENT.client_id],
      ['client_secret', 'wrong'],
      ['client_secret', CLIENT.client_secret],
      ['grant_type', 'refresh_token'],
      ['grant_type', 'authorization_code'],
      ['code', f.issueCode()],
    ];
    const r = await call(f, 'POST', '/oauth2/access_token', { form });
    expect(r.status).toBe(200);
    expect(f.stats()).toMatchObject({ codeExchanges: 1, refreshes: 0 });
    expect(f.requests[0].body).toEqual({ client_id: CLIENT.client_id, client_secret: CLIENT.client_secret, grant_type: 'authorization_code', code: expect.any(String) });
  });
});
