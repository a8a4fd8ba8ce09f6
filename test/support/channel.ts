import type { Redis } from 'ioredis';
import { ADAPTERS } from '../../adapters/registry';
import type { CrmChannel } from '../../src/channel/channel';
import { openChannel } from '../../src/channel/open-channel';
import { buildClientSchema, type ClientConfig } from '../../src/config/client-schema';
import { EnvFileSecretResolver } from '../../src/config/secret-ref';
import { createLogger } from '../../src/logging/logger';
import { Keys } from '../../src/queue/keys';
import { LogCapture } from './harness';

/** A client config object (as a client file would hold it) → a validated ClientConfig. */
export function clientConfig(raw: Record<string, unknown>): ClientConfig {
  return buildClientSchema(ADAPTERS).parse(raw) as ClientConfig;
}

/**
 * A client's channel as the service opens it — the one way tests get an adapter and its context —
 * on the given Redis and prefix. Each call is another "process": its own HTTP client and memory.
 */
export function testChannel(config: ClientConfig, opts: { redis: Redis; prefix: string; env?: NodeJS.ProcessEnv; encryptionKey: string; logs?: LogCapture }): CrmChannel {
  return openChannel(config, {
    redis: opts.redis,
    keys: new Keys(opts.prefix),
    log: createLogger({ level: 'debug' }, opts.logs ?? new LogCapture()),
    secrets: new EnvFileSecretResolver(opts.env ?? {}),
    tokenEncryptionKey: opts.encryptionKey,
  });
}
