import { randomBytes } from 'node:crypto';
import { exchangeCode } from '../../adapters/amocrm/oauth';
import { CircuitBreaker } from '../../src/flow/circuit-breaker';
import { Keys } from '../../src/queue/keys';
import { clientConfig, testChannel } from '../support/channel';
import { startFakeAmo } from '../support/fake-amocrm';
import { cleanupPrefix, redisClient, testPrefix } from '../support/redis';

/**
 * Credential upkeep (the channel's tick: amoCRM keeps its refresh token alive) sends no request when
 * nothing is due, and must not count as a sign of the CRM's health: it once closed, every second, a
 * circuit an outage had opened, so an amoCRM client in an outage was never paused and never probed.
 */
test('a tick with nothing to renew sends nothing and leaves open a circuit the outage opened', async () => {
  const OAUTH = { clientId: 'upkeep-cid', clientSecret: 'upkeep-secret-123', redirectUri: 'https://hrdrom.test/amocrm' };
  const fake = await startFakeAmo({ ...OAUTH });
  const redis = redisClient();
  const prefix = testPrefix('upkeep');
  const config = clientConfig({
    id: 'upkeep',
    name: 'upkeep',
    adapter: 'amocrm',
    circuit: { failureThreshold: 1, cooldown: '1m', maxCooldown: '1m' },
    settings: {
      baseUrl: fake.url,
      auth: { type: 'oauth', clientId: OAUTH.clientId, clientSecret: 'env:UPKEEP_SECRET', redirectUri: OAUTH.redirectUri, refreshTokenTtl: '90d' },
      pipelineId: 1000,
      statusId: 1002,
    },
    mapping: { fields: { externalId: 500 } },
  });
  const channel = testChannel(config, { redis, prefix, env: { UPKEEP_SECRET: OAUTH.clientSecret }, encryptionKey: randomBytes(32).toString('base64') });
  try {
    const { ctx, settings } = channel.adapterParts();
    await channel.asAdmin(() => exchangeCode(settings as Parameters<typeof exchangeCode>[0], fake.issueCode(), ctx));
    const breaker = new CircuitBreaker(redis, new Keys(prefix).flow('upkeep').circuit, { cooldownMs: 60_000, maxCooldownMs: 60_000 });
    await breaker.open('transient', 'create failed: HTTP 503');
    const before = fake.requests.length;
    await channel.tick(); // the first tick always runs the upkeep
    // Nothing was due, so nothing was sent: and the circuit stays open until a probe says otherwise.
    expect(fake.requests.length).toBe(before);
    expect((await channel.circuit()).state).toBe('open');
  } finally {
    await channel.close();
    await cleanupPrefix(redis, prefix);
    redis.disconnect();
    await fake.close();
  }
});
