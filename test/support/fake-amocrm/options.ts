import type { FakeAmoOptions } from './types';

const DAY_S = 24 * 3600;

/** Real time in epoch ms, with sub-ms precision (the rate limiter compares arrival times). */
export const realClock = (): number => performance.timeOrigin + performance.now();

/** The options with every default filled in; a nonsensical value throws, naming the option. */
export type ResolvedOptions = Required<Omit<FakeAmoOptions, 'redirectUri' | 'dropIdleConnectionsAfterMs' | 'pipelines' | 'leadCustomFields' | 'contactCustomFields'>> &
  Pick<FakeAmoOptions, 'redirectUri' | 'dropIdleConnectionsAfterMs' | 'pipelines' | 'leadCustomFields' | 'contactCustomFields'>;

export function resolveOptions(o: FakeAmoOptions): ResolvedOptions {
  const nonNegative = (name: keyof FakeAmoOptions, v: number | undefined): void => {
    if (v !== undefined && !(Number.isFinite(v) && v >= 0)) throw new Error(`fake amoCRM: option ${name} must be a number ≥ 0, got ${String(v)}`);
  };
  const positive = (name: keyof FakeAmoOptions, v: number | undefined): void => {
    if (v !== undefined && !(Number.isFinite(v) && v > 0)) throw new Error(`fake amoCRM: option ${name} must be a number > 0, got ${String(v)}`);
  };
  nonNegative('port', o.port);
  positive('accessTtlSeconds', o.accessTtlSeconds);
  positive('refreshTtlSeconds', o.refreshTtlSeconds);
  nonNegative('latencyMs', o.latencyMs);
  nonNegative('keepAliveTimeoutMs', o.keepAliveTimeoutMs);
  nonNegative('dropIdleConnectionsAfterMs', o.dropIdleConnectionsAfterMs);
  nonNegative('webhookBatchMs', o.webhookBatchMs);
  positive('webhookTimeoutMs', o.webhookTimeoutMs);
  positive('webhookRetryScale', o.webhookRetryScale);
  if (o.eventsOrder !== undefined && !['asc', 'desc', 'shuffled'].includes(o.eventsOrder)) {
    throw new Error(`fake amoCRM: option eventsOrder must be 'asc', 'desc' or 'shuffled', got ${JSON.stringify(o.eventsOrder)}`);
  }
  if (o.clock !== undefined && typeof o.clock !== 'function') throw new Error('fake amoCRM: option clock must be a function returning epoch ms');
  return {
    ...o,
    port: o.port ?? 0,
    subdomain: o.subdomain ?? 'testco',
    accountId: o.accountId ?? 29_000_001,
    clientId: o.clientId ?? 'fake-client-id',
    clientSecret: o.clientSecret ?? 'fake-client-secret',
    accessTtlSeconds: o.accessTtlSeconds ?? DAY_S,
    refreshTtlSeconds: o.refreshTtlSeconds ?? 90 * DAY_S,
    rateLimit: o.rateLimit ?? { requests: 7, windowMs: 1000 },
    rateLimitBody: o.rateLimitBody ?? 'html',
    rateLimitRetryAfterSeconds: o.rateLimitRetryAfterSeconds ?? 1,
    blockAfterViolations: o.blockAfterViolations ?? 20,
    blockWindowMs: o.blockWindowMs ?? 60_000,
    blockDurationMs: o.blockDurationMs ?? 600_000,
    duplicateControl: o.duplicateControl ?? false,
    latencyMs: o.latencyMs ?? 0,
    customFieldFilter: o.customFieldFilter ?? true,
    eventsOrder: o.eventsOrder ?? 'shuffled',
    // A forgetting peer must not close its connections cleanly first.
    keepAliveTimeoutMs: o.keepAliveTimeoutMs ?? (o.dropIdleConnectionsAfterMs !== undefined ? 0 : 5000),
    webhookBatchMs: o.webhookBatchMs ?? 100,
    webhookTimeoutMs: o.webhookTimeoutMs ?? 2000,
    webhookRetryScale: o.webhookRetryScale ?? 1,
    echo: o.echo ?? false,
    clock: o.clock ?? realClock,
  };
}
