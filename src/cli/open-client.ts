import { access } from 'node:fs/promises';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { CrmChannel } from '../channel/channel';
import { openChannel } from '../channel/open-channel';
import { formatClientFileError, loadClientFile } from '../config/client-loader';
import type { ClientConfig } from '../config/client-schema';
import { EnvFileSecretResolver } from '../config/secret-ref';
import type { ServiceConfig } from '../config/service-config';
import { InputError, LeadExportError, isDeliveryError } from '../domain/errors';
import { CLIENT_ID_PATTERN } from '../domain/lead';
import { createLogger, type Logger } from '../logging/logger';
import { Keys } from '../queue/keys';
import { connectRedis } from '../queue/redis-connection';

/**
 * How a CLI command reaches a client's CRM: its file from CLIENTS_DIR, Redis, and the client's
 * channel — the same limiter, circuit and credentials the running service uses, so a command run
 * next to busy workers never pushes the CRM over its limit.
 */

export interface CliDeps {
  serviceConfig: () => ServiceConfig;
  print: (s: string) => void;
  err: (s: string) => void;
  /** Where env:NAME secrets are read (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export interface OpenClient {
  config: ClientConfig;
  channel: CrmChannel;
  service: ServiceConfig;
  redis: Redis;
  keys: Keys;
  close(): Promise<void>;
}

export function clientIdOf(v: string): string {
  if (!CLIENT_ID_PATTERN.test(v)) throw new InputError('usage', `'${v}' is not a client id (a-z 0-9 -, as in the client file name)`);
  return v;
}

export async function loadClientById(dir: string, id: string): Promise<ClientConfig> {
  let file: string | undefined;
  for (const name of [`${id}.yaml`, `${id}.yml`]) {
    const p = join(dir, name);
    if (await access(p).then(() => true, () => false)) {
      file = p;
      break;
    }
  }
  if (!file) throw new InputError('usage', `no client '${id}': there is no ${id}.yaml in ${dir} (CLIENTS_DIR)`);
  const r = await loadClientFile(file);
  if (!r.ok) {
    throw new InputError('config', `${r.file} is not valid (fix it first; lead-export clients check shows the same)`, r.errors.map((e) => ({ path: e.path, message: formatClientFileError(e) })));
  }
  return r.config;
}

/** Service log lines go to stderr as short text: the terminal is for people, and stdout for the result. */
export function terminalLogger(err: (s: string) => void, verbose: boolean): Logger {
  const stream = {
    write: (line: string) => {
      try {
        const o = JSON.parse(line) as { level?: string; msg?: string };
        if (verbose || o.level === 'warn' || o.level === 'error' || o.level === 'fatal') err(`${o.level ?? 'info'}: ${o.msg ?? ''}\n`);
      } catch {
        err(line);
      }
    },
  };
  return createLogger({ level: verbose ? 'debug' : 'warn' }, stream);
}

export async function openClient(rawId: string, deps: CliDeps, opts: { verbose?: boolean } = {}): Promise<OpenClient> {
  const clientId = clientIdOf(rawId);
  const service = deps.serviceConfig();
  const config = await loadClientById(service.clientsDir, clientId);
  const redis: Redis = connectRedis(service.redisUrl, { maxRetriesPerRequest: 2, connectTimeout: 3_000 });
  redis.on('error', () => undefined);
  const keys = new Keys(service.queuePrefix);
  const channel = openChannel(config, {
    redis,
    keys,
    log: terminalLogger(deps.err, Boolean(opts.verbose)),
    secrets: new EnvFileSecretResolver(deps.env ?? process.env),
    tokenEncryptionKey: service.tokenEncryptionKey,
  });
  return {
    config,
    channel,
    service,
    redis,
    keys,
    close: async () => {
      await channel.close();
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

export async function withClient<T>(id: string, deps: CliDeps, fn: (c: OpenClient) => Promise<T>, opts: { verbose?: boolean } = {}): Promise<T> {
  const c = await openClient(id, deps, opts);
  try {
    return await fn(c);
  } finally {
    await c.close();
  }
}

/** Exit code of a command that talked to a CRM: 1 the CRM refused (a person must act), 3 it could not be reached. */
export const EXIT_CRM_UNREACHABLE = 3;

export function exitCodeOf(err: unknown): number {
  if (err instanceof LeadExportError && err.kind === 'usage') return 2;
  if (isDeliveryError(err) && (err.kind === 'transient' || err.kind === 'rate_limited' || err.kind === 'circuit_open')) return EXIT_CRM_UNREACHABLE;
  if (err instanceof LeadExportError && err.kind === 'unavailable') return EXIT_CRM_UNREACHABLE;
  return 1;
}

/**
 * Runs a command's CRM work, waiting out what the CRM asks: a 429 or Retry-After (the wait it names,
 * at most a minute) and short outages (2 s, then 4 s), three tries in all, saying so on stderr.
 */
export async function waitingOut<T>(fn: () => Promise<T>, say: (s: string) => void, tries = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const retryable = isDeliveryError(err) && (err.kind === 'rate_limited' || err.kind === 'transient');
      if (!retryable || attempt >= tries) throw err;
      const waitMs = Math.min(60_000, err.retryAfterMs ?? 2_000 * 2 ** (attempt - 1));
      say(`the CRM answered ${err.kind === 'rate_limited' ? '429 (rate limited)' : `with a temporary failure (${err.message})`}; waiting ${Math.ceil(waitMs / 1000)} s, then trying again (${attempt + 1}/${tries})\n`);
      await new Promise((r) => setTimeout(r, waitMs));
    }
  }
}
