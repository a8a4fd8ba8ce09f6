import http from 'node:http';
import type { Socket } from 'node:net';
import { startFakeAmo, type FakeAmo, type FakeAmoOptions } from '../support/fake-amocrm';

// The fake is exercised only over real HTTP, the way the adapter will see it.

export interface Res {
  status: number;
  headers: Headers;
  text: string;
  // Loose on purpose: assertions pin the shapes exactly.
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export interface CallInit {
  token?: string;
  body?: unknown;
  /** Sent form-encoded; a list of pairs keeps repeated keys. */
  form?: Record<string, string> | Array<[string, string]>;
  signal?: AbortSignal;
}

export async function call(f: FakeAmo, method: string, path: string, init: CallInit = {}): Promise<Res> {
  const headers: Record<string, string> = {};
  let body: string | undefined;
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  if (init.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(init.form).toString();
  } else if (init.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(init.body);
  }
  const res = await fetch(f.url + path, { method, headers, body, signal: init.signal });
  const text = await res.text();
  const ct = res.headers.get('content-type') ?? '';
  return { status: res.status, headers: res.headers, text, json: text && ct.includes('json') ? JSON.parse(text) : undefined };
}

export const CLIENT = { client_id: 'cid', client_secret: 'secret', redirect_uri: 'https://example.com/cb' };

export const OAUTH_TYPE = 'https://developers.amocrm.ru/v3/errors/OAuthProblemJson';

export async function login(f: FakeAmo): Promise<{ access: string; refresh: string }> {
  const r = await call(f, 'POST', '/oauth2/access_token', {
    body: { ...CLIENT, grant_type: 'authorization_code', code: f.issueCode() },
  });
  expect(r.status).toBe(200);
  return { access: r.json.access_token, refresh: r.json.refresh_token };
}

export function refresh(f: FakeAmo, refreshToken: string): Promise<Res> {
  return call(f, 'POST', '/oauth2/access_token', { body: { ...CLIENT, grant_type: 'refresh_token', refresh_token: refreshToken } });
}

/** A clock a test steps by hand (epoch ms), for the fake's `clock` option. */
export function manualClock(start = Date.now()): { now: () => number; advance: (ms: number) => void; set: (ms: number) => void } {
  let t = start;
  return {
    now: () => t,
    advance: (ms) => {
      t += ms;
    },
    set: (ms) => {
      t = ms;
    },
  };
}

/**
 * Starts fakes for one test file and closes them after each test. Most tests are not about the
 * rate limit, so they get a roomy one.
 */
export function useFakeAmo(): {
  start(opts?: FakeAmoOptions): Promise<FakeAmo>;
  startWithToken(opts?: FakeAmoOptions): Promise<{ f: FakeAmo; token: string }>;
} {
  const open: FakeAmo[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((f) => f.close()));
  });
  const start = async (opts: FakeAmoOptions = {}): Promise<FakeAmo> => {
    const f = await startFakeAmo({ rateLimit: { requests: 10_000, windowMs: 1000 }, ...opts });
    open.push(f);
    return f;
  };
  return {
    start,
    async startWithToken(opts: FakeAmoOptions = {}) {
      const f = await start({ clientId: CLIENT.client_id, clientSecret: CLIENT.client_secret, redirectUri: CLIENT.redirect_uri, ...opts });
      return { f, token: (await login(f)).access };
    },
  };
}

export function candidate(i: number, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: `Отклик ${i}`,
    created_at: 1767225600 + i,
    request_id: `req-${i}`,
    custom_fields_values: [
      { field_id: 500, values: [{ value: `ext-${i}` }] },
      { field_id: 501, values: [{ value: 'Курьер' }] },
      { field_code: 'UTM_SOURCE', values: [{ value: 'hh' }] },
    ],
    _embedded: {
      tags: [{ name: 'hh.ru' }],
      contacts: [
        {
          first_name: 'Иван',
          last_name: `Петров${i}`,
          custom_fields_values: [
            { field_code: 'PHONE', values: [{ value: `+7912000${String(i).padStart(4, '0')}`, enum_code: 'WORK' }] },
            { field_code: 'EMAIL', values: [{ value: `c${i}@example.com`, enum_code: 'WORK' }] },
          ],
        },
      ],
    },
    ...over,
  };
}

/** Creates leads through the complex endpoint and returns their ids in order. */
export async function createLeads(f: FakeAmo, token: string, leads: Array<Record<string, unknown>>): Promise<number[]> {
  const r = await call(f, 'POST', '/api/v4/leads/complex', { token, body: leads });
  expect(r.status).toBe(200);
  return r.json.map((x: { id: number }) => x.id);
}

export interface AgentAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  socket: Socket;
  /** performance.now() when the response ended. */
  endedAt: number;
}

/** GET /api/v4/account, or POST /api/v4/leads/complex with a body, through the given http.Agent. */
export function agentSend(agent: http.Agent, f: FakeAmo, token: string, body?: unknown): Promise<AgentAnswer> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      `${f.url}${payload ? '/api/v4/leads/complex' : '/api/v4/account'}`,
      {
        agent,
        method: payload ? 'POST' : 'GET',
        headers: { authorization: `Bearer ${token}`, ...(payload ? { 'content-type': 'application/json' } : {}) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, socket: req.socket as Socket, endedAt: performance.now() }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}
