import type { ClientRuntime } from '../../src/delivery/client-runtime';
import { RedisAdapterStore } from '../../src/channel/redis-store';
import { Keys } from '../../src/queue/keys';
import { TOKENS_KEY } from '../../adapters/amocrm/oauth';
import { SELECT_VACANCY_FIELDS } from '../support/amocrm-fixtures';
import { startFakeAmo, type FakeAmo, type FakeAmoOptions } from '../support/fake-amocrm';
import { eventually, startHarness, type Harness } from '../support/harness';
import { cli, collectOutputs, hostileLead } from '../support/hostile';
import { describeLeaks, findLeaks, type Sensitive } from '../support/leak-scan';
import { redisClient } from '../support/redis';

/**
 * The amoCRM side of the leak test (see hostile-echo-rest.test.ts): an amoCRM behind something that
 * echoes every request — the bearer token, the token endpoint's client_secret, code and refresh
 * token, the candidate — in every answer. A lead goes through every failure path; then every output
 * is scanned for every personal value and every secret.
 */

const OAUTH = { clientId: 'amo-hostile-cid', clientSecret: 'amo-client-secret-Hs7Kd9Lq2', redirectUri: 'https://hrdrom.test/amocrm' };
const ENV = { AMO_HOSTILE_SECRET: OAUTH.clientSecret };
const MANY = 100_000;
const COMPLEX = { method: 'POST', path: /^\/api\/v4\/leads\/complex$/ };

type Wait = (rt: ClientRuntime, f: FakeAmo) => Promise<unknown>;

interface Path {
  name: string;
  fake?: Partial<FakeAmoOptions>;
  /** Armed after the client is connected (so the code exchange itself goes through). */
  arm?: (f: FakeAmo) => void;
  settings?: Record<string, unknown>;
  vacancy?: string;
  until: Wait;
}

const pausedWith = (reason: string): Wait => (rt) =>
  eventually(async () => {
    const s = await rt.status();
    return s.circuit.state === 'open' && s.circuit.reason === reason ? s : null;
  }, `${rt.clientId} paused with reason ${reason}`);
const delivered: Wait = (rt) => eventually(async () => (await rt.queue.getJobCounts('completed')).completed === 1, `${rt.clientId}: the lead delivered`);

const PATHS: Path[] = [
  { name: 'blocked', arm: (f) => f.injectFault({ type: 'status', status: 403 }, { times: MANY, match: COMPLEX }), until: pausedWith('blocked') },
  // Every token revoked: the 401 makes the session refresh, and the refresh is refused (echoing client_secret and the refresh token).
  { name: 'unauthorized', arm: (f) => f.revokeAllTokens(), until: pausedWith('auth') },
  { name: 'payment', arm: (f) => f.injectFault({ type: 'status', status: 402 }, { times: MANY, match: COMPLEX }), until: pausedWith('account') },
  {
    // An empty 503 from the gateway: the echo is then the whole body, which the adapter keeps as the CRM's words.
    name: 'outage',
    arm: (f) => f.injectFault({ type: 'status', status: 503, body: 'empty' }, { times: MANY }),
    until: async (rt, f) => {
      await pausedWith('transient')(rt, f);
      return eventually(() => f.requests.filter((r) => r.path === '/api/v4/account' && r.status === 503).length >= 2, `${rt.clientId}: two failed probes`, 20_000);
    },
  },
  { name: 'rejected', vacancy: 'Сварщик', until: (rt) => eventually(async () => (await rt.queue.getJobCounts('failed')).failed === 1, `${rt.clientId}: the lead rejected`) },
  { name: 'shape', arm: (f) => f.injectFault({ type: 'shape' }, { match: COMPLEX }), until: pausedWith('contract') },
  { name: 'timeout', arm: (f) => f.injectFault({ type: 'timeout' }, { match: COMPLEX }), settings: { timeoutMs: 500 }, until: delivered },
  { name: 'ratelimited', arm: (f) => f.injectFault({ type: 'status', status: 429 }, { match: COMPLEX }), until: delivered },
  {
    // The create times out, so the retry looks the lead up first: the lookup is refused.
    name: 'lookup',
    arm: (f) => {
      f.injectFault({ type: 'timeout' }, { match: COMPLEX });
      f.injectFault({ type: 'status', status: 400 }, { times: MANY, match: { method: 'GET', path: /^\/api\/v4\/leads$/ } });
    },
    settings: { timeoutMs: 500 },
    until: pausedWith('contract'),
  },
];

function amoClient(id: string, url: string, settings: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id,
    name: `amoCRM ${id}`,
    adapter: 'amocrm',
    rateLimit: { requests: 7, perSeconds: 1 },
    batch: { size: 50, linger: '20ms' },
    retry: { initialDelay: '200ms', maxDelay: '1s', jitter: 0.2, uncertainGrace: '300ms' },
    circuit: { failureThreshold: 2, cooldown: '1s', maxCooldown: '1s' },
    settings: {
      baseUrl: url,
      auth: { type: 'oauth', clientId: OAUTH.clientId, clientSecret: 'env:AMO_HOSTILE_SECRET', redirectUri: OAUTH.redirectUri },
      pipelineId: 1000,
      statusId: 1002,
      timeoutMs: 5_000,
      ...settings,
    },
    mapping: {
      fields: { externalId: 500, vacancy: 501, city: 502, source: 503, utmSource: 510, utmMedium: 511, utmCampaign: 512 },
      tags: ['hrdrom', { from: 'source.channel' }],
    },
  };
}

/** Every credential that crossed the wire or sits in the store: codes, access and refresh tokens. */
async function observedSecrets(h: Harness, fakes: Map<string, FakeAmo>, codes: string[]): Promise<Sensitive[]> {
  const out: Sensitive[] = [{ label: 'client secret', value: OAUTH.clientSecret }, ...codes.map((value) => ({ label: 'authorization code', value }))];
  const redis = redisClient();
  try {
    for (const [id, f] of fakes) {
      for (const r of f.requests) {
        const token = /^Bearer\s+(\S+)/i.exec(String(r.headers.authorization ?? ''))?.[1];
        if (token) out.push({ label: `access token sent to ${id}`, value: token });
        const body = r.body as Record<string, unknown> | undefined;
        if (body && typeof body === 'object' && typeof body.refresh_token === 'string') out.push({ label: `refresh token sent to ${id}`, value: body.refresh_token });
      }
      const raw = await new RedisAdapterStore(redis, new Keys(h.prefix).store(id), h.config.tokenEncryptionKey).get(TOKENS_KEY).catch(() => null);
      if (raw) {
        const s = JSON.parse(raw) as { accessToken: string; refreshToken?: string };
        out.push({ label: `stored access token of ${id}`, value: s.accessToken });
        if (s.refreshToken) out.push({ label: `stored refresh token of ${id}`, value: s.refreshToken });
      }
    }
  } finally {
    redis.disconnect();
  }
  return out;
}

describe('echoing amoCRM, OAuth: nothing personal or secret in any output', () => {
  let h: Harness | undefined;
  const fakes = new Map<string, FakeAmo>();

  afterEach(async () => {
    await h?.close();
    h = undefined;
    await Promise.all([...fakes.values()].map((f) => f.close()));
    fakes.clear();
  });

  test('every failure path', async () => {
    const clients: Record<string, unknown>[] = [];
    for (const p of PATHS) {
      const id = `amo-${p.name}`;
      const f = await startFakeAmo({ ...OAUTH, echo: true, leadCustomFields: SELECT_VACANCY_FIELDS, ...p.fake });
      fakes.set(id, f);
      clients.push(amoClient(id, f.url, p.settings));
    }
    h = await startHarness({ clients, env: ENV });
    const codes: string[] = [];
    const cliOutput: Record<string, string> = {};
    for (const p of PATHS) {
      const id = `amo-${p.name}`;
      const code = fakes.get(id)!.issueCode();
      codes.push(code);
      const connected = await cli(h, ['amocrm', 'connect', id, '--code', code], ENV);
      expect(connected.out).toMatch(/tokens stored/);
      cliOutput[`lead-export amocrm connect ${id}`] = connected.out + connected.err;
      p.arm?.(fakes.get(id)!);
    }
    const personal: Sensitive[] = [];
    for (const p of PATHS) {
      const { lead, personal: values } = hostileLead(`amo-${p.name}`, p.vacancy ? { vacancy: { id: 'v-9', title: p.vacancy, city: 'Moscow' } } : {});
      personal.push(...values);
      expect((await h.post(lead)).status).toBe(202);
    }
    const harness = h;
    await Promise.all(PATHS.map((p) => p.until(harness.svc.supervisor!.runtime(`amo-${p.name}`)!, fakes.get(`amo-${p.name}`)!)));

    const outputs = await collectOutputs(h, PATHS.map((p) => `amo-${p.name}`));
    Object.assign(outputs.clientLevel, cliOutput);
    const secrets = await observedSecrets(h, fakes, codes);
    // The refused refresh really went out, and its answer echoed the client secret back.
    expect(fakes.get('amo-unauthorized')!.requests.some((r) => r.path === '/oauth2/access_token' && r.status === 401)).toBe(true);

    // The CRM's words stay where support looks.
    expect(outputs.failedListings['lead-export failed amo-rejected --json']).toMatch(/NotSupportedChoice/);
    const blocked = outputs.jobStories[Object.keys(outputs.jobStories).find((k) => k.startsWith('job amo-blocked.'))!];
    expect(blocked).toContain('HTTP 403');

    expect(describeLeaks(findLeaks(outputs.clientLevel, [...personal, ...secrets]))).toBe('');
    expect(describeLeaks(findLeaks({ ...outputs.failedListings, ...outputs.jobStories }, secrets))).toBe('');
  });
});
