import convict from 'convict';
import { LeadExportError } from '../domain/errors';
import { parseEncryptionKey } from './encryption-key';

/**
 * Service-wide settings, from the environment only (12-factor). Validated at start: a bad value stops
 * the process with a message that names the variable, before anything connects anywhere.
 */

convict.addFormat({
  name: 'redis-url',
  validate(value: unknown) {
    if (typeof value !== 'string' || !/^rediss?(\+cluster)?:\/\/.+/.test(value)) {
      throw new Error('must be a redis:// or rediss:// URL, or redis+cluster://host:port,host:port for a Redis Cluster');
    }
  },
});
convict.addFormat({
  name: 'optional-url',
  validate(value: unknown) {
    if (value === '') return;
    if (typeof value !== 'string' || !/^https?:\/\/[^\s]+$/.test(value)) throw new Error('must be an http(s):// URL or empty');
  },
});
convict.addFormat({
  name: 'token',
  validate(value: unknown) {
    if (value === '') return; // checked where it is required (the role that uses it)
    if (typeof value !== 'string' || value.length < 16) throw new Error('must be at least 16 characters');
  },
});
convict.addFormat({
  name: 'encryption-key',
  validate(value: unknown) {
    if (value === '') return; // required only where tokens are stored (amoCRM); said there
    if (typeof value !== 'string' || parseEncryptionKey(value) === null) throw new Error('must be 32 bytes as 64 hex digits or base64 (openssl rand -base64 32)');
  },
});
convict.addFormat({
  name: 'prefix',
  validate(value: unknown) {
    if (typeof value !== 'string' || !/^[A-Za-z0-9_-]{1,32}$/.test(value)) throw new Error('must be 1-32 characters of A-Z a-z 0-9 _ -');
  },
});

const schema = {
  redisUrl: { doc: 'Redis connection URL', format: 'redis-url', default: 'redis://127.0.0.1:6379', env: 'REDIS_URL' },
  httpPort: { doc: 'Port of the intake/admin HTTP server (0 = any free port)', format: 'port', default: 8080, env: 'HTTP_PORT' },
  httpHost: { doc: 'Address the HTTP server binds to', format: String, default: '0.0.0.0', env: 'HTTP_HOST' },
  clientsDir: { doc: 'Folder of client config files', format: String, default: 'config/clients', env: 'CLIENTS_DIR' },
  intakeToken: { doc: 'Bearer token HRDrom core sends to POST /v1/leads', format: 'token', default: '', env: 'INTAKE_TOKEN', sensitive: true },
  adminToken: { doc: 'Bearer token for the admin API', format: 'token', default: '', env: 'ADMIN_TOKEN', sensitive: true },
  metricsToken: {
    doc: 'Bearer token GET /metrics requires; empty = /metrics is open to anyone who reaches HTTP_HOST:HTTP_PORT',
    format: 'token',
    default: '',
    env: 'METRICS_TOKEN',
    sensitive: true,
  },
  hrdromUrl: { doc: 'Base URL of HRDrom core (progress write-back)', format: 'optional-url', default: '', env: 'HRDROM_URL' },
  hrdromToken: { doc: 'Token for HRDrom core', format: String, default: '', env: 'HRDROM_TOKEN', sensitive: true },
  logLevel: {
    doc: 'pino log level',
    format: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
    default: 'info',
    env: 'LOG_LEVEL',
  },
  queuePrefix: { doc: 'Prefix of every Redis key lead-export writes', format: 'prefix', default: 'le', env: 'QUEUE_PREFIX' },
  tokenEncryptionKey: {
    doc: 'Key (32 bytes, base64 or hex) that encrypts stored CRM tokens at rest',
    format: 'encryption-key',
    default: '',
    env: 'TOKEN_ENCRYPTION_KEY',
    sensitive: true,
  },
  configReloadMs: { doc: 'How often client files are re-read (ms)', format: 'nat', default: 2000, env: 'CONFIG_RELOAD_MS' },
  shutdownTimeoutMs: { doc: 'How long shutdown waits for in-flight deliveries (ms)', format: 'nat', default: 20000, env: 'SHUTDOWN_TIMEOUT_MS' },
  workerIdleMs: {
    doc: 'A client worker with no work for this long is closed, so idle clients hold no Redis connections (ms)',
    format: 'nat',
    default: 60000,
    env: 'WORKER_IDLE_MS',
  },
  workerLockMs: {
    doc: 'Lock lifetime of an active delivery (ms); after a crashed worker, its leads are picked up within about twice this',
    format: 'nat',
    default: 60000,
    env: 'WORKER_LOCK_MS',
  },
  idempotencyTtlDays: {
    doc: 'How long an accepted lead id is remembered, so a repeat is not delivered again (days)',
    format: 'nat',
    default: 90,
    env: 'IDEMPOTENCY_TTL_DAYS',
  },
};

export interface ServiceConfig {
  redisUrl: string;
  httpPort: number;
  httpHost: string;
  clientsDir: string;
  intakeToken: string;
  adminToken: string;
  metricsToken: string;
  hrdromUrl: string;
  hrdromToken: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  queuePrefix: string;
  tokenEncryptionKey: string;
  configReloadMs: number;
  shutdownTimeoutMs: number;
  workerLockMs: number;
  workerIdleMs: number;
  idempotencyTtlDays: number;
}

/** Reads and validates the service config; throws a `config` error naming every bad variable. */
export function loadServiceConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<ServiceConfig> = {}): ServiceConfig {
  const cfg = convict<ServiceConfig>(schema as unknown as convict.Schema<ServiceConfig>, { env, args: [] });
  try {
    // Explicit overrides (the demo, tests, benchmarks) win over the environment: convict ranks
    // set() above env, whereas load() ranks below it.
    for (const [k, v] of Object.entries(overrides)) if (v !== undefined) cfg.set(k as keyof ServiceConfig, v as never);
    cfg.validate({ allowed: 'strict' });
  } catch (err) {
    // convict names the key (e.g. "redisUrl: must be a redis:// ... : value was ..."); add the env variable.
    const msg = String((err as Error).message)
      .split('\n')
      .map((line) => {
        const key = line.split(':')[0]?.trim() as keyof typeof schema | undefined;
        const envName = key && key in schema ? schema[key].env : undefined;
        const sensitive = key && key in schema && 'sensitive' in schema[key];
        const clean = sensitive ? line.replace(/: value was .*$/, '') : line;
        return envName ? `${envName} (${clean})` : clean;
      })
      .join('; ');
    throw new LeadExportError('config', `invalid service configuration: ${msg}`);
  }
  const config = cfg.getProperties();
  assertDistinctTokens(config);
  return config;
}

/**
 * Each token opens one door. Two equal tokens merge the doors: INTAKE_TOKEN = ADMIN_TOKEN makes every
 * intake caller an admin, and a scraper holding METRICS_TOKEN could send leads or pause clients.
 * The message names the variables, never the values.
 */
function assertDistinctTokens(config: Pick<ServiceConfig, 'intakeToken' | 'adminToken' | 'metricsToken'>): void {
  const tokens: Array<[string, string]> = [
    ['INTAKE_TOKEN', config.intakeToken],
    ['ADMIN_TOKEN', config.adminToken],
    ['METRICS_TOKEN', config.metricsToken],
  ];
  const clashes: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    for (let j = i + 1; j < tokens.length; j++) {
      if (tokens[i][1] !== '' && tokens[i][1] === tokens[j][1]) clashes.push(`${tokens[i][0]} and ${tokens[j][0]}`);
    }
  }
  if (clashes.length > 0) {
    throw new LeadExportError(
      'config',
      `invalid service configuration: ${clashes.join('; ')} have the same value: give each its own token, or whoever holds one can use the other's API`,
    );
  }
}

export function serviceConfigDocs(): Array<{ env: string; doc: string; default: unknown }> {
  return Object.values(schema).map((s) => ({ env: s.env, doc: s.doc, default: s.default }));
}
