import { join } from 'node:path';
import { connectRedis } from '../queue/redis-connection';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { CircuitBreaker, DEFAULT_CIRCUIT_OPTIONS, type CircuitState } from '../flow/circuit-breaker';
import type { DeliveryJobData, DeliveryResult } from '../queue/delivery-job';
import { LeadExportError } from '../domain/errors';
import { clientSummary } from '../logging/scrub';
import { Keys } from '../queue/keys';
import { describeRedisUrl } from '../queue/redis-health';

/**
 * Direct control of one client's shared state from the CLI, without a running service: the breaker
 * and the queue live in Redis, and every running process reconciles with them within a second.
 */
export class ClientControl {
  readonly queue: Queue<DeliveryJobData, DeliveryResult, string>;
  private readonly breaker: CircuitBreaker;
  private lastError = '';

  private constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    readonly clientId: string,
    private readonly clientsDir: string,
  ) {
    this.queue = new Queue(keys.deliveryQueue(clientId), { connection: redis, prefix: keys.prefix });
    // Connection errors are reported once, as the command's own error (assertReachable): not as stack traces.
    this.queue.on('error', () => undefined);
    redis.on('error', (err: NodeJS.ErrnoException) => {
      this.lastError = err.code ?? err.message;
    });
    this.breaker = new CircuitBreaker(redis, keys.flow(clientId).circuit, DEFAULT_CIRCUIT_OPTIONS);
  }

  /** `clientsDir` (CLIENTS_DIR) is only named in messages: the CLI does not read client files here. */
  static open(redisUrl: string, prefix: string, clientId: string, clientsDir: string): ClientControl {
    const redis = connectRedis(redisUrl, { maxRetriesPerRequest: 2, connectTimeout: 3_000, enableOfflineQueue: true });
    const control = new ClientControl(redis, new Keys(prefix), clientId, clientsDir);
    control.where = describeRedisUrl(redisUrl);
    return control;
  }

  private where = '(REDIS_URL)';

  /** Fails with a clear message (exit 3) when Redis cannot be reached, instead of a library's error. */
  async assertReachable(): Promise<void> {
    try {
      await this.redis.ping();
    } catch (err) {
      const why = this.lastError || (err as Error).message;
      throw new LeadExportError('unavailable', `Redis at ${this.where} is unreachable (${why}): this command reads and changes client state there; check REDIS_URL, or try again when Redis answers`);
    }
  }

  /** Refuses a client the service has never loaded: a typo must not print a calm row of zeros. */
  async assertKnown(): Promise<void> {
    if ((await this.redis.hexists(this.keys.knownClients(), this.clientId)) === 1) return;
    // A client whose file was removed keeps its jobs: support must still reach them.
    if ((await this.queue.count()) > 0 || (await this.queue.getFailedCount()) > 0) return;
    const file = join(this.clientsDir, `${this.clientId}.yaml`);
    throw new LeadExportError('not_found', `unknown client '${this.clientId}': no running service has loaded ${file} (CLIENTS_DIR) and its queue is empty`);
  }

  async status(): Promise<{ clientId: string; paused: boolean; circuit: CircuitState; counts: Record<string, number> }> {
    return {
      clientId: this.clientId,
      paused: await this.queue.isPaused(),
      circuit: readable(await this.breaker.read()),
      counts: await this.queue.getJobCounts('wait', 'active', 'delayed', 'failed', 'completed', 'prioritized'),
    };
  }

  async pause(by: string): Promise<void> {
    await this.breaker.open('manual', `paused by ${by}`);
    await this.queue.pause();
  }

  async resume(): Promise<void> {
    await this.breaker.close('manual');
    await this.queue.resume();
  }

  async close(): Promise<void> {
    await this.queue.close();
    this.redis.disconnect();
  }
}

/** A circuit's detail may have been written by an older version that kept the CRM's words: scrub it for display. */
function readable(c: CircuitState): CircuitState {
  return c.detail === undefined ? c : { ...c, detail: clientSummary(c.detail) };
}
