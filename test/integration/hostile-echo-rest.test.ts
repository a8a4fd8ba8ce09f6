import type { ClientRuntime } from '../../src/delivery/client-runtime';
import { RedisAdapterStore } from '../../src/channel/redis-store';
import { Keys } from '../../src/queue/keys';
import { startFakeRestCrm, type FakeRestCrm, type FakeRestCrmAuth, type FakeRestCrmOptions } from '../support/fake-rest-crm';
import { eventually, restClient, startHarness, type Harness } from '../support/harness';
import { collectOutputs, hostileLead } from '../support/hostile';
import { describeLeaks, findLeaks, type Sensitive } from '../support/leak-scan';
import { redisClient } from '../support/redis';

/**
 * A REST CRM that echoes everything it receives — every header (Authorization, Cookie, X-Api-Key),
 * the whole body — in every answer, whatever the status. A lead goes through EVERY failure path, for
 * every auth mode; then every output a person can read is scanned for every personal value of every
 * lead and for every secret. Right value: zero hits everywhere, except that the failed-lead listing
 * may show the CRM's words about a lead (names allowed there); secrets never, there either.
 */

const SECRET = {
  bearer: 'bearer-secret-Qm9vZ2llV29vZ2ll',
  apiKey: 'xkey-secret-7c1d2e3f4a5b6c7d',
  cookie: 'sid=cookie-secret-3f9a8b7c6d5e',
  basicPassword: 'basic-pass-Zx9Yw8Vu7',
  loginPassword: 'login-pass-Kq2Lw3Me4',
};
const USER = 'svc-hostile';

interface Mode {
  name: string;
  fake: FakeRestCrmAuth;
  client: Record<string, unknown>;
  env: Record<string, string>;
  secrets: Sensitive[];
}

const MODES: Mode[] = [
  {
    name: 'bearer',
    fake: { mode: 'bearer', token: SECRET.bearer },
    client: { type: 'bearer', token: 'env:HOSTILE_SECRET' },
    env: { HOSTILE_SECRET: SECRET.bearer },
    secrets: [{ label: 'bearer token', value: SECRET.bearer }],
  },
  {
    name: 'header',
    fake: { mode: 'header', header: 'X-Api-Key', value: SECRET.apiKey },
    client: { type: 'header', header: 'X-Api-Key', value: 'env:HOSTILE_SECRET' },
    env: { HOSTILE_SECRET: SECRET.apiKey },
    secrets: [{ label: 'X-Api-Key value', value: SECRET.apiKey }],
  },
  {
    name: 'cookie',
    fake: { mode: 'header', header: 'Cookie', value: SECRET.cookie },
    client: { type: 'header', header: 'Cookie', value: 'env:HOSTILE_SECRET' },
    env: { HOSTILE_SECRET: SECRET.cookie },
    secrets: [{ label: 'session cookie', value: SECRET.cookie.slice('sid='.length) }],
  },
  {
    name: 'basic',
    fake: { mode: 'basic', username: USER, password: SECRET.basicPassword },
    client: { type: 'basic', username: USER, password: 'env:HOSTILE_SECRET' },
    env: { HOSTILE_SECRET: SECRET.basicPassword },
    secrets: [
      { label: 'basic password', value: SECRET.basicPassword },
      { label: 'basic credentials (base64)', value: Buffer.from(`${USER}:${SECRET.basicPassword}`).toString('base64') },
    ],
  },
  {
    // No refresh endpoint: a 401 makes the session log in again (the password goes out again).
    name: 'login',
    fake: { mode: 'login', username: USER, password: SECRET.loginPassword },
    client: { type: 'login', username: USER, password: 'env:HOSTILE_SECRET', login: { path: '/auth/login' }, expiresInPath: 'expires_in' },
    env: { HOSTILE_SECRET: SECRET.loginPassword },
    secrets: [{ label: 'login password', value: SECRET.loginPassword }],
  },
  {
    // With a refresh endpoint: a 401 makes the session refresh (the refresh token goes out, a new pair comes back).
    name: 'refresh',
    fake: { mode: 'login', username: USER, password: SECRET.loginPassword },
    client: {
      type: 'login',
      username: USER,
      password: 'env:HOSTILE_SECRET',
      login: { path: '/auth/login' },
      refreshTokenPath: 'refresh_token',
      expiresInPath: 'expires_in',
      refresh: { path: '/auth/refresh' },
    },
    env: { HOSTILE_SECRET: SECRET.loginPassword },
    secrets: [{ label: 'login password', value: SECRET.loginPassword }],
  },
];

type Wait = (rt: ClientRuntime, crm: FakeRestCrm, h: Harness) => Promise<unknown>;

interface Path {
  name: string;
  fake?: Partial<FakeRestCrmOptions>;
  arm?: (crm: FakeRestCrm) => void;
  client?: (c: Record<string, unknown>) => Record<string, unknown>;
  /** The state the client must reach before outputs are read. */
  until: Wait;
}

const CREATE = { method: 'POST', path: /^\/api\/candidates$/ };
const MANY = 100_000;

const pausedWith = (reason: string): Wait => (rt) =>
  eventually(async () => {
    const s = await rt.status();
    return s.circuit.state === 'open' && s.circuit.reason === reason ? s : null;
  }, `${rt.clientId} paused with reason ${reason}`);

const delivered: Wait = (rt) => eventually(async () => (await rt.queue.getJobCounts('completed')).completed === 1, `${rt.clientId}: the lead delivered`);

const settingsOf = (c: Record<string, unknown>) => c.settings as Record<string, unknown>;
const withSettings = (c: Record<string, unknown>, over: Record<string, unknown>) => ({ ...c, settings: { ...settingsOf(c), ...over } });

const PATHS: Path[] = [
  { name: 'forbidden', arm: (crm) => crm.injectFault({ type: 'status', status: 403 }, { times: MANY, match: CREATE }), until: pausedWith('auth') },
  {
    // Login mode: the 401 makes the session log in again, and the retry meets the 401 again.
    name: 'unauthorized',
    arm: (crm) => crm.injectFault({ type: 'unauthorized' }, { times: MANY, match: CREATE }),
    until: pausedWith('auth'),
  },
  { name: 'payment', arm: (crm) => crm.injectFault({ type: 'status', status: 402 }, { times: MANY, match: CREATE }), until: pausedWith('account') },
  {
    // 5xx until the circuit opens; then every probe (the ping) fails too, with the echo.
    name: 'outage',
    arm: (crm) => crm.injectFault({ type: 'status', status: 503 }, { times: MANY, match: { path: /^\/api\// } }),
    until: async (rt, crm) => {
      await pausedWith('transient')(rt, crm, undefined as never);
      return eventually(() => crm.requests.filter((r) => r.path === '/api/ping' && r.status === 503).length >= 2, `${rt.clientId}: two failed probes`, 20_000);
    },
  },
  {
    name: 'rejected',
    fake: { acceptedPhonePrefixes: ['+1'] },
    until: (rt) => eventually(async () => (await rt.queue.getJobCounts('failed')).failed === 1, `${rt.clientId}: the lead rejected`),
  },
  { name: 'shape', arm: (crm) => crm.injectFault({ type: 'shape' }, { match: CREATE }), until: pausedWith('contract') },
  {
    name: 'timeout',
    arm: (crm) => crm.injectFault({ type: 'timeout' }, { match: CREATE }),
    client: (c) => withSettings(c, { timeoutMs: 500 }),
    until: delivered,
  },
  { name: 'ratelimited', arm: (crm) => crm.injectFault({ type: 'rate-limit', retryAfter: '1' }, { match: CREATE }), until: delivered },
  {
    // The create times out, so the retry looks the lead up first: the lookup is refused (400, echoed).
    name: 'lookup',
    fake: { lookupRequiredParams: { fields: 'id,external_id' } },
    arm: (crm) => crm.injectFault({ type: 'timeout' }, { match: CREATE }),
    client: (c) => withSettings(c, { timeoutMs: 500 }),
    until: pausedWith('contract'),
  },
];

/** Every secret the fake saw or handed out: Authorization headers, token fields of bodies, the stored session. */
async function observedSecrets(h: Harness, crms: Map<string, FakeRestCrm>): Promise<Sensitive[]> {
  const out: Sensitive[] = [];
  const redis = redisClient();
  try {
    for (const [id, crm] of crms) {
      for (const r of crm.requests) {
        const auth = r.headers.authorization;
        const token = auth && /^Bearer\s+(\S+)/i.exec(auth)?.[1];
        if (token) out.push({ label: `access token sent to ${id}`, value: token });
        const body = r.body as Record<string, unknown> | undefined;
        if (body && typeof body === 'object' && typeof body.refresh_token === 'string') out.push({ label: `refresh token sent to ${id}`, value: body.refresh_token });
      }
      const store = new RedisAdapterStore(redis, new Keys(h.prefix).store(id), h.config.tokenEncryptionKey);
      const session = await store.get('rest-login').catch(() => null);
      if (session) {
        const s = JSON.parse(session) as { accessToken: string; refreshToken?: string };
        out.push({ label: `stored access token of ${id}`, value: s.accessToken });
        if (s.refreshToken) out.push({ label: `stored refresh token of ${id}`, value: s.refreshToken });
      }
    }
  } finally {
    redis.disconnect();
  }
  return out;
}

// The modes run side by side (each with its own service and CRMs): most of a run is waiting for
// circuits and probes, so this keeps the whole file to the length of one mode.
test.concurrent.each(MODES)('echoing REST CRM, $name auth: every failure path, nothing personal or secret in any output', async (mode) => {
  let h: Harness | undefined;
  const crms = new Map<string, FakeRestCrm>();
  try {
    const clients: Record<string, unknown>[] = [];
    for (const p of PATHS) {
      const id = `${mode.name}-${p.name}`;
      const crm = await startFakeRestCrm({ auth: mode.fake, echo: true, ...p.fake });
      crms.set(id, crm);
      p.arm?.(crm);
      let c = restClient(id, crm.url, {
        circuit: { failureThreshold: 2, cooldown: '1s', maxCooldown: '1s' },
        mapping: {
          external_id: 'leadId',
          first_name: 'candidate.firstName',
          last_name: 'candidate.lastName',
          middle_name: 'candidate.middleName',
          phone: 'candidate.phone',
          email: 'candidate.email',
          comment: 'comment',
          vacancy: 'vacancy.title',
        },
      });
      c = withSettings(c, { auth: mode.client });
      clients.push(p.client ? p.client(c) : c);
    }
    h = await startHarness({ clients, env: mode.env });
    const personal: Sensitive[] = [];
    for (const c of clients) {
      const { lead, personal: values } = hostileLead(String(c.id));
      personal.push(...values);
      expect((await h.post(lead)).status).toBe(202);
    }
    const harness = h;
    await Promise.all(PATHS.map((p) => p.until(harness.svc.supervisor!.runtime(`${mode.name}-${p.name}`)!, crms.get(`${mode.name}-${p.name}`)!, harness)));
    if (mode.name === 'login') expect(crms.get('login-unauthorized')!.stats().logins).toBeGreaterThanOrEqual(2);
    if (mode.name === 'refresh') expect(crms.get('refresh-unauthorized')!.stats().refreshes).toBeGreaterThanOrEqual(1);

    const outputs = await collectOutputs(h, clients.map((c) => String(c.id)));
    const secrets = [...mode.secrets, ...(await observedSecrets(h, crms))];

    // The CRM's words stay where support looks: the rejection's reason in the failed listing, and the
    // whole echo (the candidate included: the scan can see it) in the story of a paused client's lead.
    expect(outputs.failedListings[`lead-export failed ${mode.name}-rejected --json`]).toMatch(/rejected by the CRM.*phone/);
    const forbidden = outputs.jobStories[Object.keys(outputs.jobStories).find((k) => k.includes(`${mode.name}-forbidden.`))!];
    expect(forbidden).toContain('HTTP 403');
    expect(findLeaks({ forbidden }, personal).length).toBeGreaterThan(0);
    if (process.env.HOSTILE_DUMP) console.log(JSON.stringify(outputs, null, 1));

    const clientLevel = findLeaks(outputs.clientLevel, [...personal, ...secrets]);
    expect(describeLeaks(clientLevel)).toBe('');
    const anywhere = findLeaks({ ...outputs.failedListings, ...outputs.jobStories }, secrets);
    expect(describeLeaks(anywhere)).toBe('');
  } finally {
    await h?.close();
    await Promise.all([...crms.values()].map((c) => c.close()));
  }
});
