import http from 'node:http';
import { eventually } from '../support/harness';
import { call, candidate, createLeads, useFakeAmo } from './amocrm-client';

const { startWithToken } = useFakeAmo();

describe('faults', () => {
  test('status faults answer in each dialect, then pass', async () => {
    const { f, token } = await startWithToken();
    f.injectFault({ type: 'status', status: 500 });
    const e500 = await call(f, 'GET', '/api/v4/account', { token });
    expect(e500.status).toBe(500);
    expect(e500.json).toMatchObject({ title: 'ErrInternalServer', status: 500, trace_id: expect.any(String) });
    expect((await call(f, 'GET', '/api/v4/account', { token })).status).toBe(200);

    f.injectFault({ type: 'status', status: 402 });
    expect((await call(f, 'GET', '/api/v4/account', { token })).json).toEqual({
      title: 'Payment Required',
      type: 'https://httpstatus.es/402',
      status: 402,
      detail: 'Payment required',
    });
    f.injectFault({ type: 'status', status: 403 }, { times: 2 });
    const forbidden = await call(f, 'GET', '/api/v4/account', { token });
    expect(forbidden.text).toContain('403 Forbidden');
    expect((await call(f, 'GET', '/api/v4/account', { token })).status).toBe(403);
    f.injectFault({ type: 'status', status: 504, body: 'empty' });
    const gw = await call(f, 'GET', '/api/v4/account', { token });
    expect([gw.status, gw.text]).toEqual([504, '']);
    f.injectFault({ type: 'status', status: 502 }, { match: { path: /oauth2/ } });
    expect((await call(f, 'GET', '/api/v4/account', { token })).status).toBe(200);
    const oauth = await call(f, 'POST', '/oauth2/access_token', { body: {} });
    expect(oauth.status).toBe(502);
    expect(f.requests.at(-1)).toMatchObject({ status: 502, fault: 'status', path: '/oauth2/access_token' });
  });

  test('reset and timeout never answer', async () => {
    const { f, token } = await startWithToken();
    f.injectFault({ type: 'reset' });
    await expect(call(f, 'GET', '/api/v4/account', { token })).rejects.toThrow();
    f.injectFault({ type: 'timeout' });
    await expect(call(f, 'GET', '/api/v4/account', { token, signal: AbortSignal.timeout(200) })).rejects.toThrow();
    expect((await call(f, 'GET', '/api/v4/account', { token })).status).toBe(200);
    const faulted = f.requests.filter((r) => r.fault);
    expect(faulted.map((r) => [r.fault, r.status])).toEqual([
      ['reset', 0],
      ['timeout', 0],
    ]);
  });

  test('create-then-delay creates the lead although the client gave up', async () => {
    const { f, token } = await startWithToken();
    f.injectFault({ type: 'create-then-delay', ms: 400 });
    await expect(call(f, 'POST', '/api/v4/leads/complex', { token, body: [candidate(0)], signal: AbortSignal.timeout(150) })).rejects.toThrow();
    expect(f.leads()).toHaveLength(1);
    f.injectFault({ type: 'create-then-delay', ms: 100 });
    const started = Date.now();
    const late = await call(f, 'POST', '/api/v4/leads/complex', { token, body: [candidate(1)] });
    expect(late.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
  });

  test('shape: a 200 of the wrong shape, after doing the work', async () => {
    const { f, token } = await startWithToken();
    f.injectFault({ type: 'shape' });
    const r = await call(f, 'POST', '/api/v4/leads/complex', { token, body: [candidate(0)] });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ _embedded: { items: [] } });
    expect(f.leads()).toHaveLength(1);
  });

  test('504-if-batch-over: big batches time out at the gateway, small ones pass', async () => {
    const { f, token } = await startWithToken();
    f.injectFault({ type: '504-if-batch-over', size: 10 });
    const big = await call(f, 'POST', '/api/v4/leads/complex', { token, body: Array.from({ length: 20 }, (_, i) => candidate(i)) });
    expect(big.status).toBe(504);
    expect(big.text).toContain('504 Gateway Time-out');
    expect(f.leads()).toHaveLength(0);
    const small = await call(f, 'POST', '/api/v4/leads/complex', { token, body: Array.from({ length: 10 }, (_, i) => candidate(i)) });
    expect(small.status).toBe(200);
    expect((await call(f, 'POST', '/api/v4/leads/complex', { token, body: Array.from({ length: 11 }, (_, i) => candidate(i)) })).status).toBe(504);
    f.clearFaults();
    expect((await call(f, 'POST', '/api/v4/leads/complex', { token, body: Array.from({ length: 11 }, (_, i) => candidate(i)) })).status).toBe(200);
  });

  test('latencyMs delays every answer', async () => {
    const { f, token } = await startWithToken({ latencyMs: 80 });
    const started = Date.now();
    await call(f, 'GET', '/api/v4/account', { token });
    expect(Date.now() - started).toBeGreaterThanOrEqual(75);
    expect(f.requests.at(-1)?.durationMs).toBeGreaterThanOrEqual(75);
  });
});


describe('status faults: any 4xx/5xx, with headers', () => {
  test('503 with Retry-After, 429 as problem+json, 418 and 599 in the default dialect', async () => {
    const { f, token } = await startWithToken();
    f.injectFault({ type: 'status', status: 503, headers: { 'Retry-After': '30' } });
    const busy = await call(f, 'GET', '/api/v4/leads', { token });
    expect([busy.status, busy.headers.get('retry-after'), busy.headers.get('content-type')]).toEqual([503, '30', 'text/html']);
    expect(busy.text).toContain('<title>503 Service Temporarily Unavailable</title>');

    f.injectFault({ type: 'status', status: 429, body: 'json', headers: { 'retry-after': '5' } });
    const limited = await call(f, 'GET', '/api/v4/account', { token });
    expect(limited.json).toEqual({ title: 'Too Many Requests', type: 'https://httpstatus.es/429', status: 429, detail: 'Too Many Requests' });
    expect(limited.headers.get('retry-after')).toBe('5');

    f.injectFault({ type: 'status', status: 418 });
    expect((await call(f, 'GET', '/api/v4/account', { token })).json).toMatchObject({ status: 418, title: "I'm a Teapot" });
    f.injectFault({ type: 'status', status: 599, body: 'empty' });
    const odd = await call(f, 'GET', '/api/v4/account', { token });
    expect([odd.status, odd.text]).toEqual([599, '']);
    expect(f.requests.slice(-4).map((r) => [r.status, r.fault])).toEqual([
      [503, 'status'],
      [429, 'status'],
      [418, 'status'],
      [599, 'status'],
    ]);
  });

  test('a fault the fake cannot act out is refused at once, naming what is wrong', async () => {
    const { f } = await startWithToken();
    expect(() => f.injectFault({ type: 'status', status: 200 })).toThrow("fault 'status': status must be an integer 400–599, got 200");
    expect(() => f.injectFault({ type: 'create-then-status', status: 50.4 })).toThrow(/status must be an integer/);
    expect(() => f.injectFault({ type: 'status', status: 500, body: 'xml' as 'html' })).toThrow(/body must be/);
    expect(() => f.injectFault({ type: 'slow-body', ms: -1 })).toThrow("fault 'slow-body': ms must be a number ≥ 0, got -1");
    expect(() => f.injectFault({ type: 'endless-body' }, { times: 0 })).toThrow(/times must be a positive integer/);
    expect(() => f.injectFault({ type: 'nope' } as unknown as { type: 'reset' })).toThrow(/unknown fault type "nope"/);
  });
});

describe('create-then-status', () => {
  test('the leads are created, then the gateway answers 504 with an nginx page; other requests pass untouched', async () => {
    const { f, token } = await startWithToken();
    f.injectFault({ type: 'create-then-status', status: 504 });
    expect((await call(f, 'GET', '/api/v4/leads', { token })).status).toBe(204); // not a create: untouched
    const r = await call(f, 'POST', '/api/v4/leads/complex', { token, body: [candidate(0), candidate(1)] });
    expect([r.status, r.headers.get('content-type')]).toEqual([504, 'text/html']);
    expect(r.text).toContain('<title>504 Gateway Time-out</title>');
    expect(f.leads().map((l) => l.name)).toEqual(['Отклик 0', 'Отклик 1']);
    expect(f.requests.at(-1)).toMatchObject({ status: 504, fault: 'create-then-status' });

    f.injectFault({ type: 'create-then-status', status: 500, body: 'json', headers: { 'x-extra': '1' } });
    const e500 = await call(f, 'POST', '/api/v4/leads', { token, body: [{ name: 'plain' }] });
    expect(e500.json).toMatchObject({ title: 'ErrInternalServer', trace_id: expect.any(String) });
    expect(e500.headers.get('x-extra')).toBe('1');
    expect(f.leads()).toHaveLength(3);
  });
});

describe('slow and endless answers', () => {
  test('slow-headers: processed after the wait; a client that gave up meanwhile is dropped unprocessed', async () => {
    const { f, token } = await startWithToken();
    f.injectFault({ type: 'slow-headers', ms: 300 });
    const started = performance.now();
    const late = await call(f, 'POST', '/api/v4/leads/complex', { token, body: [candidate(0)] });
    expect(late.status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect(f.leads()).toHaveLength(1);

    f.injectFault({ type: 'slow-headers', ms: 300 }, { times: 2 });
    await expect(call(f, 'POST', '/api/v4/leads/complex', { token, body: [candidate(1)], signal: AbortSignal.timeout(100) })).rejects.toThrow();
    // Same wait, started later: when this one is answered, the abandoned one has been dealt with.
    expect((await call(f, 'POST', '/api/v4/leads/complex', { token, body: [candidate(2)] })).status).toBe(200);
    expect(f.leads().map((l) => l.name)).toEqual(['Отклик 0', 'Отклик 2']);
  });

  test('slow-body: status and headers at once, the JSON trickles in pieces over the time given', async () => {
    const { f, token } = await startWithToken();
    f.injectFault({ type: 'slow-body', ms: 400 });
    const chunks: number[] = [];
    const { status, headersAt, endAt, text } = await new Promise<{ status: number; headersAt: number; endAt: number; text: string }>((resolve, reject) => {
      const req = http.request(`${f.url}/api/v4/leads/complex`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } }, (res) => {
        const headersAt = performance.now();
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => {
          parts.push(c);
          chunks.push(c.length);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headersAt, endAt: performance.now(), text: Buffer.concat(parts).toString() }));
      });
      req.on('error', reject);
      req.end(JSON.stringify([candidate(0)]));
    });
    expect(status).toBe(200);
    expect(endAt - headersAt).toBeGreaterThanOrEqual(300);
    expect(chunks.length).toBeGreaterThan(5);
    expect(JSON.parse(text)).toEqual([{ id: f.leads()[0].id, contact_id: expect.any(Number), company_id: null, request_id: ['req-0'], merged: false }]);
    expect(f.requests.at(-1)).toMatchObject({ status: 200, fault: 'slow-body' });
  });

  test('endless-body: headers and part of the body, then nothing until the client gives up; the work is done', async () => {
    const { f, token } = await startWithToken();
    f.injectFault({ type: 'endless-body' });
    const res = await fetch(`${f.url}/api/v4/leads/complex`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify([candidate(0)]),
      signal: AbortSignal.timeout(300),
    });
    expect(res.status).toBe(200);
    await expect(res.text()).rejects.toThrow();
    expect(f.leads()).toHaveLength(1);
    expect(f.requests.at(-1)).toMatchObject({ status: 200, fault: 'endless-body' });
  });

  test('down() ends every held socket: timeout, slow-headers, slow-body and endless-body alike', async () => {
    const { f, token } = await startWithToken();
    await createLeads(f, token, [candidate(0)]);
    const held = ['timeout', 'slow-headers', 'slow-body', 'endless-body'] as const;
    for (const type of held) {
      f.injectFault(type === 'slow-headers' || type === 'slow-body' ? { type, ms: 60_000 } : { type }, { match: { path: new RegExp(`^/api/v4/leads/${type}$`) } });
    }
    // Unknown paths still reach the fault (404 would come after it): one held request per fault.
    const outcomes = held.map((type) =>
      fetch(`${f.url}/api/v4/leads/${type}`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.text()),
    );
    await eventually(() => f.requests.filter((r) => r.fault).length === held.length, 'the held requests to arrive', 5_000);
    await f.down(); // would hang forever if a socket were left open
    const settled = await Promise.allSettled(outcomes);
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected']);
  });
});
